"""Remaining capacity from field data: coulomb counting between state-of-charge anchors, and complete discharges.

Partial data (the usual case for a battery in use) is handled with *anchors*: moments whose state of charge (SoC) is
known independently of the current,

* the end of a rest (at least ``min_rest_s`` without current), where the cell voltage is the open-circuit voltage
  and an OCV table gives the SoC, with an uncertainty from the voltage noise, the unrelaxed voltage and the table,
  divided by the slope of the OCV curve there (:func:`ocv_anchors`); or
* a state of charge reported by the BMS (``soc_pct``, often sparse) (:func:`bms_anchors`).

Between anchors the charge is coulomb counted. Anchors are grouped into *windows* of continuous counting (no gap with
current, at most ``max_window_h`` apart); within a window the SoC is a straight line in the counted charge ``q``,

    SoC_k = a_window + 100 q_k / C

with one offset per window and one capacity ``C`` for all (optionally drifting linearly in time, to give the capacity
at the end of a long record). :func:`fit_capacity` solves this by weighted least squares (weights ``1 / sigma_SoC^2``;
SoC is regressed on the charge, which is known far better than the SoC, so the slope is not attenuated by SoC noise),
drops windows with outlying residuals, and scales the uncertainty by the reduced chi-square where that is above one.
A window spanning a large SoC range with steep OCV at both ends carries most weight, as it should.

A complete discharge (from a full charge to the chemistry's lower cut-off) measures the capacity directly, as in the
capacity test of IEC 62660-1: :func:`full_discharges` finds them.

References
----------
.. [1] G. L. Plett, "Extended Kalman filtering for battery management systems of LiPB-based HEV battery packs, Part 3",
   J. Power Sources 134 (2004) 277, doi:10.1016/j.jpowsour.2004.02.033 (capacity as the ratio of counted charge to
   the change of SoC, weighted total least squares: G. L. Plett, J. Power Sources 196 (2011) 2319,
   doi:10.1016/j.jpowsour.2010.09.048).
.. [2] A. Barai et al., "A study of the open circuit voltage characterization technique and hysteresis assessment of
   lithium-ion cells", J. Power Sources 295 (2015) 99, doi:10.1016/j.jpowsour.2015.06.140 (rest before OCV).
.. [3] IEC 62660-1:2018, Secondary lithium-ion cells for the propulsion of electric road vehicles - Part 1:
   Performance testing, clause 7.2 (capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from batteryloop.health.ocv import OcvTable
from batteryloop.health.series import BoolArray, FloatArray, IntArray, TimeSeries

AnchorSource = Literal["ocv", "bms_soc"]


@dataclass(frozen=True)
class RestPeriods:
    """Runs of samples at rest lasting at least a minimum time.

    ``start`` and ``end`` are sample indices (inclusive); ``duration_s`` is ``time[end] - time[start]`` [s].
    """

    start: IntArray
    end: IntArray
    duration_s: FloatArray

    def __len__(self) -> int:
        return int(self.start.size)


def rest_periods(series: TimeSeries, min_duration_s: float) -> RestPeriods:
    """Rest periods of ``series`` lasting at least ``min_duration_s`` [s] (vectorised run detection)."""
    starts, ends = _runs(series.rest)
    duration = series.time_s[ends] - series.time_s[starts]
    long = duration >= min_duration_s
    return RestPeriods(starts[long].astype(np.int64), ends[long].astype(np.int64), duration[long])


@dataclass(frozen=True)
class Anchors:
    """Samples whose state of charge is known independently of the counted charge.

    ``index`` are sample indices (sorted, unique), ``soc_pct`` the SoC there [%], ``sigma_soc_pct`` its standard
    uncertainty [%] (NaN where unknown: then the fit takes equal weights and the scatter gives the uncertainty).
    """

    source: AnchorSource
    index: IntArray
    soc_pct: FloatArray
    sigma_soc_pct: FloatArray
    rejected: int = 0
    note: str = ""

    def __len__(self) -> int:
        return int(self.index.size)


def _gather(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """Flat indices of the inclusive ranges ``starts[i]..ends[i]`` and the offset of each range in them."""
    counts = (ends - starts + 1).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    flat = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(offsets, counts) + np.repeat(starts, counts)
    return flat, offsets


@dataclass(frozen=True)
class WindowVoltage:
    """Mean, noise and drift of the cell voltage over sample ranges.

    ``mean_V`` the mean [V], ``sigma_mean_V`` its standard error from the scatter about a straight line [V],
    ``slope_V_per_s`` the fitted drift [V/s] and ``sigma_slope_V_per_s`` its standard error; ``count`` samples.
    """

    mean_V: FloatArray
    sigma_mean_V: FloatArray
    slope_V_per_s: FloatArray
    sigma_slope_V_per_s: FloatArray
    count: IntArray


def window_voltage(series: TimeSeries, starts: IntArray, ends: IntArray) -> WindowVoltage:
    """Straight-line fit of the cell voltage over each inclusive sample range (gathers only those samples).

    Where a range has fewer than three samples its noise is taken as the median noise of the other ranges.
    """
    if starts.size == 0:
        z = np.zeros(0)
        return WindowVoltage(z, z, z, z, np.zeros(0, dtype=np.int64))
    flat, offsets = _gather(starts, ends)
    counts = (ends - starts + 1).astype(np.float64)
    v = series.cell_voltage_at(flat)
    t = series.time_s[flat]
    t = t - np.repeat(series.time_s[ends], (ends - starts + 1))
    sum_t = np.add.reduceat(t, offsets)
    sum_v = np.add.reduceat(v, offsets)
    mean_t = sum_t / counts
    mean_v = sum_v / counts
    dt = t - np.repeat(mean_t, (ends - starts + 1))
    dv = v - np.repeat(mean_v, (ends - starts + 1))
    stt = np.add.reduceat(dt * dt, offsets)
    stv = np.add.reduceat(dt * dv, offsets)
    svv = np.add.reduceat(dv * dv, offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(stt > 0, stv / np.where(stt > 0, stt, 1.0), 0.0)
        resid = np.maximum(svv - slope * stv, 0.0)
        dof = counts - 2.0
        var = np.where(dof > 0, resid / np.where(dof > 0, dof, 1.0), np.nan)
    known = np.isfinite(var)
    fallback = float(np.median(var[known])) if known.any() else 0.0
    var = np.where(known, var, fallback)
    sigma_mean = np.sqrt(var / counts)
    sigma_slope = np.where(stt > 0, np.sqrt(var / np.where(stt > 0, stt, 1.0)), 0.0)
    return WindowVoltage(mean_v, sigma_mean, slope, sigma_slope, (ends - starts + 1).astype(np.int64))


def ocv_anchors(
    series: TimeSeries, rests: RestPeriods, table: OcvTable, *, tail_s: float, relaxation_s: float | None = None
) -> Anchors:
    """SoC anchors at the end of each rest from the OCV table.

    Parameters
    ----------
    series : TimeSeries
        The samples.
    rests : RestPeriods
        Rest periods long enough for the voltage to approach the OCV.
    table : OcvTable
        Cell OCV versus SoC.
    tail_s : float
        The OCV is read from a straight-line fit of the last ``tail_s`` of each rest, at its end. [s]
    relaxation_s : float, optional
        The drift still measured at the end of the rest, times this time, counts as unrelaxed voltage in the
        uncertainty (beyond twice the drift's own standard error). Defaults to ``tail_s``. [s]

    Returns
    -------
    Anchors
        One anchor per rest whose voltage lies within the table; rests outside it are counted in ``rejected``.
    """
    if len(rests) == 0:
        z = np.zeros(0)
        return Anchors("ocv", np.zeros(0, dtype=np.int64), z, z, note="no rest periods")
    ends = rests.end
    tail_start = np.searchsorted(series.time_s, series.time_s[ends] - tail_s, side="left").astype(np.int64)
    tail_start = np.maximum(tail_start, rests.start)
    wv = window_voltage(series, tail_start, ends)
    relax = tail_s if relaxation_s is None else relaxation_s
    unrelaxed = np.maximum(np.abs(wv.slope_V_per_s) - 2.0 * wv.sigma_slope_V_per_s, 0.0) * relax
    sigma_v = np.sqrt(wv.sigma_mean_V**2 + unrelaxed**2 + table.uncertainty_V**2)
    inside = (wv.mean_V >= table.ocv_min_V - sigma_v) & (wv.mean_V <= table.ocv_max_V + sigma_v)
    soc = table.soc_at(wv.mean_V)
    slope = np.maximum(table.slope_at(soc), 1e-6)
    sigma_soc = sigma_v / slope
    return Anchors(
        "ocv",
        ends[inside],
        soc[inside],
        sigma_soc[inside],
        rejected=int((~inside).sum()),
        note="" if inside.all() else "rests with a voltage outside the OCV table are not used",
    )


def bms_anchors(series: TimeSeries, min_interval_s: float) -> Anchors:
    """SoC anchors at the samples where the BMS reported ``soc_pct``, thinned to ``min_interval_s`` [s] apart.

    The BMS's SoC uncertainty is not known: it is left NaN, so the fit weighs the anchors equally and takes the
    uncertainty from their scatter.
    """
    soc = series.soc_pct
    if soc is None:
        z = np.zeros(0)
        return Anchors("bms_soc", np.zeros(0, dtype=np.int64), z, z, note="no soc_pct column")
    idx = np.flatnonzero(np.isfinite(soc)).astype(np.int64)
    if idx.size and min_interval_s > 0:
        bucket = np.floor(series.time_s[idx] / min_interval_s).astype(np.int64)
        first = np.concatenate(([True], bucket[1:] != bucket[:-1]))
        idx = idx[first]
    return Anchors("bms_soc", idx, soc[idx], np.full(idx.size, np.nan))


@dataclass(frozen=True)
class CapacityFit:
    """Capacity from the weighted fit over windows of coulomb counting between anchors.

    ``capacity_Ah`` applies at ``at_s`` (the last anchor with a trend, else the weighted mean time of the windows)
    and ``start_capacity_Ah`` at ``start_s`` (only with a trend) [Ah, s since the series start].
    """

    source: AnchorSource
    capacity_Ah: float
    uncertainty_Ah: float
    at_s: float
    anchors: int
    windows: int
    segments: int
    outliers: int
    chi2_reduced: float
    trend: bool
    start_capacity_Ah: float | None = None
    start_uncertainty_Ah: float | None = None
    start_s: float | None = None


def _segments(series: TimeSeries, anchors: Anchors, max_window_s: float) -> IntArray:
    """Window id of each anchor: anchors share a window when the charge between them was counted without a gap
    with current and all of them lie within ``max_window_s`` of the window's first (fixed time blocks from the
    start of each unbroken chain, so that a current-sensor offset cannot build up over a long chain)."""
    idx = anchors.index
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    t = series.time_s[idx]
    breaks = (series.uncovered_between(idx) > 0) | (np.diff(t) > max_window_s)
    chain = np.concatenate(([0], np.cumsum(breaks))).astype(np.int64)
    first = np.concatenate(([True], chain[1:] != chain[:-1]))
    chain_start = np.maximum.accumulate(np.where(first, t, -np.inf))
    block = np.floor((t - chain_start) / max_window_s).astype(np.int64)
    key = chain * (int(block.max()) + 1) + block
    inverse: IntArray = np.unique(key, return_inverse=True)[1].astype(np.int64)
    return inverse


def counted_charge(series: TimeSeries, index: IntArray) -> FloatArray:
    """Net charge counted from the first to each sample of ``index`` (sorted, unique). [Ah]"""
    if index.size == 0:
        return np.zeros(0)
    q_in, q_out = series.charge_between(index)
    return np.concatenate(([0.0], np.cumsum(q_in - q_out)))


def _demean(values: FloatArray, group: IntArray, weight: FloatArray, ngroups: int) -> FloatArray:
    wsum = np.bincount(group, weights=weight, minlength=ngroups)
    mean = np.bincount(group, weights=weight * values, minlength=ngroups) / np.where(wsum > 0, wsum, 1.0)
    return np.asarray(values - mean[group], dtype=np.float64)


def fit_capacity(
    series: TimeSeries,
    anchors: Anchors,
    *,
    max_window_h: float,
    min_window_span_Ah: float,
    min_windows: int,
    min_trend_days: float,
    outlier_sigma: float,
) -> CapacityFit | None:
    """Capacity [Ah] by a weighted least-squares fit of SoC against counted charge over windows of anchors.

    Parameters
    ----------
    series : TimeSeries
        The samples.
    anchors : Anchors
        SoC anchors (:func:`ocv_anchors` or :func:`bms_anchors`).
    max_window_h : float
        Longest coulomb counting between two anchors of one window. [h]
    min_window_span_Ah : float
        Consecutive anchors count as a window when their group of anchors spans at least this counted charge. [Ah]
    min_windows : int
        Fewest windows for a result.
    min_trend_days : float
        With anchors spanning at least this many days the capacity may drift linearly in time, and the capacity
        at the end of the record is reported. [d]
    outlier_sigma : float
        Anchors with a normalised residual above this are left out (iteratively). [1]

    Returns
    -------
    CapacityFit or None
        None when there are fewer than ``min_windows`` windows or the windows span no charge.
    """
    n = len(anchors)
    if n < 2:
        return None
    seg = _segments(series, anchors, max_window_h * 3600.0)
    q = counted_charge(series, anchors.index)
    t = series.time_s[anchors.index]
    s = anchors.soc_pct
    unknown_sigma = not np.isfinite(anchors.sigma_soc_pct).any()
    sigma = np.where(np.isfinite(anchors.sigma_soc_pct), anchors.sigma_soc_pct, 1.0)
    w = 1.0 / np.maximum(sigma, 1e-6) ** 2
    same = seg[1:] == seg[:-1]
    nseg = int(seg.max()) + 1
    seg_span = np.full(nseg, -np.inf)
    np.maximum.at(seg_span, seg, q)
    low = np.full(nseg, np.inf)
    np.minimum.at(low, seg, q)
    seg_span = seg_span - low
    span = (seg_span >= min_window_span_Ah)[seg[1:]]
    windows = int((same & span).sum())
    if windows < min_windows:
        return None
    use = np.ones(n, dtype=bool)
    t_end = float(t[-1])
    # with 1/C drifting linearly in time, SoC_k - SoC_0 = sum over windows of (b0 + b1 tau_m) dq_m: the drift
    # regressor is the running sum of (window mid-time before the end [d]) x (charge counted in the window)
    tau_mid = (0.5 * (t[1:] + t[:-1]) - t_end) / 86400.0
    q_drift = np.concatenate(([0.0], np.cumsum(tau_mid * np.diff(q))))
    trend = (t[-1] - t[0]) >= min_trend_days * 86400.0 and windows >= 4 * min_windows
    outliers = 0
    for _ in range(6):
        fit = _solve(q, q_drift, s, seg, w, use, trend)
        if fit is None:
            return None
        beta, cov, resid, chi2, ngroups = fit
        scale = np.sqrt(max(chi2, 1.0)) if not unknown_sigma else np.sqrt(chi2)
        z = np.abs(resid) * np.sqrt(w) / max(scale, 1e-12)
        bad = use & (z > outlier_sigma)
        if not bad.any():
            break
        use &= ~bad
        outliers += int(bad.sum())
    factor = chi2 if unknown_sigma else max(chi2, 1.0)
    cov = cov * factor
    b0 = float(beta[0])
    if b0 <= 0:
        return None
    cap = 100.0 / b0
    cap_sigma = 100.0 * float(np.sqrt(cov[0, 0])) / b0**2
    used_windows = int((same & span & use[1:] & use[:-1]).sum())
    if trend:
        tau0 = float(t[use][0] - t_end) / 86400.0
        b_start = b0 + float(beta[1]) * tau0
        var_start = cov[0, 0] + 2 * tau0 * cov[0, 1] + tau0**2 * cov[1, 1]
        start_cap = 100.0 / b_start if b_start > 0 else None
        start_sigma = 100.0 * float(np.sqrt(max(var_start, 0.0))) / b_start**2 if b_start > 0 else None
        return CapacityFit(
            anchors.source,
            cap,
            cap_sigma,
            t_end,
            int(use.sum()),
            used_windows,
            ngroups,
            outliers,
            chi2,
            True,
            start_cap,
            start_sigma,
            float(t[use][0]),
        )
    at = float(np.average(t[use], weights=w[use]))
    return CapacityFit(anchors.source, cap, cap_sigma, at, int(use.sum()), used_windows, ngroups, outliers, chi2, False)


def _solve(
    q: FloatArray, q_drift: FloatArray, s: FloatArray, seg: IntArray, w: FloatArray, use: BoolArray, trend: bool
) -> tuple[FloatArray, FloatArray, FloatArray, float, int] | None:
    """Weighted within-window least squares of ``s`` on ``q`` (and ``q_drift``); residuals for every anchor."""
    _, group = np.unique(seg[use], return_inverse=True)
    ngroups = int(group.max()) + 1 if group.size else 0
    counts = np.bincount(group, minlength=ngroups)
    multi = counts[group] >= 2
    if multi.sum() < 3:
        return None
    ww = w[use]
    cols = [q[use]] + ([q_drift[use]] if trend else [])
    x = np.column_stack([_demean(c, group, ww, ngroups) for c in cols])
    y = _demean(s[use], group, ww, ngroups)
    xtw = x.T * ww
    a = xtw @ x
    if np.linalg.cond(a) > 1e12:
        return None
    cov = np.linalg.inv(a)
    beta = cov @ (xtw @ y)
    r_used = y - x @ beta
    ngroups_multi = int((counts >= 2).sum())
    dof = int(multi.sum()) - ngroups_multi - x.shape[1]
    chi2 = float(np.sum(ww * r_used**2) / dof) if dof > 0 else 1.0
    resid = np.zeros(s.size)
    resid[use] = r_used
    # anchors left out: residual against their window's offset from the anchors kept (or zero if none kept)
    if (~use).any():
        full_group = seg
        pred = np.column_stack([q] + ([q_drift] if trend else [])) @ beta
        off_sum = np.bincount(full_group[use], weights=ww * (s[use] - pred[use]), minlength=int(seg.max()) + 1)
        off_w = np.bincount(full_group[use], weights=ww, minlength=int(seg.max()) + 1)
        offset = np.where(off_w > 0, off_sum / np.where(off_w > 0, off_w, 1.0), np.nan)
        out = ~use
        resid[out] = np.nan_to_num(s[out] - pred[out] - offset[full_group[out]], nan=0.0)
    return np.asarray(beta, dtype=np.float64), np.asarray(cov, dtype=np.float64), resid, chi2, ngroups_multi


def _runs(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """First and last sample of each run of True in ``mask``."""
    if mask.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    starts = np.concatenate(([0], edges)).astype(np.int64)
    ends = np.concatenate((edges - 1, [mask.size - 1])).astype(np.int64)
    on = mask[starts]
    return starts[on], ends[on]


@dataclass(frozen=True)
class FullDischarges:
    """Complete discharges: from a full charge to the lower cut-off.

    ``start``/``end`` are sample indices, ``capacity_Ah`` the charge drawn [Ah], ``energy_Wh`` the energy delivered
    [Wh] and ``mean_current_A`` the mean discharge current [A] (positive).
    """

    start: IntArray
    end: IntArray
    capacity_Ah: FloatArray
    energy_Wh: FloatArray
    mean_current_A: FloatArray

    def __len__(self) -> int:
        return int(self.start.size)


def discharge_bounds(
    series: TimeSeries, *, cell_voltage_min_V: float, cell_voltage_max_V: float, margin_V: float
) -> tuple[IntArray, IntArray]:
    """Find complete discharges: from a full charge to the lower cut-off.

    A discharge is complete when the (lowest) cell voltage comes within ``margin_V`` of ``cell_voltage_min_V``
    while discharging, and the last charging sample before it had the (highest) cell voltage within ``margin_V`` of
    ``cell_voltage_max_V`` (the charge was ended at the upper cut-off). It runs from that charging sample (rests in
    between are allowed, charging is not) to the sample where the current stops. Discharges crossing a gap with
    current are left out.

    Parameters
    ----------
    series : TimeSeries
        The samples.
    cell_voltage_min_V, cell_voltage_max_V : float
        The chemistry's (or the cell's) voltage window. [V]
    margin_V : float
        How close to the limits counts as reaching them. [V]

    Returns
    -------
    start, end : ndarray
        Sample indices of the last charging sample before each complete discharge and of its end.
    """
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    pack = float(series.cells_in_series)
    low, low_scale = (
        (series.cell_voltage_min_V, 1.0) if series.cell_voltage_min_V is not None else (series.voltage_V, pack)
    )
    high, high_scale = (
        (series.cell_voltage_max_V, 1.0) if series.cell_voltage_max_V is not None else (series.voltage_V, pack)
    )
    current = series.current_A
    discharging = current < -series.rest_current_A
    bottom = np.flatnonzero(discharging & (low <= (cell_voltage_min_V + margin_V) * low_scale))
    if bottom.size == 0:
        return empty
    dis_start, dis_end = _runs(discharging)
    charging = current > series.rest_current_A
    _, ch_end = _runs(charging)
    if ch_end.size == 0:
        return empty
    # the discharge run of each bottom sample, once per run
    run = np.unique(np.searchsorted(dis_start, bottom, side="right") - 1)
    first_sample = dis_start[run]
    end = np.minimum(dis_end[run] + 1, series.n - 1)  # the sample where the current stops
    # the last charging sample before the run
    pos = np.searchsorted(ch_end, first_sample, side="left") - 1
    has = pos >= 0
    start = ch_end[np.maximum(pos, 0)]
    keep = has & (high[start] >= (cell_voltage_max_V - margin_V) * high_scale)
    start, end = start[keep].astype(np.int64), end[keep].astype(np.int64)
    if start.size == 0:
        return empty
    _, once = np.unique(start, return_index=True)  # one complete discharge per full charge
    start, end = start[once], end[once]
    return start, end


def full_discharges(
    series: TimeSeries, *, cell_voltage_min_V: float, cell_voltage_max_V: float, margin_V: float
) -> FullDischarges:
    """Complete discharges (:func:`discharge_bounds`) with the charge and energy each delivered."""
    start, end = discharge_bounds(
        series, cell_voltage_min_V=cell_voltage_min_V, cell_voltage_max_V=cell_voltage_max_V, margin_V=margin_V
    )
    return measure_discharges(series, start, end)


def measure_discharges(series: TimeSeries, start: IntArray, end: IntArray) -> FullDischarges:
    """Charge [Ah] and energy [Wh] delivered between the sample indices ``start`` and ``end`` (discharges crossing a
    gap with current are left out)."""
    if start.size == 0:
        return FullDischarges(*(np.zeros(0, dtype=np.int64),) * 2, *(np.zeros(0),) * 3)
    pairs = np.column_stack((start, end)).ravel()
    gaps = series.uncovered_between(pairs)[::2]
    cap = series.charge_between(pairs)[1][::2]
    energy = series.energy_between(pairs)[1][::2]
    keep = gaps == 0
    start, end, cap, energy = start[keep], end[keep], cap[keep], energy[keep]
    duration_h = (series.time_s[end] - series.time_s[start]) / 3600.0
    mean_current = np.where(duration_h > 0, cap / np.where(duration_h > 0, duration_h, 1.0), 0.0)
    return FullDischarges(start, end, cap, energy, mean_current)
