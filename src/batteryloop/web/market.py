"""The second-life market: search passports by category, chemistry and state of health, with values.

Who sees what (``passport/access_rules.csv``): the state of health is individual battery data (Annex XIII point 4,
group ``legitimate_interest_individual``). The responsible economic operator reads it for its own batteries
(Art. 77(4)); repairers, remanufacturers, repurposers, recyclers and aggregators read it only for the batteries
granted to them (Art. 77(2)(c), Art. 14(1)); notified bodies, market-surveillance authorities and the Commission
read points 2 and 3, not point 4 (Art. 77(2)(b)). So the market has two parts:

- **Candidates**: the batteries whose state of health the viewer may read, within the searched range (the service's
  search, which filters on the state of health only among those), each with its second-life value for the chosen
  energy service (:func:`batteryloop.energy.valuation.value_second_life` on Dutch day-ahead prices) next to its
  recycling value now (:func:`batteryloop.energy.valuation.recycling_value`: recoverable metal content x price x
  recovery, less the recycling cost).
- **Public offer**: the batteries matching the public filters (category and chemistry, Annex XIII point 1) grouped
  by model, with their public figures and the operator to ask for access; for a role that may read no state of health
  (the authorities, a repurposer without grants) this is all the market shows.

A valuation dispatches the battery on a year of hourly prices for each year of its second life (about a second), so
values are computed only for the rows shown (and, to sort by value, for every candidate, within a bound), at every
5 % of state of health per model, cached per (model, state of health, service, prices), and interpolated linearly in
between; close to the end of a second life (60 %), at the state of health rounded to a whole per cent.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from batteryloop.energy import valuation as v
from batteryloop.energy.price_data import dutch_prices
from batteryloop.energy.prices import PriceSeries, local_day_bounds
from batteryloop.errors import BatteryloopError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.attributes import AccessGroup
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService
from batteryloop.web.charts import Chart, csv_response
from batteryloop.web.health_page import fmt
from batteryloop.web.i18n import CATEGORY_LABELS, choose_language, register, translator
from batteryloop.web.layout import read_session, render, require_user, settings_of

router = APIRouter(include_in_schema=False)

MARKET_ROLES = frozenset(
    {
        Role.REPURPOSER,
        Role.REMANUFACTURER,
        Role.ECONOMIC_OPERATOR,
        Role.AGGREGATOR,
        Role.MARKET_SURVEILLANCE_AUTHORITY,
        Role.COMMISSION,
        Role.NOTIFIED_BODY,
    }
)
"""Who trades in or oversees used batteries: second-life operators, economic operators (sellers), aggregators
(buyers of storage for flexibility services) and the authorities."""

PAGE_SIZE = 10
MAX_CANDIDATES = 1000
"""Candidates read per search (sorted on the server); a search with more asks the user to narrow it."""
MAX_OFFER_MODELS = 12
"""Models listed in the public offer (the most common first)."""
MAX_NEW_VALUATIONS_FOR_SORT = 24
"""Sorting by value needs every candidate's value: at most this many not yet cached (about a second each)."""
CACHE_SIZE = 2048
MIN_YEAR_COVERAGE = 0.9
"""A price year takes part when it has prices for 90 % of its hours (2025 of the NL file has 94 %: 505 hours are
missing, and ``batteryloop energy value`` uses it too, idle in those hours)."""
GRID_STEP_PCT = 5.0
"""The second-life value is computed at every 5 % of state of health per model and interpolated in between (the
value is close to linear there: 11 EUR off a -9,075 EUR valuation of a 75 kWh NMC pack at 77 %, 0.1 %)."""
SEARCH_FIELDS = ("category", "chemistry", "soh_min", "soh_max", "service", "sort", "page")
"""A request with none of these opens the page with the form (and the public offer), without a search."""
SORTS = ("soh", "model", "energy", "value", "break_even", "recycling", "margin")
DEFAULT_SORT = "soh"

TEXTS: dict[str, dict[str, str]] = {
    "market_title": {"en": "Second-life market", "nl": "Markt voor tweede leven"},
    "market_intro": {
        "en": "Search used batteries by category, chemistry and state of health. For each battery whose state of "
        "health you may read: its value in a second life for an energy service, next to what recycling it now "
        "yields.",
        "nl": "Zoek gebruikte batterijen op categorie, chemie en gezondheidstoestand. Voor elke batterij waarvan u de "
        "gezondheid mag inzien: de waarde in een tweede leven voor een energiedienst, naast de opbrengst van "
        "recyclen nu.",
    },
    "market_category": {"en": "Category", "nl": "Categorie"},
    "market_chemistry": {"en": "Chemistry", "nl": "Chemie"},
    "market_any": {"en": "any", "nl": "alle"},
    "market_soh_min": {"en": "State of health from [%]", "nl": "Gezondheid vanaf [%]"},
    "market_soh_max": {"en": "State of health to [%]", "nl": "Gezondheid tot en met [%]"},
    "market_service": {"en": "Energy service", "nl": "Energiedienst"},
    "market_service_arbitrage": {
        "en": "Day-ahead arbitrage",
        "nl": "Arbitrage op de day-aheadmarkt",
    },
    "market_service_arbitrage+fcr": {"en": "Arbitrage + FCR", "nl": "Arbitrage + FCR"},
    "market_service_help": {
        "en": "Arbitrage + FCR needs FCR capacity prices, which are not installed.",
        "nl": "Arbitrage + FCR vraagt FCR-capaciteitsprijzen, die niet geïnstalleerd zijn.",
    },
    "market_more_models": {
        "en": "… and {n} more models with {count} batteries (narrow the category or chemistry to see them).",
        "nl": "… en nog {n} modellen met {count} batterijen (kies een categorie of chemie om ze te zien).",
    },
    "market_search": {"en": "Search", "nl": "Zoeken"},
    "market_err_number": {
        "en": "Enter a number from 0 to 100.",
        "nl": "Vul een getal van 0 tot en met 100 in.",
    },
    "market_err_order": {
        "en": "The upper bound must not be below the lower bound ({low} %).",
        "nl": "De bovengrens mag niet onder de ondergrens ({low} %) liggen.",
    },
    "market_err_choice": {"en": "Choose one of the list.", "nl": "Kies een waarde uit de lijst."},
    "market_err_service": {
        "en": "This service needs FCR capacity prices, which are not installed: choose day-ahead arbitrage.",
        "nl": "Deze dienst vraagt FCR-capaciteitsprijzen, die niet geïnstalleerd zijn: kies arbitrage.",
    },
    "market_err_sort": {
        "en": "Sorting by value needs {n} more valuations (about a second each): narrow the search. Sorted by state "
        "of health instead.",
        "nl": "Sorteren op waarde vraagt nog {n} waarderingen (elk ongeveer een seconde): verfijn de zoekopdracht. "
        "Nu gesorteerd op gezondheid.",
    },
    "market_too_many": {
        "en": "{n} batteries match; the first {max} (by identifier) are sorted and shown. Narrow the search.",
        "nl": "{n} batterijen voldoen; de eerste {max} (op nummer) worden gesorteerd en getoond. Verfijn de "
        "zoekopdracht.",
    },
    "market_candidates": {"en": "Candidates", "nl": "Kandidaten"},
    "market_start": {
        "en": "Choose a state-of-health range (for example 70 to 85 %) and search: the batteries whose state of health "
        "you may read are valued for the energy service; valuing takes about a second per battery model and 5 % step.",
        "nl": "Kies een bereik van de gezondheid (bijvoorbeeld 70 tot 85 %) en zoek: de batterijen waarvan u de "
        "gezondheid mag inzien worden gewaardeerd voor de energiedienst; dat kost ongeveer een seconde per "
        "batterijmodel en stap van 5 %.",
    },
    "market_found": {
        "en": "{n} batteries in the range whose state of health you may read",
        "nl": "{n} batterijen in het bereik waarvan u de gezondheid mag inzien",
    },
    "market_found_one": {
        "en": "1 battery in the range whose state of health you may read",
        "nl": "1 batterij in het bereik waarvan u de gezondheid mag inzien",
    },
    "market_none_visible": {
        "en": "No battery in this search has a state of health your role ({role}) may read.",
        "nl": "Geen batterij in deze zoekopdracht heeft een gezondheidstoestand die uw rol ({role}) mag inzien.",
    },
    "market_col_battery": {"en": "Battery", "nl": "Batterij"},
    "market_col_model": {"en": "Model", "nl": "Model"},
    "market_col_status": {"en": "Status", "nl": "Status"},
    "market_col_soh": {"en": "State of health", "nl": "Gezondheid"},
    "market_col_energy": {"en": "Usable energy", "nl": "Bruikbare energie"},
    "market_col_value": {"en": "Second-life value", "nl": "Waarde tweede leven"},
    "market_col_break_even": {"en": "Break-even price", "nl": "Break-evenprijs"},
    "market_col_recycling": {"en": "Recycling now", "nl": "Recyclen nu"},
    "market_col_margin": {"en": "Verdict", "nl": "Oordeel"},
    "market_repurpose": {"en": "repurpose", "nl": "herbestemmen"},
    "market_recycle": {"en": "recycle", "nl": "recyclen"},
    "market_margin": {"en": "margin {eur}", "nl": "marge {eur}"},
    "market_sort_by": {"en": "Sort by {col}", "nl": "Sorteer op {col}"},
    "market_value_help": {
        "en": "Second-life value: net present value of the second life before the purchase price (revenue of the "
        "dispatch on Dutch day-ahead prices, less repurposing, power equipment and O&M, plus the recycling value at "
        "the end). Break-even price: what a buyer can pay per kWh of usable energy. Recycling now: recoverable "
        "metals less the recycling cost. Second-life values are computed per model at every 5 % of state of health and "
        "interpolated in between.",
        "nl": "Waarde tweede leven: netto contante waarde van het tweede leven vóór de aankoopprijs (opbrengst van de "
        "inzet op Nederlandse day-aheadprijzen, min herbestemming, vermogenselektronica en onderhoud, plus de "
        "recyclewaarde aan het eind). Break-evenprijs: wat een koper per kWh bruikbare energie kan betalen. Recyclen "
        "nu: terugwinbare metalen min de recyclekosten. Waarden voor een tweede leven worden per model berekend bij "
        "elke 5 % gezondheid en daartussen lineair geïnterpoleerd.",
    },
    "market_no_value": {"en": "not valued", "nl": "niet gewaardeerd"},
    "market_below_end": {
        "en": "at or below the end of a second life ({pct} %)",
        "nl": "op of onder het einde van een tweede leven ({pct} %)",
    },
    "market_public": {"en": "Public offer", "nl": "Openbaar aanbod"},
    "market_public_intro": {
        "en": "Batteries matching the category and chemistry, by model, with their public data (Annex XIII point 1). "
        "Their state of health is individual battery data (Annex XIII point 4): you see it for {visible} of these "
        "{total} batteries. For the others, request access from the responsible operator: it may grant you the "
        "data of a battery (Art. 77(2)(c), Art. 14(1)).",
        "nl": "Batterijen die voldoen aan categorie en chemie, per model, met hun openbare gegevens (bijlage XIII "
        "punt 1). Hun gezondheidstoestand is informatie over de individuele batterij (bijlage XIII punt 4): u ziet "
        "haar van {visible} van deze {total} batterijen. Vraag voor de andere toegang aan de verantwoordelijke "
        "marktdeelnemer: die kan u de gegevens van een batterij geven (art. 77, lid 2, onder c; art. 14, lid 1).",
    },
    "market_col_count": {"en": "Batteries", "nl": "Batterijen"},
    "market_col_rated": {"en": "Rated energy", "nl": "Nominale energie"},
    "market_col_capacity": {"en": "Rated capacity", "nl": "Nominale capaciteit"},
    "market_col_operator": {"en": "Manufacturer", "nl": "Fabrikant"},
    "market_request": {"en": "request access", "nl": "toegang vragen"},
    "market_request_subject": {
        "en": "Request for access to battery data (model {model})",
        "nl": "Verzoek om toegang tot batterijgegevens (model {model})",
    },
    "market_chart": {
        "en": "Second-life value and recycling value of the batteries shown",
        "nl": "Waarde tweede leven en recyclewaarde van de getoonde batterijen",
    },
    "market_assumptions": {"en": "Assumptions of the valuation", "nl": "Aannames van de waardering"},
    "market_prices": {"en": "Prices", "nl": "Prijzen"},
    "market_no_prices": {
        "en": "No day-ahead price file was found: second-life values are not shown ({reason}).",
        "nl": "Geen bestand met day-aheadprijzen gevonden: waarden voor een tweede leven ontbreken ({reason}).",
    },
    "market_health_link": {"en": "health", "nl": "gezondheid"},
}
register(TEXTS)


# ---------------------------------------------------------------------------------------------------------------------
# prices and the valuation cache


@dataclass(frozen=True)
class Prices:
    series: PriceSeries
    years: tuple[int, ...]
    description: str


def covered_years(series: PriceSeries, wanted: Sequence[int]) -> list[int]:
    """The years of ``wanted`` with prices for at least :data:`MIN_YEAR_COVERAGE` of their hours (Europe/Amsterdam
    calendar years; the dispatch leaves the battery idle in the hours without a price); when none is, every such
    year the series holds."""

    def covered(year: int) -> bool:
        lo, hi = local_day_bounds(date(year, 1, 1), date(year + 1, 1, 1))
        assert lo is not None
        assert hi is not None
        hours = (hi - lo).total_seconds() / 3600.0
        return len(series.between(lo, hi)) * series.step_minutes / 60.0 >= MIN_YEAR_COVERAGE * hours

    years = [y for y in wanted if covered(y)]
    if years:
        return years
    first = int(str(series.timestamps[0])[:4]) if len(series) else 0
    last = int(str(series.timestamps[-1])[:4]) if len(series) else -1
    return [y for y in range(first, last + 1) if covered(y)]


def market_prices() -> Prices:
    """The Dutch day-ahead prices the valuation runs on (:func:`batteryloop.energy.price_data.dutch_prices`: the shared
    NL file 2015-2026 where present, else the package's synthetic years, said so) and the price years it covers."""
    series, used = dutch_prices()
    years = covered_years(series, v.default_price_years())
    if not years:
        raise BatteryloopError(f"{used.description}: no complete year of prices", field="prices")
    return Prices(series, tuple(years), used.description)


@dataclass(frozen=True)
class Value:
    """The figures of one battery the market shows."""

    soh_pct: float
    npv_eur: float | None
    break_even_eur_per_kWh: float | None
    recycling_now_eur: float | None
    materials_eur: float | None
    margin_eur: float | None
    verdict: str
    basis: str = ""
    """How the second-life value was found: ``"75-80"`` (interpolated between those grid points) or ``"62"``."""
    note: str = ""


@dataclass(frozen=True)
class GridValue:
    """One valuation at a grid point: the second-life value before the purchase price, or why there is none."""

    npv_eur: float | None
    note: str = ""


class ValuationCache:
    """Valuations per (model figures, state of health, service, prices), least recently used out first."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], GridValue] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0

    def get(self, key: tuple[Any, ...]) -> GridValue | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: GridValue) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = ValuationCache()


def grid_points(soh_pct: float, end_soh_pct: float) -> tuple[float, ...]:
    """The states of health a battery at ``soh_pct`` is valued at: the two points of the :data:`GRID_STEP_PCT`
    grid around it (one when it is on the grid), or, when the lower one is at or below the end of a second life
    (where the value is not defined), its own state of health to 0.1 %."""
    low = math.floor(soh_pct / GRID_STEP_PCT + 1e-9) * GRID_STEP_PCT
    if low <= end_soh_pct:
        near = round(soh_pct, 1)
        return (near if near > end_soh_pct else soh_pct,)
    if math.isclose(low, soh_pct, abs_tol=1e-9):
        return (low,)
    return (low, low + GRID_STEP_PCT)


@dataclass(frozen=True)
class ModelFigures:
    """A battery model's public figures mapped onto the valuation inputs (without the state of health)."""

    model: str
    values: tuple[tuple[str, Any], ...]
    missing: str = ""

    @property
    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


def cache_key(figures: ModelFigures, soh_pct: float, service: str, prices: Prices) -> tuple[Any, ...]:
    return (figures.model, figures.values, soh_pct, service, prices.description, prices.years)


def missing_keys(figures: ModelFigures, soh_pct: float, service: str, prices: Prices) -> set[tuple[Any, ...]]:
    """The valuations a battery still needs (not in the cache)."""
    end = v.default_float("end_soh_pct")
    keys = {cache_key(figures, p, service, prices) for p in grid_points(soh_pct, end)}
    return {k for k in keys if CACHE.get(k) is None}


def _grid_value(figures: ModelFigures, soh_pct: float, service: str, prices: Prices) -> GridValue:
    key = cache_key(figures, soh_pct, service, prices)
    found = CACHE.get(key)
    if found is not None:
        return found
    value = _compute(figures, soh_pct, service, prices)
    CACHE.computed += 1
    CACHE.put(key, value)
    return value


def value_of(figures: ModelFigures, soh_pct: float, service: str, prices: Prices) -> Value:
    """The second-life value and the recycling value of a battery of ``figures`` at ``soh_pct``.

    The second-life value is interpolated linearly between the valuations at the grid points around ``soh_pct``
    (:func:`grid_points`); the break-even price is that value over the present usable energy (the valuation's own
    definition, :attr:`batteryloop.energy.valuation.Valuation.break_even_eur_per_kWh`).
    """
    values = figures.as_dict
    recycling, materials, why = _recycling(values)
    end = v.default_float("end_soh_pct")
    if figures.missing:
        return Value(soh_pct, None, None, recycling, materials, None, "", note=figures.missing)
    if soh_pct <= end:
        return Value(soh_pct, None, None, recycling, materials, None, "recycle", note=f"end:{end:g}")
    points = grid_points(soh_pct, end)
    grid = [_grid_value(figures, p, service, prices) for p in points]
    bad = next((g for g in grid if g.npv_eur is None), None)
    if bad is not None:
        return Value(soh_pct, None, None, recycling, materials, None, "", note=bad.note or why)
    npvs = [g.npv_eur for g in grid if g.npv_eur is not None]
    if len(points) == 2:
        share = (soh_pct - points[0]) / (points[1] - points[0])
        npv = npvs[0] + share * (npvs[1] - npvs[0])
        basis = f"{points[0]:g}-{points[1]:g}"
    else:
        npv, basis = npvs[0], f"{points[0]:g}"
    energy = float(values["rated_energy_kWh"]) * soh_pct / 100.0
    margin = npv - recycling if recycling is not None else None
    verdict = "" if margin is None else ("repurpose" if margin > 0 else "recycle")
    return Value(soh_pct, npv, npv / energy, recycling, materials, margin, verdict, basis)


def _recycling(figures: Mapping[str, Any]) -> tuple[float | None, float | None, str]:
    energy = figures.get("rated_energy_kWh")
    chemistry = figures.get("chemistry")
    if not isinstance(energy, float) or not isinstance(chemistry, str):
        return None, None, "no rated energy or chemistry"
    try:
        rec = v.recycling_value(chemistry)
    except BatteryloopError as exc:
        return None, None, exc.message
    return rec.net_eur_per_kWh * energy, rec.gross_eur_per_kWh * energy, ""


def _compute(figures: ModelFigures, soh: float, service: str, prices: Prices) -> GridValue:
    """One valuation: :func:`batteryloop.energy.valuation.value_second_life` of the model at ``soh`` on the
    prices, with the defaults of ``valuation_defaults.csv``."""
    values = figures.as_dict
    values.setdefault("round_trip_efficiency", v.default_float("round_trip_efficiency"))
    try:
        battery = v.UsedBattery(soh_pct=soh, **values)
        model = v.MarketRevenue(prices.series, round_trip_efficiency=battery.round_trip_efficiency, services=service)
        result = v.value_second_life(battery, model, price_years=list(prices.years))
    except BatteryloopError as exc:
        return GridValue(None, exc.message)
    return GridValue(result.npv_without_purchase_eur)


def model_figures(service: PassportService, passport_id: str, model: str) -> ModelFigures:
    """The public figures of a passport's model (what everyone may read), as valuation inputs."""
    data = service.view(Viewer.anonymous(), passport_id, route="GET /market").data
    try:
        figures = v.figures_from_passport(passport_id, data, [AccessGroup.PUBLIC.value], soh_given=True)
    except BatteryloopError as exc:
        return ModelFigures(model, (), exc.message)
    values = dict(figures.values)
    values.pop("resistance_increase_pct", None)  # individual data; the market values the model at the step
    missing = "" if "rated_energy_kWh" in values else "no rated energy (or capacity and voltage) in the passport"
    return ModelFigures(model, tuple(sorted(values.items())), missing)


# ---------------------------------------------------------------------------------------------------------------------
# the form


@dataclass
class Query:
    category: str = ""
    chemistry: str = ""
    soh_min: float | None = None
    soh_max: float | None = None
    service: str = "arbitrage"
    sort: str = DEFAULT_SORT
    descending: bool = True
    page: int = 1
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def params(self, **override: Any) -> str:
        base = {
            "category": self.category,
            "chemistry": self.chemistry,
            "soh_min": self.raw.get("soh_min", ""),
            "soh_max": self.raw.get("soh_max", ""),
            "service": self.service,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "page": str(self.page),
        }
        base.update({k: str(val) for k, val in override.items()})
        return urlencode({k: val for k, val in base.items() if val != ""})


def _percent(raw: str, name: str, errors: dict[str, str], t: Mapping[str, str]) -> float | None:
    text = raw.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[name] = t["market_err_number"]
        return None
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        errors[name] = t["market_err_number"]
        return None
    return value


def parse_query(params: Mapping[str, str], chemistries: Sequence[str], t: Mapping[str, str]) -> Query:
    q = Query(raw={k: str(params.get(k, "")) for k in ("soh_min", "soh_max")})
    category = params.get("category", "")
    if category and category not in CATEGORY_LABELS:
        q.errors["category"] = t["market_err_choice"]
    else:
        q.category = category
    chemistry = params.get("chemistry", "")
    if chemistry and chemistry not in chemistries:
        q.errors["chemistry"] = t["market_err_choice"]
    else:
        q.chemistry = chemistry
    q.soh_min = _percent(q.raw["soh_min"], "soh_min", q.errors, t)
    q.soh_max = _percent(q.raw["soh_max"], "soh_max", q.errors, t)
    if q.soh_min is not None and q.soh_max is not None and q.soh_max < q.soh_min:
        q.errors["soh_max"] = t["market_err_order"].format(low=q.raw["soh_min"].strip())
    service = params.get("service", "arbitrage")
    if service not in v.SERVICES:
        q.errors["service"] = t["market_err_choice"]
    elif service != "arbitrage":
        q.errors["service"] = t["market_err_service"]
    sort = params.get("sort", DEFAULT_SORT)
    q.sort = sort if sort in SORTS else DEFAULT_SORT
    q.descending = params.get("dir", "desc") != "asc"
    try:
        q.page = max(1, int(params.get("page", "1")))
    except ValueError:
        q.page = 1
    return q


# ---------------------------------------------------------------------------------------------------------------------
# the page


@dataclass
class Row:
    passport_id: str
    model: str
    category: str
    chemistry: str
    status: str
    soh_pct: float
    figures: ModelFigures
    value: Value | None = None

    @property
    def energy_kWh(self) -> float | None:
        energy = self.figures.as_dict.get("rated_energy_kWh")
        return energy * self.soh_pct / 100.0 if isinstance(energy, float) else None


def _sort_key(row: Row, sort: str) -> tuple[int, Any]:
    """Rows without the sorted figure go last either way."""
    value = row.value
    figure: Any
    if sort == "model":
        figure = row.model
    elif sort == "energy":
        figure = row.energy_kWh
    elif sort == "value":
        figure = value.npv_eur if value else None
    elif sort == "break_even":
        figure = value.break_even_eur_per_kWh if value else None
    elif sort == "recycling":
        figure = value.recycling_now_eur if value else None
    elif sort == "margin":
        figure = value.margin_eur if value else None
    else:
        figure = row.soh_pct
    return (0, figure) if figure is not None else (1, 0)


def sort_rows(rows: list[Row], sort: str, descending: bool) -> list[Row]:
    present = [r for r in rows if _sort_key(r, sort)[0] == 0]
    absent = [r for r in rows if _sort_key(r, sort)[0] == 1]
    present.sort(key=lambda r: (_sort_key(r, sort)[1], r.passport_id), reverse=descending)
    return present + absent


def _chemistries(session: Any) -> list[str]:
    """The chemistries on passports (a public column, Annex XIII 1(b)), for the form."""
    found = session.scalars(select(Passport.chemistry).where(Passport.chemistry.is_not(None)).distinct()).all()
    return sorted({str(c) for c in found if c})


def _public_offer(service: PassportService, query: Query, lang: str, t: Mapping[str, str]) -> list[dict[str, Any]]:
    """The active passports matching the public filters, grouped by model, with the model's public figures."""
    _, items = service.search(
        Viewer.anonymous(),
        category=query.category or None,
        chemistry=query.chemistry or None,
        state="active",
        limit=5000,
        route="GET /market",
    )
    groups: dict[tuple[str, str, str], list[str]] = {}
    for item in items:
        key = (str(item.get("model") or ""), str(item["category"]), str(item.get("chemistry") or ""))
        groups.setdefault(key, []).append(str(item["passport_id"]))
    out = []
    for (model, category, chemistry), ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        data = service.view(Viewer.anonymous(), ids[0], route="GET /market").data
        email = data.get("manufacturer_email")
        subject = t["market_request_subject"].format(model=model or ids[0])
        out.append(
            {
                "model": model,
                "category": CATEGORY_LABELS.get(category, {}).get(lang, category),
                "chemistry": chemistry,
                "count": len(ids),
                "rated_energy": _num(data.get("rated_energy_kWh")),
                "rated_capacity": _num(data.get("rated_capacity_Ah")),
                "manufacturer": data.get("manufacturer_name") or "",
                "request_href": f"mailto:{email}?{urlencode({'subject': subject}, quote_via=quote)}"
                if isinstance(email, str) and "@" in email
                else "",
                "example": ids[0],
            }
        )
    return out


def _num(raw: Any) -> float | None:
    if isinstance(raw, Mapping):
        raw = raw.get("value")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw)
    return None


def _chart(rows: Sequence[Row], prices: Prices | None, lang: str, t: Mapping[str, str]) -> Chart:
    valued = [r for r in rows if r.value is not None]
    second = [r for r in valued if r.value and r.value.npv_eur is not None]
    recycled = [r for r in valued if r.value and r.value.recycling_now_eur is not None]
    figure = {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": t["market_col_value"],
                "x": [r.soh_pct for r in second],
                "y": [round(r.value.npv_eur, 2) for r in second if r.value and r.value.npv_eur is not None],
                "text": [r.passport_id for r in second],
                "marker": {"color": "#0b6e4f", "size": 10},
                "hovertemplate": "%{text}<br>%{x:.1f} %: %{y:,.0f} EUR<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": t["market_col_recycling"],
                "x": [r.soh_pct for r in recycled],
                "y": [
                    round(r.value.recycling_now_eur, 2)
                    for r in recycled
                    if r.value and r.value.recycling_now_eur is not None
                ],
                "text": [r.passport_id for r in recycled],
                "marker": {"color": "#b35c00", "size": 10, "symbol": "diamond"},
                "hovertemplate": "%{text}<br>%{x:.1f} %: %{y:,.0f} EUR<extra></extra>",
            },
        ],
        "layout": {
            "xaxis": {"title": {"text": f"{t['market_col_soh']} [%]"}},
            "yaxis": {"title": {"text": "EUR"}, "zeroline": True},
        },
    }
    columns = [
        "passport_id",
        "model",
        "soh_pct",
        "valued_at_soh_grid_pct",
        "usable_energy_kWh",
        "second_life_npv_eur",
        "break_even_eur_per_kWh",
        "recycling_now_eur",
        "materials_eur",
        "verdict",
        "note",
    ]
    out_rows = []
    for r in rows:
        val = r.value
        out_rows.append(
            [
                r.passport_id,
                r.model,
                r.soh_pct,
                val.basis if val else "",
                _round(r.energy_kWh, 3),
                _round(val.npv_eur if val else None, 2),
                _round(val.break_even_eur_per_kWh if val else None, 2),
                _round(val.recycling_now_eur if val else None, 2),
                _round(val.materials_eur if val else None, 2),
                val.verdict if val else "",
                val.note if val else "",
            ]
        )
    years = ", ".join(str(y) for y in prices.years) if prices else ""
    source = (
        f"batteryloop.energy.valuation (dispatch LP on {prices.description}, price years {years}); recycling: "
        "energy/recycling_value.csv (metal content, prices of 2024-06, recovery per Regulation (EU) 2023/1542 "
        "Annex XII); battery figures from the passports"
        if prices
        else "energy/recycling_value.csv; battery figures from the passports"
    )
    return Chart(
        id="values",
        title=t["market_chart"],
        figure=figure,
        columns=columns,
        rows=out_rows,
        source=source,
        height_px=320,
    )


def _round(value: float | None, digits: int) -> float | str:
    return round(value, digits) if value is not None else ""


def assumptions(lang: str) -> list[dict[str, str]]:
    """The valuation's defaults with their sources (``energy/valuation_defaults.csv``)."""
    shown = (
        "discount_rate",
        "lifetime_cutoff_years",
        "end_soh_pct",
        "repurposing_eur_per_kWh",
        "repurposing_fixed_eur",
        "bos_eur_per_kW",
        "om_pct_of_capex_per_year",
        "c_rate",
        "calendar_fade_pct_per_year",
        "recycling_cost_eur_per_kWh",
    )
    rows = {row["name"]: row for row in v.default_rows()}
    return [
        {
            "name": name.replace("_", " "),
            "value": rows[name]["value"],
            "unit": rows[name]["unit"],
            "source": rows[name]["source"],
        }
        for name in shown
        if name in rows
    ]


def candidates(service: PassportService, viewer: Viewer, query: Query) -> tuple[int, list[Row]]:
    """The active passports matching the search whose state of health the viewer may read (at most
    :data:`MAX_CANDIDATES`), and how many match in all.

    State of health is individual battery data: the service filters on it only among the passports the viewer may
    read (its own, or granted); without a range, "from 0 %" keeps those with a state of health.
    """
    total, items = service.search(
        viewer,
        category=query.category or None,
        chemistry=query.chemistry or None,
        state="active",
        soh_min=query.soh_min if query.soh_min is not None else 0.0,
        soh_max=query.soh_max,
        limit=MAX_CANDIDATES,
        route="GET /market",
    )
    figures: dict[str, ModelFigures] = {}
    rows = []
    for item in items:
        soh = item.get("soh_pct")
        if soh is None:
            continue
        model = str(item.get("model") or item["passport_id"])
        if model not in figures:
            figures[model] = model_figures(service, str(item["passport_id"]), model)
        rows.append(
            Row(
                passport_id=str(item["passport_id"]),
                model=str(item.get("model") or ""),
                category=str(item["category"]),
                chemistry=str(item.get("chemistry") or ""),
                status=str(item.get("battery_status") or ""),
                soh_pct=float(soh),
                figures=figures[model],
            )
        )
    return total, rows


@router.get("/market", response_class=HTMLResponse)
def market(request: Request) -> Response:
    viewer = require_user(request, MARKET_ROLES)
    lang = choose_language(request)
    t = translator(lang)
    session = read_session(request)
    prices: Prices | None = None
    prices_problem = ""
    try:
        prices = market_prices()
    except (BatteryloopError, OSError) as exc:
        prices_problem = getattr(exc, "message", str(exc))
    sort_message = ""
    try:
        service = PassportService(session, settings_of(request))
        chemistries = _chemistries(session)
        query = parse_query(request.query_params, chemistries, t)
        rows: list[Row] = []
        total = 0
        offer: list[dict[str, Any]] = []
        searched = any(k in request.query_params for k in SEARCH_FIELDS)
        if not query.errors:
            if searched:
                total, rows = candidates(service, viewer, query)
            offer = _public_offer(service, query, lang, t)
    finally:
        session.close()

    sort = query.sort
    if sort in ("value", "break_even", "recycling", "margin") and prices is not None:
        if sort == "recycling":
            for row in rows:
                row.value = row.value or _recycling_only(row)
        else:
            missing: set[tuple[Any, ...]] = set()
            for r in rows:
                missing |= missing_keys(r.figures, r.soh_pct, query.service, prices)
            if len(missing) > MAX_NEW_VALUATIONS_FOR_SORT:
                sort_message = t["market_err_sort"].format(n=len(missing))
                sort = DEFAULT_SORT
            else:
                for row in rows:
                    row.value = value_of(row.figures, row.soh_pct, query.service, prices)
    rows = sort_rows(rows, sort, query.descending)
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    page = min(query.page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    for row in shown:
        if prices is not None:
            row.value = value_of(row.figures, row.soh_pct, query.service, prices)
        elif row.value is None:
            row.value = _recycling_only(row)
    charts = [_chart(shown, prices, lang, t)] if shown else []
    if (download := csv_response(request, charts)) is not None:
        return download
    public_total = sum(g["count"] for g in offer)
    visible_all = _count_visible(request, viewer, query) if not query.errors else 0
    return render(
        request,
        "market.html",
        {
            "lang": lang,
            "q": query,
            "searched": searched,
            "sort": sort,
            "sort_message": sort_message,
            "rows": shown,
            "total": total,
            "candidates": len(rows),
            "too_many": total > MAX_CANDIDATES,
            "max_candidates": MAX_CANDIDATES,
            "page": page,
            "pages": pages,
            "charts": charts,
            "offer": offer,
            "public_total": public_total,
            "offer_shown": offer[:MAX_OFFER_MODELS],
            "offer_more": offer[MAX_OFFER_MODELS:],
            "visible_all": visible_all,
            "categories": CATEGORY_LABELS,
            "chemistries": chemistries,
            "services": v.SERVICES,
            "prices": prices,
            "prices_problem": prices_problem,
            "assumptions": assumptions(lang),
            "end_soh": v.default_float("end_soh_pct"),
            "role_name": viewer.role.value.replace("_", " "),
            "sorts": SORTS,
            "fmt": fmt,
            "eur": lambda x: _eur(x, lang),
            "quote": quote,
        },
        400 if query.errors else 200,
    )


def _recycling_only(row: Row) -> Value:
    recycling, materials, why = _recycling(row.figures.as_dict)
    return Value(row.soh_pct, None, None, recycling, materials, None, "", note=why)


def _count_visible(request: Request, viewer: Viewer, query: Query) -> int:
    """How many active passports matching the public filters have a state of health the viewer may read."""
    session = read_session(request)
    try:
        total, _ = PassportService(session, settings_of(request)).search(
            viewer,
            category=query.category or None,
            chemistry=query.chemistry or None,
            state="active",
            soh_min=0.0,
            limit=0,
            route="GET /market",
        )
    finally:
        session.close()
    return total


def _eur(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    sign = "−" if value < 0 else ""
    return f"€ {sign}{fmt(abs(value), lang, 0)}"
