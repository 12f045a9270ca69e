"""EV charging sessions drawn from the ElaadNL charging-behaviour statistics (aggregate distributions, no raw data).

The statistics are the ElaadNL public charts as shipped with ev2gym (MIT), copied to
``../shared/data/grid/elaadnl_ev_charging_stats/`` (see its SOURCE.md). What each file means and how it is used:

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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from numpy.typing import NDArray

from batteryloop.energy.fleet import FleetSessions, defaults
from batteryloop.errors import ImportFormatError, ValidationError

LOCATIONS = ("home", "public", "work")
_ARRIVAL_COLUMN = {"home": "private", "public": "public", "work": "workplace"}
_MEAN_COLUMN = {"home": "home", "public": "public", "work": "work"}
LOCAL_TZ = "Europe/Amsterdam"
DEFAULT_DIR = Path("../shared/data/grid/elaadnl_ev_charging_stats")

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


def load_stats(folder: Path = DEFAULT_DIR) -> ElaadStats:
    """Read the ElaadNL statistics and EV specifications from ``folder``."""
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
    st = stats if stats is not None else load_stats()
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
