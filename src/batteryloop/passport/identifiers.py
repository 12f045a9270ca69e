"""Passport identifiers.

Two forms identify a passport (Regulation (EU) 2023/1542 Art. 77(3): the unique identifier shall conform to
ISO/IEC 15459-1 to -6 or an equivalent):

* the **unique item identifier** (UII) in the ISO/IEC 15459-4 structure: issuing agency code (IAC, assigned by the
  registration authority of ISO/IEC 15459-2), company identification number (CIN, assigned by that agency to the
  operator) and a serial number unique within the CIN. It is written ``IAC-CIN-SERIAL`` here; IAC and CIN are
  upper-case alphanumerics, so the first two hyphens separate the parts and the serial keeps any hyphens of its own;
* the **GS1 Digital Link** URI ``{base}/01/{GTIN}/21/{serial}`` (GS1 Digital Link standard 1.4), for batteries whose
  model has a GTIN. GTINs are checked with the GS1 mod-10 check digit.

A passport imported from another registry keeps the identifier it was issued with (a URN or any string of the
characters below), since a battery has one passport identifier for life.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from batteryloop.errors import IdentifierError

_IAC = re.compile(r"^[A-Z0-9]{1,3}$")
_CIN = re.compile(r"^[A-Z0-9]{1,20}$")
_SERIAL = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,39}$")
# Passport identifiers used in URLs: letters, digits and the URN punctuation, no slash, at most 128 characters.
_PASSPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._\-~]{0,127}$")
# GS1 AI (21) serial: up to 20 characters of GS1 AI encodable character set 82 (GS1 General Specifications 7.11).
_GS1_SERIAL = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit for the digits of a GTIN without its last digit.

    Weights 3 and 1 alternate from the rightmost digit of ``body`` (GS1 General Specifications 7.9.1).
    """
    if not body.isdigit():
        raise IdentifierError("a GTIN has digits only", field="gtin", expected="8, 12, 13 or 14 digits")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalise_gtin(gtin: str, *, field: str = "gtin") -> str:
    """Validate a GTIN-8/12/13/14 and return it as 14 digits (GTIN-14 form, left-padded with zeros)."""
    text = gtin.strip().replace(" ", "")
    if not text.isdigit() or len(text) not in (8, 12, 13, 14):
        raise IdentifierError(f"{gtin!r} is not a GTIN", field=field, expected="8, 12, 13 or 14 digits")
    expected = gtin_check_digit(text[:-1])
    if int(text[-1]) != expected:
        raise IdentifierError(
            f"GTIN {text} has check digit {text[-1]}, but its digits give {expected}",
            field=field,
            expected=f"check digit {expected}",
        )
    return text.zfill(14)


def check_passport_id(passport_id: str, *, field: str = "passport_identifier") -> str:
    if not _PASSPORT_ID.match(passport_id):
        raise IdentifierError(
            f"{passport_id!r} is not a usable passport identifier",
            field=field,
            expected="1-128 characters: letters, digits and : . _ - ~, starting with a letter or digit",
        )
    return passport_id


def make_uii(iac: str, cin: str, serial: str) -> str:
    """The ISO/IEC 15459-4 unique item identifier ``IAC-CIN-SERIAL``; at most 50 characters in all (15459-4)."""
    problems = []
    if not _IAC.match(iac):
        problems.append(("issuing_agency_code", "1-3 upper-case letters or digits"))
    if not _CIN.match(cin):
        problems.append(("company_identification_number", "1-20 upper-case letters or digits"))
    if not _SERIAL.match(serial):
        problems.append(
            ("serial_number", "1-40 upper-case letters, digits, '.' or '-', starting with a letter or digit")
        )
    if problems:
        field, expected = problems[0]
        raise IdentifierError(f"cannot build an ISO/IEC 15459 identifier from {field}", field=field, expected=expected)
    uii = f"{iac}-{cin}-{serial}"
    if len(uii) - 2 > 50:
        raise IdentifierError(
            "the unique item identifier is longer than 50 characters",
            field="serial_number",
            expected="IAC + CIN + serial of at most 50 characters (ISO/IEC 15459-4)",
        )
    return uii


def parse_uii(uii: str) -> tuple[str, str, str]:
    """Split ``IAC-CIN-SERIAL`` into its three parts."""
    parts = uii.split("-", 2)
    if len(parts) != 3:
        raise IdentifierError(f"{uii!r} is not IAC-CIN-SERIAL", field="passport_identifier", expected="IAC-CIN-SERIAL")
    make_uii(*parts)
    return parts[0], parts[1], parts[2]


def check_gs1_serial(serial: str, *, field: str = "serial_number") -> str:
    if not _GS1_SERIAL.match(serial):
        raise IdentifierError(
            f"serial {serial!r} cannot be carried in GS1 AI (21)",
            field=field,
            expected="1-20 characters of the GS1 character set 82",
        )
    return serial


def gs1_digital_link(base_url: str, gtin: str, serial: str) -> str:
    """The GS1 Digital Link URI of one battery: ``{base}/01/{GTIN-14}/21/{serial}`` (serial percent-encoded)."""
    g = normalise_gtin(gtin)
    s = check_gs1_serial(serial)
    return f"{base_url.rstrip('/')}/01/{g}/21/{quote(s, safe='')}"


def parse_gs1_digital_link(uri: str) -> tuple[str, str]:
    """``(GTIN-14, serial)`` from a GS1 Digital Link URI or its path ``/01/{gtin}/21/{serial}``."""
    path = urlsplit(uri).path if "://" in uri else uri
    m = re.search(r"/01/(\d{8,14})/21/([^/?#]+)", path)
    if not m:
        raise IdentifierError(
            f"{uri!r} is not a GS1 Digital Link", field="uri", expected="a path /01/{GTIN}/21/{serial}"
        )
    return normalise_gtin(m.group(1)), check_gs1_serial(unquote(m.group(2)))
