"""The state-of-health parameters of Annex VII of Regulation (EU) 2023/1542, as pure functions of a time series.

Part A (state of health): remaining capacity and capacity fade (:mod:`batteryloop.health.capacity`), state of
certified energy and remaining energy (:func:`remaining_energy`), remaining power capability and power fade
(:func:`power_capability`), round-trip efficiency and its fade (:func:`round_trip_efficiency_groups`), self-discharge
and its evolution (:func:`self_discharge_rates`), ohmic resistance and its increase
(:mod:`batteryloop.health.resistance`). Part B (expected lifetime): date of putting into service
(:func:`putting_into_service`), energy and capacity throughput (:func:`throughput`), full equivalent cycles
(:func:`full_equivalent_cycles`), deep-discharge events (:func:`deep_discharge_events`), time in extreme
temperatures and time charging in extreme temperatures (:func:`temperature_exposure`).

Everything is vectorised over the samples (NumPy); loops run only over the few detected events or groups.

Definitions used where the regulation leaves them open:

* *Throughput* is what the battery delivered: discharged energy [kWh] and discharged charge [Ah]; what it took in is
  reported next to it. Full equivalent cycles are the discharged charge over the nominal capacity (one full cycle
  discharges the nominal capacity once).
* *Fades and increases* follow DIN DKE SPEC 99100 as quoted in the Battery Pass 1.2 data model:
  ``fade = (1 - X(now) / X(begin of life)) * 100 %`` for capacity, power and round-trip efficiency, and
  ``increase = (R(now) - R(begin of life)) / R(begin of life) * 100 %`` for the resistance.
* *Extreme temperatures* are those outside the chemistry's operating range, and for charging outside its charging
  range (``rules/chemistry.csv``).

References
----------
.. [1] Regulation (EU) 2023/1542, Annex VII Parts A and B; Annex IV Part A (definitions of fade and increase).
.. [2] DIN DKE SPEC 99100:2025-02, Requirements for data attributes of the battery passport, 6.7 (as quoted in the
   Battery Pass 1.2.0 PerformanceAndDurability data model).
.. [3] IEC 62660-1:2018, clause 7.2 (capacity and energy at 1/3 C for cells of battery electric vehicles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from batteryloop.health.capacity import Anchors, RestPeriods, window_voltage
from batteryloop.health.ocv import OcvTable
from batteryloop.health.series import BoolArray, FloatArray, TimeSeries

SECONDS_PER_MONTH = 30.4375 * 86400.0


# --- combining events: weighted value, optionally with a linear drift in time ------------------------------------


@dataclass(frozen=True)
class Trend:
    """A quantity combined over events: its value at ``at_s`` (the end of the events with a trend, else their
    weighted mean time) and, with a trend, at ``start_s`` (the first event) [s since the series start]."""

    value: float
    uncertainty: float
    at_s: float
    count: int
    outliers: int
    trend: bool
    start_value: float | None = None
    start_uncertainty: float | None = None
    start_s: float | None = None


def trend(
    time_s: FloatArray,
    values: FloatArray,
    weights: FloatArray,
    *,
    sigma_known: bool,
    min_span_s: float,
    min_count: int,
    outlier_sigma: float,
) -> Trend | None:
    """Weighted least squares of ``values`` on time: a constant, or a straight line when the events span
    ``min_span_s`` [s] and there are at least ``4 * min_count`` of them.

    With ``sigma_known`` the weights are ``1 / sigma^2`` and the uncertainty is scaled by the reduced chi-square
    where that exceeds one; otherwise the weights are relative and the scatter gives the uncertainty. Events whose
    normalised residual exceeds ``outlier_sigma`` are dropped, iteratively.
    """
    ok = np.isfinite(values) & np.isfinite(weights) & (weights > 0) & np.isfinite(time_s)
    t, y, w = time_s[ok], values[ok], weights[ok]
    if y.size < max(min_count, 1):
        return None
    t_end = float(t.max())
    day = 86400.0  # the drift is fitted per day: well-conditioned normal equations
    with_trend = bool((t.max() - t.min()) >= min_span_s and y.size >= 4 * min_count)
    use = np.ones(y.size, dtype=bool)
    outliers = 0
    for _ in range(6):
        tt, yy, ww = (t[use] - t_end) / day, y[use], w[use]
        x = np.column_stack([np.ones(tt.size)] + ([tt] if with_trend else []))
        a = (x.T * ww) @ x
        if tt.size <= x.shape[1] - 1 or np.linalg.cond(a) > 1e14:
            if with_trend:
                with_trend = False
                continue
            return None
        cov = np.linalg.inv(a)
        beta = cov @ ((x.T * ww) @ yy)
        dof = tt.size - x.shape[1]
        resid_all = y - np.column_stack([np.ones(t.size)] + ([(t - t_end) / day] if with_trend else [])) @ beta
        chi2 = float(np.sum(ww * (yy - x @ beta) ** 2) / dof) if dof > 0 else 1.0
        scale = np.sqrt(max(chi2, 1.0)) if sigma_known else np.sqrt(chi2)
        z = np.abs(resid_all) * np.sqrt(w) / max(scale, 1e-300)
        bad = use & (z > outlier_sigma) if dof > 1 else np.zeros(y.size, dtype=bool)
        if not bad.any():
            break
        use &= ~bad
        outliers += int(bad.sum())
    factor = max(chi2, 1.0) if sigma_known else chi2
    if not sigma_known and dof <= 0:
        factor = float("nan")
    cov = cov * factor
    if with_trend:
        tau0 = float(t[use].min() - t_end) / day
        start = float(beta[0] + beta[1] * tau0)
        start_var = cov[0, 0] + 2 * tau0 * cov[0, 1] + tau0**2 * cov[1, 1]
        return Trend(
            float(beta[0]),
            float(np.sqrt(cov[0, 0])),
            t_end,
            int(use.sum()),
            outliers,
            True,
            start,
            float(np.sqrt(max(start_var, 0.0))),
            float(t[use].min()),
        )
    at = float(np.average(t[use], weights=w[use]))
    return Trend(float(beta[0]), float(np.sqrt(cov[0, 0])), at, int(use.sum()), outliers, False)


# --- Part B ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """Charge and energy that went in and out [Ah, Wh], counted over the covered intervals.

    ``uncovered_s`` is the time of gaps with current that could not be counted [s]; the ``missing_*`` values are
    what those gaps would carry at the record's mean rates (a measure of what the count may lack) [Ah, Wh]. The
    current sensor's own error is not known here and not included.
    """

    charge_in_Ah: float
    charge_out_Ah: float
    energy_in_Wh: float
    energy_out_Wh: float
    uncovered_s: float
    missing_charge_out_Ah: float
    missing_energy_out_Wh: float


def throughput(series: TimeSeries) -> Throughput:
    """Energy and capacity throughput of ``series`` by the trapezoidal rule (Annex VII Part B(2), B(3))."""
    q_in, q_out, e_in, e_out = series.totals
    uncovered = series.uncovered_s
    covered = float(series.time_s[-1] - series.time_s[0]) - uncovered if series.n else 0.0
    share = uncovered / covered if covered > 0 else 0.0
    return Throughput(q_in, q_out, e_in, e_out, uncovered, q_out * share, e_out * share)


def uncovered_energy_Wh(series: TimeSeries, full_Wh: float) -> tuple[float, float]:
    """Energy in and out [Wh] of the intervals too long to integrate (``series.uncovered``), each taken as a straight
    line between its two samples but at most ``full_Wh`` (one full charge or discharge: a longer interval is an
    outage, not sparse logging): a rough estimate, for balances that must not simply leave those intervals out."""
    k = series.uncovered
    if not k.size:
        return 0.0, 0.0
    dt = series.time_s[k + 1] - series.time_s[k]
    p = 0.5 * (series.current_A[k] * series.voltage_V[k] + series.current_A[k + 1] * series.voltage_V[k + 1]) * dt
    p = np.clip(p / 3600.0, -full_Wh, full_Wh)
    return float(p[p > 0].sum()), 0.0 - float(p[p < 0].sum())


def full_equivalent_cycles(charge_out_Ah: float, nominal_capacity_Ah: float) -> float:
    """Number of full equivalent cycles: discharged charge [Ah] over nominal capacity [Ah] (Annex XIII 4(d))."""
    return charge_out_Ah / nominal_capacity_Ah


@dataclass(frozen=True)
class Events:
    """Deep-discharge events: start times [s since the series start], their lowest cell voltage [V] and duration [s]."""

    start_s: FloatArray
    lowest_V: FloatArray
    duration_s: FloatArray

    @property
    def count(self) -> int:
        return int(self.start_s.size)


def _schmitt(enter: BoolArray, leave: BoolArray) -> BoolArray:
    """A two-threshold state: on where ``enter``, off where ``leave``, else as the last sample that was either."""
    n = enter.size
    decided = enter | leave
    last = np.where(decided, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    state = np.zeros(n, dtype=bool)
    has = last >= 0
    state[has] = enter[last[has]]
    return state


def deep_discharge_events(
    series: TimeSeries, cell_voltage_min_V: float, hysteresis_V: float, *, margin_V: float = 0.0
) -> Events:
    """Count deep-discharge events: the (lowest) cell voltage below the lower cut-off (Annex VII Part B(4)).

    An event starts at the first sample below ``cell_voltage_min_V - margin_V`` [V] and ends when the voltage is back
    above ``cell_voltage_min_V + hysteresis_V``; samples in between belong to it. Events are counted, not samples.
    ``margin_V`` keeps a normal end of discharge, which stops on crossing the cut-off and may read a few millivolts
    below it, from counting as a deep discharge.
    """
    if series.cell_voltage_min_V is not None:
        low, scale = series.cell_voltage_min_V, 1.0
    else:  # the pack voltage against the limits times the cells in series: no full-length division
        low, scale = series.voltage_V, float(series.cells_in_series)
    below = low < (cell_voltage_min_V - margin_V) * scale  # NaN compares False
    if not below.any():
        z = np.zeros(0)
        return Events(z, z, z)
    state = _schmitt(below, low >= (cell_voltage_min_V + hysteresis_V) * scale)
    edges = np.flatnonzero(np.diff(state.astype(np.int8)))
    starts = np.concatenate(([0] if state[0] else [], edges[~state[edges]] + 1)).astype(np.int64)
    ends = np.concatenate((edges[state[edges]], [state.size - 1] if state[-1] else [])).astype(np.int64)
    bounds = np.column_stack((starts, ends + 1)).ravel()
    bounds = bounds[bounds < low.size]
    lowest = np.fmin.reduceat(low, bounds)[::2] / scale
    t = series.time_s
    return Events(t[starts], np.asarray(lowest, dtype=np.float64), t[ends] - t[starts])


@dataclass(frozen=True)
class TemperatureExposure:
    """Time [s] above and below the operating range, and charging above and below the charging range, with the
    standard uncertainty of each from the sampling [s]; ``unmeasured_s`` is time without a temperature [s]."""

    high_s: float
    low_s: float
    charging_high_s: float
    charging_low_s: float
    high_uncertainty_s: float
    low_uncertainty_s: float
    charging_high_uncertainty_s: float
    charging_low_uncertainty_s: float
    unmeasured_s: float


def _time_and_uncertainty(series: TimeSeries, mask: BoolArray) -> tuple[float, float]:
    """Time in ``mask`` and its uncertainty: each change of state lies somewhere in its interval (uniform)."""
    if not mask.any():
        return 0.0, 0.0
    total = series.duration_where(mask)
    changes = np.flatnonzero(mask[1:] != mask[:-1])
    dt = series.interval_at(changes)
    return total, float(np.sqrt(np.sum(dt**2) / 12.0))


def temperature_exposure(
    series: TimeSeries,
    *,
    operating_min_C: float,
    operating_max_C: float,
    charge_min_C: float,
    charge_max_C: float,
) -> TemperatureExposure | None:
    """Time spent in extreme temperatures and charging in extreme temperatures (Annex VII Part B(4)).

    The highest temperature (``temperature_max_C``, else ``temperature_C``) is compared with the upper limits and
    ``temperature_C`` with the lower ones [degC]. Charging means current above the rest current. Intervals longer
    than ``max_gap_s`` are not counted. None when no temperature was measured.
    """
    if series.temperature_C is None and series.temperature_max_C is None:
        return None
    base = series.temperature_C if series.temperature_C is not None else series.temperature_max_C
    assert base is not None
    hot_t = base
    if series.temperature_max_C is not None:  # the highest temperature where measured, else the temperature
        hot_t = np.where(np.isfinite(series.temperature_max_C), series.temperature_max_C, base)
    charging = series.current_A > series.rest_current_A
    high = hot_t > operating_max_C
    low = base < operating_min_C
    ch_high = charging & (hot_t > charge_max_C)
    ch_low = charging & (base < charge_min_C)
    h, hu = _time_and_uncertainty(series, high)
    lo, lu = _time_and_uncertainty(series, low)
    chh, chu = _time_and_uncertainty(series, ch_high)
    chl, clu = _time_and_uncertainty(series, ch_low)
    unmeasured = series.duration_where(~np.isfinite(base))
    return TemperatureExposure(h, lo, chh, chl, hu, lu, chu, clu, unmeasured)


def putting_into_service(series: TimeSeries) -> datetime | None:
    """Time of the first sample with current above the rest current (Annex VII Part B(1)); None if there is none.

    This is the first use *in the record*: a battery may have been in service before the record begins.
    """
    first = int(np.argmin(series.rest))  # the first False; 0 also when all are at rest
    if series.rest[first]:
        return None
    return series.timestamp(float(series.time_s[first]))


# --- Part A ----------------------------------------------------------------------------------------------------------


def stored_energy_Wh(
    soc_pct: FloatArray, capacity_Ah: float, cells_in_series: int, table: OcvTable | None, mean_cell_voltage_V: float
) -> FloatArray:
    """Energy stored above 0 % SoC at ``soc_pct`` [%]: capacity x cells x the integral of the OCV [Wh].

    Without an OCV table, the OCV is taken as ``mean_cell_voltage_V`` throughout.
    """
    s = np.asarray(soc_pct, dtype=np.float64)
    mean = np.full(s.shape, mean_cell_voltage_V) if table is None else table.mean_ocv(np.zeros_like(s), s)
    per_cell = mean * s / 100.0
    return np.asarray(per_cell * capacity_Ah * cells_in_series, dtype=np.float64)


@dataclass(frozen=True)
class EfficiencyGroups:
    """Round-trip energy efficiency of groups of consecutive windows between anchors.

    ``time_s`` the middle of each group [s since the series start], ``efficiency`` [1], ``sigma`` its standard
    uncertainty from the anchors' SoC (NaN when the anchors' uncertainty is unknown) [1], ``energy_in_Wh`` [Wh].
    """

    time_s: FloatArray
    efficiency: FloatArray
    sigma: FloatArray
    energy_in_Wh: FloatArray


def round_trip_efficiency_groups(
    series: TimeSeries,
    anchors: Anchors,
    *,
    capacity_Ah: float,
    group_throughput_Ah: float,
    table: OcvTable | None,
    mean_cell_voltage_V: float,
) -> EfficiencyGroups:
    """Round-trip energy efficiency from the energy balance between anchors (Annex VII Part A(3)).

    Consecutive windows between anchors (without uncounted gaps) are grouped by their charge throughput (in plus
    out), a new group starting every ``group_throughput_Ah`` [Ah] (two nominal capacities for one full cycle);
    groups with less are left out. Per group, with ``E_in`` and ``E_out`` the energy charged and discharged and
    ``dE`` the change of stored energy between its first and last anchor (:func:`stored_energy_Wh`, from their SoC
    and ``capacity_Ah`` [Ah]),

        efficiency = (E_out + max(dE, 0)) / (E_in + max(-dE, 0))

    which is ``E_out / E_in`` when the group returns to the SoC it started at (Annex IV Part A(4): the energy
    delivered over the energy needed to restore the initial state of charge).
    """
    idx = anchors.index
    empty = EfficiencyGroups(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    if idx.size < 2:
        return empty
    e_in, e_out = series.energy_between(idx)
    q_tp = np.sum(series.charge_between(idx), axis=0)
    broken = series.uncovered_between(idx) > 0
    ok = ~broken
    if not ok.any():
        return empty
    # a chain of windows ends at a broken window; within a chain a new group starts every `group_throughput_Ah`
    chain = np.cumsum(broken)
    before = np.concatenate(([0.0], np.cumsum(np.where(broken, 0.0, q_tp))))[:-1]
    first_of_chain = np.concatenate(([True], chain[1:] != chain[:-1]))
    base = np.zeros(int(chain.max()) + 1)
    base[chain[first_of_chain]] = before[first_of_chain]
    group = np.floor((before - base[chain]) / max(group_throughput_Ah, 1e-12)).astype(np.int64)
    key = chain.astype(np.int64) * (int(group.max()) + 1) + group
    keys, gid = np.unique(key[ok], return_inverse=True)
    window_index = np.flatnonzero(ok)
    ng = keys.size
    g_in = np.bincount(gid, weights=e_in[ok], minlength=ng)
    g_out = np.bincount(gid, weights=e_out[ok], minlength=ng)
    g_q = np.bincount(gid, weights=q_tp[ok], minlength=ng)
    first_w = np.full(ng, np.iinfo(np.int64).max)
    last_w = np.full(ng, -1)
    np.minimum.at(first_w, gid, window_index)
    np.maximum.at(last_w, gid, window_index)
    s0 = anchors.soc_pct[first_w]
    s1 = anchors.soc_pct[last_w + 1]
    stored = stored_energy_Wh(np.concatenate((s0, s1)), capacity_Ah, series.cells_in_series, table, mean_cell_voltage_V)
    d_e = stored[ng:] - stored[:ng]
    num = g_out + np.maximum(d_e, 0.0)
    den = g_in + np.maximum(-d_e, 0.0)
    full = (g_q >= group_throughput_Ah * 0.999) & (den > 0)
    eff = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    sig0 = anchors.sigma_soc_pct[first_w]
    sig1 = anchors.sigma_soc_pct[last_w + 1]
    ocv0 = table.ocv_at(s0) if table is not None else np.full(ng, mean_cell_voltage_V)
    ocv1 = table.ocv_at(s1) if table is not None else np.full(ng, mean_cell_voltage_V)
    scale = capacity_Ah * series.cells_in_series / 100.0
    sigma_de = scale * np.sqrt((ocv0 * sig0) ** 2 + (ocv1 * sig1) ** 2)
    sigma = np.where(den > 0, sigma_de / np.where(den > 0, den, 1.0), np.nan)
    t = series.time_s
    mid = 0.5 * (t[idx[first_w]] + t[idx[last_w + 1]])
    return EfficiencyGroups(mid[full], eff[full], sigma[full], np.asarray(g_in[full], dtype=np.float64))


@dataclass(frozen=True)
class SelfDischargeRests:
    """Self-discharge read from long rests: the SoC lost per month [%/month] at ``time_s`` (the middle of the rest),
    its standard uncertainty, and the SoC of the rest [%]."""

    time_s: FloatArray
    rate_pct_per_month: FloatArray
    sigma_pct_per_month: FloatArray
    soc_pct: FloatArray


def self_discharge_rates(
    series: TimeSeries, rests: RestPeriods, table: OcvTable, *, skip_s: float, tail_s: float
) -> SelfDischargeRests:
    """Self-discharge from the drift of the open-circuit voltage over long rests (Annex VII Part A(4)).

    For each rest, the mean cell voltage over ``tail_s`` [s] starting ``skip_s`` [s] into the rest (after the first
    relaxation) and over the last ``tail_s`` of the rest give two states of charge through ``table``; the loss
    between them per month is the rate. Its uncertainty is the voltage noise of the two means and the drift still
    present in the first one, over the OCV slope (the table's own error is common to both points and cancels).
    """
    z = np.zeros(0)
    if len(rests) == 0:
        return SelfDischargeRests(z, z, z, z)
    t = series.time_s
    a0 = np.searchsorted(t, t[rests.start] + skip_s, side="left").astype(np.int64)
    a1 = np.searchsorted(t, t[rests.start] + skip_s + tail_s, side="right").astype(np.int64) - 1
    b0 = np.searchsorted(t, t[rests.end] - tail_s, side="left").astype(np.int64)
    b1 = rests.end
    ok = (a0 <= a1) & (a1 < b0) & (b0 <= b1)
    if not ok.any():
        return SelfDischargeRests(z, z, z, z)
    a0, a1, b0, b1 = a0[ok], a1[ok], b0[ok], b1[ok]
    wa = window_voltage(series, a0, a1)
    wb = window_voltage(series, b0, b1)
    sa = table.soc_at(wa.mean_V)
    sb = table.soc_at(wb.mean_V)
    ta = 0.5 * (t[a0] + t[a1])
    tb = 0.5 * (t[b0] + t[b1])
    months = (tb - ta) / SECONDS_PER_MONTH
    rate = (sa - sb) / months
    drift = np.maximum(np.abs(wa.slope_V_per_s) - 2.0 * wa.sigma_slope_V_per_s, 0.0) * tail_s
    sigma_v_a = np.sqrt(wa.sigma_mean_V**2 + drift**2)
    slope_a = np.maximum(table.slope_at(sa), 1e-6)
    slope_b = np.maximum(table.slope_at(sb), 1e-6)
    sigma = np.sqrt((sigma_v_a / slope_a) ** 2 + (wb.sigma_mean_V / slope_b) ** 2) / months
    inside = (wa.mean_V > table.ocv_min_V) & (wa.mean_V < table.ocv_max_V) & (wb.mean_V > table.ocv_min_V)
    mid = 0.5 * (ta + tb)
    return SelfDischargeRests(mid[inside], rate[inside], sigma[inside], 0.5 * (sa + sb)[inside])


def power_capability(
    resistance_Ohm: float,
    soc_pct: FloatArray,
    *,
    table: OcvTable,
    cell_voltage_min_V: float,
    cells_in_series: int,
) -> FloatArray:
    """Discharge power capability [W] at ``soc_pct`` [%], limited by the lower cut-off voltage.

    With the OCV from ``table`` and the (pack) resistance ``resistance_Ohm`` [Ohm], the largest current that keeps
    the terminal voltage at the cut-off is ``(OCV - V_min) / R`` and the power ``V_min (OCV - V_min) / R`` (per cell
    voltages times ``cells_in_series``), as in the HPPC power capability of the USABC manual. A current limit of
    the battery's own, if lower, is not known here.

    References
    ----------
    .. [1] Idaho National Laboratory, "Battery Test Manual for Electric Vehicles", Revision 3 (2015),
       INL/EXT-15-34184, section 3.3 and appendix (available power from the pulse resistance).
    """
    ocv = table.ocv_at(soc_pct) * cells_in_series
    v_min = cell_voltage_min_V * cells_in_series
    return np.asarray(v_min * np.maximum(ocv - v_min, 0.0) / resistance_Ohm, dtype=np.float64)


def remaining_energy_Wh(
    capacity_Ah: float,
    mean_voltage_V: float,
    *,
    resistance_increase_Ohm: float = 0.0,
    reference_current_A: float = 0.0,
) -> float:
    """Energy [Wh] the battery delivers now at the reference rate: remaining capacity [Ah] times the mean discharge
    voltage at that rate [V], lowered by the resistance gained since the rating [Ohm] times the reference current
    [A] (the energy then lost as heat)."""
    return capacity_Ah * (mean_voltage_V - resistance_increase_Ohm * reference_current_A)
