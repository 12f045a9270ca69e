"""The national battery monitor's indicators: aggregates over the registers, computed on the server.

Every indicator is computed here, on the server, from the registers through SQL (grouped counts and sums) and the
domain services; a page receives only the aggregates, never a battery's own values. What each indicator reads:

- **collection rates** (theme 2): the rates the Dutch producer-responsibility organisations published (the Dutch
  battery flows of the shared data folder, :func:`batteryloop.circularity.published.published_flows`, each row citing
  its report; absent on a fresh clone, and then the page says so and shows the register's rates only), the national
  rates computed
  from the producer-responsibility register (:meth:`EprService.market_totals`, the Directive's Annex I method before
  2023, the Regulation's Annex XI from 2023) and the binding target of each year (``circularity/targets.csv``);
- **flows to second use and recycling** (theme 2): from the passport registry, the batteries of each category that went
  to each route per year: repurposed, re-used or remanufactured (the links of Art. 77(7), counted per original
  battery, in the year of the link), declared waste (the recorded ``battery_status`` change, Art. 77(6)) and recycled
  (the passport closed); next to them the published ARN tonnages and the end-of-life flows of the national
  material-flow model (``current_policy`` scenario);
- **state of health** (theme 4): a histogram of ``soh_capacity_pct`` (Annex XIII 4(b)) over the active passports;
- **flexible capacity** (theme 5): usable energy and power of the batteries that can serve the grid (rules in
  ``monitor_flexibility.csv``), by status; usable energy = rated energy x state of health (rated energy where no state
  of health is recorded), power = maximum permitted power (Annex XIII 1(i));
- **incidents** (theme 3): the incident register's counts per year by category and by location type, under the
  register's own public threshold (:func:`incident_tables`);
- **due diligence** (theme 1): the share of battery models whose passports carry a due-diligence report and a
  third-party verification (Annex XIII 1(d), public, model-level).

Status, state of health and the usable energy derived from it are individual battery data (Annex XIII point 4),
which the public may not read. They enter only as counts and sums over groups, and a group of fewer batteries than
the threshold of ``monitor_disclosure.csv`` is suppressed (``None``), with a second cell when one suppressed cell
could be worked out from a published total. Only current values of active passports count: a superseded passport's
battery lives on under its successor, and counting both would count the battery twice.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session

from batteryloop.circularity.collection import Method, collection_rate
from batteryloop.circularity.epr import FIRST_REGULATION_YEAR, EprService
from batteryloop.circularity.material_flow import load_model_data, read_scenario, run
from batteryloop.circularity.published import mfa_data_folder, published_flows
from batteryloop.circularity.targets import DIRECTIVE, REGULATION, applicable
from batteryloop.errors import Problem, ValidationError, collect
from batteryloop.passport.models import DynamicValue, Passport, PassportLink
from batteryloop.safety.incidents import IncidentService, min_public_count

HERE = Path(__file__).parent
DISCLOSURE_FILE = HERE / "monitor_disclosure.csv"
FLEXIBILITY_FILE = HERE / "monitor_flexibility.csv"
SCENARIO = "current_policy.toml"
MODEL_YEARS = (2015, 2035)
"""Years of the material-flow model shown (the model starts in 2009; 2035 is five years past the 2030 goal)."""

SOH_EDGES = (60.0, 65.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 100.0)
"""Edges of the state-of-health bands [%]: below 60, 5-point bands from 60 to 100, 100 and above. Five-point bands
resolve the 70-85 % window of residual capacity the strategy names for second life."""
SECOND_LIFE_WINDOW_PCT = (70.0, 85.0)
"""EV batteries with 70-85 % residual capacity can serve stationary storage (Strategische Aanpak Batterijen, 2020)."""

FLOW_CATEGORIES = ("ev", "lmt")
"""Passport categories of the flows indicator: EV and e-bike (LMT) batteries, as the strategy names them."""
ROUTES = ("repurposed", "re-used", "remanufactured", "waste", "recycled")
ACTIVE_STATUSES = ("original", "re-used", "repurposed", "remanufactured")
"""Statuses of a battery in use; a waste battery is not available to the grid."""
PASSPORT_CATEGORIES = ("ev", "lmt", "industrial", "sli", "portable")

K = TypeVar("K", bound=Hashable)


# ---------------------------------------------------------------------------------------------------------------------
# rules as data


@dataclass(frozen=True)
class DisclosureRule:
    """The smallest group of batteries an indicator publishes, and why (``monitor_disclosure.csv``)."""

    indicator: str
    min_batteries: int
    reason: str
    source: str
    reason_nl: str = ""

    def reason_in(self, lang: str) -> str:
        return self.reason_nl if lang == "nl" and self.reason_nl else self.reason


@cache
def disclosure_rules() -> dict[str, DisclosureRule]:
    """The thresholds of ``monitor_disclosure.csv`` by indicator; every bad row is named by line and field."""
    return parse_disclosure(DISCLOSURE_FILE.read_text(encoding="utf-8"), DISCLOSURE_FILE.name)


def parse_disclosure(text: str, source: str) -> dict[str, DisclosureRule]:
    problems: list[Problem] = []
    out: dict[str, DisclosureRule] = {}
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        where = f"{source}:{line}"
        name = (row.get("indicator") or "").strip()
        if not name:
            problems.append(Problem(f"{where}:indicator", "missing", "the indicator's name"))
            continue
        raw = (row.get("min_batteries") or "").strip()
        if not raw.isdigit() or int(raw) < 1:
            problems.append(Problem(f"{where}:min_batteries", f"{raw!r} is not a positive whole number", "e.g. 10"))
            continue
        for key in ("reason", "reason_nl", "source"):
            if not (row.get(key) or "").strip():
                problems.append(Problem(f"{where}:{key}", "missing", f"the threshold's {key}"))
        if name in out:
            problems.append(Problem(f"{where}:indicator", f"{name!r} is given twice", "one row per indicator"))
        out[name] = DisclosureRule(
            name, int(raw), row.get("reason") or "", row.get("source") or "", row.get("reason_nl") or ""
        )
    collect(problems, f"{source}: bad disclosure rows")
    return out


def threshold(indicator: str) -> int:
    return disclosure_rules()[indicator].min_batteries


@dataclass(frozen=True)
class FlexibilityRule:
    """Which batteries count as flexible capacity for the grid (``monitor_flexibility.csv``)."""

    category: str
    intended_purpose: str
    """A term of the model's ``intended_purpose`` (compared case-insensitively), or ``*`` for every battery."""
    counts_as: str
    source: str


FLEX_KINDS = ("stationary", "v2g")


@cache
def flexibility_rules() -> tuple[FlexibilityRule, ...]:
    return parse_flexibility(FLEXIBILITY_FILE.read_text(encoding="utf-8"), FLEXIBILITY_FILE.name)


def parse_flexibility(text: str, source: str) -> tuple[FlexibilityRule, ...]:
    problems: list[Problem] = []
    out: list[FlexibilityRule] = []
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        where = f"{source}:{line}"
        category = (row.get("category") or "").strip()
        kind = (row.get("counts_as") or "").strip()
        purpose = (row.get("intended_purpose") or "").strip().lower()
        if category not in PASSPORT_CATEGORIES:
            problems.append(Problem(f"{where}:category", f"{category!r}", "one of " + ", ".join(PASSPORT_CATEGORIES)))
        if kind not in FLEX_KINDS:
            problems.append(Problem(f"{where}:counts_as", f"{kind!r}", " or ".join(FLEX_KINDS)))
        if not purpose:
            problems.append(Problem(f"{where}:intended_purpose", "missing", "a purpose term or *"))
        if not (row.get("source") or "").strip():
            problems.append(Problem(f"{where}:source", "missing", "why the rule holds"))
        out.append(FlexibilityRule(category, purpose, kind, row.get("source") or ""))
    collect(problems, f"{source}: bad flexibility rows")
    return tuple(out)


def flex_kind(category: str, purposes: Iterable[str], rules: Iterable[FlexibilityRule]) -> str | None:
    """``stationary``, ``v2g`` or ``None``: how a battery model of ``category`` with ``purposes`` counts."""
    terms = {p.strip().lower() for p in purposes}
    for rule in rules:
        if rule.category == category and (rule.intended_purpose == "*" or rule.intended_purpose in terms):
            return rule.counts_as
    return None


# ---------------------------------------------------------------------------------------------------------------------
# suppression (pure)


def suppress(
    cells: Mapping[K, int], minimum: int, *, secondary: bool = True, hide: Iterable[K] = ()
) -> dict[K, int | None]:
    """Counts of one table row with every cell of 1 to ``minimum - 1`` batteries (and every cell of ``hide``)
    replaced by ``None``.

    With ``secondary`` (for a row whose total is published or can be worked out), when exactly one cell is hidden, the
    smallest other non-zero cell is hidden too, so that the hidden count cannot be worked out from the total. Zero
    cells are published: they reveal no battery.
    """
    hidden_keys = set(hide)
    out: dict[K, int | None] = {k: (None if 0 < n < minimum or k in hidden_keys else n) for k, n in cells.items()}
    hidden = [k for k, v in out.items() if v is None]
    if secondary and len(hidden) == 1:
        rest = [(n, str(k), k) for k, n in cells.items() if out[k] is not None and n > 0]
        if rest:
            out[min(rest)[2]] = None
    return out


# ---------------------------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class RatePoint:
    year: int
    series: str
    """``published`` (as the PRO reported it), ``register`` (computed from the register) or ``target``."""
    stream: str
    """``portable`` or ``lmt`` (e-bike batteries: EPAC's stream before the Regulation's LMT category)."""
    rate_pct: float
    source: str


@dataclass(frozen=True)
class ModelFlow:
    year: int
    category: str
    repurposed_t: float
    collected_t: float
    recycled_t: float
    not_collected_t: float


@dataclass
class IncidentTables:
    """Incidents per year by category and by location type, as published; ``None`` where suppressed."""

    by_category: dict[tuple[str, str], int | None] = field(default_factory=dict)
    by_location: dict[tuple[str, str], int | None] = field(default_factory=dict)
    total: int | None = None
    years: tuple[str, ...] = ()
    minimum: int = 1


@dataclass
class MonitorData:
    """Every figure of the monitor (language-independent); the pages turn it into charts."""

    collection: list[RatePoint] = field(default_factory=list)
    register_years: dict[str, list[int]] = field(default_factory=dict)
    flows: dict[tuple[int, str, str], int | None] = field(default_factory=dict)
    """(year, category, route) -> batteries, ``None`` when suppressed."""
    published_flows: list[dict[str, Any]] = field(default_factory=list)
    published_available: bool = True
    """False where the shared data folder (the published Dutch battery flows) is absent: no published series."""
    model_flows: list[ModelFlow] = field(default_factory=list)
    soh: dict[tuple[str, str], int | None] = field(default_factory=dict)
    """(category, band label) -> batteries, ``None`` when suppressed."""
    soh_measured: dict[str, int | None] = field(default_factory=dict)
    passports: dict[tuple[str, str], int] = field(default_factory=dict)
    """(category, state) -> passports (public: the count of passports, no battery data)."""
    flex: dict[tuple[str, str], dict[str, float | int | None]] = field(default_factory=dict)
    """(kind, status) -> {"batteries", "usable_energy_kWh", "power_kW"}; values ``None`` when suppressed."""
    incidents: IncidentTables = field(default_factory=IncidentTables)
    due_diligence: dict[str, dict[str, int]] = field(default_factory=dict)
    """category -> {"models", "with_report", "with_assurance"}."""
    thresholds: dict[str, DisclosureRule] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------------
# computations


def soh_band(value: float) -> str:
    """The label of the state-of-health band of ``value`` [%] (``<60``, ``60-65``, ..., ``>=100``)."""
    if value < SOH_EDGES[0]:
        return f"<{SOH_EDGES[0]:g}"
    for low, high in itertools.pairwise(SOH_EDGES):
        if value < high:
            return f"{low:g}-{high:g}"
    return f">={SOH_EDGES[-1]:g}"


def soh_bands() -> list[str]:
    return [soh_band(SOH_EDGES[0] - 1)] + [soh_band(e) for e in SOH_EDGES[:-1]] + [soh_band(SOH_EDGES[-1])]


def _band_expression(column: Any) -> Any:
    whens = [(column < SOH_EDGES[0], soh_band(SOH_EDGES[0] - 1))]
    whens += [(column < high, soh_band(low)) for low, high in itertools.pairwise(SOH_EDGES)]
    return case(*whens, else_=soh_band(SOH_EDGES[-1]))


def _year(column: Any) -> Any:
    return func.extract("year", column)


def published_rows() -> list[dict[str, str]] | None:
    """The Dutch battery flows of the shared data folder, or None where it is absent (no package copy exists)."""
    return published_flows()


def collection_points(
    session: Session, published: list[dict[str, str]] | None = None
) -> tuple[list[RatePoint], dict[str, list[int]]]:
    """Published rates (from ``published``, the rows of :func:`published_rows`; none when None), rates from the
    register and the binding targets, per year."""
    points: list[RatePoint] = []
    streams = {"portable": "portable", "epac_ebike": "lmt"}
    years: set[int] = set()
    for row in published or []:
        if row["metric"] == "collection_rate_reported" and row["stream"] in streams:
            year = int(row["year"])
            years.add(year)
            points.append(RatePoint(year, "published", streams[row["stream"]], float(row["value"]), row["source_url"]))
    epr = EprService(session)
    register_years: dict[str, list[int]] = {}
    for category, stream in (("portable", "portable"), ("LMT", "lmt")):
        pom, col = epr.market_totals(category)
        found: list[int] = []
        for year in sorted(col):
            method = Method.REGULATION if year >= FIRST_REGULATION_YEAR or category == "LMT" else Method.DIRECTIVE
            try:
                rate = collection_rate(category, year, col, pom, method)
            except ValidationError:
                continue  # fewer than three years placed on the market: no rate (named in the register's report)
            found.append(year)
            points.append(RatePoint(year, "register", stream, rate.collection_rate_pct, rate.citation))
        register_years[stream] = found
        years.update(found)
    if years:
        for year in range(min(min(years), 2012), max(max(years), 2032) + 1):  # a year past the last target
            for category, stream in (("portable", "portable"), ("LMT", "lmt")):
                instrument = REGULATION if year >= FIRST_REGULATION_YEAR else DIRECTIVE
                binding = applicable("collection_rate", category, year, instrument=instrument)
                if binding:
                    top = binding[-1]
                    points.append(RatePoint(year, "target", stream, top.value_pct, top.provision))
    return points, register_years


def flows(session: Session, minimum: int) -> dict[tuple[int, str, str], int | None]:
    """Batteries of the EV and LMT categories per year and route, suppressed below ``minimum``."""
    counts: dict[tuple[int, str, str], int] = defaultdict(int)
    link_year = _year(PassportLink.created_at)
    stmt = (
        select(link_year, Passport.category, PassportLink.kind, func.count())
        .select_from(PassportLink)
        .join(Passport, Passport.id == PassportLink.predecessor_id)
        .where(Passport.category.in_(FLOW_CATEGORIES))
        .group_by(link_year, Passport.category, PassportLink.kind)
    )
    for year, category, kind, n in session.execute(stmt):
        counts[(int(year), category, kind)] += int(n)
    waste_year = _year(DynamicValue.measured_at)
    stmt = (
        select(waste_year, Passport.category, func.count())
        .select_from(DynamicValue)
        .join(Passport, Passport.id == DynamicValue.passport_id)
        .where(
            DynamicValue.key == "battery_status",
            cast(DynamicValue.value, String) == '"waste"',
            Passport.category.in_(FLOW_CATEGORIES),
        )
        .group_by(waste_year, Passport.category)
    )
    for year, category, n in session.execute(stmt):
        counts[(int(year), category, "waste")] += int(n)
    closed_year = _year(Passport.closed_at)
    stmt = (
        select(closed_year, Passport.category, func.count())
        .where(Passport.state == "closed", Passport.closed_at.is_not(None), Passport.category.in_(FLOW_CATEGORIES))
        .group_by(closed_year, Passport.category)
    )
    for year, category, n in session.execute(stmt):
        counts[(int(year), category, "recycled")] += int(n)
    out: dict[tuple[int, str, str], int | None] = {}
    for year, category in sorted({(y, c) for y, c, _ in counts}):
        row = suppress({r: counts.get((year, category, r), 0) for r in ROUTES}, minimum)
        for route, value in row.items():
            out[(year, category, route)] = value
    return out


def published_ev_flows(published: list[dict[str, str]] | None) -> list[dict[str, Any]]:
    """ARN's published tonnages of EV traction batteries to second use and to recycling (none without the rows)."""
    out = []
    for row in published or []:
        if row["stream"] == "ev_traction" and row["metric"] in ("to_second_use", "to_recycling"):
            out.append(
                {
                    "year": int(row["year"]),
                    "metric": row["metric"],
                    "t": float(row["value"]),
                    "source": row["source_url"],
                }
            )
    return out


def model_flows() -> tuple[ModelFlow, ...]:
    """End-of-life flows of EV and LMT batteries from the national material-flow model (current-policy scenario), on
    the shared data where present, else on the package's own tables (cached per data folder)."""
    return _model_flows(mfa_data_folder())


@cache
def _model_flows(folder: Path | None) -> tuple[ModelFlow, ...]:
    data = load_model_data(folder)
    scenario_path = Path(str(resources.files("batteryloop.circularity").joinpath("scenarios", SCENARIO)))
    result = run(read_scenario(scenario_path, data.chemistries), data, MODEL_YEARS[1])
    out: list[ModelFlow] = []
    for category in ("EV", "LMT"):
        cols = [j for j, (c, _) in enumerate(result.groups) if c == category]
        for i, year in enumerate(result.years):
            if year < MODEL_YEARS[0]:
                continue
            eol = float(result.eol_outflow[i, cols].sum())
            collected = float(result.collected[i, cols].sum())
            out.append(
                ModelFlow(
                    year=int(year),
                    category=category,
                    repurposed_t=float(result.repurposed[i, cols].sum()),
                    collected_t=collected,
                    recycled_t=float(result.recycled[i, cols].sum()),
                    not_collected_t=max(eol - collected, 0.0),
                )
            )
    return tuple(out)


def soh_distribution(session: Session, minimum: int) -> tuple[dict[tuple[str, str], int | None], dict[str, int | None]]:
    """Active passports per category and state-of-health band (``soh_capacity_pct``), suppressed below ``minimum``."""
    soh = Passport.data["soh_capacity_pct"].as_float()
    band = _band_expression(soh)
    stmt = (
        select(Passport.category, band, func.count())
        .where(Passport.state == "active", soh.is_not(None))
        .group_by(Passport.category, band)
    )
    raw: dict[str, dict[str, int]] = defaultdict(dict)
    for category, label, n in session.execute(stmt):
        raw[category][label] = int(n)
    out: dict[tuple[str, str], int | None] = {}
    measured: dict[str, int | None] = {}
    for category, cells in sorted(raw.items()):
        total = sum(cells.values())
        if total < minimum:
            measured[category] = None
            for label in soh_bands():
                out[(category, label)] = None if cells.get(label) else 0
            continue
        measured[category] = total
        row = suppress({label: cells.get(label, 0) for label in soh_bands()}, minimum)
        for label, value in row.items():
            out[(category, label)] = value
    return out, measured


def passport_counts(session: Session) -> dict[tuple[str, str], int]:
    """Passports per category and state (active, superseded, closed): public facts of the registry."""
    stmt = select(Passport.category, Passport.state, func.count()).group_by(Passport.category, Passport.state)
    return {(c, s): int(n) for c, s, n in session.execute(stmt)}


def _model_values(session: Session, keys: tuple[str, ...], categories: Iterable[str]) -> dict[tuple[str, str], Any]:
    """One passport's public, model-level ``keys`` per (category, model) of the active passports."""
    first = (
        select(Passport.category, Passport.model, func.min(Passport.id).label("pid"))
        .where(Passport.state == "active", Passport.category.in_(list(categories)))
        .group_by(Passport.category, Passport.model)
        .subquery()
    )
    columns = [Passport.data[k] for k in keys]
    stmt = (
        select(first.c.category, first.c.model, *columns).select_from(first).join(Passport, Passport.id == first.c.pid)
    )
    return {(row[0], row[1] or ""): dict(zip(keys, row[2:], strict=True)) for row in session.execute(stmt)}


def flexible_capacity(session: Session, minimum: int) -> dict[tuple[str, str], dict[str, float | int | None]]:
    """Usable energy [kWh] and power [kW] of the batteries that can serve the grid, by kind and status."""
    rules = flexibility_rules()
    categories = sorted({r.category for r in rules})
    purposes = _model_values(session, ("intended_purpose",), categories)
    kinds: dict[tuple[str, str], str] = {}
    for key, values in purposes.items():
        terms = values["intended_purpose"] if isinstance(values["intended_purpose"], list) else []
        kind = flex_kind(key[0], [str(t) for t in terms], rules)
        if kind is not None:
            kinds[key] = kind
    rated = Passport.data["rated_energy_kWh"].as_float()
    soh = Passport.data["soh_capacity_pct"].as_float()
    power = Passport.data["maximum_permitted_power_W"].as_float()
    usable = rated * func.coalesce(soh, 100.0) / 100.0
    stmt = (
        select(
            Passport.category,
            Passport.model,
            Passport.status,
            func.count(),
            func.sum(usable),
            func.sum(power),
        )
        .where(Passport.state == "active", Passport.status.in_(ACTIVE_STATUSES), Passport.category.in_(categories))
        .group_by(Passport.category, Passport.model, Passport.status)
    )
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for category, model, status, n, energy, watts in session.execute(stmt):
        kind = kinds.get((category, model or ""))
        if kind is None:
            continue
        cell = totals[(kind, status)]
        cell[0] += int(n)
        cell[1] += float(energy or 0.0)
        cell[2] += float(watts or 0.0) / 1000.0
    out: dict[tuple[str, str], dict[str, float | int | None]] = {}
    for kind in FLEX_KINDS:
        counts = {s: int(totals[(kind, s)][0]) if (kind, s) in totals else 0 for s in ACTIVE_STATUSES}
        shown = suppress(counts, minimum, secondary=False)  # no total over the statuses is published
        for status in ACTIVE_STATUSES:
            n = counts[status]
            if shown[status] is None:
                out[(kind, status)] = {"batteries": None, "usable_energy_kWh": None, "power_kW": None}
            else:
                energy, kw = (totals[(kind, status)][1], totals[(kind, status)][2]) if n else (0.0, 0.0)
                out[(kind, status)] = {"batteries": n, "usable_energy_kWh": energy, "power_kW": kw}
    return out


def incident_tables(session: Session) -> IncidentTables:
    """The incident register's counts per year summed by category and by location type, under the register's own
    public threshold (``safety/disclosure_rules.csv``, :func:`min_public_count`).

    The register publishes counts per year, category and location type with cells below the threshold hidden
    (:meth:`IncidentService.published_counts`). A sum over those cells is published when it reaches the threshold
    itself, unless exactly one of its cells is hidden in the register's table (the sum minus the shown cells would
    reveal it); within a year, a single hidden sum hides the smallest other one too (secondary suppression), so the
    two tables, which share their yearly totals, cannot be played off against each other either. The total over all
    years is published when it reaches the threshold.
    """
    minimum = min_public_count()
    rows = IncidentService(session).counts(per="year")
    out = IncidentTables(minimum=minimum, years=tuple(sorted({r.period for r in rows})))
    for attr in ("by_category", "by_location"):
        raw: dict[tuple[str, str], int] = defaultdict(int)
        hidden_cells: dict[tuple[str, str], int] = defaultdict(int)
        for r in rows:
            group = r.category if attr == "by_category" else r.location_type
            raw[(r.period, group)] += r.incidents
            if r.incidents < minimum:
                hidden_cells[(r.period, group)] += 1
        table: dict[tuple[str, str], int | None] = {}
        for year in out.years:
            cells = {g: n for (y, g), n in raw.items() if y == year}
            single = [g for g in cells if hidden_cells[(year, g)] == 1]
            for g, value in suppress(cells, minimum, hide=single).items():
                table[(year, g)] = value
        setattr(out, attr, table)
    total = sum(r.incidents for r in rows)
    out.total = total if total >= minimum or total == 0 else None
    return out


def _has_documents(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(d, dict) and d.get("url") for d in value)


def due_diligence(session: Session) -> dict[str, dict[str, int]]:
    """Battery models per category, and how many carry a due-diligence report and a third-party verification."""
    values = _model_values(session, ("due_diligence_report", "third_party_assurance"), PASSPORT_CATEGORIES)
    out: dict[str, dict[str, int]] = {}
    for (category, _model), docs in sorted(values.items()):
        row = out.setdefault(category, {"models": 0, "with_report": 0, "with_assurance": 0})
        row["models"] += 1
        row["with_report"] += int(_has_documents(docs["due_diligence_report"]))
        row["with_assurance"] += int(_has_documents(docs["third_party_assurance"]))
    return out


def compute(session: Session) -> MonitorData:
    """Every indicator of the monitor, on one session."""
    rules = disclosure_rules()
    published = published_rows()
    collection, register_years = collection_points(session, published)
    soh, measured = soh_distribution(session, rules["soh_distribution"].min_batteries)
    return MonitorData(
        collection=collection,
        register_years=register_years,
        flows=flows(session, rules["status_flows"].min_batteries),
        published_flows=published_ev_flows(published),
        published_available=published is not None,
        model_flows=list(model_flows()),
        soh=soh,
        soh_measured=measured,
        passports=passport_counts(session),
        flex=flexible_capacity(session, rules["flexible_capacity"].min_batteries),
        incidents=incident_tables(session),
        due_diligence=due_diligence(session),
        thresholds=dict(rules),
    )


def share_pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else math.nan
