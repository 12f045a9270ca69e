"""EV fleets: smart charging and vehicle-to-grid against day-ahead prices in one LP, and the fleet's flexibility.

Model (one LP on HiGHS, all EVs and steps together; step ``dt`` hours, price ``pi_t`` EUR/MWh). For EV ``i``
connected in step ``t`` for the fraction ``f_it`` of the step (arrival and departure need not lie on the grid):

- grid charge power ``0 <= p_it <= P_i f_it`` [kW]; with V2G also grid discharge power ``0 <= q_it <= D_i f_it``;
  no variable exists for a step in which the EV is not connected;
- battery energy ``e_it = e_i,t-1 + eta_c p_it dt - q_it dt / eta_d`` [kWh], starting from the arrival energy
  ``e0_i``, within ``[floor_i, cap_i max_soc]`` (``floor_i = min(e0_i, cap_i v2g_min_soc)``); without V2G the window
  reduces to one row per EV on the total charge;
- departure energy (hard): ``e_i,departure >= req_i = e0_i + eta_c E_i`` where ``E_i`` is the session energy
  [kWh at the charge point]; a ``req_i`` that no schedule can reach (charger power x connected time within the
  horizon, or the battery window) is clipped to the reachable maximum before the LP and reported per EV with the
  reason (:attr:`FleetResult.clipped`);
- optional site limit ``-S_t <= sum_i (p_it - q_it) <= S_t``;
- objective: ``sum_it pi_t dt / 1000 (p_it - q_it) + w dt / 1000 q_it`` (energy cost minus export revenue plus the
  battery-wear cost ``w`` EUR/MWh discharged).

"Dumb" charging, the baseline: every EV charges at full power from arrival until its energy is in.

Flexibility envelope (closed form per EV, no extra LP). For each EV the energy states it can be in at the start of
step ``k`` and still meet its departure energy form an interval ``[L_k, H_k]``: ``H_k`` is the highest state reachable
from arrival (full charge since arrival, capped at ``cap max_soc``), ``L_k`` the largest of the lowest reachable state
(full discharge since arrival, not below ``floor``) and the least state from which full charge still reaches
``req`` by departure. Both sets are intervals and the dynamics are step by step, so a step's energy change ranges over
``[max(-D f dt / eta_d, L_k+1 - H_k), min(eta_c P f dt, H_k+1 - L_k)]``, converted to grid power. The aggregate
envelope is the per-step sum: at each step, *separately*, ``envelope_upper_kW[t]`` is the largest aggregate power the
fleet can draw with every EV's departure energy still met (and ``lower`` the least, negative = export), exact for
that step alone without a site limit; it is an outer bound of the set of feasible aggregate profiles (a profile that
stays inside it at every step need not be feasible, because steps share each EV's energy). The cumulative energy
band ``[energy_band_low_kWh, energy_band_high_kWh]`` bounds the energy added to the EV batteries (battery side,
since the start, an EV counting with its last state after it left) at the end of each step.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from numpy.typing import NDArray

from batteryloop.energy.dispatch import new_highs
from batteryloop.errors import ImportFormatError, Problem, ValidationError, collect

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
DEFAULTS_CSV = Path(__file__).with_name("fleet_defaults.csv")
TOL_KWH = 1e-4
MAX_LISTED = 10

CLIP_REASONS = {
    "battery": "the energy does not fit in the battery window (capacity x max_soc above the arrival state)",
    "stay": "charger power x connected time is less than the energy",
    "horizon": "the stay runs past the end of the horizon and the power x time inside it is less than the energy",
    "outside": "the stay lies outside the horizon",
}


@cache
def defaults() -> dict[str, float]:
    """The model constants of ``fleet_defaults.csv`` (name -> value; the file gives units and sources)."""
    with DEFAULTS_CSV.open(newline="", encoding="utf-8") as fh:
        return {row["name"]: float(row["value"]) for row in csv.DictReader(fh)}


# ---------------------------------------------------------------------------------------------------------------------
# sessions


@dataclass(frozen=True)
class FleetSessions:
    """Charging sessions, one entry per EV (arrays of equal length). Times are UTC (``datetime64``, naive)."""

    arrival: NDArray[np.datetime64]
    departure: NDArray[np.datetime64]
    energy_kWh: FloatArray  # energy needed by departure, at the charge point
    max_charge_kW: FloatArray
    max_discharge_kW: FloatArray  # 0 = unidirectional
    battery_kWh: FloatArray
    soc_arrival_pct: FloatArray  # NaN = unknown

    def __len__(self) -> int:
        return len(self.energy_kWh)

    def validate(self, source: str = "sessions") -> None:
        """Raise a ValidationError listing every bad value (row and column), if any."""
        n = len(self)
        problems: list[Problem] = []
        for name in ("arrival", "departure", "max_charge_kW", "max_discharge_kW", "battery_kWh", "soc_arrival_pct"):
            if len(getattr(self, name)) != n:
                problems.append(Problem(f"{source}.{name}", f"{len(getattr(self, name))} values", f"{n} values"))
        collect(problems, f"{source}: arrays of different length")
        checks: list[tuple[str, NDArray[np.bool_], str]] = [
            ("departure", self.departure <= self.arrival, "a departure after the arrival"),
            ("energy_kWh", ~(np.isfinite(self.energy_kWh) & (self.energy_kWh >= 0)), "a number >= 0 (kWh)"),
            ("max_charge_kW", ~(np.isfinite(self.max_charge_kW) & (self.max_charge_kW > 0)), "a number > 0 (kW)"),
            (
                "max_discharge_kW",
                ~(np.isfinite(self.max_discharge_kW) & (self.max_discharge_kW >= 0)),
                "a number >= 0 (kW)",
            ),
            ("battery_kWh", ~(np.isfinite(self.battery_kWh) & (self.battery_kWh > 0)), "a number > 0 (kWh)"),
            (
                "soc_arrival_pct",
                ~(np.isnan(self.soc_arrival_pct) | ((self.soc_arrival_pct >= 0) & (self.soc_arrival_pct <= 100))),
                "0..100 (%) or empty",
            ),
        ]
        for name, bad, expected in checks:
            rows = np.flatnonzero(bad)
            for i in rows[:MAX_LISTED]:
                problems.append(Problem(f"{source}[{i}].{name}", f"{getattr(self, name)[i]!r} is not valid", expected))
            if len(rows) > MAX_LISTED:
                problems.append(Problem(f"{source}.{name}", f"{len(rows) - MAX_LISTED} more bad value(s)", expected))
        collect(problems, f"{source}: invalid sessions")


SESSION_COLUMNS = ("arrival", "departure", "energy_kWh", "max_charge_kW", "max_discharge_kW", "battery_kWh")


def _parse_time(text: str) -> np.datetime64 | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "s")


def read_sessions_csv(path: Path) -> FleetSessions:
    """Sessions from a CSV: ``arrival``, ``departure`` (ISO 8601; a time without offset is UTC), ``energy_kWh``,
    ``max_charge_kW``, ``max_discharge_kW`` (0 for unidirectional), ``battery_kWh`` and optionally
    ``soc_arrival_pct``. Every bad cell is reported with its line and column."""
    if not path.is_file():
        raise ImportFormatError(f"{path} does not exist", field=str(path), expected="a sessions CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFormatError(
            f"{path}: not a readable CSV ({type(exc).__name__})", field=str(path), expected="UTF-8 CSV"
        ) from exc
    if not rows:
        raise ImportFormatError(f"{path}: empty", field=path.name, expected="a header row and sessions")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in SESSION_COLUMNS if c not in header]
    if missing:
        raise ImportFormatError(
            f"{path.name}: missing column(s) {', '.join(missing)} (columns: {', '.join(header)})",
            field=f"{path.name}:header",
            expected=", ".join(SESSION_COLUMNS) + " [, soc_arrival_pct]",
        )
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    lines = [i + 2 for i, r in enumerate(rows[1:]) if any(cell.strip() for cell in r)]
    if not body:
        raise ImportFormatError(f"{path.name}: no sessions", field=path.name, expected="at least one row")
    n = len(body)
    col = {name: header.index(name) for name in header}
    problems: list[Problem] = []
    times: dict[str, NDArray[np.datetime64]] = {}
    for name in ("arrival", "departure"):
        values = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
        for k, row in enumerate(body):
            text = row[col[name]] if col[name] < len(row) else ""
            parsed = _parse_time(text)
            if parsed is None:
                problems.append(
                    Problem(
                        f"{path.name}:line {lines[k]}:{name}",
                        f"{text!r} is not a time",
                        "ISO 8601, e.g. 2024-06-12T18:30+02:00",
                    )
                )
            else:
                values[k] = parsed
        times[name] = values
    numbers: dict[str, FloatArray] = {}
    numeric = {
        "energy_kWh": (0.0, False, "a number >= 0 (kWh)"),
        "max_charge_kW": (0.0, True, "a number > 0 (kW)"),
        "max_discharge_kW": (0.0, False, "a number >= 0 (kW)"),
        "battery_kWh": (0.0, True, "a number > 0 (kWh)"),
        "soc_arrival_pct": (0.0, False, "0..100 (%) or empty"),
    }
    for name, (low, strict, expected) in numeric.items():
        values = np.full(n, np.nan)
        if name not in col:
            numbers[name] = values
            continue
        for k, row in enumerate(body):
            text = (row[col[name]] if col[name] < len(row) else "").strip()
            if name == "soc_arrival_pct" and text == "":
                continue
            try:
                v = float(text)
            except ValueError:
                v = float("nan")
            ok = np.isfinite(v) and (v > low if strict else v >= low)
            if name == "soc_arrival_pct":
                ok = ok and v <= 100.0
            if not ok:
                problems.append(Problem(f"{path.name}:line {lines[k]}:{name}", f"{text!r} is not valid", expected))
            values[k] = v
        numbers[name] = values
    for k in range(n):
        arrived, left = times["arrival"][k], times["departure"][k]
        if not np.isnat(arrived) and not np.isnat(left) and left <= arrived:
            problems.append(
                Problem(
                    f"{path.name}:line {lines[k]}:departure", "not after the arrival", "a departure after the arrival"
                )
            )
    if len(problems) > 3 * MAX_LISTED:
        extra = len(problems) - 3 * MAX_LISTED
        problems = [*problems[: 3 * MAX_LISTED], Problem(path.name, f"{extra} more problem(s)", None)]
    collect(problems, f"{path}: invalid sessions", ImportFormatError)
    return FleetSessions(
        arrival=times["arrival"],
        departure=times["departure"],
        energy_kWh=numbers["energy_kWh"],
        max_charge_kW=numbers["max_charge_kW"],
        max_discharge_kW=numbers["max_discharge_kW"],
        battery_kWh=numbers["battery_kWh"],
        soc_arrival_pct=numbers["soc_arrival_pct"],
    )


def write_sessions_csv(sessions: FleetSessions, path: Path) -> None:
    """Write sessions in the format :func:`read_sessions_csv` reads (times in UTC with ``Z``)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*SESSION_COLUMNS, "soc_arrival_pct"])
        for i in range(len(sessions)):
            soc = sessions.soc_arrival_pct[i]
            w.writerow(
                [
                    f"{sessions.arrival[i].astype('datetime64[s]')}Z",
                    f"{sessions.departure[i].astype('datetime64[s]')}Z",
                    f"{sessions.energy_kWh[i]:.6g}",
                    f"{sessions.max_charge_kW[i]:.6g}",
                    f"{sessions.max_discharge_kW[i]:.6g}",
                    f"{sessions.battery_kWh[i]:.6g}",
                    "" if np.isnan(soc) else f"{soc:.6g}",
                ]
            )


# ---------------------------------------------------------------------------------------------------------------------
# the layout: one entry per (EV, connected step)


@dataclass(frozen=True)
class FleetParameters:
    charge_efficiency: float
    discharge_efficiency: float
    v2g_min_soc: float
    max_soc: float
    departure_soc_if_unknown: float

    @classmethod
    def from_defaults(cls, **overrides: float | None) -> FleetParameters:
        d = defaults()
        values = {k: d[k] for k in cls.__dataclass_fields__} | {k: v for k, v in overrides.items() if v is not None}
        problems = [
            Problem(k, f"{v!r}", "0 < value <= 1")
            for k, v in values.items()
            if not (0.0 < v <= 1.0) and k != "v2g_min_soc"
        ]
        if not 0.0 <= values["v2g_min_soc"] <= 1.0:
            problems.append(Problem("v2g_min_soc", f"{values['v2g_min_soc']!r}", "0..1"))
        collect(problems, "invalid fleet parameters")
        return cls(**values)


@dataclass(frozen=True)
class _Layout:
    """Per EV (``n``) and per connected (EV, step) pair (``K``), pairs of one EV contiguous and in time order."""

    T: int
    dt_h: float
    ev: IntArray  # K
    step: IntArray  # K
    frac: FloatArray  # K, connected share of the step
    first: IntArray  # n, index of the EV's first pair (== last when it has none)
    last: IntArray  # n, one past its last pair
    p_max: FloatArray  # K, kW
    q_max: FloatArray  # K, kW
    e0: FloatArray  # n, kWh battery side
    floor: FloatArray
    e_max: FloatArray
    req: FloatArray  # n, departure energy after clipping
    req_asked: FloatArray
    reason: NDArray[np.str_]  # n, "" or a key of CLIP_REASONS
    eta_c: float
    eta_d: float

    @property
    def n(self) -> int:
        return len(self.e0)

    @property
    def K(self) -> int:
        return len(self.ev)


def horizon_grid(
    start: datetime, hours: float, step_minutes: int, departures: NDArray[np.datetime64]
) -> NDArray[np.datetime64]:
    """The interval starts [UTC, datetime64[us]] of a fleet run: from ``start`` for ``hours``, in steps of
    ``step_minutes``, cut at the first step boundary after the last departure when every EV has left before the end
    (at least one step)."""
    start64 = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "s")
    step_td = np.timedelta64(step_minutes * 60, "s")
    end64 = start64 + np.timedelta64(int(hours * 3600), "s")
    last = departures.astype("datetime64[s]").max() if len(departures) else start64
    if last < end64:
        end64 = start64 + ((last - start64 + step_td - np.timedelta64(1, "s")) // step_td) * step_td
    steps = max(1, int((end64 - start64) // step_td))
    grid: NDArray[np.datetime64] = start64.astype("datetime64[us]") + np.arange(steps) * step_td.astype(
        "timedelta64[us]"
    )
    return grid


def _sum_by(index: IntArray, weights: FloatArray, minlength: int) -> FloatArray:
    """Sum of ``weights`` per value of ``index`` (0..minlength-1)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=minlength), dtype=np.float64)


def _segment_cumsum(values: FloatArray, first: IntArray, ev: IntArray) -> FloatArray:
    """Inclusive cumulative sum of ``values`` within each EV's contiguous run of pairs."""
    cs = np.cumsum(values)
    base = np.concatenate(([0.0], cs))[first]
    return cs - base[ev]


def _layout(
    sessions: FleetSessions, start: np.datetime64, T: int, step_minutes: int, params: FleetParameters, v2g: bool
) -> _Layout:
    n = len(sessions)
    step_s = step_minutes * 60
    dt_h = step_minutes / 60.0
    t0 = start.astype("datetime64[s]")
    ta = (sessions.arrival.astype("datetime64[s]") - t0).astype(np.int64).astype(np.float64)
    td = (sessions.departure.astype("datetime64[s]") - t0).astype(np.int64).astype(np.float64)
    end = float(T * step_s)
    ta_c = np.clip(ta, 0.0, end)
    td_c = np.clip(td, 0.0, end)
    k_first = np.floor(ta_c / step_s).astype(np.int64)
    k_last = np.ceil(td_c / step_s).astype(np.int64)
    counts = np.maximum(k_last - k_first, 0)
    counts[td_c <= ta_c] = 0
    first = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    last = first + counts
    K = int(counts.sum())
    ev = np.repeat(np.arange(n, dtype=np.int64), counts)
    step = np.repeat(k_first, counts) + (np.arange(K, dtype=np.int64) - np.repeat(first, counts))
    lo = np.maximum(ta_c[ev], step * step_s)
    hi = np.minimum(td_c[ev], (step + 1) * step_s)
    frac = np.clip((hi - lo) / step_s, 0.0, 1.0)
    eta_c, eta_d = params.charge_efficiency, params.discharge_efficiency
    p_max = sessions.max_charge_kW[ev] * frac
    q_max = (sessions.max_discharge_kW[ev] * frac) if v2g else np.zeros(K)
    cap = sessions.battery_kWh
    e_max = cap * params.max_soc
    need = eta_c * sessions.energy_kWh
    known = ~np.isnan(sessions.soc_arrival_pct)
    e0 = np.where(
        known,
        np.minimum(cap * np.nan_to_num(sessions.soc_arrival_pct) / 100.0, e_max),
        np.clip(cap * params.departure_soc_if_unknown - need, 0.0, e_max),
    )
    floor = np.minimum(e0, cap * params.v2g_min_soc) if v2g else e0
    req_asked = e0 + need
    charge_in = eta_c * dt_h * _sum_by(ev, weights=p_max, minlength=n)
    reachable = np.minimum(e_max, e0 + charge_in)
    req = np.minimum(req_asked, reachable)
    short = req_asked - req > TOL_KWH
    reason = np.full(n, "", dtype="<U8")
    reason[short & (td > end)] = "horizon"
    reason[short & (td <= end)] = "stay"
    reason[short & (req_asked > e_max + TOL_KWH)] = "battery"
    reason[short & (counts == 0)] = "outside"
    return _Layout(
        T=T,
        dt_h=dt_h,
        ev=ev,
        step=step,
        frac=frac,
        first=first,
        last=last,
        p_max=p_max,
        q_max=q_max,
        e0=e0,
        floor=floor,
        e_max=e_max,
        req=req,
        req_asked=req_asked,
        reason=reason,
        eta_c=eta_c,
        eta_d=eta_d,
    )


# ---------------------------------------------------------------------------------------------------------------------
# the LP


@dataclass(frozen=True)
class FleetLP:
    """The LP in HiGHS form: minimise ``cost @ x`` s.t. ``row_lo <= A x <= row_up``, ``col_lo <= x <= col_up``."""

    cost: FloatArray
    col_lo: FloatArray
    col_up: FloatArray
    A: sp.csc_matrix
    row_lo: FloatArray
    row_up: FloatArray
    v2g: bool
    site_limited: bool = False

    @property
    def n_variables(self) -> int:
        return len(self.cost)

    @property
    def n_constraints(self) -> int:
        return len(self.row_lo)

    @property
    def n_nonzeros(self) -> int:
        return int(self.A.nnz)


def _site_bounds(site_limit_kW: float | FloatArray | None, T: int) -> FloatArray | None:
    if site_limit_kW is None:
        return None
    limit = np.broadcast_to(np.asarray(site_limit_kW, dtype=np.float64), (T,)).copy()
    if np.any(~np.isfinite(limit) | (limit < 0)):
        raise ValidationError("site limit must be >= 0 kW", field="site_limit_kW", expected="a number >= 0 (kW)")
    return limit


def _build(lay: _Layout, prices: FloatArray, v2g: bool, site: FloatArray | None, wear_eur_per_MWh: float) -> FleetLP:
    K, n, T, dt = lay.K, lay.n, lay.T, lay.dt_h
    price_k = prices[lay.step] * dt / 1000.0  # EUR per kW over the step
    pairs = np.arange(K, dtype=np.int64)
    if not v2g:
        # columns: p (K); rows: one per EV (total battery energy), then the site rows
        cost = price_k
        col_lo, col_up = np.zeros(K), lay.p_max
        rows = [lay.ev]
        cols = [pairs]
        vals = [np.full(K, lay.eta_c * dt)]
        row_lo = [lay.req - lay.e0]
        row_up = [lay.e_max - lay.e0]
        n_rows = n
        if site is not None:
            rows.append(n + lay.step)
            cols.append(pairs)
            vals.append(np.ones(K))
            row_lo.append(np.full(T, -np.inf))
            row_up.append(site)
            n_rows += T
    else:
        # columns: e (0..K, battery energy at the end of each pair), q (K..2K); the grid charge power is implied,
        # p_k = (e_k - e_k-1 + dt q_k / eta_d) / (eta_c dt), and bounded by a ranged row per pair (fewer columns and
        # nonzeros than separate p, q and e columns, and fewer simplex iterations: 310k against 449k)
        eta_c, eta_d = lay.eta_c, lay.eta_d
        has = lay.last > lay.first
        not_first = np.ones(K, dtype=bool)
        not_first[lay.first[has]] = False
        prev = pairs[not_first]
        firsts = lay.first[has]
        cost_e = price_k / (eta_c * dt)
        cost_e[prev - 1] -= price_k[prev] / (eta_c * dt)
        cost_q = price_k / (eta_c * eta_d) - price_k + wear_eur_per_MWh * dt / 1000.0
        cost = np.concatenate([cost_e, cost_q])
        e_lo = lay.floor[lay.ev].copy()
        last_pair = lay.last[has] - 1
        e_lo[last_pair] = np.maximum(e_lo[last_pair], lay.req[has])
        col_lo = np.concatenate([e_lo, np.zeros(K)])
        col_up = np.concatenate([lay.e_max[lay.ev], lay.q_max])
        rows = [pairs, prev, pairs]
        cols = [pairs, prev - 1, K + pairs]
        vals = [np.ones(K), -np.ones(len(prev)), np.full(K, dt / eta_d)]
        base = np.zeros(K)
        base[firsts] = lay.e0[has]
        row_lo = [base]
        row_up = [base + eta_c * dt * lay.p_max]
        n_rows = K
        if site is not None:
            # sum_k (p_k - q_k) = sum_k (e_k - e_k-1) / (eta_c dt) + q_k (1 / (eta_c eta_d) - 1); e0 moves to the bounds
            g = 1.0 / (eta_c * dt)
            rows += [K + lay.step, K + lay.step[prev], K + lay.step]
            cols += [pairs, prev - 1, K + pairs]
            vals += [np.full(K, g), np.full(len(prev), -g), np.full(K, 1.0 / (eta_c * eta_d) - 1.0)]
            shift = _sum_by(lay.step[firsts], weights=lay.e0[has] * g, minlength=T)
            row_lo.append(-site + shift)
            row_up.append(site + shift)
            n_rows += T
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, len(cost)))
    return FleetLP(
        cost=np.ascontiguousarray(cost, dtype=np.float64),
        col_lo=np.ascontiguousarray(col_lo, dtype=np.float64),
        col_up=np.ascontiguousarray(col_up, dtype=np.float64),
        A=A,
        row_lo=np.concatenate(row_lo).astype(np.float64),
        row_up=np.concatenate(row_up).astype(np.float64),
        v2g=v2g,
        site_limited=site is not None,
    )


_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
}


def solve_lp(lp: FleetLP, solver: str = "auto") -> tuple[str, FloatArray]:
    """Solve with HiGHS; the status and the columns (empty unless optimal).

    ``solver``: simplex, ipm, or auto: dual simplex without a site limit, interior point (with crossover) with one;
    measured on 1,000 V2G EVs with a binding site limit, the simplex took 42 s and the interior point 10 s.
    """
    if solver == "auto":
        solver = "ipm" if lp.site_limited else "simplex"
    highs = new_highs(solver)  # quiet: no banner on stdout before the options apply
    if not lp.site_limited:
        # Dantzig pricing: on the uncoupled per-EV chains its cheaper iterations win over steepest edge (10,000 V2G
        # EVs, p/q/e form: 34 s -> 24 s); with the coupling site rows it stalls, so HiGHS's default is kept there
        highs.setOptionValue("simplex_dual_edge_weight_strategy", 0)
    A = lp.A
    highs.passModel(
        lp.n_variables,
        lp.n_constraints,
        lp.n_nonzeros,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        lp.cost,
        lp.col_lo,
        lp.col_up,
        lp.row_lo,
        lp.row_up,
        A.indptr.astype(np.int32),
        A.indices.astype(np.int32),
        A.data.astype(np.float64),
        np.zeros(lp.n_variables, dtype=np.int32),
    )
    highs.run()
    status = _STATUS.get(highs.getModelStatus(), "error")
    if status != "optimal":
        return status, np.zeros(0)
    return status, np.asarray(highs.getSolution().col_value, dtype=np.float64)


def _v2g_powers(lay: _Layout, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Grid charge and discharge power per pair [kW] from the V2G columns (energy states, discharge)."""
    K = lay.K
    e, q = x[:K], np.clip(x[K : 2 * K], 0.0, None)
    e_prev = np.empty(K)
    e_prev[1:] = e[:-1]
    has = lay.last > lay.first
    e_prev[lay.first[has]] = lay.e0[has]
    p = (e - e_prev + lay.dt_h * q / lay.eta_d) / (lay.eta_c * lay.dt_h)
    return np.clip(p, 0.0, None), q


# ---------------------------------------------------------------------------------------------------------------------
# baseline and envelope


def _dumb(lay: _Layout) -> FloatArray:
    """Grid charge power per pair [kW] of full-power charging from arrival until the departure energy is in."""
    need_grid = (lay.req - lay.e0) / lay.eta_c  # kWh at the charge point
    step_kWh = lay.p_max * lay.dt_h
    after = _segment_cumsum(step_kWh, lay.first, lay.ev)
    before = after - step_kWh
    got = np.clip(need_grid[lay.ev] - before, 0.0, step_kWh)
    return np.divide(got, lay.dt_h)


def _grid_power(delta_kWh: FloatArray, lay: _Layout) -> FloatArray:
    return np.where(delta_kWh >= 0, delta_kWh / (lay.eta_c * lay.dt_h), delta_kWh * lay.eta_d / lay.dt_h)


@dataclass(frozen=True)
class Envelope:
    lower_kW: FloatArray  # T
    upper_kW: FloatArray
    band_low_kWh: FloatArray  # T, at the end of each step
    band_high_kWh: FloatArray


def _envelope(lay: _Layout) -> Envelope:
    K, T, n = lay.K, lay.T, lay.n
    up_kWh = lay.eta_c * lay.dt_h * lay.p_max
    down_kWh = lay.dt_h * lay.q_max / lay.eta_d
    cum_up = _segment_cumsum(up_kWh, lay.first, lay.ev)  # through the end of pair k
    cum_down = _segment_cumsum(down_kWh, lay.first, lay.ev)
    total_up = _sum_by(lay.ev, weights=up_kWh, minlength=n)
    e0, ev = lay.e0[lay.ev], lay.ev
    # states at the end of pair k (boundary k+1) and at its start (boundary k)
    hi_end = np.minimum(lay.e_max[ev], e0 + cum_up)
    hi_start = np.minimum(lay.e_max[ev], e0 + cum_up - up_kWh)
    low_end = np.maximum(lay.floor[ev], e0 - cum_down)
    low_start = np.maximum(lay.floor[ev], e0 - (cum_down - down_kWh))
    need_end = lay.req[ev] - (total_up[ev] - cum_up)
    need_start = lay.req[ev] - (total_up[ev] - cum_up + up_kWh)
    L_end, L_start = np.maximum(low_end, need_end), np.maximum(low_start, need_start)
    d_max = np.minimum(up_kWh, hi_end - L_start)
    d_min = np.maximum(-down_kWh, L_end - hi_start)
    upper = _sum_by(lay.step, weights=_grid_power(d_max, lay), minlength=T)
    lower = _sum_by(lay.step, weights=_grid_power(d_min, lay), minlength=T)
    band_low = _held(L_end - e0, lay)
    band_high = _held(hi_end - e0, lay)
    del K
    return Envelope(lower, upper, band_low, band_high)


def _held(value: FloatArray, lay: _Layout) -> FloatArray:
    """Per step, the sum over EVs of ``value`` at that EV's latest pair at or before the step (0 before arrival)."""
    prev = np.concatenate(([0.0], value[:-1]))
    inc = value - prev
    inc[lay.first[lay.last > lay.first]] = value[lay.first[lay.last > lay.first]]
    return np.cumsum(_sum_by(lay.step, weights=inc, minlength=lay.T))


# ---------------------------------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class ClippedEV:
    ev: int
    requested_kWh: float  # at the charge point
    guaranteed_kWh: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ev": self.ev,
            "requested_kWh": round(self.requested_kWh, 6),
            "guaranteed_kWh": round(self.guaranteed_kWh, 6),
            "reason": self.reason,
            "why": CLIP_REASONS[self.reason],
        }


@dataclass(frozen=True)
class FleetResult:
    """Schedule (per step, aggregate), per-EV energy, costs and the fleet's flexibility."""

    status: str
    v2g: bool
    timestamps: NDArray[np.datetime64]  # T, UTC step starts
    price_eur_per_MWh: FloatArray
    charge_kW: FloatArray  # T aggregate grid charge
    discharge_kW: FloatArray  # T aggregate grid discharge (V2G export)
    cost_eur: FloatArray  # T energy cost (charge cost minus export revenue)
    dumb_charge_kW: FloatArray
    dumb_cost_eur: FloatArray
    envelope: Envelope
    charged_kWh: FloatArray  # n, at the charge point
    discharged_kWh: FloatArray  # n
    requested_kWh: FloatArray  # n, the session energy asked
    guaranteed_kWh: FloatArray  # n, after clipping (net battery energy / charge efficiency)
    clipped: list[ClippedEV]
    energy_cost_eur: float
    wear_cost_eur: float
    dumb_energy_cost_eur: float
    saving_eur: float  # dumb cost - (energy cost + wear cost)
    v2g_discharged_kWh: float
    simultaneous_steps: int  # (EV, step) pairs charging and discharging at once
    n_evs: int
    n_variables: int
    n_constraints: int
    n_nonzeros: int
    build_s: float
    solve_s: float
    envelope_s: float
    message: str = ""
    steps_minutes: int = 15
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def net_kW(self) -> FloatArray:
        return self.charge_kW - self.discharge_kW

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "v2g": self.v2g,
            "evs": self.n_evs,
            "steps": len(self.timestamps),
            "step_minutes": self.steps_minutes,
            "start_utc": f"{self.timestamps[0].astype('datetime64[s]')}Z" if len(self.timestamps) else None,
            "energy_cost_eur": round(self.energy_cost_eur, 4),
            "wear_cost_eur": round(self.wear_cost_eur, 4),
            "dumb_energy_cost_eur": round(self.dumb_energy_cost_eur, 4),
            "saving_eur": round(self.saving_eur, 4),
            "saving_pct": round(100.0 * self.saving_eur / self.dumb_energy_cost_eur, 3)
            if self.dumb_energy_cost_eur
            else None,
            "charged_kWh": round(float(self.charged_kWh.sum()), 4),
            "v2g_discharged_kWh": round(self.v2g_discharged_kWh, 4),
            "requested_kWh": round(float(self.requested_kWh.sum()), 4),
            "guaranteed_kWh": round(float(self.guaranteed_kWh.sum()), 4),
            "clipped_evs": len(self.clipped),
            "clipped": [c.as_dict() for c in self.clipped[:MAX_LISTED]],
            "simultaneous_charge_discharge": self.simultaneous_steps,
            "peak_kW": round(float(self.charge_kW.max(initial=0.0)), 3),
            "dumb_peak_kW": round(float(self.dumb_charge_kW.max(initial=0.0)), 3),
            "envelope_max_kW": round(float(self.envelope.upper_kW.max(initial=0.0)), 3),
            "envelope_min_kW": round(float(self.envelope.lower_kW.min(initial=0.0)), 3),
            "variables": self.n_variables,
            "constraints": self.n_constraints,
            "nonzeros": self.n_nonzeros,
            "build_s": round(self.build_s, 4),
            "solve_s": round(self.solve_s, 4),
            "envelope_s": round(self.envelope_s, 4),
            "message": self.message,
        } | self.extra

    def schedule_rows(self) -> list[dict[str, Any]]:
        """One row per step for a schedule CSV."""
        return [
            {
                "timestamp_utc": f"{self.timestamps[t].astype('datetime64[s]')}Z",
                "price_eur_per_MWh": float(self.price_eur_per_MWh[t]),
                "charge_kW": float(self.charge_kW[t]),
                "discharge_kW": float(self.discharge_kW[t]),
                "cost_eur": float(self.cost_eur[t]),
                "dumb_charge_kW": float(self.dumb_charge_kW[t]),
                "dumb_cost_eur": float(self.dumb_cost_eur[t]),
                "envelope_lower_kW": float(self.envelope.lower_kW[t]),
                "envelope_upper_kW": float(self.envelope.upper_kW[t]),
                "energy_band_low_kWh": float(self.envelope.band_low_kWh[t]),
                "energy_band_high_kWh": float(self.envelope.band_high_kWh[t]),
            }
            for t in range(len(self.timestamps))
        ]


def optimise_fleet(
    sessions: FleetSessions,
    prices_eur_per_MWh: FloatArray,
    start: np.datetime64 | datetime,
    *,
    step_minutes: int = 15,
    v2g: bool = False,
    site_limit_kW: float | FloatArray | None = None,
    wear_cost_eur_per_MWh: float = 0.0,
    params: FleetParameters | None = None,
    solver: str = "auto",
) -> FleetResult:
    """Schedule every EV's charging (and with ``v2g`` discharging) against ``prices_eur_per_MWh`` (one price per step
    from ``start``, UTC) in one LP; compare with dumb charging; compute the flexibility envelope."""
    prices = np.asarray(prices_eur_per_MWh, dtype=np.float64)
    T = len(prices)
    if T == 0:
        raise ValidationError("no price steps", field="prices", expected="one price per step")
    bad = np.flatnonzero(~np.isfinite(prices))
    if len(bad):
        raise ValidationError(
            f"{len(bad)} step(s) without a price, the first is step {int(bad[0])}",
            field=f"prices[{int(bad[0])}]",
            expected="a finite EUR/MWh price for every step",
        )
    if step_minutes <= 0:
        raise ValidationError(f"{step_minutes}", field="step_minutes", expected="> 0")
    if not np.isfinite(wear_cost_eur_per_MWh) or wear_cost_eur_per_MWh < 0:
        raise ValidationError(
            f"{wear_cost_eur_per_MWh}", field="wear_cost_eur_per_MWh", expected="a number >= 0 (EUR/MWh)"
        )
    sessions.validate()
    if isinstance(start, datetime):
        moment = start.astimezone(UTC).replace(tzinfo=None) if start.tzinfo else start
        start64 = np.datetime64(moment, "s")
    else:
        start64 = start.astype("datetime64[s]")
    p = params if params is not None else FleetParameters.from_defaults()
    site = _site_bounds(site_limit_kW, T)
    t_build = time.perf_counter()
    lay = _layout(sessions, start64, T, step_minutes, p, v2g)
    lp = _build(lay, prices, v2g, site, wear_cost_eur_per_MWh)
    build_s = time.perf_counter() - t_build
    t_solve = time.perf_counter()
    status, x = solve_lp(lp, solver)
    solve_s = time.perf_counter() - t_solve
    t_env = time.perf_counter()
    env = _envelope(lay)
    envelope_s = time.perf_counter() - t_env
    K, n, dt = lay.K, lay.n, lay.dt_h
    dumb = _dumb(lay)
    dumb_kW = _sum_by(lay.step, weights=dumb, minlength=T)
    dumb_cost = dumb_kW * dt * prices / 1000.0
    message = ""
    if status == "optimal" and v2g:
        pk, qk = _v2g_powers(lay, x)
    elif status == "optimal":
        pk, qk = np.clip(x[:K], 0.0, None), np.zeros(K)
    else:
        pk = qk = np.zeros(K)
        message = (
            "no schedule meets every departure energy within the site limit; raise the limit or lower the demands"
            if site is not None and status == "infeasible"
            else f"HiGHS ended with status {status}"
        )
    charge_kW = _sum_by(lay.step, weights=pk, minlength=T)
    discharge_kW = _sum_by(lay.step, weights=qk, minlength=T)
    cost = (charge_kW - discharge_kW) * dt * prices / 1000.0
    charged = _sum_by(lay.ev, weights=pk * dt, minlength=n)
    discharged = _sum_by(lay.ev, weights=qk * dt, minlength=n)
    requested = sessions.energy_kWh.astype(np.float64)
    guaranteed = (lay.req - lay.e0) / lay.eta_c
    clipped_idx = np.flatnonzero(lay.reason != "")
    clipped = [ClippedEV(int(i), float(requested[i]), float(guaranteed[i]), str(lay.reason[i])) for i in clipped_idx]
    wear = float(discharged.sum()) * wear_cost_eur_per_MWh / 1000.0
    energy_cost = float(cost.sum())
    dumb_total = float(dumb_cost.sum())
    timestamps = start64.astype("datetime64[s]") + np.arange(T) * np.timedelta64(step_minutes * 60, "s")
    return FleetResult(
        status=status,
        v2g=v2g,
        timestamps=timestamps,
        price_eur_per_MWh=prices,
        charge_kW=charge_kW,
        discharge_kW=discharge_kW,
        cost_eur=cost,
        dumb_charge_kW=dumb_kW,
        dumb_cost_eur=dumb_cost,
        envelope=env,
        charged_kWh=charged,
        discharged_kWh=discharged,
        requested_kWh=requested,
        guaranteed_kWh=guaranteed,
        clipped=clipped,
        energy_cost_eur=energy_cost,
        wear_cost_eur=wear,
        dumb_energy_cost_eur=dumb_total,
        saving_eur=dumb_total - energy_cost - wear if status == "optimal" else float("nan"),
        v2g_discharged_kWh=float(discharged.sum()),
        simultaneous_steps=int(np.sum((pk > 1e-6) & (qk > 1e-6))),
        n_evs=n,
        n_variables=lp.n_variables,
        n_constraints=lp.n_constraints,
        n_nonzeros=lp.n_nonzeros,
        build_s=build_s,
        solve_s=solve_s,
        envelope_s=envelope_s,
        message=message,
        steps_minutes=step_minutes,
    )


def build_lp(
    sessions: FleetSessions,
    prices_eur_per_MWh: FloatArray,
    start: np.datetime64,
    *,
    step_minutes: int = 15,
    v2g: bool = False,
    site_limit_kW: float | None = None,
    wear_cost_eur_per_MWh: float = 0.0,
) -> FleetLP:
    """The LP :func:`optimise_fleet` solves, for solving it elsewhere (e.g. a baseline solver in a benchmark)."""
    prices = np.asarray(prices_eur_per_MWh, dtype=np.float64)
    lay = _layout(
        sessions, start.astype("datetime64[s]"), len(prices), step_minutes, FleetParameters.from_defaults(), v2g
    )
    return _build(lay, prices, v2g, _site_bounds(site_limit_kW, len(prices)), wear_cost_eur_per_MWh)


# ---------------------------------------------------------------------------------------------------------------------
# per-EV plans: the same LP, read per EV and step (for managers that send each EV its own limits)


@dataclass(frozen=True)
class PerEvPlan:
    """The fleet LP's schedule per (EV, connected step) pair, for a manager that sends each EV its own limits.

    Pairs of one EV are contiguous and in time order (as in the LP). Powers are step averages at the charge point
    [kW], positive charge; an EV connected for part of a step (``frac`` < 1) draws ``power_kW / frac`` while present.
    """

    status: str  # optimal, infeasible, unbounded, error (then the powers are zero)
    ev: IntArray  # per pair: the EV (index into the sessions)
    step: IntArray  # per pair: the step from the plan start
    frac: FloatArray  # per pair: connected share of the step
    charge_kW: FloatArray  # per pair, >= 0, at most the EV's charge power x frac
    discharge_kW: FloatArray  # per pair, >= 0, at most the EV's discharge power x frac (0 without V2G)
    guaranteed_kWh: FloatArray  # per EV: energy at the charge point the schedule delivers by departure
    reason: NDArray[np.str_]  # per EV: "" or a key of CLIP_REASONS (why it gets less than it asked)
    n_steps: int

    @property
    def power_kW(self) -> FloatArray:
        """Net power per pair [kW]: charge minus discharge (step average)."""
        return self.charge_kW - self.discharge_kW

    def site_kW(self) -> FloatArray:
        """Net fleet power per step [kW] (the sum the site limit bounds)."""
        return _sum_by(self.step, weights=self.power_kW, minlength=self.n_steps)


def plan_per_ev(
    sessions: FleetSessions,
    prices_eur_per_MWh: FloatArray,
    start: np.datetime64,
    *,
    step_minutes: int,
    v2g: bool,
    site_limit_kW: float | FloatArray | None = None,
    wear_cost_eur_per_MWh: float = 0.0,
    params: FleetParameters | None = None,
    solver: str = "auto",
) -> PerEvPlan:
    """Solve the fleet LP of :func:`optimise_fleet` and return each EV's schedule instead of the aggregate.

    Parameters
    ----------
    sessions : FleetSessions
        The EVs: arrival and departure (UTC), energy [kWh at the charge point], charge and discharge power [kW].
    prices_eur_per_MWh : ndarray
        One price per step from ``start``; its length is the horizon. [EUR/MWh]
    start : numpy.datetime64
        The start of step 0 (UTC).
    step_minutes : int
        Step length. [min]
    v2g : bool
        Plan discharging too (the EVs' ``max_discharge_kW``).
    site_limit_kW : float or ndarray, optional
        Bound on the fleet's net power per step (a number for every step, or one per step), both directions. [kW]
    wear_cost_eur_per_MWh : float
        Battery-wear cost per MWh discharged. [EUR/MWh]
    params : FleetParameters, optional
        Efficiencies and state-of-charge window; ``fleet_defaults.csv`` when omitted.
    solver : str
        ``auto``, ``simplex`` or ``ipm`` (see :func:`solve_lp`).

    The same layout, LP and solve as :func:`optimise_fleet` (no dumb baseline, no envelope), so a manager built on it
    plans what the fleet optimisation plans.
    """
    prices = np.asarray(prices_eur_per_MWh, dtype=np.float64)
    T = len(prices)
    if T == 0:
        raise ValidationError("no price steps", field="prices", expected="one price per step")
    if step_minutes <= 0:
        raise ValidationError(f"{step_minutes}", field="step_minutes", expected="> 0")
    p = params if params is not None else FleetParameters.from_defaults()
    lay = _layout(sessions, start.astype("datetime64[s]"), T, step_minutes, p, v2g)
    lp = _build(lay, prices, v2g, _site_bounds(site_limit_kW, T), wear_cost_eur_per_MWh)
    status, x = solve_lp(lp, solver)
    K = lay.K
    if status == "optimal" and v2g:
        pk, qk = _v2g_powers(lay, x)
    elif status == "optimal":
        pk, qk = np.clip(x[:K], 0.0, None), np.zeros(K)
    else:
        pk = qk = np.zeros(K)
    return PerEvPlan(
        status=status,
        ev=lay.ev,
        step=lay.step,
        frac=lay.frac,
        charge_kW=np.minimum(pk, lay.p_max),
        discharge_kW=np.minimum(qk, lay.q_max),
        guaranteed_kWh=(lay.req - lay.e0) / lay.eta_c,
        reason=lay.reason,
        n_steps=T,
    )
