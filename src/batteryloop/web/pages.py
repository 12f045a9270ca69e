"""The public pages: the passport page a QR code opens, the GS1 Digital Link resolver and the front page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from batteryloop.errors import BatteryloopError
from batteryloop.escrow.service import EscrowService, mirrored_view
from batteryloop.passport.access import Viewer
from batteryloop.passport.attributes import attributes
from batteryloop.passport.identifiers import normalise_gtin
from batteryloop.passport.models import Passport
from batteryloop.passport.qr import qr_svg, resolver_url
from batteryloop.passport.service import PassportService
from batteryloop.passport.values import duration_months
from batteryloop.web.i18n import CATEGORY_LABELS, choose_language, translator
from batteryloop.web.layout import render

router = APIRouter(include_in_schema=False)


def _service(request: Request) -> tuple[PassportService, Any]:
    session = request.app.state.read_session_factory()
    return PassportService(session, request.app.state.settings), session


_UNIT_SUFFIXES = (
    ("_kgCO2e_per_kWh", "kg CO2e/kWh"),
    ("_pct", "%"),
    ("_kg", "kg"),
    ("_W", "W"),
    ("_Ah", "Ah"),
    ("_V", "V"),
    ("_mm", "mm"),
    ("_C", "°C"),
)
_UNIT_SYMBOLS = {"degC": "°C", "kgCO2e/kWh": "kg CO2e/kWh", "%/month": "% per month", "1/h": "C"}
_PRIMARY = ("name", "subject", "event", "material", "stage", "supplier_name", "part_name", "title", "substance")


def _number(value: float, lang: str) -> str:
    text = f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return text.replace(",", " ").replace(".", ",") if lang == "nl" else text


def _scalar(value: Any, unit: str, lang: str) -> str:
    if isinstance(value, bool):
        return translator(lang)["yes" if value else "no"]
    if isinstance(value, int | float):
        text = _number(float(value), lang) if isinstance(value, float) else str(value)
        symbol = _UNIT_SYMBOLS.get(unit, unit)
        return f"{text} {symbol}".strip() if unit not in ("", "1") else text
    return (
        str(value).replace("_", " ")
        if isinstance(value, str) and " " not in str(value) and "_" in str(value) and "://" not in str(value)
        else str(value)
    )


def _item(item: Any, lang: str) -> str:
    """One element of a list attribute, as a line a person reads: the name first, then the other facts."""
    if not isinstance(item, dict):
        return _scalar(item, "", lang)
    parts = [_scalar(item[k], "", lang) for k in _PRIMARY if k in item]
    for key, value in item.items():
        if key in _PRIMARY:
            continue
        suffix, unit = next(((sx, u) for sx, u in _UNIT_SUFFIXES if key.endswith(sx) or key == sx[1:]), ("", ""))
        label = key[: -len(suffix)] if suffix and key.endswith(suffix) else ("" if suffix else key)
        text = ", ".join(_item(v, lang) for v in value) if isinstance(value, list) else _scalar(value, unit, lang)
        parts.append(f"{label.replace('_', ' ')}: {text}" if label else text)
    return " · ".join(p for p in parts if p)


def _duration(value: str, lang: str) -> str:
    """``P8Y`` -> "8 years" / "8 jaar"; other ISO 8601 durations in whole months."""
    names = {"en": ("year", "years", "month", "months"), "nl": ("jaar", "jaar", "maand", "maanden")}[lang]
    months = duration_months(value)
    if months % 12 == 0:
        years = int(months // 12)
        return f"{years} {names[0] if years == 1 else names[1]}"
    whole = round(months)
    return f"{whole} {names[2] if whole == 1 else names[3]}"


def _document_link(doc: dict[str, Any]) -> dict[str, Any]:
    """A document as a link: its title (else its address), linked where the address is a web address."""
    url = str(doc["url"])
    return {"text": doc.get("title") or url, "href": url if url.startswith(("http://", "https://")) else None}


def value_cell(key: str, value: Any, unit: str, lang: str) -> dict[str, Any]:
    """How a value shows on the page: text, an optional link, or a list of lines."""
    if key == "battery_category":
        return {"text": CATEGORY_LABELS.get(value, {}).get(lang, value)}
    if attributes()[key].type == "duration" and isinstance(value, str):
        return {"text": _duration(value, lang)}
    if attributes()[key].structure == "Document" and isinstance(value, list):
        return {"links": [_document_link(d) for d in value if isinstance(d, dict) and isinstance(d.get("url"), str)]}
    if isinstance(value, list):
        return {"lines": [_item(v, lang) for v in value]}
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return {"text": value, "href": value}
    return {"text": _scalar(value, unit, lang)}


def lifecycle_status(state: str, battery_status: str) -> str:
    """The status the public page shows: original, re-used, repurposed, remanufactured, waste or recycled.

    A recycled battery's passport has ceased (Art. 77(6)); otherwise the battery status of Annex XIII 4(c). The page
    shows only this word, never the status history or its dates, which stay with the legitimate-interest group.
    """
    if state == "closed":
        return "recycled"
    return battery_status.replace("-", "_")


def _respond(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return render(request, template, context, status_code)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    lang = choose_language(request)
    return _respond(request, "home.html", {"lang": lang, "t": translator(lang), "path": "/"})


@router.get("/p", response_class=HTMLResponse)
def lookup(request: Request, id: str = "") -> Response:
    if id.strip():
        return RedirectResponse(f"/p/{quote(id.strip(), safe=':~')}", status_code=303)
    return RedirectResponse("/", status_code=303)


@router.get("/p/{passport_id}", response_class=HTMLResponse)
def public_passport(request: Request, passport_id: str) -> Response:
    lang = choose_language(request)
    t = translator(lang)
    service, session = _service(request)
    try:
        mirror = None
        try:
            view = service.view(Viewer.anonymous(), passport_id, route="GET /p")
        except BatteryloopError:
            # a passport this registry keeps as backup service provider (escrow, Art. 78)
            mirror = mirrored_view(session, service.settings, Viewer.anonymous(), passport_id, route="GET /p")
            if mirror is None:
                return _respond(
                    request,
                    "not_found.html",
                    {"lang": lang, "t": t, "passport_id": passport_id, "path": request.url.path},
                    404,
                )
            view = mirror.view
        table = attributes()
        rows = []
        for key, attr in table.items():
            if key in view.data:
                rows.append(
                    {
                        "key": key,
                        "label": attr.label(lang),
                        "point": t["voluntary"] if attr.annex_xiii == "voluntary" else attr.annex_xiii,
                        **value_cell(key, view.data[key], attr.unit, lang),
                    }
                )
        passport = session.get(Passport, passport_id)
        url = resolver_url(
            service.settings.public_base_url, passport_id, view.data.get("gtin"), view.data.get("serial_number")
        )
        svg = qr_svg(url, title=t["qr"], scale=3).decode("utf-8")
        svg = svg[svg.index("<svg") :]
        category = passport.category if passport else (mirror.category if mirror else "")
        battery_status = passport.status if passport else (mirror.status if mirror else "original")
        lifecycle = lifecycle_status(view.state, battery_status)
        context = {
            "lang": lang,
            "t": t,
            "view": view,
            "rows": rows,
            "category": CATEGORY_LABELS.get(category, {}).get(lang, category),
            "model": view.data.get("battery_model_identifier"),
            "manufacturer": view.data.get("manufacturer_name"),
            "qr_svg": svg,
            "closed_date": view.closed_at.date().isoformat() if view.closed_at else "",
            "lifecycle": lifecycle,
            "lifecycle_label": t[f"lifecycle_{lifecycle}"],
            "mirror_notice": t["mirror_notice"].format(**mirror.notice_fields()) if mirror else None,
            "path": request.url.path,
        }
        session.commit()
        return _respond(request, "passport.html", context, 200)
    finally:
        session.close()


@router.get("/01/{gtin}/21/{serial}")
def gs1_resolver(request: Request, gtin: str, serial: str) -> Response:
    """GS1 Digital Link resolver: ``/01/{GTIN}/21/{serial}`` -> the passport page (or its JSON for API clients)."""
    lang = choose_language(request)
    session = request.app.state.read_session_factory()
    try:
        try:
            normal = normalise_gtin(gtin)
        except BatteryloopError as exc:
            return _respond(
                request,
                "not_found.html",
                {
                    "lang": lang,
                    "t": translator(lang),
                    "passport_id": f"{gtin}/{serial}",
                    "message": str(exc),
                    "path": request.url.path,
                },
                400,
            )
        passport_id = session.scalar(
            select(Passport.id).where(Passport.gtin == normal, Passport.serial_number == serial)
        ) or EscrowService(session, request.app.state.settings).resolve(normal, serial)
        if passport_id is None:
            return _respond(
                request,
                "not_found.html",
                {"lang": lang, "t": translator(lang), "passport_id": f"{normal}/{serial}", "path": request.url.path},
                404,
            )
        target = f"/p/{quote(passport_id, safe=':~')}"
        if "application/json" in request.headers.get("accept", "") and "text/html" not in request.headers.get(
            "accept", ""
        ):
            target = f"/api/v1/passports/{quote(passport_id, safe=':~')}"
        return RedirectResponse(target, status_code=307)
    finally:
        session.close()
