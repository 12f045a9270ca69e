"""The battery-health page: Annex VII parameters, their history and the expected-lifetime forecast.

``/health`` lists the batteries whose state of health the signed-in user may read (its own organisation's, or those
granted to it: individual battery data, Annex XIII point 4, Art. 77(2)(c) and Art. 14(1)). ``/health/{id}`` shows
one battery: its dynamic attributes now, their history as charts (from the passport's signed versions), the time in
each temperature band from the telemetry store where the battery has telemetry, and the expected-lifetime forecast
of :func:`batteryloop.health.lifetime.predict_lifetime` (what ``batteryloop health lifetime`` runs) drawn with its
interval to the end-of-life threshold.

Every value comes through :class:`~batteryloop.passport.service.PassportService` with the viewer, so the page shows
exactly what the API would: a role that may not read the battery's individual data gets a "no access" page.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from batteryloop.errors import BatteryloopError, NotFoundError, ValidationError
from batteryloop.health import lifetime
from batteryloop.health.series import from_frame
from batteryloop.health.settings import defaults as health_defaults
from batteryloop.passport.access import Viewer
from batteryloop.passport.attributes import AccessGroup, attributes
from batteryloop.passport.service import PassportService, PassportView
from batteryloop.rules import chemistry as chemistry_limits
from batteryloop.telemetry.store import META_FILE, TelemetryStore
from batteryloop.web.charts import Chart, csv_response
from batteryloop.web.i18n import CATEGORY_LABELS, choose_language, register, translator
from batteryloop.web.layout import read_session, render, require_user, settings_of

router = APIRouter(include_in_schema=False)

LOCAL = ZoneInfo("Europe/Amsterdam")
PAGE_SIZE = 25
INDIVIDUAL = AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL

TEXTS: dict[str, dict[str, str]] = {
    "health_title": {"en": "Battery health", "nl": "Batterijgezondheid"},
    "health_intro": {
        "en": "Batteries whose state of health you may read: your organisation's own batteries, and those whose "
        "operator granted you access (individual battery data, Annex XIII point 4).",
        "nl": "Batterijen waarvan u de gezondheidstoestand mag inzien: die van uw eigen organisatie, en die waarvoor "
        "de marktdeelnemer u toegang gaf (gegevens van de individuele batterij, bijlage XIII punt 4).",
    },
    "health_none": {
        "en": "There are no batteries whose health data your role ({role}) may read. The state of health is "
        "individual battery data (Annex XIII point 4): the responsible operator reads it, and grants it to "
        "repairers, remanufacturers, repurposers, recyclers and aggregators per battery (Art. 77(2)(c), Art. 14(1)).",
        "nl": "Er zijn geen batterijen waarvan uw rol ({role}) de gezondheidsgegevens mag inzien. De "
        "gezondheidstoestand is informatie over de individuele batterij (bijlage XIII punt 4): de verantwoordelijke "
        "marktdeelnemer ziet haar, en geeft per batterij toegang aan reparateurs, revisiebedrijven, herbestemmers, "
        "recyclers en aggregators (art. 77, lid 2, onder c; art. 14, lid 1).",
    },
    "health_count": {"en": "{n} batteries", "nl": "{n} batterijen"},
    "health_category": {"en": "Category", "nl": "Categorie"},
    "health_all": {"en": "all", "nl": "alle"},
    "health_filter": {"en": "Filter", "nl": "Filteren"},
    "health_open_id": {"en": "Open a battery by its passport identifier", "nl": "Open een batterij op paspoortnummer"},
    "health_open": {"en": "Open", "nl": "Openen"},
    "health_col_id": {"en": "Passport", "nl": "Paspoort"},
    "health_col_model": {"en": "Model", "nl": "Model"},
    "health_col_chemistry": {"en": "Chemistry", "nl": "Chemie"},
    "health_col_status": {"en": "Status", "nl": "Status"},
    "health_col_soh": {"en": "State of health", "nl": "Gezondheid"},
    "health_prev": {"en": "Previous page", "nl": "Vorige pagina"},
    "health_next": {"en": "Next page", "nl": "Volgende pagina"},
    "health_page_of": {"en": "Page {page} of {pages}", "nl": "Pagina {page} van {pages}"},
    "health_no_access_title": {"en": "No access to this battery's health", "nl": "Geen toegang tot deze gezondheid"},
    "health_no_access": {
        "en": "Your role ({role}) may not read the health data of this battery. The Annex VII parameters are "
        "individual battery data (Annex XIII point 4): ask the responsible economic operator for access to this "
        "battery (Art. 77(2)(c), Art. 14(1)).",
        "nl": "Uw rol ({role}) mag de gezondheidsgegevens van deze batterij niet inzien. De parameters van bijlage VII "
        "zijn informatie over de individuele batterij (bijlage XIII punt 4): vraag de verantwoordelijke "
        "marktdeelnemer om toegang tot deze batterij (art. 77, lid 2, onder c; art. 14, lid 1).",
    },
    "health_public_link": {"en": "Public passport of this battery", "nl": "Openbaar paspoort van deze batterij"},
    "health_back": {"en": "All batteries", "nl": "Alle batterijen"},
    "health_now": {"en": "Parameters now (Annex VII)", "nl": "Parameters nu (bijlage VII)"},
    "health_param": {"en": "Parameter", "nl": "Parameter"},
    "health_value": {"en": "Value", "nl": "Waarde"},
    "health_ref": {"en": "Annex", "nl": "Bijlage"},
    "health_measured": {"en": "Measured", "nl": "Gemeten"},
    "health_method": {"en": "Method", "nl": "Methode"},
    "health_no_data": {
        "en": "No health data has been recorded on this passport yet.",
        "nl": "Op dit paspoort zijn nog geen gezondheidsgegevens vastgelegd.",
    },
    "health_history": {"en": "History", "nl": "Verloop"},
    "health_one_measurement": {
        "en": "One measurement of each parameter so far (in the table below); the history charts start at the second.",
        "nl": "Tot nu toe één meting per parameter (in de tabel hieronder); de grafieken beginnen bij de tweede.",
    },
    "health_chart_soh": {"en": "State of health over time", "nl": "Gezondheidstoestand in de tijd"},
    "health_chart_resistance": {"en": "Internal resistance over time", "nl": "Inwendige weerstand in de tijd"},
    "health_chart_cycles": {"en": "Cycles and throughput over time", "nl": "Cycli en doorzet in de tijd"},
    "health_chart_temperature": {
        "en": "Time in extreme temperatures (cumulative)",
        "nl": "Tijd bij extreme temperaturen (cumulatief)",
    },
    "health_chart_bands": {"en": "Time per temperature band", "nl": "Tijd per temperatuurband"},
    "health_chart_forecast": {
        "en": "Expected lifetime: state of health to the end-of-life threshold",
        "nl": "Verwachte levensduur: gezondheid tot de drempel voor einde levensduur",
    },
    "health_time": {"en": "Time", "nl": "Tijd"},
    "health_cycles_unit": {"en": "cycles", "nl": "cycli"},
    "health_methods_note": {
        "en": "methods of measurement: in the table below and in the CSV",
        "nl": "meetmethoden: in de tabel hieronder en in de CSV",
    },
    "health_hours": {"en": "Hours", "nl": "Uren"},
    "health_measured_points": {"en": "measured", "nl": "gemeten"},
    "health_fitted": {"en": "fitted model", "nl": "passend model"},
    "health_threshold": {"en": "end-of-life threshold", "nl": "drempel einde levensduur"},
    "health_interval": {"en": "{pct} % interval of the crossing", "nl": "{pct} %-interval van het snijpunt"},
    "health_cycles_axis": {"en": "Full equivalent cycles", "nl": "Volledige equivalente cycli"},
    "health_days_axis": {"en": "Date", "nl": "Datum"},
    "health_forecast": {"en": "Expected lifetime", "nl": "Verwachte levensduur"},
    "health_forecast_needs": {
        "en": "The forecast needs at least {min} check-ups with a capacity; this passport has {n}.",
        "nl": "De voorspelling heeft minstens {min} metingen van de capaciteit nodig; dit paspoort heeft er {n}.",
    },
    "health_forecast_failed": {"en": "No forecast: {reason}", "nl": "Geen voorspelling: {reason}"},
    "health_eol": {"en": "End-of-life threshold", "nl": "Drempel einde levensduur"},
    "health_eol_of": {
        "en": "{pct} % of the rated capacity ({src})",
        "nl": "{pct} % van de nominale capaciteit ({src})",
    },
    "health_eol_passport": {"en": "from the passport", "nl": "uit het paspoort"},
    "health_eol_default": {"en": "default", "nl": "standaard"},
    "health_reached_at": {"en": "Reaches the threshold", "nl": "Bereikt de drempel"},
    "health_between": {"en": "{pct} % interval: {low} to {high}", "nl": "{pct} %-interval: {low} tot {high}"},
    "health_beyond": {"en": "beyond the horizon", "nl": "voorbij de horizon"},
    "health_not_reached": {
        "en": "Not within the forecast horizon ({horizon})",
        "nl": "Niet binnen de horizon van de voorspelling ({horizon})",
    },
    "health_already": {"en": "Already below the threshold", "nl": "Al onder de drempel"},
    "health_remaining": {"en": "Remaining cycles", "nl": "Resterende cycli"},
    "health_cycle_n": {"en": "cycle {n}", "nl": "cyclus {n}"},
    "health_model": {"en": "Model", "nl": "Model"},
    "health_telemetry_none": {
        "en": "No telemetry of this battery in the telemetry store: the temperature bands are not shown.",
        "nl": "Geen telemetrie van deze batterij in de telemetrie-opslag: de temperatuurbanden ontbreken.",
    },
    "health_band_extreme_low": {"en": "below operating range", "nl": "onder het bedrijfsbereik"},
    "health_band_cold": {"en": "too cold to charge", "nl": "te koud om te laden"},
    "health_band_normal": {"en": "charging range", "nl": "laadbereik"},
    "health_band_hot": {"en": "too hot to charge", "nl": "te warm om te laden"},
    "health_band_extreme_high": {"en": "above operating range", "nl": "boven het bedrijfsbereik"},
    "health_band_unmeasured": {"en": "no temperature measured", "nl": "geen temperatuur gemeten"},
    "health_not_found": {"en": "No passport with this identifier.", "nl": "Geen paspoort met dit nummer."},
    "health_status_original": {"en": "original", "nl": "origineel"},
    "health_status_re-used": {"en": "re-used", "nl": "hergebruikt"},
    "health_status_repurposed": {"en": "repurposed", "nl": "herbestemd"},
    "health_status_remanufactured": {"en": "remanufactured", "nl": "gereviseerd"},
    "health_status_waste": {"en": "waste", "nl": "afval"},
}
register(TEXTS)

# The Annex VII dynamic attributes drawn as history, per chart: (key, y axis).
HISTORY_CHARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "soh",
        "health_chart_soh",
        (("soh_capacity_pct", "y"), ("state_of_certified_energy_pct", "y"), ("remaining_capacity_Ah", "y2")),
    ),
    (
        "resistance",
        "health_chart_resistance",
        (("ohmic_resistance_mOhm", "y"), ("internal_resistance_increase_pct", "y2")),
    ),
    (
        "cycles",
        "health_chart_cycles",
        (("full_equivalent_cycles", "y"), ("energy_throughput_kWh", "y2")),
    ),
    (
        "temperature",
        "health_chart_temperature",
        (
            ("time_extreme_high_temperature_h", "y"),
            ("time_extreme_low_temperature_h", "y"),
            ("time_charging_extreme_high_temperature_h", "y"),
            ("time_charging_extreme_low_temperature_h", "y"),
        ),
    ),
)
HISTORY_KEYS = tuple(dict.fromkeys(k for _, _, series in HISTORY_CHARTS for k, _ in series))
COLOURS = ("#0b6e4f", "#0a5a8a", "#b35c00", "#7a3e9d")
UNIT_SYMBOLS = {"degC": "°C", "1": ""}
UNIT_WORDS = {"%/month": {"en": "%/month", "nl": "%/maand"}, "a": {"en": "years", "nl": "jaar"}}


# ---------------------------------------------------------------------------------------------------------------------
# formatting


def fmt(value: float, lang: str, digits: int = 1) -> str:
    """A number for people: thousands grouped, ``digits`` decimals, Dutch comma in Dutch."""
    text = f"{value:,.{digits}f}".replace(",", " ")
    return text.replace(".", ",") if lang == "nl" else text


def local_time(value: datetime) -> datetime:
    return value.astimezone(LOCAL)


def plot_time(value: datetime) -> str:
    """A time as Plotly draws it on a date axis: local (Europe/Amsterdam) wall time, no offset."""
    return local_time(value).strftime("%Y-%m-%d %H:%M")


def _unit(unit: str, lang: str) -> str:
    """The unit as the page shows it, in the user's language where it is a word."""
    if unit in UNIT_WORDS:
        return UNIT_WORDS[unit][lang]
    return UNIT_SYMBOLS.get(unit, unit)


def _number(raw: Any) -> float | None:
    if isinstance(raw, Mapping):
        raw = raw.get("value")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw)
    return None


def _display(key: str, value: Any, lang: str) -> str:
    attr = attributes()[key]
    number = _number(value)
    if number is not None:
        digits = 0 if attr.type == "integer" or abs(number) >= 1000 else (1 if abs(number) >= 10 else 2)
        unit = _unit(attr.unit, lang)
        return f"{fmt(number, lang, digits)} {unit}".strip()
    if isinstance(value, list):
        return f"{len(value)}"
    return str(value).replace("_", " ")


# ---------------------------------------------------------------------------------------------------------------------
# the list


def _role_name(viewer: Viewer) -> str:
    return viewer.role.value.replace("_", " ")


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return max(1, value)


@router.get("/health", response_class=HTMLResponse)
def health_list(request: Request) -> Response:
    viewer = require_user(request)
    params = request.query_params
    category = params.get("category", "")
    if category not in CATEGORY_LABELS:
        category = ""
    page = _positive_int(params.get("page"), 1)
    session = read_session(request)
    try:
        service = PassportService(session, settings_of(request))
        # State of health is individual battery data: the service searches only the passports whose point-4
        # data the viewer may read (its own or granted), and a SoH filter keeps those with a state of health.
        total, items = service.search(
            viewer,
            category=category or None,
            soh_min=0.0,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            route="GET /health",
        )
    finally:
        session.close()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render(
        request,
        "health_list.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "pages": pages,
            "category": category,
            "categories": CATEGORY_LABELS,
            "role_name": _role_name(viewer),
            "fmt": fmt,
            "quote": quote,
        },
    )


@router.get("/health/open")
def health_open(request: Request, id: str = "") -> Response:
    """The lookup form of the list (works without JavaScript)."""
    require_user(request)
    target = f"/health/{quote(id.strip(), safe=':~')}" if id.strip() else "/health"
    return RedirectResponse(target, status_code=303)


# ---------------------------------------------------------------------------------------------------------------------
# one battery


@dataclass
class Point:
    at: datetime
    value: float
    method: str | None


@dataclass
class Forecast:
    """The lifetime forecast as the page shows it."""

    prediction: lifetime.LifetimePrediction | None = None
    threshold_pct: float = 80.0
    threshold_source: str = "default"
    message: str = ""
    cards: list[dict[str, str]] = field(default_factory=list)


def histories(service: PassportService, viewer: Viewer, view: PassportView) -> dict[str, list[Point]]:
    """The recorded values of the drawn dynamic attributes the viewer may read (through the service)."""
    out: dict[str, list[Point]] = {}
    table = attributes()
    for key in HISTORY_KEYS:
        if table[key].access_group not in view.groups:
            continue
        points = []
        for row in service.history(viewer, view.passport_id, key, route="GET /health"):
            number = _number(row["value"])
            if number is None:
                continue
            at = datetime.fromisoformat(str(row["measured_at"]).replace("Z", "+00:00"))
            points.append(Point(at if at.tzinfo else at.replace(tzinfo=UTC), number, row.get("method")))
        if points:
            out[key] = points
    return out


def history_charts(passport_id: str, data: Mapping[str, list[Point]], lang: str, t: Mapping[str, str]) -> list[Chart]:
    table = attributes()
    charts = []
    for chart_id, title, series in HISTORY_CHARTS:
        # a history needs two measurements: one point on a time axis says nothing (the table below shows it)
        present = [(key, axis) for key, axis in series if len(data.get(key, ())) >= 2]
        if not present:
            continue
        traces = []
        rows: list[list[Any]] = []
        layout: dict[str, Any] = {"xaxis": {"type": "date"}, "hovermode": "x unified"}
        for i, (key, axis) in enumerate(present):
            attr = table[key]
            unit = _unit(attr.unit, lang)
            pts = data[key]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{attr.label(lang)} [{unit}]" if unit else attr.label(lang),
                    "x": [plot_time(p.at) for p in pts],
                    "y": [p.value for p in pts],
                    "yaxis": axis,
                    "line": {"color": COLOURS[i % len(COLOURS)], "dash": "dot" if axis == "y2" else "solid"},
                }
            )
            axis_key = "yaxis" if axis == "y" else "yaxis2"
            if axis_key not in layout:
                # the unit only: the legend names each line; long titles would run into the ticks
                layout[axis_key] = {"title": {"text": unit or t["health_cycles_unit"]}}
                if axis == "y2":
                    layout[axis_key].update({"overlaying": "y", "side": "right", "showgrid": False})
                    layout["margin"] = {"l": 56, "r": 56, "t": 16, "b": 40}
            for p in pts:
                rows.append([p.at.astimezone(UTC).isoformat(), key, p.value, attr.unit, p.method or ""])
        rows.sort(key=lambda r: (r[0], r[1]))
        refs = sorted(
            {
                f"Annex VII {table[k].annex_vii}" if table[k].annex_vii else f"Annex XIII {table[k].annex_xiii}"
                for k, _ in present
            }
        )
        source = (
            f"battery passport {passport_id}: the recorded values of its dynamic attributes "
            f"({', '.join(refs)} of Regulation (EU) 2023/1542)"
        )
        charts.append(
            Chart(
                id=chart_id,
                title=t[title],
                figure={"data": traces, "layout": layout},
                columns=["measured_at_utc", "attribute", "value", "unit", "method"],
                rows=rows,
                source=source,
                note=t["health_methods_note"],
                height_px=320,
            )
        )
    return charts


def _aligned_cycles(capacity: Sequence[Point], cycles: Sequence[Point] | None) -> list[float] | None:
    """The full equivalent cycles at each capacity check-up (same measurement time), if every one has them."""
    if not cycles:
        return None
    by_time = {p.at: p.value for p in cycles}
    values = [by_time.get(p.at) for p in capacity]
    if any(v is None for v in values):
        return None
    out = [float(v) for v in values if v is not None]
    if any(b <= a for a, b in itertools.pairwise(out)):
        return None
    return out


def _dedupe(points: Sequence[Point]) -> list[Point]:
    """One point per measurement time (the last recorded version wins), in time order."""
    by_time: dict[datetime, Point] = {}
    for p in points:
        by_time[p.at] = p
    return [by_time[k] for k in sorted(by_time)]


def forecast(
    passport_id: str, data: Mapping[str, Any], hist: Mapping[str, list[Point]], lang: str, t: Mapping[str, str]
) -> tuple[Forecast, Chart | None]:
    """The expected-lifetime forecast from the capacity history, and its chart (None when there is no forecast).

    The history is ``remaining_capacity_Ah`` against the rated capacity, else ``soh_capacity_pct`` against 100 %;
    on full equivalent cycles where every check-up has them (dated by the measurement times), else on time. The
    threshold is the passport's ``capacity_threshold_exhaustion_pct`` (Annex XIII 1(k)), else the default of
    :func:`~batteryloop.health.lifetime.predict_lifetime`.
    """
    result = Forecast()
    rated = _number(data.get("rated_capacity_Ah"))
    if "remaining_capacity_Ah" in hist and rated is not None and rated > 0:
        capacity = _dedupe(hist["remaining_capacity_Ah"])
        reference, to_pct = rated, 100.0 / rated
    elif "soh_capacity_pct" in hist:
        capacity = _dedupe(hist["soh_capacity_pct"])
        reference, to_pct = 100.0, 1.0
    else:
        return result, None
    threshold = _number(data.get("capacity_threshold_exhaustion_pct"))
    options: dict[str, Any] = {}
    if threshold is not None and 0 < threshold < 100:
        result.threshold_pct, result.threshold_source = threshold, "passport"
        options["threshold_pct"] = threshold
    else:
        result.threshold_pct = float(inspect.signature(lifetime.predict_lifetime).parameters["threshold_pct"].default)
    if len(capacity) < lifetime.MIN_POINTS:
        result.message = t["health_forecast_needs"].format(min=lifetime.MIN_POINTS, n=len(capacity))
        return result, None
    cycles = _aligned_cycles(
        capacity, _dedupe(hist["full_equivalent_cycles"]) if "full_equivalent_cycles" in hist else None
    )
    columns: dict[str, Any] = {
        "capacity_Ah": [p.value for p in capacity],
        "timestamp": [p.at.astimezone(UTC) for p in capacity],
    }
    if cycles is not None:
        columns["cycle"] = cycles
    frame = pl.DataFrame(columns, schema_overrides={"timestamp": pl.Datetime("us", "UTC")})
    try:
        history = lifetime.history_from_frame(frame, source=f"passport {passport_id}")
        prediction = lifetime.predict_lifetime(history, reference_capacity_Ah=reference, **options)
    except ValidationError as exc:
        result.message = t["health_forecast_failed"].format(reason=exc.message)
        return result, None
    result.prediction = prediction
    result.cards = _forecast_cards(prediction, result, lang, t)
    return result, _forecast_chart(passport_id, prediction, history, capacity, to_pct, result, lang, t)


def _forecast_cards(
    p: lifetime.LifetimePrediction, result: Forecast, lang: str, t: Mapping[str, str]
) -> list[dict[str, str]]:
    src = t["health_eol_passport"] if result.threshold_source == "passport" else t["health_eol_default"]
    cards = [
        {
            "label": t["health_eol"],
            "value": f"{fmt(result.threshold_pct, lang, 0)} %",
            "help": t["health_eol_of"].format(pct=fmt(result.threshold_pct, lang, 0), src=src),
        }
    ]
    pct = fmt(100 * p.confidence, lang, 0)
    cycle_axis = p.axis is lifetime.Axis.CYCLE

    def when(x: float | None, date: datetime | None) -> str:
        if x is None:
            return t["health_beyond"]
        parts = []
        if date is not None:
            parts.append(local_time(date).strftime("%Y-%m-%d"))
        if cycle_axis:
            parts.append(t["health_cycle_n"].format(n=fmt(x, lang, 0)))
        return " · ".join(parts)

    if p.status is lifetime.Status.REACHED:
        cards.append(
            {
                "label": t["health_reached_at"],
                "value": t["health_already"],
                "help": when(p.threshold_x, p.threshold_date),
            }
        )
    elif p.status is lifetime.Status.NOT_REACHED or p.threshold_x is None:
        horizon = t["health_cycle_n"].format(n=fmt(p.horizon_x, lang, 0)) if cycle_axis else fmt(p.horizon_x, lang, 0)
        cards.append(
            {"label": t["health_reached_at"], "value": t["health_not_reached"].format(horizon=horizon), "help": ""}
        )
    else:
        cards.append(
            {
                "label": t["health_reached_at"],
                "value": when(p.threshold_x, p.threshold_date),
                "help": t["health_between"].format(
                    pct=pct,
                    low=when(p.threshold_x_low, p.threshold_date_low),
                    high=when(p.threshold_x_high, p.threshold_date_high),
                ),
            }
        )
        if p.remaining_cycles is not None:
            cards.append({"label": t["health_remaining"], "value": fmt(p.remaining_cycles, lang, 0), "help": ""})
    cards.append({"label": t["health_model"], "value": p.model.replace("_", " "), "help": p.formula})
    return cards


def _forecast_chart(
    passport_id: str,
    p: lifetime.LifetimePrediction,
    history: lifetime.CapacityHistory,
    capacity: Sequence[Point],
    to_pct: float,
    result: Forecast,
    lang: str,
    t: Mapping[str, str],
) -> Chart:
    x = history.x()
    cycle_axis = p.axis is lifetime.Axis.CYCLE
    t0 = capacity[0].at

    def xs(values: Sequence[float]) -> list[Any]:
        if cycle_axis:
            return [round(float(v), 2) for v in values]
        return [plot_time(t0 + timedelta(days=float(v))) for v in values]

    measured_pct = [round(c.value * to_pct, 3) for c in capacity]
    end = max(v for v in (p.threshold_x_high, p.threshold_x, float(x[-1])) if v is not None)
    if p.threshold_x_high is None and p.threshold_x is not None:
        end = max(end, p.threshold_x * 1.25)
    traces: list[dict[str, Any]] = []
    thr = result.threshold_pct
    ymin = min(min(measured_pct), thr) - 5.0
    band: tuple[float, float] | None = None
    if p.threshold_x is not None and p.status is not lifetime.Status.NOT_REACHED:
        lo = p.threshold_x_low if p.threshold_x_low is not None else p.threshold_x
        hi = p.threshold_x_high if p.threshold_x_high is not None else end
        band = (lo, hi)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": t["health_interval"].format(pct=fmt(100 * p.confidence, lang, 0)),
                "x": xs([lo, hi, hi, lo, lo]),
                "y": [ymin, ymin, thr, thr, ymin],
                "fill": "toself",
                "fillcolor": "rgba(179, 92, 0, 0.18)",
                "line": {"width": 0},
                "hoverinfo": "skip",
            }
        )
    curve_x: list[float] = []
    curve_y: list[float] = []
    if p.status is not lifetime.Status.REACHED and p.model in lifetime.fade_models():
        fit = lifetime.fit_fade_model(p.model, x, history.capacity_Ah, y_scale=p.reference_capacity_Ah)
        stop = p.threshold_x if p.threshold_x is not None else end
        grid = np.linspace(float(x[0]), float(stop), 80)
        curve_x = [float(v) for v in grid]
        curve_y = [round(float(v) * to_pct, 3) for v in fit.capacity_Ah(grid)]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{t['health_fitted']}: {p.model.replace('_', ' ')}",
                "x": xs(curve_x),
                "y": curve_y,
                "line": {"color": COLOURS[1], "dash": "dash"},
            }
        )
    traces.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": t["health_measured_points"],
            "x": xs([float(v) for v in x]),
            "y": measured_pct,
            "marker": {"color": COLOURS[0], "size": 9},
        }
    )
    traces.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"{t['health_threshold']} {fmt(thr, lang, 0)} %",
            "x": xs([float(x[0]), end]),
            "y": [thr, thr],
            "line": {"color": "#8b0000", "width": 2},
        }
    )
    x_title = t["health_cycles_axis"] if cycle_axis else t["health_days_axis"]
    layout = {
        "xaxis": {"title": {"text": x_title}, **({} if cycle_axis else {"type": "date"})},
        "yaxis": {"title": {"text": f"{t['health_col_soh']} [%]"}},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.3},
        "margin": {"l": 56, "r": 16, "t": 16, "b": 64},
    }
    rows: list[list[Any]] = []
    for c, xv, pct in zip(capacity, x, measured_pct, strict=True):
        rows.append(["measured", round(float(xv), 3), c.at.astimezone(UTC).isoformat(), pct])
    for xv, pct in zip(curve_x, curve_y, strict=True):
        rows.append([f"fitted {p.model}", round(xv, 3), "", pct])
    if band is not None:
        rows.append([f"interval low ({100 * p.confidence:.0f} %)", round(band[0], 3), _iso(p.threshold_date_low), thr])
        rows.append([f"crossing ({p.status.value})", round(float(p.threshold_x or 0), 3), _iso(p.threshold_date), thr])
        rows.append(
            [f"interval high ({100 * p.confidence:.0f} %)", round(band[1], 3), _iso(p.threshold_date_high), thr]
        )
    source = (
        f"battery passport {passport_id}, capacity history; forecast of batteryloop.health.lifetime.predict_lifetime "
        f"({100 * p.confidence:.0f} % interval over the adequate fade models); model {p.model}: {p.model_reference}"
    )
    return Chart(
        id="forecast",
        title=t["health_chart_forecast"],
        figure={"data": traces, "layout": layout},
        columns=["series", "full_equivalent_cycles" if cycle_axis else "days", "time_utc", "soh_pct"],
        rows=rows,
        source=source,
        height_px=380,
    )


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


# -- telemetry: time per temperature band ---------------------------------------------------------------------------

BANDS = ("extreme_low", "cold", "normal", "hot", "extreme_high")


def telemetry_frame(root: Path, battery_ids: Sequence[str]) -> tuple[str, pl.DataFrame] | None:
    """The telemetry of the first of ``battery_ids`` that the store at ``root`` holds, or None (no store, no rows)."""
    if not (root / META_FILE).is_file():
        return None
    store = TelemetryStore(root)
    wanted = ["timestamp", "current_A", "voltage_V", "temperature_C", "temperature_max_C"]
    for battery_id in battery_ids:
        frame = store.scan(battery_id).select(wanted).sort("timestamp").collect()
        if frame.height >= 2:
            return battery_id, frame
    return None


def temperature_bands(frame: pl.DataFrame, chemistry: str) -> dict[str, float]:
    """Hours in each temperature band of ``chemistry`` (``rules/chemistry.csv``), and hours without a temperature.

    The bands are cut at the chemistry's operating and charging limits; time is the trapezoidal weight of each
    sample over intervals up to ``max_gap_s`` (:meth:`batteryloop.health.series.TimeSeries.duration_where`).
    """
    limits = chemistry_limits(chemistry)
    method = health_defaults()
    series = from_frame(
        frame.drop_nulls(["current_A", "voltage_V"]).unique("timestamp", keep="last").sort("timestamp"),
        rest_current_A=0.0,
        max_gap_s=method.max_gap_s,
    )
    temp = series.temperature_C
    hours: dict[str, float] = {}
    if temp is None:
        hours["unmeasured"] = series.duration_where(np.ones(series.n, dtype=bool)) / 3600.0
        return hours
    finite = np.isfinite(temp)
    with np.errstate(invalid="ignore"):
        masks = {
            "extreme_low": temp < limits.operating_temperature_min_C,
            "cold": (temp >= limits.operating_temperature_min_C) & (temp < limits.charge_temperature_min_C),
            "normal": (temp >= limits.charge_temperature_min_C) & (temp <= limits.charge_temperature_max_C),
            "hot": (temp > limits.charge_temperature_max_C) & (temp <= limits.operating_temperature_max_C),
            "extreme_high": temp > limits.operating_temperature_max_C,
        }
    for name in BANDS:
        hours[name] = series.duration_where(finite & masks[name]) / 3600.0
    hours["unmeasured"] = series.duration_where(~finite) / 3600.0
    return hours


def bands_chart(battery_id: str, frame: pl.DataFrame, chemistry: str, lang: str, t: Mapping[str, str]) -> Chart:
    hours = temperature_bands(frame, chemistry)
    limits = chemistry_limits(chemistry)
    names = [name for name in (*BANDS, "unmeasured") if name in hours]
    edges = {
        "extreme_low": f"< {limits.operating_temperature_min_C:g} °C",
        "cold": f"{limits.operating_temperature_min_C:g} – {limits.charge_temperature_min_C:g} °C",
        "normal": f"{limits.charge_temperature_min_C:g} – {limits.charge_temperature_max_C:g} °C",
        "hot": f"{limits.charge_temperature_max_C:g} – {limits.operating_temperature_max_C:g} °C",
        "extreme_high": f"> {limits.operating_temperature_max_C:g} °C",
        "unmeasured": "",
    }
    colours = {
        "extreme_low": "#0a5a8a",
        "cold": "#6fa8cf",
        "normal": "#0b6e4f",
        "hot": "#e0a040",
        "extreme_high": "#8b0000",
        "unmeasured": "#9aa5b1",
    }
    labels = [f"{t['health_band_' + n]}<br>{edges[n]}" if edges[n] else t["health_band_" + n] for n in names]
    first = frame.get_column("timestamp").min()
    last = frame.get_column("timestamp").max()
    span = ""
    if isinstance(first, datetime) and isinstance(last, datetime):
        span = f"{local_time(first).strftime('%Y-%m-%d')} – {local_time(last).strftime('%Y-%m-%d')}"
    figure = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [round(hours[n], 2) for n in names],
                "y": labels,
                "marker": {"color": [colours[n] for n in names]},
                "hovertemplate": "%{x:.1f} h<extra></extra>",
            }
        ],
        "layout": {
            "xaxis": {"title": {"text": t["health_hours"]}},
            "yaxis": {"automargin": True},
            "showlegend": False,
        },
    }
    return Chart(
        id="temperature_bands",
        title=t["health_chart_bands"],
        figure=figure,
        columns=["band", "from_C", "to_C", "hours"],
        rows=[[n, *_band_edges(n, limits), round(hours[n], 3)] for n in names],
        source=(
            f"telemetry store, battery {battery_id} ({frame.height} samples, {span}); band limits for "
            f"{limits.chemistry}: rules/chemistry.csv ({limits.source})"
        ),
        note="Annex VII Part B(4)",
        height_px=340,
    )


def _band_edges(name: str, limits: Any) -> list[Any]:
    edges = {
        "extreme_low": ("", limits.operating_temperature_min_C),
        "cold": (limits.operating_temperature_min_C, limits.charge_temperature_min_C),
        "normal": (limits.charge_temperature_min_C, limits.charge_temperature_max_C),
        "hot": (limits.charge_temperature_max_C, limits.operating_temperature_max_C),
        "extreme_high": (limits.operating_temperature_max_C, ""),
        "unmeasured": ("", ""),
    }
    return list(edges[name])


def parameters_now(view: PassportView, lang: str) -> list[dict[str, str]]:
    """The dynamic attributes of the passport the viewer may read, in the order of the attribute table."""
    rows = []
    for key, attr in attributes().items():
        if not attr.is_dynamic or key not in view.data:
            continue
        obs = view.observations.get(key) or {}
        measured = ""
        if isinstance(obs, Mapping) and obs.get("measured_at"):
            try:
                measured = local_time(datetime.fromisoformat(str(obs["measured_at"]))).strftime("%Y-%m-%d %H:%M")
            except ValueError:
                measured = str(obs["measured_at"])
        rows.append(
            {
                "key": key,
                "label": attr.label(lang),
                "value": _display(key, view.data[key], lang),
                "ref": f"VII {attr.annex_vii}" if attr.annex_vii else f"XIII {attr.annex_xiii}",
                "measured": measured,
                "method": str(obs.get("method", "")) if isinstance(obs, Mapping) else "",
            }
        )
    return rows


@router.get("/health/{passport_id}", response_class=HTMLResponse)
def health_battery(request: Request, passport_id: str) -> Response:
    viewer = require_user(request)
    settings = settings_of(request)
    session = read_session(request)
    try:
        service = PassportService(session, settings)
        try:
            view = service.view(viewer, passport_id, route="GET /health")
        except NotFoundError:
            return render(request, "health_not_found.html", {"passport_id": passport_id}, 404)
        lang = choose_language(request)
        t = translator(lang)
        public = service.view(Viewer.anonymous(), passport_id, route="GET /health").data
        model = public.get("battery_model_identifier") or ""
        category = CATEGORY_LABELS.get(str(public.get("battery_category", "")), {}).get(lang, "")
        if INDIVIDUAL not in view.groups:
            return render(
                request,
                "health_no_access.html",
                {"passport_id": passport_id, "model": model, "category": category, "role_name": _role_name(viewer)},
                403,
            )
        hist = histories(service, viewer, view)
    finally:
        session.close()
    charts = history_charts(passport_id, hist, lang, t)
    result, forecast_chart = forecast(passport_id, view.data, hist, lang, t)
    if forecast_chart is not None:
        charts.insert(0, forecast_chart)
    telemetry_note = ""
    chemistry = view.data.get("battery_chemistry")
    found = telemetry_frame(settings.data_dir / "telemetry", [passport_id, str(view.data.get("serial_number", ""))])
    if found is not None and isinstance(chemistry, str):
        try:
            charts.append(bands_chart(found[0], found[1], chemistry, lang, t))
        except BatteryloopError as exc:
            telemetry_note = exc.message
    else:
        telemetry_note = t["health_telemetry_none"]
    if (r := csv_response(request, charts)) is not None:
        return r
    return render(
        request,
        "health_battery.html",
        {
            "lang": lang,
            "view": view,
            "passport_id": passport_id,
            "model": model,
            "category": category,
            "params": parameters_now(view, lang),
            "charts": charts,
            "has_health": bool(hist),
            "forecast": result,
            "telemetry_note": telemetry_note,
            "soh": _number(view.data.get("soh_capacity_pct")),
            "fmt": fmt,
            "quote": quote,
        },
    )
