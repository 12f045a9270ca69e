"""QR codes (ISO/IEC 18004, made with ``segno``) that resolve to a passport's public page.

The code carries the GS1 Digital Link URI when the battery has a GTIN and a serial (so that GS1 resolvers and scanning
apps understand it), and the registry's ``/p/{id}`` address otherwise. Error correction level M survives the scuffs of
a battery label; the four-module quiet zone of ISO/IEC 18004 is kept.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import segno

from batteryloop.errors import ValidationError
from batteryloop.passport.identifiers import gs1_digital_link


def resolver_url(base_url: str, passport_id: str, gtin: str | None = None, serial: str | None = None) -> str:
    if gtin and serial:
        try:
            return gs1_digital_link(base_url, gtin, serial)
        except ValidationError:
            pass
    return f"{base_url.rstrip('/')}/p/{quote(passport_id, safe=':~')}"


def qr_svg(url: str, *, title: str | None = None, scale: int = 4) -> bytes:
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=scale, border=4, title=title or url, desc=url, xmldecl=True, svgns=True)
    return out.getvalue()


def qr_png(url: str, *, scale: int = 10) -> bytes:
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def write_qr(url: str, path: str, *, title: str | None = None) -> None:
    """Write the QR code to ``path``; the suffix (.svg or .png) decides the format."""
    lower = path.lower()
    if lower.endswith(".svg"):
        data = qr_svg(url, title=title)
    elif lower.endswith(".png"):
        data = qr_png(url)
    else:
        raise ValidationError("unknown QR file type", field="out", expected="a file name ending in .svg or .png")
    with open(path, "wb") as handle:
        handle.write(data)
