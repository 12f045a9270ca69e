"""National material-flow model of batteries in the Netherlands: an inflow-driven dynamic stock model.

Cohorts of batteries are placed on the market each year by category (portable, LMT, SLI, EV, industrial) and chemistry.
A cohort placed in year ``c`` survives to the end of year ``t`` with the Weibull survival of its category at age
``t - c + offset``; ``offset`` is where in the year the inflow arrives (0 end, 0.5 middle, 1 start). So::

    stock_by_cohort[t, c] = inflow[c] * S(t - c + offset)      (t >= c)
    outflow[t]            = inflow[t] - (stock[t] - stock[t-1])

and the mass balance closes by construction. EV batteries may get a second life: a share of the first end-of-life
outflow is repurposed and enters a second stock with its own Weibull lifetime. The end-of-life outflow is collected
(rate per category and year), collected batteries are recycled (recycling efficiency per chemistry family, on battery
mass) and each element is recovered at its material-recovery rate, giving the secondary supply. Element content per kg
comes from the BatPaC intensities (kg per kWh) times the pack's specific energy (kWh per kg).

Everything here is pure (numpy arrays in, arrays out); the data files are read by :func:`load_model_data`. The published
data (BatPaC intensities, Eurostat and Dutch placed-on-market tonnes) is read from the shared data folder when one is
given; without it the model reads the package's own cited parameter tables ``mfa_material_content.csv`` and
``mfa_pom_nl.csv``, which hold the same figures (a test checks them against the shared files wherever those exist).
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from batteryloop.circularity.deposit import DepositOutcome, DepositScheme, default_parameters, evaluate
from batteryloop.circularity.targets import REGULATION, load_targets
from batteryloop.errors import Problem, ValidationError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

HERE = Path(__file__).parent
CATEGORIES = ("portable", "LMT", "SLI", "EV", "industrial")
BATPAC_FILE = Path("circularity/material_intensity_batpac/mineral_intensity_kg_per_kwh.csv")
PORTABLE_POM_FILE = Path("circularity/eurostat_portable_pom/portable_batteries_pom_tonnes.csv")
NL_FLOWS_FILE = Path("circularity/nl_battery_flows/nl_battery_flows_by_year.csv")
SHARED_FILES = (BATPAC_FILE, PORTABLE_POM_FILE, NL_FLOWS_FILE)
"""The files the model reads from the shared data folder (relative to it)."""
CONTENT_FILE = HERE / "mfa_material_content.csv"
"""The package's own table of BatPaC intensities (kg per kWh) per model chemistry and element, each row cited."""
POM_FILE = HERE / "mfa_pom_nl.csv"
"""The package's own table of Dutch placed-on-market tonnes (portable: Eurostat; LMT: EPAC), each row cited."""
POM_CATEGORIES = ("portable", "LMT")
ELEMENT_NAMES = {
    "Lithium": "Li",
    "Nickel": "Ni",
    "Cobalt": "Co",
    "Manganese": "Mn",
    "Copper": "Cu",
    "Graphite": "Graphite",
    "Aluminum": "Aluminum",
    "Phosphorus": "Phosphorus",
    "Steel": "Steel",
    "Stainless steel": "Stainless steel",
}
GOAL_YEAR = 2030
GOAL_PRIMARY_REDUCTION_PCT = 50.0
INFLOW_TIMINGS = {"end": 0.0, "middle": 0.5, "start": 1.0}


# --------------------------------------------------------------------------------------------------------------------
# The stock model


@dataclass(frozen=True)
class Weibull:
    """Weibull lifetime (years): survival ``S(a) = exp(-(a / scale) ** shape)`` for ``a >= 0``."""

    shape: float
    scale: float

    def survival(self, age: FloatArray) -> FloatArray:
        a = np.maximum(np.asarray(age, dtype=np.float64), 0.0)
        return np.asarray(np.exp(-((a / self.scale) ** self.shape)), dtype=np.float64)

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)


def survival_matrix(n_years: int, shape: FloatArray, scale: FloatArray, offset: float = 0.5) -> FloatArray:
    """``sf[t, c, g]``: share of cohort ``c`` of group ``g`` still in use at the end of year ``t`` (0 before ``c``)."""
    ages = np.arange(n_years, dtype=np.float64) + offset
    by_age = np.exp(-((ages[:, None] / scale[None, :]) ** shape[None, :]))  # [age, g], evaluated once per age
    by_age = np.vstack([by_age, np.zeros((1, scale.size))])  # row n_years: not yet placed on the market
    t = np.arange(n_years)
    age_index = t[:, None] - t[None, :]
    return np.asarray(by_age[np.where(age_index >= 0, age_index, n_years)], dtype=np.float64)


@dataclass(frozen=True)
class StockFlows:
    """The result of an inflow-driven stock model, arrays ``[year, cohort, group]`` or ``[year, group]``."""

    inflow: FloatArray
    stock_by_cohort: FloatArray
    outflow_by_cohort: FloatArray

    @property
    def stock(self) -> FloatArray:
        return np.asarray(self.stock_by_cohort.sum(axis=1), dtype=np.float64)

    @property
    def outflow(self) -> FloatArray:
        return np.asarray(self.outflow_by_cohort.sum(axis=1), dtype=np.float64)


def inflow_driven(inflow: FloatArray, shape: FloatArray, scale: FloatArray, offset: float = 0.5) -> StockFlows:
    """Stock and outflow by cohort of ``inflow[year, group]`` with a Weibull lifetime per group."""
    inflow = np.asarray(inflow, dtype=np.float64)
    n, g = inflow.shape
    sbc = survival_matrix(n, np.asarray(shape, dtype=np.float64), np.asarray(scale, dtype=np.float64), offset)
    sbc = sbc * inflow[None, :, :]
    previous = np.concatenate([np.zeros((1, n, g)), sbc[:-1]], axis=0)
    obc = previous - sbc
    idx = np.arange(n)
    obc[idx, idx, :] += inflow
    return StockFlows(inflow, sbc, obc)


# --------------------------------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Chemistry:
    name: str
    batpac: str
    kwh_per_kg: float
    family: str


@dataclass(frozen=True)
class Step:
    """A value in force from a year on (targets by date)."""

    year: int
    value: float


@dataclass(frozen=True)
class ModelData:
    """Every table the model reads, from the cited CSVs next to this module and the shared data."""

    lifetimes: dict[tuple[str, str], Weibull]
    chemistries: dict[str, Chemistry]
    content: dict[str, dict[str, float]]  # chemistry -> element -> kg per kg battery
    elements: tuple[str, ...]
    recovery_baseline: dict[str, float]  # element -> % before the Regulation
    recovery_targets: dict[str, list[Step]]  # element -> Annex XII Part C
    recycling_efficiency: dict[str, list[Step]]  # family -> Directive then Regulation
    collection_targets: dict[str, list[Step]]  # category -> Regulation Art. 59/60
    collection_default: dict[str, float]
    second_life_default_pct: float
    inflow: dict[tuple[int, str, str], float]  # (year, category, chemistry) -> tonnes (default NL)
    growth_pct: dict[str, float]
    shares: dict[str, dict[str, float]]
    source: str = ""
    """Where the published figures came from: the shared data folder, or the package's own tables."""


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise ValidationError(
            f"{path} does not exist",
            problems=[Problem(str(path), "file not found", "the data file (see SOURCE.md; --data sets the folder)")],
        )
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in csv.DictReader(handle)]


def _steps(rows: Iterable[tuple[str, int, float]]) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = {}
    for key, year, value in rows:
        out.setdefault(key, []).append(Step(year, value))
    for steps in out.values():
        steps.sort(key=lambda s: s.year)
    return out


def _number(text: str, where: str, problems: list[Problem], expected: str = "a number >= 0") -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        problems.append(Problem(where, f"{text!r} is not a number >= 0", expected))
        return None
    return value


def _cited_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[str, dict[str, str]]]:
    """The rows of a package table with its expected columns, each with ``file:line`` and a non-empty source."""
    rows = _read_csv(path)
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    missing = [c for c in (*columns, "source") if c not in header]
    if missing:
        raise ValidationError(
            f"{path}: missing column(s) {', '.join(missing)}",
            field=str(path),
            expected=f"columns {', '.join((*columns, 'source'))}",
        )
    problems = [
        Problem(f"{path}:{line}: source", "no source", "the citation of the figure")
        for line, r in enumerate(rows, start=2)
        if not r["source"]
    ]
    if problems:
        raise ValidationError(f"{path}: rows without a source", problems=problems)
    return [(f"{path}:{line}", r) for line, r in enumerate(rows, start=2)]


def package_intensity(chemistries: Mapping[str, Chemistry], path: Path = CONTENT_FILE) -> dict[tuple[str, str], float]:
    """BatPaC intensities (kg per kWh of pack energy) by ``(chemistry, element)`` from the package's own table.

    Every chemistry of ``mfa_chemistries.csv`` with a BatPaC mapping must have one row per BatPaC element
    (:data:`ELEMENT_NAMES`); an unknown chemistry or element, a bad number, a duplicate or a gap is an error naming the
    row (or the missing pair).
    """
    elements = set(ELEMENT_NAMES.values())
    wanted = {c.name for c in chemistries.values() if c.batpac}
    problems: list[Problem] = []
    out: dict[tuple[str, str], float] = {}
    for where, r in _cited_rows(path, ("chemistry", "element", "kg_per_kwh")):
        chem, element = r["chemistry"], r["element"]
        if chem not in wanted:
            problems.append(
                Problem(
                    f"{where}: chemistry",
                    f"{chem!r} is not a BatPaC chemistry of mfa_chemistries.csv",
                    ", ".join(sorted(wanted)),
                )
            )
        if element not in elements:
            problems.append(
                Problem(f"{where}: element", f"unknown element {element!r}", ", ".join(ELEMENT_NAMES.values()))
            )
        value = _number(r["kg_per_kwh"], f"{where}: kg_per_kwh", problems, "kg per kWh >= 0")
        if (chem, element) in out:
            problems.append(Problem(where, f"duplicate row for {chem}, {element}", "one row per chemistry and element"))
        if value is not None and chem in wanted and element in elements:
            out[(chem, element)] = value
    for chem in sorted(wanted):
        for element in ELEMENT_NAMES.values():
            if (chem, element) not in out:
                problems.append(
                    Problem(str(path), f"no row for {chem}, {element}", "one row per chemistry and element")
                )
    if problems:
        raise ValidationError(f"{path}: bad material-content table", problems=problems)
    return out


def package_pom(path: Path = POM_FILE) -> dict[tuple[int, str], float]:
    """Dutch placed-on-market tonnes by ``(year, category)`` (portable, LMT) from the package's own table."""
    problems: list[Problem] = []
    out: dict[tuple[int, str], float] = {}
    for where, r in _cited_rows(path, ("year", "category", "tonnes")):
        year, category = r["year"], r["category"]
        if not (year.isdigit() and 1900 <= int(year) <= 2200):
            problems.append(Problem(f"{where}: year", f"{year!r} is not a year", "a year such as 2023"))
        if category not in POM_CATEGORIES:
            problems.append(Problem(f"{where}: category", f"{category!r} is not read here", ", ".join(POM_CATEGORIES)))
        tonnes = _number(r["tonnes"], f"{where}: tonnes", problems, "tonnes >= 0")
        if year.isdigit() and (int(year), category) in out:
            problems.append(Problem(where, f"duplicate row for {year}, {category}", "one row per year and category"))
        if tonnes is not None and year.isdigit() and category in POM_CATEGORIES:
            out[(int(year), category)] = tonnes
    for category in POM_CATEGORIES:
        if not any(c == category for _, c in out):
            problems.append(Problem(str(path), f"no rows for {category}", "placed-on-market tonnes by year"))
    if problems:
        raise ValidationError(f"{path}: bad placed-on-market table", problems=problems)
    return out


def shared_intensity(chemistries: Mapping[str, Chemistry], shared_data: Path) -> dict[tuple[str, str], float]:
    """BatPaC intensities (kg per kWh) by ``(model chemistry, element)`` from the shared BatPaC file."""
    batpac: dict[tuple[str, str], float] = {}
    for r in _read_csv(shared_data / BATPAC_FILE):
        if r["mineral"] in ELEMENT_NAMES:
            batpac[(r["chemistry"], ELEMENT_NAMES[r["mineral"]])] = float(r["kg_per_kwh"])
    return {
        (chem.name, e): batpac.get((chem.batpac, e), 0.0)
        for chem in chemistries.values()
        if chem.batpac
        for e in ELEMENT_NAMES.values()
    }


def shared_pom(shared_data: Path) -> dict[tuple[int, str], float]:
    """Dutch placed-on-market tonnes by ``(year, category)``: Eurostat NLD portable, EPAC e-bike (LMT)."""
    out: dict[tuple[int, str], float] = {}
    for r in _read_csv(shared_data / PORTABLE_POM_FILE):
        if r["geo"] == "NLD" and r["pom_tonnes"]:
            out[(int(r["year"]), "portable")] = float(r["pom_tonnes"])
    for r in _read_csv(shared_data / NL_FLOWS_FILE):
        if r["stream"] == "epac_ebike" and r["metric"] == "pom":
            out[(int(r["year"]), "LMT")] = float(r["value"])
    return out


def load_model_data(shared_data: Path | None) -> ModelData:
    """Read the model's tables; targets from targets.csv.

    ``shared_data`` is the shared data folder: the BatPaC intensities and the Dutch placed-on-market tonnes are read
    from its files (:data:`SHARED_FILES`; a missing file is an error naming it). ``None`` reads the same figures from
    the package's own cited tables (:data:`CONTENT_FILE`, :data:`POM_FILE`). ``ModelData.source`` says which.
    """
    lifetimes = {
        (r["category"], r["life"]): Weibull(float(r["weibull_shape"]), float(r["weibull_scale_years"]))
        for r in _read_csv(HERE / "mfa_lifetimes.csv")
    }
    chemistries = {
        r["chemistry"]: Chemistry(
            r["chemistry"], r["batpac_chemistry"], float(r["kwh_per_kg"] or "nan"), r["recycling_family"]
        )
        for r in _read_csv(HERE / "mfa_chemistries.csv")
    }
    if shared_data is None:
        intensity = package_intensity(chemistries)
        source = (
            f"the package's own tables {CONTENT_FILE.name} (BatPaC 5.1 intensities) and {POM_FILE.name} "
            "(Eurostat env_waspb and EPAC tonnes), each row cited"
        )
    else:
        intensity = shared_intensity(chemistries, shared_data)
        source = (
            f"the shared data in {shared_data}: BatPaC 5.1 intensities (MIT), Eurostat env_waspb (CC BY 4.0) and the "
            "Dutch battery flows (each row cites its report); see each folder's SOURCE.md"
        )
    elements = list(ELEMENT_NAMES.values())
    content: dict[str, dict[str, float]] = {}
    for chem in chemistries.values():
        if chem.batpac:
            content[chem.name] = {e: intensity.get((chem.name, e), 0.0) * chem.kwh_per_kg for e in elements}
        else:
            content[chem.name] = {}
    for r in _read_csv(HERE / "mfa_extra_content.csv"):
        content.setdefault(r["chemistry"], {})[r["element"]] = float(r["kg_per_kg"])
        if r["element"] not in elements:
            elements.append(r["element"])
    baseline = {r["element"]: float(r["material_recovery_pct"]) for r in _read_csv(HERE / "mfa_recovery_baseline.csv")}

    # the targets of the Directive and the Regulation, each cited, as the producer-responsibility register reads them
    recovery: list[tuple[str, int, float]] = []
    efficiency: list[tuple[str, int, float]] = []
    collection: list[tuple[str, int, float]] = []
    for t in load_targets():
        year = t.from_date.year
        if t.parameter == "material_recovery":
            recovery.append((t.subject, year, t.value_pct))
        elif t.parameter == "recycling_efficiency":
            efficiency.append((t.subject, year, t.value_pct))
        elif t.parameter == "collection_rate" and t.instrument == REGULATION:
            collection.extend((category, year, t.value_pct) for category in t.categories)

    defaults = _read_csv(HERE / "mfa_defaults.csv")
    collection_default = {r["category"]: float(r["value"]) for r in defaults if r["key"] == "collection_pct"}
    second = next(float(r["value"]) for r in defaults if r["key"] == "second_life_share")
    inflow, growth, shares = default_nl_inflow(shared_data)
    return ModelData(
        lifetimes=lifetimes,
        chemistries=chemistries,
        content=content,
        elements=tuple(elements),
        recovery_baseline=baseline,
        recovery_targets=_steps(recovery),
        recycling_efficiency=_steps(efficiency),
        collection_targets=_steps(collection),
        collection_default=collection_default,
        second_life_default_pct=second,
        inflow=inflow,
        growth_pct=growth,
        shares=shares,
        source=source,
    )


def default_nl_inflow(
    shared_data: Path | None,
) -> tuple[dict[tuple[int, str, str], float], dict[str, float], dict[str, dict[str, float]]]:
    """Tonnes placed on the Dutch market by year, category and chemistry, as far as data (or stated assumptions) go.

    Portable: Eurostat env_waspb (NLD). LMT: EPAC e-bike batteries 2020-2022, back-cast before. SLI: ARN/Stibat 2019
    tonnage held flat. EV: new BEV registrations times pack mass (assumptions in ``mfa_inflow_nl.csv``). Industrial: no
    Dutch tonnage found, so none. Returns the table, the growth rates for the projection and the chemistry shares.
    The portable and LMT tonnes come from the shared data folder, or with ``None`` from ``mfa_pom_nl.csv``.
    """
    rows = _read_csv(HERE / "mfa_inflow_nl.csv")
    shares: dict[str, dict[str, float]] = {}
    growth: dict[str, float] = {}
    ev_sales: dict[int, float] = {}
    value = {(r["key"], r["category"]): float(r["value"]) for r in rows if r["key"] not in ("share", "ev_sales")}
    for r in rows:
        if r["key"] == "share":
            shares.setdefault(r["category"], {})[r["chemistry"]] = float(r["value"])
        elif r["key"] == "growth_pct":
            growth[r["category"]] = float(r["value"])
        elif r["key"] == "ev_sales":
            ev_sales[int(r["chemistry"])] = float(r["value"])
    published = package_pom() if shared_data is None else shared_pom(shared_data)
    totals = {(year, c): t for (year, c), t in published.items() if c == "portable"}
    lmt = {year: t for (year, c), t in published.items() if c == "LMT"}
    first_portable = min(y for y, _ in totals)
    back = value[("backcast_pct", "LMT")] / 100.0
    first_lmt = min(lmt)
    for year in range(first_portable, first_lmt):
        lmt[year] = lmt[first_lmt] * (1.0 - back) ** (first_lmt - year)
    for year, tonnes in lmt.items():
        totals[(year, "LMT")] = tonnes
    last_portable = max(y for y, c in totals if c == "portable")
    for year in range(first_portable, last_portable + 1):
        totals[(year, "SLI")] = value[("sli_pom_t", "SLI")]
    for year, n in ev_sales.items():
        totals[(year, "EV")] = n * value[("ev_pack_kg", "EV")] / 1000.0
    table: dict[tuple[int, str, str], float] = {}
    for (year, category), tonnes in totals.items():
        for chem, share in shares[category].items():
            table[(year, category, chem)] = tonnes * share
    return table, growth, shares


# --------------------------------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class DepositSettings:
    category: str
    start_year: int
    deposit_eur: float


@dataclass(frozen=True)
class Scenario:
    """One scenario file: what differs from the default inputs."""

    name: str
    description: str = ""
    first_year: int = 2009
    inflow_file: Path | None = None
    inflow_timing: float = 0.5
    growth_pct: dict[str, float] = field(default_factory=dict)
    mix: dict[str, dict[str, float]] = field(default_factory=dict)
    mix_from: int | None = None
    collection: dict[str, dict[int, float]] = field(default_factory=dict)
    collection_targets: bool = False
    recovery_regulation: bool = False
    recovery: dict[str, dict[int, float]] = field(default_factory=dict)
    second_life_pct: float | None = None
    deposit: DepositSettings | None = None


SCENARIO_KEYS = {
    "name",
    "description",
    "first_year",
    "inflow",
    "growth_pct",
    "mix",
    "collection",
    "recovery",
    "second_life",
    "deposit",
}


class _Reader:
    """Check a parsed scenario file, collecting every problem with its dotted field."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def bad(self, where: str, message: str, expected: str) -> None:
        self.problems.append(Problem(f"{self.source}: {where}", message, expected))

    def number(self, value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.bad(where, f"{value!r} is not a number", f"a number from {low:g} to {high:g}")
            return None
        if not low <= value <= high:
            self.bad(where, f"{value!r} is out of range", f"a number from {low:g} to {high:g}")
            return None
        return float(value)

    def year(self, value: Any, where: str) -> int | None:
        text = str(value)
        if isinstance(value, bool) or not text.isdigit() or not 1900 <= int(text) <= 2200:
            self.bad(where, f"{value!r} is not a year", "a year such as 2030")
            return None
        return int(text)

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.bad(where, f"{value!r} is not a table", "a TOML table")
            return {}
        return value

    def category(self, key: str, where: str) -> bool:
        if key not in CATEGORIES:
            self.bad(where, f"unknown category {key!r}", ", ".join(CATEGORIES))
            return False
        return True

    def series(self, value: Any, where: str) -> dict[int, float]:
        """A percentage, or a table ``{year = percentage}`` (linear between years, flat outside)."""
        if isinstance(value, dict):
            out: dict[int, float] = {}
            for k, v in value.items():
                y = self.year(k, f"{where}.{k}")
                pct = self.number(v, f"{where}.{k}", 0.0, 100.0)
                if y is not None and pct is not None:
                    out[y] = pct
            if not value:
                self.bad(where, "empty table", "{2025 = 45.0, 2030 = 73.0} or a number")
            return out
        pct = self.number(value, where, 0.0, 100.0)
        return {} if pct is None else {0: pct}


def read_scenario(path: Path, chemistries: Iterable[str] | None = None) -> Scenario:
    """Read and check a scenario TOML file; every bad field is named in one :class:`ValidationError`."""
    if not path.is_file():
        raise ValidationError(
            f"{path} does not exist", problems=[Problem(str(path), "file not found", "a scenario TOML file")]
        )
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: not valid TOML ({exc})", field=str(path), expected="a TOML file") from None
    return scenario_from_dict(doc, str(path), chemistries)


def scenario_from_dict(doc: Mapping[str, Any], source: str, chemistries: Iterable[str] | None = None) -> Scenario:
    """Check a scenario given as a mapping (as parsed from TOML)."""
    r = _Reader(source)
    known_chem = set(chemistries) if chemistries is not None else None
    for key in doc:
        if key not in SCENARIO_KEYS:
            r.bad(key, f"unknown field {key!r}", ", ".join(sorted(SCENARIO_KEYS)))
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\,\n"):
        r.bad("name", f"{name!r} is not a scenario name", "a short name without / \\ or commas")
        name = "?"
    description = doc.get("description", "")
    if not isinstance(description, str):
        r.bad("description", "not text", "a string")
        description = ""
    first_year = r.year(doc.get("first_year", 2009), "first_year") or 2009

    inflow_file: Path | None = None
    timing = 0.5
    inflow = r.table(doc.get("inflow", {}), "inflow")
    for key, value in inflow.items():
        if key == "file":
            if isinstance(value, str) and value:
                inflow_file = (Path(source).parent / value) if not Path(value).is_absolute() else Path(value)
            else:
                r.bad("inflow.file", f"{value!r} is not a path", "a CSV path relative to the scenario file")
        elif key == "timing":
            if value in INFLOW_TIMINGS:
                timing = INFLOW_TIMINGS[value]
            else:
                r.bad("inflow.timing", f"{value!r} is not a timing", ", ".join(INFLOW_TIMINGS))
        else:
            r.bad(f"inflow.{key}", f"unknown field {key!r}", "file, timing")

    growth: dict[str, float] = {}
    for key, value in r.table(doc.get("growth_pct", {}), "growth_pct").items():
        if r.category(key, f"growth_pct.{key}"):
            g = r.number(value, f"growth_pct.{key}", -50.0, 100.0)
            if g is not None:
                growth[key] = g

    mix: dict[str, dict[str, float]] = {}
    mix_from: int | None = None
    for key, value in r.table(doc.get("mix", {}), "mix").items():
        if key == "from_year":
            mix_from = r.year(value, "mix.from_year")
            continue
        if not r.category(key, f"mix.{key}"):
            continue
        shares: dict[str, float] = {}
        for chem, share in r.table(value, f"mix.{key}").items():
            if known_chem is not None and chem not in known_chem:
                r.bad(f"mix.{key}.{chem}", f"unknown chemistry {chem!r}", ", ".join(sorted(known_chem)))
                continue
            s = r.number(share, f"mix.{key}.{chem}", 0.0, 1.0)
            if s is not None:
                shares[chem] = s
        if shares and abs(sum(shares.values()) - 1.0) > 1e-6:
            r.bad(f"mix.{key}", f"shares add up to {sum(shares.values()):g}", "shares adding up to 1")
        mix[key] = shares
    if mix and mix_from is None:
        r.bad("mix.from_year", "missing", "the first year the mix applies to, e.g. 2025")

    collection: dict[str, dict[int, float]] = {}
    targets = False
    for key, value in r.table(doc.get("collection", {}), "collection").items():
        if key == "targets":
            if isinstance(value, bool):
                targets = value
            else:
                r.bad("collection.targets", f"{value!r} is not true or false", "true or false")
        elif r.category(key, f"collection.{key}"):
            collection[key] = r.series(value, f"collection.{key}")

    recovery_regulation = False
    recovery: dict[str, dict[int, float]] = {}
    for key, value in r.table(doc.get("recovery", {}), "recovery").items():
        if key == "regulation":
            if isinstance(value, bool):
                recovery_regulation = value
            else:
                r.bad("recovery.regulation", f"{value!r} is not true or false", "true or false")
        else:
            recovery[key] = r.series(value, f"recovery.{key}")

    second: float | None = None
    for key, value in r.table(doc.get("second_life", {}), "second_life").items():
        if key == "EV_pct":
            second = r.number(value, "second_life.EV_pct", 0.0, 100.0)
        else:
            r.bad(f"second_life.{key}", f"unknown field {key!r}", "EV_pct")

    deposit: DepositSettings | None = None
    if "deposit" in doc:
        d = r.table(doc["deposit"], "deposit")
        for key in d:
            if key not in ("category", "start_year", "deposit_eur"):
                r.bad(f"deposit.{key}", f"unknown field {key!r}", "category, start_year, deposit_eur")
        category = d.get("category", "LMT")
        if category not in ("portable", "LMT"):
            r.bad("deposit.category", f"{category!r} cannot carry a deposit here", "LMT or portable")
        start = r.year(d.get("start_year"), "deposit.start_year")
        amount = r.number(d.get("deposit_eur"), "deposit.deposit_eur", 0.0, 10000.0)
        if start is not None and amount is not None and category in ("portable", "LMT"):
            deposit = DepositSettings(str(category), start, amount)

    if r.problems:
        raise ValidationError(f"{source}: bad scenario file", problems=r.problems)
    return Scenario(
        name=str(name),
        description=description,
        first_year=first_year,
        inflow_file=inflow_file,
        inflow_timing=timing,
        growth_pct=growth,
        mix=mix,
        mix_from=mix_from,
        collection=collection,
        collection_targets=targets,
        recovery_regulation=recovery_regulation,
        recovery=recovery,
        second_life_pct=second,
        deposit=deposit,
    )


def read_inflow_csv(path: Path, chemistries: Iterable[str]) -> dict[tuple[int, str, str], float]:
    """An inflow file: columns ``year, category, chemistry, tonnes``; every bad row is named."""
    known = set(chemistries)
    rows = _read_csv(path)
    problems: list[Problem] = []
    out: dict[tuple[int, str, str], float] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        year, category, chem, tonnes = (row.get(k, "") for k in ("year", "category", "chemistry", "tonnes"))
        if not year.isdigit():
            problems.append(Problem(f"{where}: year", f"{year!r} is not a year", "a year such as 2030"))
        if category not in CATEGORIES:
            problems.append(Problem(f"{where}: category", f"unknown category {category!r}", ", ".join(CATEGORIES)))
        if chem not in known:
            problems.append(Problem(f"{where}: chemistry", f"unknown chemistry {chem!r}", ", ".join(sorted(known))))
        try:
            t = float(tonnes)
            if not math.isfinite(t) or t < 0:
                raise ValueError
        except ValueError:
            problems.append(Problem(f"{where}: tonnes", f"{tonnes!r} is not a mass", "tonnes >= 0"))
            continue
        if year.isdigit() and category in CATEGORIES and chem in known:
            key = (int(year), category, chem)
            if key in out:
                problems.append(
                    Problem(f"{where}", f"duplicate row for {key}", "one row per year, category, chemistry")
                )
            out[key] = t
    if not rows:
        problems.append(Problem(str(path), "no rows", "columns year, category, chemistry, tonnes"))
    if problems:
        raise ValidationError(f"{path}: bad inflow file", problems=problems)
    return out


# --------------------------------------------------------------------------------------------------------------------
# Running a scenario


def _interp(points: Mapping[int, float], years: IntArray) -> FloatArray:
    if 0 in points:  # a constant
        return np.full(years.shape, points[0], dtype=np.float64)
    xs = sorted(points)
    return np.interp(years.astype(np.float64), xs, [points[x] for x in xs])


def _step(steps: list[Step], years: IntArray, before: FloatArray) -> FloatArray:
    out = before.copy()
    for s in steps:
        out = np.where(years >= s.year, s.value, out)
    return out


@dataclass(frozen=True)
class ScenarioResult:
    """Yearly mass flows (tonnes) by group ``(category, chemistry)`` and by element."""

    scenario: Scenario
    years: IntArray
    groups: list[tuple[str, str]]
    elements: tuple[str, ...]
    inflow: FloatArray  # [t, g]
    stock: FloatArray
    first_life_outflow: FloatArray
    repurposed: FloatArray
    eol_outflow: FloatArray
    collection_rate_pct: FloatArray
    collected: FloatArray
    recycled: FloatArray
    content: FloatArray  # [g, e] kg per kg
    recovery_pct: FloatArray  # [t, e]
    deposit: DepositOutcome | None

    def element(self, flow: FloatArray) -> FloatArray:
        """A ``[t, g]`` battery-mass flow as ``[t, e]`` element mass."""
        return np.asarray(flow @ self.content, dtype=np.float64)

    @property
    def demand(self) -> FloatArray:
        return self.element(self.inflow)

    @property
    def secondary(self) -> FloatArray:
        return self.element(self.collected) * self.recovery_pct / 100.0

    @property
    def primary(self) -> FloatArray:
        return np.maximum(self.demand - self.secondary, 0.0)

    @property
    def secondary_share_pct(self) -> FloatArray:
        d = self.demand
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, np.minimum(self.secondary, d) / np.where(d > 0, d, 1.0) * 100.0, np.nan)


def group_inflow(
    scenario: Scenario, data: ModelData, years: IntArray, base: Mapping[tuple[int, str, str], float]
) -> tuple[list[tuple[str, str]], FloatArray]:
    """Inflow ``[t, g]`` over ``years``: the table where it has data, then the projection with growth and mix."""
    groups = sorted({(c, chem) for (_, c, chem) in base} | {(c, ch) for c, m in scenario.mix.items() for ch in m})
    index = {g: i for i, g in enumerate(groups)}
    inflow = np.zeros((years.size, len(groups)))
    last: dict[str, int] = {}
    for (year, cat, _chem), _ in base.items():
        last[cat] = max(last.get(cat, year), year)
    for (year, cat, chem), tonnes in base.items():
        if years[0] <= year <= years[-1]:
            inflow[year - years[0], index[(cat, chem)]] = tonnes
    for cat, last_year in last.items():
        rate = scenario.growth_pct.get(cat, data.growth_pct.get(cat, 0.0)) / 100.0
        total = sum(t for (y, c, _), t in base.items() if c == cat and y == last_year)
        shares = {ch: t / total for (y, c, ch), t in base.items() if c == cat and y == last_year and total > 0}
        for year in range(last_year + 1, int(years[-1]) + 1):
            if year < years[0]:
                continue
            mix = scenario.mix.get(cat) if scenario.mix_from is not None and year >= scenario.mix_from else None
            tonnes = total * (1.0 + rate) ** (year - last_year)
            for chem, share in (mix or shares).items():
                inflow[year - years[0], index[(cat, chem)]] = tonnes * share
    if scenario.mix_from is not None:  # a new mix also applies within the data years
        for cat, mix in scenario.mix.items():
            cols = [index[g] for g in groups if g[0] == cat]
            for year in range(max(scenario.mix_from, int(years[0])), min(last.get(cat, -1), int(years[-1])) + 1):
                row = year - years[0]
                total = inflow[row, cols].sum()
                inflow[row, cols] = 0.0
                for chem, share in mix.items():
                    inflow[row, index[(cat, chem)]] = total * share
    return groups, inflow


def run(scenario: Scenario, data: ModelData, until: int) -> ScenarioResult:
    """Run one scenario from its first year to ``until``."""
    if until < scenario.first_year:
        raise ValidationError(
            f"--until {until} is before the scenario's first year {scenario.first_year}",
            field="--until",
            expected=f"a year from {scenario.first_year}",
        )
    years = np.arange(scenario.first_year, until + 1, dtype=np.int64)
    base = data.inflow if scenario.inflow_file is None else read_inflow_csv(scenario.inflow_file, data.chemistries)
    groups, inflow = group_inflow(scenario, data, years, base)
    n, g = inflow.shape
    cats = [c for c, _ in groups]
    missing = sorted({c for c in cats if (c, "first") not in data.lifetimes})
    if missing:
        raise ValidationError(f"no lifetime for {missing}", field="mfa_lifetimes.csv", expected="a row per category")
    shape = np.array([data.lifetimes[(c, "first")].shape for c in cats])
    scale = np.array([data.lifetimes[(c, "first")].scale for c in cats])
    first = inflow_driven(inflow, shape, scale, scenario.inflow_timing)

    second_pct = data.second_life_default_pct if scenario.second_life_pct is None else scenario.second_life_pct
    is_ev = np.array([c == "EV" for c in cats])
    repurposed = first.outflow * np.where(is_ev, second_pct / 100.0, 0.0)[None, :]
    sl = data.lifetimes.get(("EV", "second"), Weibull(2.0, 8.0))
    second = inflow_driven(repurposed, np.full(g, sl.shape), np.full(g, sl.scale), scenario.inflow_timing)
    eol = first.outflow - repurposed + second.outflow
    stock = first.stock + second.stock

    rate = np.zeros((n, g))
    for j, cat in enumerate(cats):
        base_rate = np.full(n, data.collection_default.get(cat, 0.0))
        if cat in scenario.collection:
            base_rate = _interp(scenario.collection[cat], years)
        if scenario.collection_targets and cat in data.collection_targets:
            base_rate = np.maximum(base_rate, _step(data.collection_targets[cat], years, np.zeros(n)))
        rate[:, j] = base_rate

    outcome: DepositOutcome | None = None
    if scenario.deposit is not None:
        dep = scenario.deposit
        cols = [j for j, c in enumerate(cats) if c == dep.category]
        carrying = (years >= dep.start_year).astype(np.float64)  # cohorts with a deposit
        eol_dep = (first.outflow_by_cohort[:, :, cols] * carrying[None, :, None]).sum(axis=(1, 2))
        eol_all = eol[:, cols].sum(axis=1)
        base_rate = rate[:, cols[0]] if cols else np.zeros(n)
        scheme = DepositScheme(dep.category, dep.start_year, dep.deposit_eur, default_parameters())
        outcome = evaluate(scheme, years, inflow[:, cols].sum(axis=1) * carrying, eol_dep, eol_all, base_rate.copy())
        for j in cols:
            rate[:, j] = outcome.collection_rate_pct
    collected = eol * rate / 100.0

    families = [data.chemistries[ch].family for _, ch in groups]
    efficiency = np.zeros((n, g))
    for j, fam in enumerate(families):
        steps = data.recycling_efficiency.get(fam) or data.recycling_efficiency.get("other", [])
        before = _step(data.recycling_efficiency.get("other", []), years, np.zeros(n))
        efficiency[:, j] = _step(steps, years, before)
    recycled = collected * efficiency / 100.0

    elements = data.elements
    content = np.array([[data.content.get(ch, {}).get(e, 0.0) for e in elements] for _, ch in groups])
    recovery = np.zeros((n, len(elements)))
    for k, e in enumerate(elements):
        series = np.full(n, data.recovery_baseline.get(e, 0.0))
        if scenario.recovery_regulation and e in data.recovery_targets:
            series = np.maximum(series, _step(data.recovery_targets[e], years, np.zeros(n)))
        if e in scenario.recovery:
            series = _interp(scenario.recovery[e], years)
        recovery[:, k] = series
    return ScenarioResult(
        scenario=scenario,
        years=years,
        groups=groups,
        elements=elements,
        inflow=inflow,
        stock=stock,
        first_life_outflow=first.outflow,
        repurposed=repurposed,
        eol_outflow=eol,
        collection_rate_pct=rate,
        collected=collected,
        recycled=recycled,
        content=content,
        recovery_pct=recovery,
        deposit=outcome,
    )


def element_rows(result: ScenarioResult) -> list[dict[str, Any]]:
    """One row per year and element (tonnes, and the secondary share in %)."""
    demand, stock = result.demand, result.element(result.stock)
    eol, collected = result.element(result.eol_outflow), result.element(result.collected)
    secondary, primary, share = result.secondary, result.primary, result.secondary_share_pct
    rows: list[dict[str, Any]] = []
    for i, year in enumerate(result.years):
        for k, e in enumerate(result.elements):
            rows.append(
                {
                    "scenario": result.scenario.name,
                    "year": int(year),
                    "element": e,
                    "inflow_demand_t": demand[i, k],
                    "in_use_stock_t": stock[i, k],
                    "eol_outflow_t": eol[i, k],
                    "collected_t": collected[i, k],
                    "material_recovery_pct": result.recovery_pct[i, k],
                    "secondary_supply_t": secondary[i, k],
                    "primary_demand_t": primary[i, k],
                    "secondary_surplus_t": max(secondary[i, k] - demand[i, k], 0.0),
                    "secondary_share_pct": share[i, k],
                }
            )
    return rows


def group_rows(result: ScenarioResult) -> list[dict[str, Any]]:
    """One row per year, category and chemistry (battery mass in tonnes)."""
    rows: list[dict[str, Any]] = []
    for i, year in enumerate(result.years):
        for j, (cat, chem) in enumerate(result.groups):
            rows.append(
                {
                    "scenario": result.scenario.name,
                    "year": int(year),
                    "category": cat,
                    "chemistry": chem,
                    "inflow_t": result.inflow[i, j],
                    "in_use_stock_t": result.stock[i, j],
                    "first_life_outflow_t": result.first_life_outflow[i, j],
                    "repurposed_t": result.repurposed[i, j],
                    "eol_outflow_t": result.eol_outflow[i, j],
                    "collection_rate_pct": result.collection_rate_pct[i, j],
                    "collected_t": result.collected[i, j],
                    "recycled_t": result.recycled[i, j],
                }
            )
    return rows


def goal_rows(result: ScenarioResult, year: int = GOAL_YEAR) -> list[dict[str, Any]]:
    """The 2030 goal per element: primary demand at most half of the material demand (secondary share >= 50 %)."""
    if not result.years[0] <= year <= result.years[-1]:
        return []
    i = int(year - result.years[0])
    rows: list[dict[str, Any]] = []
    for k, e in enumerate(result.elements):
        demand = float(result.demand[i, k])
        if demand <= 0:
            continue
        primary = float(result.primary[i, k])
        rows.append(
            {
                "scenario": result.scenario.name,
                "year": year,
                "element": e,
                "inflow_demand_t": demand,
                "primary_demand_t": primary,
                "primary_reduction_pct": (1.0 - primary / demand) * 100.0,
                "goal_pct": GOAL_PRIMARY_REDUCTION_PCT,
                "goal_met": (1.0 - primary / demand) * 100.0 >= GOAL_PRIMARY_REDUCTION_PCT,
            }
        )
    return rows


def deposit_rows(result: ScenarioResult) -> list[dict[str, Any]]:
    """Cash flows (EUR) and effects of the scenario's deposit, one row a year (none without a deposit)."""
    d = result.deposit
    if d is None:
        return []
    return [
        {
            "scenario": result.scenario.name,
            "year": int(year),
            "units_sold_with_deposit": d.units_sold[i],
            "deposits_eur": d.deposits_eur[i],
            "refunds_eur": d.refunds_eur[i],
            "unredeemed_eur": d.unredeemed_eur[i],
            "fund_balance_eur": d.fund_balance_eur[i],
            "return_rate_with_deposit_pct": d.return_rate_pct[i],
            "collection_rate_pct": d.collection_rate_pct[i],
            "collection_rate_without_deposit_pct": d.baseline_collection_rate_pct[i],
            "misplaced_in_residual_waste_t": d.misplaced_t[i],
            "misplaced_without_deposit_t": d.misplaced_baseline_t[i],
            "fires": d.fires[i],
            "fires_without_deposit": d.fires_baseline[i],
        }
        for i, year in enumerate(d.years)
    ]
