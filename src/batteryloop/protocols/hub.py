"""Plan a charging hub: per-EV power limits from the energy package's fleet LP, safe at every instant.

A charging-station management system (:mod:`batteryloop.protocols.ocpp_csms`) keeps one :class:`EvNeed` per open
transaction and calls :func:`plan_hub` on every arrival, departure and price signal. The plan runs on the fixed grid of
``step_minutes`` since 1970 UTC (the market's quarter-hours, so re-plans keep the same steps), from the event
(``start``) on: step 0 runs from the start to the next grid boundary. It is the LP of :mod:`batteryloop.energy.fleet`
(one LP for all EVs, smart charging and, for bidirectional stations, vehicle-to-grid, with the hub's connection limit
as the site limit), read per EV and per step instead of in aggregate (:func:`batteryloop.energy.fleet.plan_per_ev`).

Why the limits hold at every instant, not only on average per step (the tests check the applied power, not the plan):

- every EV is present from the plan start (the plan is made at the event), so no step starts before an arrival; in
  step 0 every EV is present for the same share ``f0`` of the step, so the LP's limit on the step average is
  ``f0 x limit`` and the power sent is the average / ``f0``;
- a departure inside a step would make the LP's step average differ from the power while the EV is present, so each
  EV's stay in the LP ends at the last grid boundary before it leaves; the rest (the *tail*, less than one step) is
  planned apart: an EV whose energy does not fit in its whole steps at full power gets the missing power reserved in
  its tail first (earliest departure first, taken off that step's limit before the LP), and any EV still short gets
  the headroom the others leave in its tail step (counted as if used for the whole step);
- limits are rounded towards zero to 0.1 W (OCPP 2.0.1 accepts one decimal on ``limit``) and a step whose sum is
  still above the limit after rounding (solver tolerance) is scaled down;
- stations that cannot be reached (link down) keep applying their last profile; their power is fixed load
  (``fixed_kW``) taken off the limit before the LP.

When no schedule meets every departure energy within the limit (the LP is infeasible), the hub falls back to
earliest-departure-first: each step the EVs that leave first charge at full power while the limit allows. The EVs left
short are reported with the reason ``site``; the LP's own clipping reasons (``stay``, ``battery``, ``horizon``, see
:data:`batteryloop.energy.fleet.CLIP_REASONS`) and ``tail`` (an EV that is short only because the hub had no headroom
in its last part-step) remain.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from batteryloop.energy import fleet
from batteryloop.errors import ValidationError

FloatArray = NDArray[np.float64]
DEFAULTS_CSV = Path(__file__).with_name("hub_defaults.csv")
REASONS = dict(fleet.CLIP_REASONS) | {
    "site": "the hub's connection limit leaves too little power before the departure (earliest-departure-first)",
    "tail": "less than one plan step is left before the departure; only the hub's headroom is given",
}


@cache
def defaults() -> dict[str, float]:
    """The constants of ``hub_defaults.csv`` (name -> value; the file gives units and sources)."""
    with DEFAULTS_CSV.open(newline="", encoding="utf-8") as fh:
        return {row["name"]: float(row["value"]) for row in csv.DictReader(fh)}


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is read as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class PriceSignal:
    """Prices [EUR/MWh] from each ``starts[k]`` (UTC) until the next; the last holds on, the first holds before."""

    starts: tuple[datetime, ...]
    eur_per_MWh: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.starts or len(self.starts) != len(self.eur_per_MWh):
            raise ValidationError(
                f"{len(self.starts)} start(s) and {len(self.eur_per_MWh)} price(s)",
                field="prices",
                expected="one price per start, at least one",
            )
        for k, value in enumerate(self.eur_per_MWh):
            if not np.isfinite(value):
                raise ValidationError(f"{value!r}", field=f"prices[{k}]", expected="a finite price (EUR/MWh)")
        for k in range(1, len(self.starts)):
            if utc(self.starts[k]) <= utc(self.starts[k - 1]):
                raise ValidationError(
                    f"{self.starts[k]} is not after {self.starts[k - 1]}", field=f"prices[{k}].start", expected="rising"
                )

    @classmethod
    def flat(cls, value: float) -> PriceSignal:
        return cls((datetime(2000, 1, 1, tzinfo=UTC),), (value,))

    def at(self, moments: list[datetime]) -> FloatArray:
        keys = np.array([utc(s).timestamp() for s in self.starts])
        idx = np.searchsorted(keys, np.array([utc(m).timestamp() for m in moments]), side="right") - 1
        return np.asarray(self.eur_per_MWh, dtype=np.float64)[np.clip(idx, 0, len(keys) - 1)]


class WindowedLimit(float):
    """A site limit [kW] that is ``float(self)`` outside the windows and ``kW`` inside each ``[start, end)`` (UTC):
    a grid operator's capacity limit for a time window (OpenADR 3 ``IMPORT_CAPACITY_LIMIT``) on top of the
    connection limit. It is a float (the connection limit; ``inf`` when there is none) so that a CSMS typed for a
    constant limit carries it unchanged; :func:`plan_hub` reads the windows per plan step, and a window that covers
    any part of a step bounds the whole step (the hub's power is constant within a step, so the bound holds at
    every instant of the window)."""

    windows: tuple[tuple[datetime, datetime, float], ...]

    def __new__(cls, base_kW: float | None, windows: list[tuple[datetime, datetime, float]]) -> WindowedLimit:
        base = float("inf") if base_kW is None else float(base_kW)
        if np.isnan(base) or base < 0:
            raise ValidationError(f"{base_kW}", field="site_limit_kW", expected="a number >= 0 (kW) or none")
        for k, (a, b, kW) in enumerate(windows):
            if utc(b) <= utc(a):
                raise ValidationError(f"{b} is not after {a}", field=f"windows[{k}].end", expected="after the start")
            if not np.isfinite(kW) or kW < 0:
                raise ValidationError(f"{kW}", field=f"windows[{k}].kW", expected="a number >= 0 (kW)")
        obj = super().__new__(cls, base)
        obj.windows = tuple((utc(a), utc(b), float(kW)) for a, b, kW in windows)
        return obj

    def per_step(self, start: datetime, grid0: datetime, step_s: int, T: int) -> FloatArray:
        """The limit [kW] of each of ``T`` plan steps (step 0 from ``start``, step k from ``grid0 + k step``)."""
        out = np.full(T, float(self))
        for a, b, kW in self.windows:
            for k in range(T):
                lo = start if k == 0 else grid0 + timedelta(seconds=k * step_s)
                hi = grid0 + timedelta(seconds=(k + 1) * step_s)
                if a < hi and b > lo:
                    out[k] = min(out[k], kW)
        return out


@dataclass(frozen=True)
class EvNeed:
    """What the hub knows of one connected EV at the plan start."""

    key: str  # transaction id
    departure: datetime  # expected, UTC
    energy_kWh: float  # still to deliver by departure, at the charge point (net of V2G export, see module text)
    max_charge_kW: float  # min(EVSE, EV)
    max_discharge_kW: float = 0.0  # 0 = unidirectional station or EV
    battery_kWh: float = float("nan")  # NaN = unknown: hub_defaults.csv default_battery_kWh
    soc_pct: float = float("nan")  # current state of charge when the EV reports it


@dataclass(frozen=True)
class EvPlan:
    """One EV's limits [kW] per grid step of the hub plan (step 0 runs from the plan start to the first grid
    boundary; positive charge, negative discharge), then ``tail_kW`` from ``tail_start`` until its departure."""

    key: str
    limits_kW: tuple[float, ...]
    tail_start: datetime | None
    tail_kW: float
    requested_kWh: float
    guaranteed_kWh: float
    reason: str  # "" or a key of REASONS

    def periods(self, plan: HubPlan) -> list[tuple[int, float]]:
        """(seconds from the plan start, limit [W]) with equal neighbours merged: an OCPP chargingSchedulePeriod
        list. After the planned steps and the tail the limit is 0 W."""
        raw: list[tuple[int, float]] = [(plan.offset_s(k), v * 1000.0) for k, v in enumerate(self.limits_kW)]
        if self.tail_start is not None:
            raw.append((round((self.tail_start - plan.start).total_seconds()), self.tail_kW * 1000.0))
        raw.append((plan.offset_s(len(self.limits_kW) + (1 if self.tail_start is not None else 0)), 0.0))
        out: list[tuple[int, float]] = []
        for offset, watts in raw:
            value = _toward_zero(watts)
            if out and out[-1][0] == offset:
                out[-1] = (offset, value)
                if len(out) > 1 and out[-2][1] == value:
                    out.pop()
            elif not out or out[-1][1] != value:
                out.append((offset, value))
        return out


def _toward_zero(watts: float) -> float:
    """Round to 0.1 W towards zero (OCPP 2.0.1 ``limit``: at most one digit fraction)."""
    tenths = watts * 10.0
    near = round(tenths)
    whole = near if abs(tenths - near) < 1e-6 else int(np.trunc(tenths))
    return whole / 10.0 + 0.0


@dataclass(frozen=True)
class HubPlan:
    start: datetime  # the event; step 0 runs from here to the first grid boundary
    grid_start: datetime  # the grid boundary at or before ``start`` (multiples of the step since 1970 UTC)
    step_minutes: int
    evs: dict[str, EvPlan]
    status: str  # optimal, fallback (earliest departure first), empty
    site_limit_kW: float | None
    net_kW: FloatArray  # planned hub power per step (sum of the EVs' limits, tails counted over their whole step)
    solve_s: float
    message: str = ""
    short: list[str] = field(default_factory=list)  # keys of EVs that will not get their energy

    @property
    def step_s(self) -> int:
        return self.step_minutes * 60

    def offset_s(self, k: int) -> int:
        """Seconds from ``start`` to the start of grid step ``k`` (0 for step 0)."""
        if k == 0:
            return 0
        return round((self.grid_start - self.start).total_seconds()) + k * self.step_s


def grid_floor(moment: datetime, step_s: int) -> datetime:
    """The grid boundary at or before ``moment`` (multiples of ``step_s`` since 1970-01-01 UTC: the market MTUs)."""
    ts = utc(moment).timestamp()
    return datetime.fromtimestamp(np.floor(ts / step_s) * step_s, tz=UTC)


def plan_hub(
    needs: list[EvNeed],
    prices: PriceSignal,
    start: datetime,
    *,
    site_limit_kW: float | None,
    step_minutes: int | None = None,
    fixed_kW: FloatArray | None = None,
    wear_cost_eur_per_MWh: float = 0.0,
) -> HubPlan:
    """Plan every EV in ``needs`` from ``start`` (see the module text). ``fixed_kW``: per grid step, power of stations
    the plan cannot change (unreachable), taken off the limit. ``site_limit_kW`` may be a :class:`WindowedLimit`
    (a lower limit in time windows)."""
    d = defaults()
    step = int(step_minutes if step_minutes is not None else d["step_minutes"])
    if step <= 0:
        raise ValidationError(f"{step}", field="step_minutes", expected="> 0")
    windowed = isinstance(site_limit_kW, WindowedLimit)  # validated when made; its base may be inf (no limit)
    if site_limit_kW is not None and not windowed and (not np.isfinite(site_limit_kW) or site_limit_kW < 0):
        raise ValidationError(f"{site_limit_kW}", field="site_limit_kW", expected="a number >= 0 (kW)")
    start = utc(start)
    step_s = step * 60
    t0 = time.perf_counter()
    grid0 = grid_floor(start, step_s)
    if not needs:
        return HubPlan(start, grid0, step, {}, "empty", site_limit_kW, np.zeros(0), 0.0)
    f0 = (grid0 + timedelta(seconds=step_s) - start).total_seconds() / step_s  # share of step 0 after the start
    dep_s = np.array([(utc(n.departure) - grid0).total_seconds() for n in needs])  # from the grid start
    lead_s = (start - grid0).total_seconds()
    dep_s = np.maximum(dep_s, lead_s)
    whole = np.floor(dep_s / step_s).astype(np.int64)  # grid steps that start before each departure...
    has_lp = (whole * step_s) > lead_s  # ...and end after the start: the EV is in the LP for steps 0..whole-1
    T = max(1, int(np.ceil(dep_s.max() / step_s)))
    moments = [grid0 + timedelta(seconds=k * step_s) for k in range(T)]
    price = prices.at(moments) + d["early_preference_eur_per_MWh_per_h"] * np.arange(T) * step / 60.0
    share = np.ones(T)
    share[0] = f0
    if isinstance(site_limit_kW, WindowedLimit):
        # steps outside every window and without a connection limit: a bound no schedule reaches
        never = sum(max(n.max_charge_kW, n.max_discharge_kW) for n in needs) + 1.0
        limit: FloatArray | None = np.minimum(site_limit_kW.per_step(start, grid0, step_s, T), never)
    else:
        limit = None if site_limit_kW is None else np.full(T, float(site_limit_kW))
    if limit is not None and fixed_kW is not None:
        fixed = np.zeros(T)
        m = min(T, len(fixed_kW))
        fixed[:m] = np.abs(fixed_kW[:m])
        limit = np.clip(limit - fixed, 0.0, None)
    v2g = any(n.max_discharge_kW > 0 for n in needs)
    in_lp = np.flatnonzero(has_lp)
    n_all = len(needs)
    inst = np.zeros((n_all, T))  # kW per EV and step while the step runs (step 0: after the start)
    requested = np.array([max(n.energy_kWh, 0.0) for n in needs])
    guaranteed = requested.copy()
    # tails first: an EV whose energy does not fit in its whole steps at full power gets the rest reserved in its
    # tail (earliest departure first, within the limit); the LP then plans the remainder
    tail_from = np.maximum(whole * step_s, lead_s)
    tail_h = np.where((dep_s > tail_from) & (whole < T), (dep_s - tail_from) / 3600.0, 0.0)
    reserved = np.zeros(n_all)
    room = limit.copy() if limit is not None else np.full(T, np.inf)
    for i in sorted(np.flatnonzero(tail_h > 0).tolist(), key=lambda j: dep_s[j]):
        k = int(whole[i])
        full_kWh = needs[i].max_charge_kW * float(share[:k].sum()) * step / 60.0 if has_lp[i] else 0.0
        want = max(0.0, requested[i] - full_kWh) / tail_h[i]
        reserved[i] = max(0.0, min(needs[i].max_charge_kW, want, float(room[k])))
        room[k] -= reserved[i]
    lp_energy = requested - reserved * tail_h
    if limit is not None:
        limit = np.clip(room, 0.0, None)
    reason = np.full(n_all, "", dtype="<U8")
    status = "optimal"
    message = ""
    params = fleet.FleetParameters.from_defaults()
    if len(in_lp):
        sessions = _sessions(needs, in_lp, start, grid0, whole, step_s, lp_energy)
        start64 = np.datetime64(grid0.replace(tzinfo=None), "s")
        # the LP's power is the step average; in step 0 every EV is present for the share f0 only, so the limit
        # on the average is f0 x the limit on the power while present
        site = None if limit is None else limit * share
        per_ev = fleet.plan_per_ev(
            sessions,
            price,
            start64,
            step_minutes=step,
            v2g=v2g,
            site_limit_kW=site,
            wear_cost_eur_per_MWh=wear_cost_eur_per_MWh,
            params=params,
        )
        if per_ev.status == "optimal":
            inst[in_lp[per_ev.ev], per_ev.step] = per_ev.power_kW / share[per_ev.step]
            guaranteed[in_lp] = per_ev.guaranteed_kWh + reserved[in_lp] * tail_h[in_lp]
            reason[in_lp] = per_ev.reason
        else:
            status = "fallback"
            message = (
                f"the fleet LP ended {per_ev.status}: no schedule meets every departure energy within "
                f"{site_limit_kW} kW; earliest departure first"
            )
            _edf(needs, in_lp, whole, lp_energy, limit, step_s, share, inst, guaranteed, reason)
            guaranteed[in_lp] += reserved[in_lp] * tail_h[in_lp]
    # tails: besides the reservation, the headroom the step leaves (a bonus for EVs that still want energy)
    if limit is not None:
        inst = _fit(inst, limit)
    tail_kW = reserved.copy()
    headroom = (limit if limit is not None else np.full(T, np.inf)) - inst.sum(axis=0)
    for i in sorted(np.flatnonzero(tail_h > 0).tolist(), key=lambda j: dep_s[j]):
        k = int(whole[i])
        got = float((np.clip(inst[i], 0.0, None) * share).sum()) * step / 60.0 + reserved[i] * tail_h[i]
        more = min(
            max(0.0, requested[i] - got) / tail_h[i], max(0.0, float(headroom[k])), needs[i].max_charge_kW - reserved[i]
        )
        tail_kW[i] += max(0.0, more)
        headroom[k] -= max(0.0, more)
    for i in np.flatnonzero(~has_lp).tolist():  # tail-only EVs
        guaranteed[i] = min(requested[i], tail_kW[i] * tail_h[i])
    for i in range(n_all):
        if not reason[i] and requested[i] - guaranteed[i] > fleet.TOL_KWH:
            stay_kWh = needs[i].max_charge_kW * max(0.0, dep_s[i] - lead_s) / 3600.0
            reason[i] = "stay" if stay_kWh < requested[i] - fleet.TOL_KWH else "site"
    plans: dict[str, EvPlan] = {}
    short: list[str] = []
    for i, n in enumerate(needs):
        k = int(whole[i]) if has_lp[i] else 0
        has_tail = bool(tail_h[i] > 0)
        plans[n.key] = EvPlan(
            key=n.key,
            limits_kW=tuple(float(v) for v in inst[i, :k]),
            tail_start=grid0 + timedelta(seconds=float(tail_from[i])) if has_tail else None,
            tail_kW=float(tail_kW[i]),
            requested_kWh=float(requested[i]),
            guaranteed_kWh=float(guaranteed[i]),
            reason=str(reason[i]),
        )
        if reason[i]:
            short.append(n.key)
    return HubPlan(
        start=start,
        grid_start=grid0,
        step_minutes=step,
        evs=plans,
        status=status,
        site_limit_kW=site_limit_kW,
        net_kW=inst.sum(axis=0),
        solve_s=time.perf_counter() - t0,
        message=message,
        short=short,
    )


def _sessions(
    needs: list[EvNeed],
    rows: NDArray[np.int64],
    start: datetime,
    grid0: datetime,
    whole: NDArray[np.int64],
    step_s: int,
    energy_kWh: FloatArray,
) -> fleet.FleetSessions:
    start64 = np.datetime64(start.replace(tzinfo=None), "s")
    grid64 = np.datetime64(grid0.replace(tzinfo=None), "s")
    sel = [needs[i] for i in rows]
    default_battery = defaults()["default_battery_kWh"]
    return fleet.FleetSessions(
        arrival=np.full(len(sel), start64),
        departure=grid64 + (whole[rows] * step_s).astype("timedelta64[s]"),
        energy_kWh=np.clip(energy_kWh[rows], 0.0, None),
        max_charge_kW=np.array([n.max_charge_kW for n in sel]),
        max_discharge_kW=np.array([n.max_discharge_kW for n in sel]),
        battery_kWh=np.array([n.battery_kWh if np.isfinite(n.battery_kWh) else default_battery for n in sel]),
        soc_arrival_pct=np.array([n.soc_pct for n in sel]),
    )


def _edf(
    needs: list[EvNeed],
    rows: NDArray[np.int64],
    whole: NDArray[np.int64],
    requested: FloatArray,
    limit: FloatArray | None,
    step_s: int,
    share: FloatArray,
    inst: FloatArray,
    guaranteed: FloatArray,
    reason: NDArray[np.str_],
) -> None:
    """Earliest departure first within the limit, at full power (the fallback when the LP is infeasible)."""
    left = requested.copy()
    order = sorted(rows.tolist(), key=lambda i: int(whole[i]))
    for t in range(inst.shape[1]):
        h = share[t] * step_s / 3600.0
        room = float(limit[t]) if limit is not None else np.inf
        for i in order:
            if t >= whole[i] or left[i] <= 0 or room <= 0:
                continue
            power = min(needs[i].max_charge_kW, left[i] / h, room)
            inst[i, t] = power
            left[i] -= power * h
            room -= power
    for i in order:
        guaranteed[i] = requested[i] - max(left[i], 0.0)
        if left[i] > fleet.TOL_KWH:
            reach = needs[i].max_charge_kW * float(share[: int(whole[i])].sum()) * step_s / 3600.0
            reason[i] = "stay" if reach < requested[i] - fleet.TOL_KWH else "site"


def _fit(net: FloatArray, limit: FloatArray) -> FloatArray:
    """Scale a step's charging (or discharging) down where the sum is above the limit after solver tolerance."""
    out = net.copy()
    total = out.sum(axis=0)
    for t in np.flatnonzero(np.abs(total) > limit):
        col = out[:, t]
        sign = 1.0 if total[t] > 0 else -1.0
        same = col * sign > 0
        excess = abs(total[t]) - limit[t]
        mass = float(np.abs(col[same]).sum())
        if mass > 0:
            col[same] *= max(0.0, 1.0 - (excess + 1e-6) / mass)
        out[:, t] = col
    return out
