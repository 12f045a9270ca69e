"""EV charging sessions drawn from the ElaadNL charging-behaviour statistics (aggregate distributions, no raw data).

The statistics are the ElaadNL public charts as shipped with ev2gym (MIT), in the shared data folder at
``grid/elaadnl_ev_charging_stats/`` (see its SOURCE.md; the folder is found by
:func:`batteryloop.shared_data.shared_file`, and the package never ships a copy). Where that folder is absent (a
fresh clone, an installed wheel), :func:`synthetic_stats` builds the same :class:`ElaadStats` from the package's own
parametric session model (``synthetic_sessions.csv`` and ``synthetic_ev_models.csv``, every parameter with its source
or the reason for the assumption); :func:`default_stats` picks one and ``ElaadStats.source`` says which.
What each file of the statistics means and how it is used:

- ``distribution-of-arrival.csv`` (weekdays) and ``-weekend.csv``: per 15-minute slot of the local (Europe/Amsterdam)
  day, the share of arrivals [%] for ``private`` (home), ``public`` and ``workplace``. The weekend file has no
  workplace column; workplace arrivals on a Saturday or Sunday use the weekday distribution.
- ``distribution-of-connection-time.csv`` and ``distribution-of-energy-demand.csv``: for p = 0..100 [% of charging
  events], the connection time [h] / energy [kWh] that p % of the events exceed (a quantile table: 72 h / 99.9 kWh at
  p = 0, 0 at p = 100). A draw is the table read at a uniform p, linear between the integer rows.
- ``mean-session-length-per.csv`` and ``mean-demand-per-arrival.csv``: mean connected hours and mean kWh per
  half-hour of arrival (home, public, work; blank where the chart had no workplace value, i.e. at night).

Sampling one session (all with one seeded ``numpy.random.Generator``):

1. location from the mix (default from ``fleet_defaults.csv``); EV model by NL registrations (``ev_specs.json``, or
   ``ev_specs_v2g_enabled2024.json`` with ``v2g=True``): battery [kWh], AC charge power [kW] and, for V2G, AC
   discharge power [kW] (the AC figure: home and workplace chargers are AC).
2. arrival slot from the location's 15-minute distribution, then a uniform minute offset inside the slot; local wall
   time on the day -> UTC through Europe/Amsterdam (a wall time that does not exist on the spring clock change is
   read with the offset before the change, i.e. one hour later in summer time).
3. connection time from the quantile table, scaled by ``mean session length at this arrival half-hour / mean of the
   table`` so that the mean stay per arrival time follows the chart (unscaled where the chart is blank); at least one
   minute.
4. energy demand likewise, scaled by ``mean demand at this arrival / mean of the table``; then capped by what the
   charger can deliver in the stay (power x hours) and by the battery (capacity x max_soc); each cap is counted in
   :attr:`SampledFleet.capped_by_stay` / ``capped_by_battery``.
5. charger power: ``min(car AC limit, charger_kw_<location>)``; the same for discharge with ``v2g``.

The arrival state of charge is not in the statistics; it is left unknown (NaN), and the optimiser then places it
below the departure target (see :mod:`batteryloop.energy.fleet`).

The synthetic statistics (:func:`synthetic_stats`), built in the same layout:

- arrivals: per location and day type a mixture of normal densities over the hour of the day, wrapped around
  midnight (``arrival_mean_h``, ``arrival_sd_h``, ``arrival_weight``), integrated over each 15-minute slot [%];
- connection time: a mixture of lognormal distributions (``connection_median_h``, ``connection_sigma``,
  ``connection_weight``), written as the same quantile table (value exceeded by p % of the events) with the top
  (p = 0) at ``connection_max_h`` and the table clipped there;
- energy demand: a gamma distribution (``demand_mean_kWh``, ``demand_shape``), as a quantile table topped at
  ``demand_max_kWh``;
- mean stay and mean energy per arrival half-hour: linear between the knots ``mean_stay_h`` / ``mean_demand_kWh``
  (hour of arrival -> value; blank, i.e. NaN, outside the knots, as the workplace chart is at night);
- EV models: ``synthetic_ev_models.csv`` (public battery capacity and AC power per model, a fleet weight that is an
  assumption); the V2G table is the models with ``v2g_ac_kW > 0``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import stats as sps  # type: ignore[import-untyped]

from batteryloop.energy.fleet import FleetSessions, defaults
from batteryloop.errors import ImportFormatError, Problem, ValidationError
from batteryloop.shared_data import shared_file

LOCATIONS = ("home", "public", "work")
_ARRIVAL_COLUMN = {"home": "private", "public": "public", "work": "workplace"}
_MEAN_COLUMN = {"home": "home", "public": "public", "work": "work"}
LOCAL_TZ = "Europe/Amsterdam"
SHARED_PARTS = ("grid", "elaadnl_ev_charging_stats")
"""Where the statistics are inside the shared data folder."""
SYNTHETIC_SOURCE = (
    "synthetic EV sessions made by batteryloop (parametric model: energy/synthetic_sessions.csv, "
    "energy/synthetic_ev_models.csv), not the ElaadNL data"
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class EvModels:
    names: tuple[str, ...]
    registrations: FloatArray
    battery_kWh: FloatArray
    ac_charge_kW: FloatArray
    ac_discharge_kW: FloatArray


@dataclass(frozen=True)
class ElaadStats:
    """The distributions, per location (``home``, ``public``, ``work``)."""

    arrival_weekday_pct: dict[str, FloatArray]  # 96 slots of 15 min, local time
    arrival_weekend_pct: dict[str, FloatArray]
    connection_h: dict[str, FloatArray]  # 101 quantiles: value exceeded by p % of events, p = 0..100
    demand_kWh: dict[str, FloatArray]
    mean_session_h: dict[str, FloatArray]  # 48 half-hours of arrival, NaN where blank
    mean_demand_kWh: dict[str, FloatArray]
    models: EvModels
    v2g_models: EvModels
    source: str

    def quantile_mean(self, table: dict[str, FloatArray], location: str) -> float:
        """Mean of a quantile table (the area under it over p in [0, 1], trapezoids)."""
        values = table[location]
        return float(np.sum((values[1:] + values[:-1]) / 2.0) / (len(values) - 1))


def _read(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise ImportFormatError(
            f"{path} does not exist",
            field=str(path),
            expected="the ElaadNL statistics folder (../shared/data/grid/elaadnl_ev_charging_stats)",
        )
    frame = pl.read_csv(path, infer_schema_length=0, encoding="utf8-lossy")
    return frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})


def _column(frame: pl.DataFrame, path: Path, name: str, rows: int | None = None) -> FloatArray:
    if name not in frame.columns:
        raise ImportFormatError(
            f"{path.name}: no column {name!r} (columns: {', '.join(frame.columns)})",
            field=f"{path.name}:header",
            expected=name,
        )
    values = frame[name].str.strip_chars().cast(pl.Float64, strict=False).to_numpy().astype(np.float64)
    if rows is not None and len(values) != rows:
        raise ImportFormatError(f"{path.name}: {len(values)} rows", field=path.name, expected=f"{rows} rows")
    return values


def _half_hour_table(path: Path) -> dict[str, FloatArray]:
    frame = _read(path)
    times = frame[frame.columns[0]].str.strip_chars().to_list()
    slots = []
    for line, text in enumerate(times, start=2):
        try:
            hh, mm = str(text).split(":")
            slots.append(int(hh) * 2 + int(mm) // 30)
        except ValueError:
            raise ImportFormatError(
                f"{path.name}: line {line}: {text!r} is not a time of day",
                field=f"{path.name}:line {line}",
                expected="HH:MM",
            ) from None
    out: dict[str, FloatArray] = {}
    for loc in LOCATIONS:
        values = _column(frame, path, _MEAN_COLUMN[loc])
        table = np.full(48, np.nan)
        table[np.asarray(slots)] = values
        out[loc] = table
    return out


def _models(path: Path, v2g: bool) -> EvModels:
    if not path.is_file():
        raise ImportFormatError(f"{path} does not exist", field=str(path), expected="an ev_specs JSON file")
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    names = tuple(data)
    try:
        return EvModels(
            names=names,
            registrations=np.array([float(data[n]["number_of_registrations"]) for n in names]),
            battery_kWh=np.array([float(data[n]["battery_capacity"]) for n in names]),
            ac_charge_kW=np.array([float(data[n]["max_ac_charge_power"]) for n in names]),
            ac_discharge_kW=np.array([float(data[n]["max_ac_discharge_power"]) if v2g else 0.0 for n in names]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ImportFormatError(
            f"{path.name}: a model lacks {exc}",
            field=path.name,
            expected="number_of_registrations, battery_capacity, max_ac_charge_power, max_ac_discharge_power",
        ) from None


def default_dir() -> Path | None:
    """The ElaadNL statistics folder in the shared data (``grid/elaadnl_ev_charging_stats``), or None when absent."""
    return shared_file(*SHARED_PARTS)


def __getattr__(name: str) -> Path:
    """``DEFAULT_DIR`` (deprecated, use :func:`default_dir`): the shared folder, or its relative path when absent
    (which then does not exist, so :func:`load_stats` reports it)."""
    if name == "DEFAULT_DIR":
        return default_dir() or Path(*SHARED_PARTS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_stats(folder: Path | None = None) -> ElaadStats:
    """Read the ElaadNL statistics and EV specifications from ``folder`` (default: :func:`default_dir`).

    Raises :class:`ImportFormatError` naming the folder when it is absent (use :func:`default_stats` for the
    fallback to the package's synthetic statistics)."""
    if folder is None:
        found = default_dir()
        if found is None:
            raise ImportFormatError(
                "no ElaadNL statistics: the shared data folder has no " + "/".join(SHARED_PARTS),
                field="/".join(SHARED_PARTS),
                expected="../shared/data/grid/elaadnl_ev_charging_stats (or BATTERYLOOP_SHARED_DATA), or use "
                "synthetic_stats()",
            )
        folder = found
    weekday = folder / "distribution-of-arrival.csv"
    weekend = folder / "distribution-of-arrival-weekend.csv"
    conn = folder / "distribution-of-connection-time.csv"
    demand = folder / "distribution-of-energy-demand.csv"
    f_weekday, f_weekend, f_conn, f_demand = _read(weekday), _read(weekend), _read(conn), _read(demand)
    arrival_weekday = {loc: _column(f_weekday, weekday, _ARRIVAL_COLUMN[loc], 96) for loc in LOCATIONS}
    arrival_weekend = {
        loc: (_column(f_weekend, weekend, _ARRIVAL_COLUMN[loc], 96) if loc != "work" else arrival_weekday["work"])
        for loc in LOCATIONS
    }
    return ElaadStats(
        arrival_weekday_pct=arrival_weekday,
        arrival_weekend_pct=arrival_weekend,
        connection_h={loc: _column(f_conn, conn, _ARRIVAL_COLUMN[loc], 101) for loc in LOCATIONS},
        demand_kWh={loc: _column(f_demand, demand, _ARRIVAL_COLUMN[loc], 101) for loc in LOCATIONS},
        mean_session_h=_half_hour_table(folder / "mean-session-length-per.csv"),
        mean_demand_kWh=_half_hour_table(folder / "mean-demand-per-arrival.csv"),
        models=_models(folder / "ev_specs.json", v2g=False),
        v2g_models=_models(folder / "ev_specs_v2g_enabled2024.json", v2g=True),
        source=str(folder),
    )


# ---------------------------------------------------------------------------------------------------------------------
# the package's own parametric statistics (the fallback where the shared data is absent)

SESSIONS_FILE = "synthetic_sessions.csv"
MODELS_FILE = "synthetic_ev_models.csv"
_SESSION_COLUMNS = ("location", "daytype", "parameter", "index", "value", "unit", "source")
_MODEL_COLUMNS = ("name", "weight", "battery_kWh", "ac_charge_kW", "v2g_ac_kW", "spec_source", "weight_source")
QUANTILES = np.linspace(0.0, 100.0, 101)


def _package_rows(name: str, columns: tuple[str, ...], text: str | None = None) -> list[dict[str, str]]:
    if text is None:
        text = resources.files("batteryloop.energy").joinpath(name).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportFormatError(f"{name}: missing column(s) {', '.join(missing)}", field=name, expected=str(columns))
    return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def session_parameters(text: str | None = None) -> dict[tuple[str, str, str], dict[float, float]]:
    """``synthetic_sessions.csv`` as (location, daytype, parameter) -> {index: value}; a bad row names its line.

    ``index`` is blank for a scalar (stored under index 0). Every row needs a source."""
    out: dict[tuple[str, str, str], dict[float, float]] = {}
    problems: list[Problem] = []
    for line, row in enumerate(_package_rows(SESSIONS_FILE, _SESSION_COLUMNS, text), start=2):
        where = f"{SESSIONS_FILE}:{line}"
        if row["location"] not in (*LOCATIONS, "all"):
            problems.append(Problem(f"{where}: location", repr(row["location"]), "home, public, work or all"))
            continue
        if row["daytype"] not in ("weekday", "weekend", "all"):
            problems.append(Problem(f"{where}: daytype", repr(row["daytype"]), "weekday, weekend or all"))
            continue
        try:
            index = float(row["index"]) if row["index"] else 0.0
            value = float(row["value"])
        except ValueError:
            problems.append(Problem(f"{where}: index/value", f"{row['index']!r}/{row['value']!r}", "numbers"))
            continue
        if not np.isfinite(value) or value < 0:
            problems.append(Problem(f"{where}: value", repr(row["value"]), "a finite number >= 0"))
        if not row["source"]:
            problems.append(Problem(f"{where}: source", "empty", "the source or the reason for the assumption"))
        out.setdefault((row["location"], row["daytype"], row["parameter"]), {})[index] = value
    if problems:
        raise ImportFormatError(f"{SESSIONS_FILE}: bad parameter rows", problems=problems)
    return out


def _param(p: dict[tuple[str, str, str], dict[float, float]], loc: str, daytype: str, name: str) -> dict[float, float]:
    for key in ((loc, daytype, name), (loc, "all", name), ("all", daytype, name), ("all", "all", name)):
        if key in p:
            return p[key]
    raise ImportFormatError(
        f"{SESSIONS_FILE}: no {name} for {loc} ({daytype})", field=f"{SESSIONS_FILE}:{name}", expected=f"{loc} rows"
    )


def _mixture(
    p: dict[tuple[str, str, str], dict[float, float]], loc: str, daytype: str, prefix: str, first: str, second: str
) -> list[tuple[float, float, float]]:
    """Components (weight, a, b) of a mixture, checked: the weights sum to 1."""
    a, b, w = (_param(p, loc, daytype, f"{prefix}_{n}") for n in (first, second, "weight"))
    if set(a) != set(b) or set(a) != set(w):
        raise ImportFormatError(
            f"{SESSIONS_FILE}: {prefix} components of {loc} ({daytype}) differ between parameters",
            field=f"{SESSIONS_FILE}:{prefix}",
            expected="the same component numbers for every parameter",
        )
    total = sum(w.values())
    if abs(total - 1.0) > 1e-6:
        raise ImportFormatError(
            f"{SESSIONS_FILE}: {prefix}_weight of {loc} ({daytype}) sums to {total:g}",
            field=f"{SESSIONS_FILE}:{prefix}_weight",
            expected="weights summing to 1",
        )
    return [(w[k], a[k], b[k]) for k in sorted(a)]


def _arrival_pct(components: list[tuple[float, float, float]]) -> FloatArray:
    """Share of arrivals [%] in each 15-minute slot: wrapped normal mixture integrated over the slot."""
    edges = np.arange(97) * 0.25
    mass = np.zeros(96)
    for weight, mean, sd in components:
        for shift in (-24.0, 0.0, 24.0):  # wrap around midnight
            cdf = sps.norm.cdf(edges, loc=mean + shift, scale=sd)
            mass += weight * np.diff(cdf)
    return np.asarray(100.0 * mass / mass.sum(), dtype=np.float64)


def _exceedance_table(ppf_values: FloatArray, top: float) -> FloatArray:
    """Quantile table in the ElaadNL layout: value exceeded by p % of events, p = 0..100; p = 0 is ``top``."""
    table = np.minimum(ppf_values, top)
    table[0] = top
    table[-1] = 0.0
    return np.asarray(table, dtype=np.float64)


def _lognormal_mixture_table(components: list[tuple[float, float, float]], top: float) -> FloatArray:
    grid = np.linspace(0.0, top, 20001)
    cdf = np.zeros_like(grid)
    for weight, median, sigma in components:
        cdf += weight * sps.lognorm.cdf(grid, s=sigma, scale=median)
    cdf = cdf / cdf[-1]  # the mass beyond ``top`` is put at ``top`` (stays cut there)
    probs = 1.0 - QUANTILES / 100.0
    return _exceedance_table(np.interp(probs, cdf, grid), top)


def _knots(values: dict[float, float]) -> FloatArray:
    """Half-hourly table (48) linear between the knots (hour -> value), NaN outside them."""
    hours = np.arange(48) * 0.5
    xs = np.array(sorted(values))
    ys = np.array([values[x] for x in xs])
    out = np.interp(hours, xs, ys)
    out[(hours < xs[0]) | (hours > xs[-1])] = np.nan
    return np.asarray(out, dtype=np.float64)


def ev_model_rows(text: str | None = None) -> list[dict[str, str]]:
    """``synthetic_ev_models.csv``, checked: positive numbers, a source for each specification and weight."""
    rows = _package_rows(MODELS_FILE, _MODEL_COLUMNS, text)
    problems: list[Problem] = []
    for line, row in enumerate(rows, start=2):
        where = f"{MODELS_FILE}:{line}"
        for name, low in (("weight", 0.0), ("battery_kWh", 0.0), ("ac_charge_kW", 0.0), ("v2g_ac_kW", -1.0)):
            try:
                ok = float(row[name]) > low
            except ValueError:
                ok = False
            if not ok:
                problems.append(Problem(f"{where}: {name}", repr(row[name]), f"a number > {low:g}"))
        for name in ("name", "spec_source", "weight_source"):
            if not row[name]:
                problems.append(Problem(f"{where}: {name}", "empty", f"the model's {name}"))
    if problems:
        raise ImportFormatError(f"{MODELS_FILE}: bad model rows", problems=problems)
    return rows


def _synthetic_models(rows: list[dict[str, str]], v2g: bool) -> EvModels:
    chosen = [r for r in rows if not v2g or float(r["v2g_ac_kW"]) > 0]
    if not chosen:
        raise ImportFormatError(f"{MODELS_FILE}: no V2G model", field=f"{MODELS_FILE}:v2g_ac_kW", expected="one > 0")
    return EvModels(
        names=tuple(r["name"] for r in chosen),
        registrations=np.array([float(r["weight"]) for r in chosen]),
        battery_kWh=np.array([float(r["battery_kWh"]) for r in chosen]),
        ac_charge_kW=np.array([float(r["ac_charge_kW"]) for r in chosen]),
        ac_discharge_kW=np.array([float(r["v2g_ac_kW"]) if v2g else 0.0 for r in chosen]),
    )


@cache
def synthetic_stats() -> ElaadStats:
    """The package's own parametric charging statistics in the :class:`ElaadStats` layout (see the module text).

    Not the ElaadNL data: ``source`` says so, and every parameter is a row of ``synthetic_sessions.csv`` /
    ``synthetic_ev_models.csv`` with its source or the reason for the assumption."""
    p = session_parameters()
    weekday: dict[str, FloatArray] = {}
    weekend: dict[str, FloatArray] = {}
    conn: dict[str, FloatArray] = {}
    demand: dict[str, FloatArray] = {}
    mean_stay: dict[str, FloatArray] = {}
    mean_demand: dict[str, FloatArray] = {}
    conn_top = _param(p, "all", "all", "connection_max_h")[0.0]
    demand_top = _param(p, "all", "all", "demand_max_kWh")[0.0]
    probs = 1.0 - QUANTILES / 100.0
    for loc in LOCATIONS:
        weekday[loc] = _arrival_pct(_mixture(p, loc, "weekday", "arrival", "mean_h", "sd_h"))
        weekend[loc] = _arrival_pct(_mixture(p, loc, "weekend", "arrival", "mean_h", "sd_h"))
        conn[loc] = _lognormal_mixture_table(_mixture(p, loc, "all", "connection", "median_h", "sigma"), conn_top)
        mean = _param(p, loc, "all", "demand_mean_kWh")[0.0]
        shape = _param(p, loc, "all", "demand_shape")[0.0]
        if mean <= 0 or shape <= 0:
            raise ImportFormatError(
                f"{SESSIONS_FILE}: demand of {loc}", field=f"{SESSIONS_FILE}:demand", expected="mean and shape > 0"
            )
        quantiles = sps.gamma.ppf(np.clip(probs, 0.0, 1.0 - 1e-12), a=shape, scale=mean / shape)
        demand[loc] = _exceedance_table(np.asarray(quantiles, dtype=np.float64), demand_top)
        mean_stay[loc] = _knots(_param(p, loc, "all", "mean_stay_h"))
        mean_demand[loc] = _knots(_param(p, loc, "all", "mean_demand_kWh"))
    rows = ev_model_rows()
    return ElaadStats(
        arrival_weekday_pct=weekday,
        arrival_weekend_pct=weekend,
        connection_h=conn,
        demand_kWh=demand,
        mean_session_h=mean_stay,
        mean_demand_kWh=mean_demand,
        models=_synthetic_models(rows, v2g=False),
        v2g_models=_synthetic_models(rows, v2g=True),
        source=SYNTHETIC_SOURCE,
    )


def default_stats() -> ElaadStats:
    """The ElaadNL statistics of the shared data folder when present, else :func:`synthetic_stats`.

    ``source`` names the folder read or says "synthetic"."""
    folder = default_dir()
    return synthetic_stats() if folder is None else _cached_stats(folder, folder.stat().st_mtime)


@cache
def _cached_stats(folder: Path, mtime: float) -> ElaadStats:
    return load_stats(folder)


def is_synthetic(stats: ElaadStats) -> bool:
    """True when ``stats`` are the package's own parametric statistics, not the ElaadNL data."""
    return stats.source == SYNTHETIC_SOURCE


@dataclass(frozen=True)
class SampledFleet:
    """Sampled sessions with what was drawn for each (location, model, local arrival slot)."""

    sessions: FleetSessions
    location: NDArray[np.str_]
    model: NDArray[np.str_]
    arrival_slot: NDArray[np.int64]  # 15-minute slot of the local day, 0..95
    demand_drawn_kWh: FloatArray  # before the caps
    capped_by_stay: int
    capped_by_battery: int


def _slot_utc(day: date) -> NDArray[np.datetime64]:
    """UTC instant of each 15-minute wall-clock slot start of ``day`` in Europe/Amsterdam."""
    tz = ZoneInfo(LOCAL_TZ)
    out = np.empty(96, dtype="datetime64[s]")
    for k in range(96):  # 96 slots, not per EV
        local = datetime(day.year, day.month, day.day, k // 4, (k % 4) * 15, tzinfo=tz)
        out[k] = np.datetime64(local.astimezone(UTC).replace(tzinfo=None), "s")
    return out


def _quantile_draw(table: FloatArray, u: FloatArray) -> FloatArray:
    p = np.linspace(0.0, 100.0, len(table))
    return np.interp(u * 100.0, p, table)


def sample_sessions(
    n: int,
    day: date,
    *,
    seed: int = 0,
    mix: dict[str, float] | None = None,
    v2g: bool = False,
    stats: ElaadStats | None = None,
    charger_kW: dict[str, float] | None = None,
) -> SampledFleet:
    """Draw ``n`` sessions arriving on the local day ``day`` (see the module text for every step)."""
    if n < 1:
        raise ValidationError(f"{n} EVs", field="evs", expected="at least 1")
    st = stats if stats is not None else default_stats()
    d = defaults()
    if mix is None:
        mix = {loc: d[f"share_{loc}"] for loc in LOCATIONS}
    unknown = sorted(set(mix) - set(LOCATIONS))
    if unknown:
        raise ValidationError(f"unknown location {unknown[0]!r}", field="mix", expected="home, public, work")
    shares = np.array([float(mix.get(loc, 0.0)) for loc in LOCATIONS])
    if np.any(shares < 0) or shares.sum() <= 0:
        raise ValidationError("location shares must be >= 0 and not all 0", field="mix", expected="e.g. home=0.6")
    shares = shares / shares.sum()
    power = {loc: d[f"charger_kw_{loc}"] for loc in LOCATIONS} | (charger_kW or {})
    rng = np.random.default_rng(seed)
    loc_idx = rng.choice(len(LOCATIONS), size=n, p=shares)
    models = st.v2g_models if v2g else st.models
    model_idx = rng.choice(len(models.names), size=n, p=models.registrations / models.registrations.sum())
    weekend = day.weekday() >= 5
    arrival_tables = st.arrival_weekend_pct if weekend else st.arrival_weekday_pct
    slot = np.empty(n, dtype=np.int64)
    stay_h = np.empty(n)
    demand = np.empty(n)
    u_stay = rng.random(n)
    u_demand = rng.random(n)
    offset_min = rng.random(n) * 15.0
    for li, loc in enumerate(LOCATIONS):  # three locations, vectorised within each
        sel = np.flatnonzero(loc_idx == li)
        if len(sel) == 0:
            continue
        pct = arrival_tables[loc]
        slot[sel] = rng.choice(96, size=len(sel), p=pct / pct.sum())
        half = slot[sel] // 2
        scale_stay = st.mean_session_h[loc][half] / st.quantile_mean(st.connection_h, loc)
        scale_demand = st.mean_demand_kWh[loc][half] / st.quantile_mean(st.demand_kWh, loc)
        stay_h[sel] = _quantile_draw(st.connection_h[loc], u_stay[sel]) * np.where(
            np.isnan(scale_stay), 1.0, scale_stay
        )
        demand[sel] = _quantile_draw(st.demand_kWh[loc], u_demand[sel]) * np.where(
            np.isnan(scale_demand), 1.0, scale_demand
        )
    stay_s = np.maximum(np.round(stay_h * 3600.0), 60.0)
    stay_h = stay_s / 3600.0  # the stay as written (whole seconds), so the cap below holds exactly
    charger = np.array([power[loc] for loc in LOCATIONS])[loc_idx]
    max_charge = np.minimum(models.ac_charge_kW[model_idx], charger)
    max_discharge = np.minimum(models.ac_discharge_kW[model_idx], charger)
    battery = models.battery_kWh[model_idx]
    by_stay = max_charge * stay_h
    by_battery = battery * d["max_soc"] / d["charge_efficiency"]
    drawn = demand.copy()
    capped_stay = demand > by_stay
    demand = np.minimum(demand, by_stay)
    capped_battery = demand > by_battery
    demand = np.minimum(demand, by_battery)
    arrival = _slot_utc(day)[slot] + np.round(offset_min * 60.0).astype("timedelta64[s]")
    departure = arrival + stay_s.astype(np.int64).astype("timedelta64[s]")
    sessions = FleetSessions(
        arrival=arrival,
        departure=departure,
        energy_kWh=demand,
        max_charge_kW=max_charge,
        max_discharge_kW=max_discharge if v2g else np.zeros(n),
        battery_kWh=battery,
        soc_arrival_pct=np.full(n, np.nan),
    )
    return SampledFleet(
        sessions=sessions,
        location=np.asarray(LOCATIONS)[loc_idx],
        model=np.asarray(models.names)[model_idx],
        arrival_slot=slot,
        demand_drawn_kWh=drawn,
        capped_by_stay=int(capped_stay.sum()),
        capped_by_battery=int(capped_battery.sum()),
    )


def local_midnight_utc(day: date) -> datetime:
    """00:00 Europe/Amsterdam on ``day`` as an aware UTC datetime."""
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(LOCAL_TZ))
    return local.astimezone(UTC)


def horizon_end_utc(day: date, hours: float) -> datetime:
    return local_midnight_utc(day) + timedelta(hours=hours)
