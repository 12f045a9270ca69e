"""Dispatch of one battery as a linear programme on HiGHS (``highspy``), built directly as sparse matrices.

Services, alone or stacked: day-ahead arbitrage (front of the meter), behind-the-meter self-consumption and peak
shaving against a load and PV profile with a capacity tariff, and FCR (symmetric capacity reserved per block with
state-of-charge headroom for full activation). Degradation enters the objective as a throughput cost. Horizons: the
whole period with perfect foresight (the upper bound), or rolling day-ahead windows.

The model (``T`` steps of ``dt`` hours; all powers AC side in kW, energies in kWh, prices in EUR/MWh)::

    variables   c_t, d_t in [0, P]             charge, discharge
                s_t in [s_min, s_max]          energy in the cells at the end of step t
                g+_t, g-_t in [0, G]           grid import, export (behind the meter only)
                peak_m >= 0                    peak import of billing period m (with a capacity tariff)
                r_b >= 0                       FCR capacity reserved in block b
    balance     s_t = s_{t-1} + eta_c dt c_t - dt d_t / eta_d        (s_{-1} = soc_start E)
    meter       g+_t - g-_t = load_t - pv_t + c_t - d_t             (behind the meter)
    peak        g+_t <= peak_m(t)
    FCR         d_t - c_t + r_b <= P,  c_t - d_t + r_b <= P         (front of the meter: P = min(P, G))
                g+_t - g-_t + r_b <= G, g-_t - g+_t + r_b <= G       (behind the meter with a grid limit)
                s - r_b a / eta_d >= s_min,  s + r_b a eta_c <= s_max   for the state of charge at the start and
                                                                    the end of every step of block b (a: activation h)
    end         s_{T-1} >= soc_end E
    maximise    sum_t dt/1000 p_t (d_t - c_t)                      (front of the meter)
              - sum_t dt/1000 (p+_t g+_t - p-_t g-_t) - sum_m k_m peak_m     (behind the meter)
              + sum_b pi_b r_b / 1000                               (FCR; pi_b in EUR/MW per block)
              - sum_t dt/1000 c_deg d_t / eta_d                     (throughput cost on energy drawn from the cells)
              - sum_t,j dt/1000 c_j d_tj / eta_d                    (optional cycle-depth cost: J state-of-charge
                                                                    segments with their own c_tj, d_tj, e_tj)

The constraint matrix is built in one piece from index arrays (no per-step Python loop) and passed to HiGHS as CSC
arrays. A rolling horizon reuses the matrix of every window shape it has already built.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import highspy
import numpy as np
import polars as pl
import scipy.sparse as sp  # type: ignore[import-untyped]
from numpy.typing import NDArray

from batteryloop.energy.asset import Asset
from batteryloop.errors import ValidationError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
LOCAL_TZ = "Europe/Amsterdam"


class Horizon(StrEnum):
    FULL = "full"
    ROLLING = "rolling"


class SolveStatus(StrEnum):
    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"


@dataclass(frozen=True)
class BehindTheMeter:
    """A site with load and PV behind the battery's meter.

    Import is paid at the day-ahead price plus ``import_adder_eur_per_MWh`` (energy tax, supplier margin), export is
    paid at the day-ahead price plus ``export_adder_eur_per_MWh`` (usually negative: a feed-in fee). The capacity
    tariff applies to the highest import power of each billing period (``peak_period``: ``month``, a calendar month
    in Europe/Amsterdam, or ``horizon``, the whole period). Both directions are limited by the asset's grid limit.
    """

    load_kW: FloatArray
    pv_kW: FloatArray
    import_adder_eur_per_MWh: float = 0.0
    export_adder_eur_per_MWh: float = 0.0
    capacity_tariff_eur_per_kW: float = 0.0
    peak_period: str = "month"


@dataclass(frozen=True)
class FcrMarket:
    """FCR capacity prices, one per step: the price of the block the step lies in [EUR/MW per block]; NaN where no
    capacity may be offered. ``block_hours`` and ``activation_minutes`` come from ``fcr_rules.csv``."""

    price_eur_per_MW: FloatArray
    activation_minutes: float = 15.0
    block_hours: float = 4.0
    min_bid_MW: float = 1.0


@dataclass
class DispatchResult:
    """Outcome of a dispatch: the schedule per step and what it earns."""

    schedule: pl.DataFrame
    revenue_eur: dict[str, float]
    objective_eur: float
    baseline_cost_eur: float
    full_equivalent_cycles: float
    simultaneous_steps: int
    status: SolveStatus
    horizon: Horizon
    windows: int
    build_s: float
    solve_s: float
    idle_steps: int = 0
    fcr_blocks_below_min_bid: int = 0
    message: str = ""
    window_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "horizon": self.horizon.value,
            "steps": self.schedule.height,
            "windows": self.windows,
            "revenue_eur": {k: round(v, 6) for k, v in self.revenue_eur.items()},
            "revenue_total_eur": round(sum(self.revenue_eur.values()), 6),
            "objective_eur": round(self.objective_eur, 6),
            "baseline_cost_eur": round(self.baseline_cost_eur, 6),
            "full_equivalent_cycles": round(self.full_equivalent_cycles, 6),
            "simultaneous_charge_discharge_steps": self.simultaneous_steps,
            "idle_steps_without_price": self.idle_steps,
            "fcr_blocks_below_min_bid": self.fcr_blocks_below_min_bid,
            "build_s": self.build_s,
            "solve_s": self.solve_s,
            "message": self.message,
        }


# ---------------------------------------------------------------------------------------------------------------------
# one window


@dataclass
class _Window:
    """Arrays of one optimisation window (a slice of the horizon)."""

    price: FloatArray  # EUR/MWh, 0 where unavailable
    available: NDArray[np.bool_]
    soc0_kWh: float
    soc_end_kWh: float
    load: FloatArray | None = None
    pv: FloatArray | None = None
    import_price: FloatArray | None = None
    export_price: FloatArray | None = None
    month: IntArray | None = None  # billing period per step, 0..M-1 (only with a capacity tariff)
    peak_floor: FloatArray | None = None  # peak already reached in each billing period [kW]
    block: IntArray | None = None  # FCR block per step, -1 for none; blocks numbered 0..B-1 in order
    block_price: FloatArray | None = None  # EUR/MW per block
    seg0_kWh: FloatArray | None = None  # energy in each cycle-depth segment at the start


@dataclass
class _Reduced:
    """The LP with the discharge eliminated through the balance rows (what HiGHS solves by default).

    From the balance row, ``d = Mx y + d0`` with ``y`` every column but ``d`` and ``d0`` nonzero only at step 0
    (``eta_d / dt * soc_start``). The balance rows become the rows ``0 <= d_t <= P``; every other row holding ``d``
    takes ``Mx y`` in its place. Same optimum, a third fewer columns, and HiGHS starts from a basis where every
    step's row is basic, which roughly halves the simplex iterations of a long horizon.
    """

    keep: NDArray[np.bool_]
    Mx: Any  # scipy.sparse.csr_matrix, T x n_y
    d_col0: FloatArray  # the column of d_0 in the other rows
    d_scale: float  # eta_d / dt
    start: NDArray[np.int32]
    index: NDArray[np.int32]
    value: FloatArray


@dataclass
class _Layout:
    T: int
    btm: bool
    M: int
    B: int
    n_col: int
    n_row: int
    start: NDArray[np.int32]
    index: NDArray[np.int32]
    value: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    fcr_steps: IntArray
    block_first: IntArray  # first step of each block
    seg_row: int = 0  # first row of the segment balances
    reduced: _Reduced | None = None

    @property
    def c(self) -> slice:
        return slice(0, self.T)

    @property
    def d(self) -> slice:
        return slice(self.T, 2 * self.T)

    @property
    def s(self) -> slice:
        return slice(2 * self.T, 3 * self.T)

    @property
    def gi(self) -> slice:
        return slice(3 * self.T, 4 * self.T)

    @property
    def ge(self) -> slice:
        return slice(4 * self.T, 5 * self.T)

    @property
    def peak(self) -> slice:
        base = 5 * self.T if self.btm else 3 * self.T
        return slice(base, base + self.M)

    @property
    def r(self) -> slice:
        base = self.peak.stop
        return slice(base, base + self.B)


class _Model:
    """Builds (and caches by window shape) the constraint matrix; fills costs and bounds per window."""

    def __init__(
        self,
        asset: Asset,
        dt_h: float,
        degradation_eur_per_MWh: float,
        fcr: FcrMarket | None,
        segment_costs: FloatArray | None = None,
    ) -> None:
        self.asset = asset
        self.dt = dt_h
        self.deg = degradation_eur_per_MWh
        self.fcr = fcr
        self.seg_cost = segment_costs if segment_costs is not None else np.zeros(0)
        self.J = len(self.seg_cost)
        self.tariff = 0.0  # capacity tariff [EUR/kW per billing period]
        self.eliminate = True  # solve with the discharge substituted out (_Reduced)
        self.cache: dict[tuple[Any, ...], _Layout] = {}

    def layout(self, w: _Window) -> _Layout:
        T = len(w.price)
        btm = w.load is not None
        month = w.month if w.month is not None else np.zeros(0, dtype=np.int64)
        block = w.block if w.block is not None else np.full(T, -1, dtype=np.int64)
        key = (T, btm, month.tobytes(), block.tobytes())
        found = self.cache.get(key)
        if found is None:
            found = self._build(T, btm, month, block)
            self.cache[key] = found
        return found

    def _build(self, T: int, btm: bool, month: IntArray, block: IntArray) -> _Layout:
        a = self.asset
        dt = self.dt
        E = a.energy_kWh
        s_min, s_max = a.soc_min * E, a.soc_max * E
        M = int(month.max()) + 1 if len(month) else 0
        fcr_steps = np.flatnonzero(block >= 0)
        B = int(block.max()) + 1 if len(fcr_steps) else 0
        t = np.arange(T)
        C, D, S = 0, T, 2 * T
        GI, GE = 3 * T, 4 * T
        PEAK = 5 * T if btm else 3 * T
        R = PEAK + M
        J = self.J
        SEG = R + B
        n_col = SEG + 3 * J * T
        rows: list[IntArray] = []
        cols: list[IntArray] = []
        vals: list[FloatArray] = []
        lo: list[FloatArray] = []
        up: list[FloatArray] = []
        n_row = 0

        def add(r: IntArray, c: IntArray, v: FloatArray | float) -> None:
            rows.append(r)
            cols.append(c)
            vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), r.shape).astype(np.float64))

        # balance: s_t - s_{t-1} - eta_c dt c_t + dt/eta_d d_t = (soc0 at t = 0, else 0)
        rb = n_row + t
        add(rb, S + t, 1.0)
        add(rb[1:], S + t[:-1], -1.0)
        add(rb, C + t, -a.charge_efficiency * dt)
        add(rb, D + t, dt / a.discharge_efficiency)
        lo.append(np.zeros(T))
        up.append(np.zeros(T))
        n_row += T
        if btm:
            # meter: g+ - g- - c + d = load - pv
            rm = n_row + t
            add(rm, GI + t, 1.0)
            add(rm, GE + t, -1.0)
            add(rm, C + t, -1.0)
            add(rm, D + t, 1.0)
            lo.append(np.zeros(T))
            up.append(np.zeros(T))
            n_row += T
            if M:
                rp = n_row + t
                add(rp, GI + t, 1.0)
                add(rp, PEAK + month, -1.0)
                lo.append(np.full(T, -np.inf))
                up.append(np.zeros(T))
                n_row += T
        if B:
            f = fcr_steps
            nf = len(f)
            rr = R + block[f]
            act = (self.fcr.activation_minutes if self.fcr else 15.0) / 60.0
            a_dis = act / a.discharge_efficiency
            a_ch = act * a.charge_efficiency
            p_lim = a.power_kW if btm else a.max_discharge_kW
            inf = np.full(nf, np.inf)
            # power headroom both ways
            for sign in (1.0, -1.0):
                rows_k = n_row + np.arange(nf)
                add(rows_k, D + f, sign)
                add(rows_k, C + f, -sign)
                add(rows_k, rr, 1.0)
                lo.append(-inf)
                up.append(np.full(nf, p_lim))
                n_row += nf
            if btm and a.grid_limit_kW is not None:
                for sign in (1.0, -1.0):
                    rows_k = n_row + np.arange(nf)
                    add(rows_k, GI + f, sign)
                    add(rows_k, GE + f, -sign)
                    add(rows_k, rr, 1.0)
                    lo.append(-inf)
                    up.append(np.full(nf, a.grid_limit_kW))
                    n_row += nf
            # energy headroom at the end of every step of the block
            rows_k = n_row + np.arange(nf)
            add(rows_k, S + f, 1.0)
            add(rows_k, rr, -a_dis)
            lo.append(np.full(nf, s_min))
            up.append(inf)
            n_row += nf
            rows_k = n_row + np.arange(nf)
            add(rows_k, S + f, 1.0)
            add(rows_k, rr, a_ch)
            lo.append(-inf)
            up.append(np.full(nf, s_max))
            n_row += nf
            # ... and at the start of the block (the end of the step before it)
            first = np.flatnonzero(np.r_[True, block[f][1:] != block[f][:-1]])
            block_first = f[first]
            inner = block_first > 0
            bf = block_first[inner]
            nb = len(bf)
            for coef, lo_v, up_v in ((-a_dis, s_min, np.inf), (a_ch, -np.inf, s_max)):
                rows_k = n_row + np.arange(nb)
                add(rows_k, S + bf - 1, 1.0)
                add(rows_k, R + block[bf], coef)
                lo.append(np.full(nb, lo_v))
                up.append(np.full(nb, up_v))
                n_row += nb
        else:
            block_first = np.zeros(0, dtype=np.int64)
        seg_row = n_row
        if J:
            # cycle-depth segments j = 0 (top of the window, shallowest) .. J-1 (deepest), each with its own
            # charge cj, discharge dj and energy sj; the aggregates are their sums
            jt = np.arange(J * T)
            tt = jt % T
            CJ, DJ, SJ = SEG, SEG + J * T, SEG + 2 * J * T
            rows_k = n_row + jt
            add(rows_k, SJ + jt, 1.0)
            later = tt > 0
            add(rows_k[later], SJ + jt[later] - 1, -1.0)
            add(rows_k, CJ + jt, -a.charge_efficiency * dt)
            add(rows_k, DJ + jt, dt / a.discharge_efficiency)
            lo.append(np.zeros(J * T))
            up.append(np.zeros(J * T))
            n_row += J * T
            for agg, part in ((C, CJ), (D, DJ), (S, SJ)):
                rows_k = n_row + t
                add(rows_k, agg + t, 1.0)
                add(n_row + tt, part + jt, -1.0)
                value = s_min if agg == S else 0.0
                lo.append(np.full(T, value))
                up.append(np.full(T, value))
                n_row += T
        matrix = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_row, n_col)
        )
        matrix.sum_duplicates()
        reduced = self._reduce(matrix, T, D) if self.eliminate else None
        return _Layout(
            T=T,
            btm=btm,
            M=M,
            B=B,
            n_col=n_col,
            n_row=n_row,
            start=matrix.indptr.astype(np.int32),
            index=matrix.indices.astype(np.int32),
            value=matrix.data.astype(np.float64),
            row_lower=np.concatenate(lo),
            row_upper=np.concatenate(up),
            fcr_steps=fcr_steps,
            block_first=block_first,
            seg_row=seg_row,
            reduced=reduced,
        )

    def _reduce(self, matrix: Any, T: int, D: int) -> _Reduced:
        n_col = matrix.shape[1]
        keep = np.ones(n_col, dtype=bool)
        keep[D : D + T] = False
        rows = matrix.tocsr()
        balance, other = rows[:T], rows[T:]
        scale = self.asset.discharge_efficiency / self.dt
        Mx = (-scale * balance[:, keep]).tocsr()
        other_d = other[:, ~keep]
        reduced = sp.vstack([Mx, other[:, keep] + other_d @ Mx]).tocsc()
        reduced.sum_duplicates()
        return _Reduced(
            keep=keep,
            Mx=Mx,
            d_col0=np.asarray(other_d[:, 0].toarray()).ravel(),
            d_scale=scale,
            start=reduced.indptr.astype(np.int32),
            index=reduced.indices.astype(np.int32),
            value=reduced.data.astype(np.float64),
        )

    def vectors(self, lay: _Layout, w: _Window) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Cost (to minimise), column bounds and row bounds of a window."""
        a = self.asset
        T, dt = lay.T, self.dt
        E = a.energy_kWh
        cost = np.zeros(lay.n_col)
        col_lo = np.zeros(lay.n_col)
        col_up = np.full(lay.n_col, np.inf)
        p_max = a.power_kW if lay.btm else a.max_charge_kW
        col_up[lay.c] = np.where(w.available, p_max, 0.0)
        col_up[lay.d] = np.where(w.available, p_max, 0.0)
        col_lo[lay.s] = a.soc_min * E
        col_up[lay.s] = a.soc_max * E
        col_lo[lay.s.stop - 1] = max(a.soc_min * E, w.soc_end_kWh)
        if self.J:
            J = self.J
            seg = lay.r.stop
            col_up[seg : seg + 2 * J * T] = np.tile(np.where(w.available, p_max, 0.0), 2 * J)
            col_up[seg + 2 * J * T : seg + 3 * J * T] = a.usable_energy_kWh / J
            draw = dt / (a.discharge_efficiency * 1000.0)
            cost[seg + J * T : seg + 2 * J * T] = np.repeat(self.seg_cost * draw, T)
        deg = self.deg * dt / (a.discharge_efficiency * 1000.0)
        if lay.btm:
            assert w.import_price is not None
            assert w.export_price is not None
            cost[lay.gi] = w.import_price * dt / 1000.0
            cost[lay.ge] = -w.export_price * dt / 1000.0
            cost[lay.d] = deg
            if a.grid_limit_kW is not None:
                col_up[lay.gi] = a.grid_limit_kW
                col_up[lay.ge] = a.grid_limit_kW
        else:
            cost[lay.c] = w.price * dt / 1000.0
            cost[lay.d] = -w.price * dt / 1000.0 + deg
        if lay.M:
            assert w.peak_floor is not None
            cost[lay.peak] = self.tariff
            col_lo[lay.peak] = w.peak_floor
        if lay.B:
            assert w.block_price is not None
            assert self.fcr is not None
            cost[lay.r] = -w.block_price / 1000.0
            act = self.fcr.activation_minutes / 60.0
            head = np.inf
            first_at_zero = lay.block_first[0] == 0 if len(lay.block_first) else False
            r_up = np.full(lay.B, a.power_kW if lay.btm else a.max_discharge_kW)
            if first_at_zero:
                head = min(
                    (w.soc0_kWh - a.soc_min * E) * a.discharge_efficiency / act,
                    (a.soc_max * E - w.soc0_kWh) / (a.charge_efficiency * act),
                )
                r_up[0] = min(r_up[0], max(head, 0.0))
            col_up[lay.r] = r_up
        row_lo = lay.row_lower.copy()
        row_up = lay.row_upper.copy()
        row_lo[0] = row_up[0] = w.soc0_kWh
        if self.J:
            assert w.seg0_kWh is not None
            first = lay.seg_row + np.arange(self.J) * T
            row_lo[first] = w.seg0_kWh
            row_up[first] = w.seg0_kWh
        if lay.btm:
            assert w.load is not None
            assert w.pv is not None
            net = w.load - w.pv
            row_lo[T : 2 * T] = net
            row_up[T : 2 * T] = net
        return cost, col_lo, col_up, row_lo, row_up


_STATUS = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE,
}


def _solve(
    highs: Any, lay: _Layout, vectors: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
) -> tuple[SolveStatus, FloatArray, float]:
    cost, col_lo, col_up, row_lo, row_up = vectors
    red = lay.reduced
    offset = 0.0
    n_col, start, index, value = lay.n_col, lay.start, lay.index, lay.value
    if red is not None:
        T = lay.T
        d = slice(T, 2 * T)
        d0 = np.zeros(T)
        d0[0] = red.d_scale * row_lo[0]  # the balance row's right-hand side: soc_start at step 0
        cost_d = cost[d]
        offset = float(cost_d @ d0)
        shift = red.d_col0 * d0[0]
        row_lo = np.concatenate([col_lo[d] - d0, row_lo[T:] - shift])
        row_up = np.concatenate([col_up[d] - d0, row_up[T:] - shift])
        cost = cost[red.keep] + red.Mx.T @ cost_d
        col_lo, col_up = col_lo[red.keep], col_up[red.keep]
        n_col, start, index, value = int(red.keep.sum()), red.start, red.index, red.value
    highs.passModel(
        n_col,
        lay.n_row,
        len(value),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        offset,
        np.ascontiguousarray(cost, dtype=np.float64),
        np.ascontiguousarray(col_lo, dtype=np.float64),
        np.ascontiguousarray(col_up, dtype=np.float64),
        np.ascontiguousarray(row_lo, dtype=np.float64),
        np.ascontiguousarray(row_up, dtype=np.float64),
        start,
        index,
        value,
        np.zeros(n_col, dtype=np.int32),
    )
    highs.run()
    status = _STATUS.get(highs.getModelStatus(), SolveStatus.ERROR)
    if status is not SolveStatus.OPTIMAL:
        return status, np.zeros(0), float("nan")
    y = np.asarray(highs.getSolution().col_value, dtype=np.float64)
    if red is not None:
        x = np.empty(lay.n_col)
        x[red.keep] = y
        x[lay.T : 2 * lay.T] = red.Mx @ y + d0
        y = x
    return status, y, float(highs.getInfo().objective_function_value)


def new_highs(solver: str = "simplex", *, presolve: bool = True) -> Any:
    """A quiet HiGHS instance (``solver``: simplex, ipm or pdlp).

    The bare binding (``highspy._core._Highs``): the ``highspy.Highs`` wrapper prints a banner on stdout when it is
    made, before any option can silence it (which would corrupt ``--json`` output), and adds callback machinery the
    dispatch does not use. Where a highspy release no longer has the binding, the wrapper is made with the process's
    standard output pointed at /dev/null for that moment.
    """
    bare = getattr(getattr(highspy, "_core", None), "_Highs", None)
    if bare is not None:
        highs = bare()
    else:  # pragma: no cover - depends on the installed highspy
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                highs = highspy.Highs()  # type: ignore[no-untyped-call]
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("solver", solver)
    if not presolve:
        highs.setOptionValue("presolve", "off")
    return highs


# ---------------------------------------------------------------------------------------------------------------------
# the horizon


def local_days(timestamps: NDArray[np.datetime64]) -> IntArray:
    """Day number (Europe/Amsterdam calendar day) of each UTC timestamp."""
    local = pl.Series(timestamps.astype("datetime64[us]")).dt.replace_time_zone("UTC").dt.convert_time_zone(LOCAL_TZ)
    return local.dt.date().cast(pl.Int32).to_numpy().astype(np.int64)


def local_months(timestamps: NDArray[np.datetime64]) -> IntArray:
    local = pl.Series(timestamps.astype("datetime64[us]")).dt.replace_time_zone("UTC").dt.convert_time_zone(LOCAL_TZ)
    return (local.dt.year().cast(pl.Int64) * 12 + local.dt.month().cast(pl.Int64)).to_numpy()


def fcr_blocks(timestamps: NDArray[np.datetime64], block_hours: float) -> IntArray:
    """Block id per step: blocks of ``block_hours`` in Europe/Amsterdam local time, numbered 0.. in order."""
    local = pl.Series(timestamps.astype("datetime64[us]")).dt.replace_time_zone("UTC").dt.convert_time_zone(LOCAL_TZ)
    day = local.dt.date().cast(pl.Int64).to_numpy()
    hours = local.dt.hour().cast(pl.Float64).to_numpy() + local.dt.minute().cast(pl.Float64).to_numpy() / 60.0
    key = day * 1000 + np.floor(hours / block_hours).astype(np.int64)
    change = np.r_[True, key[1:] != key[:-1]]
    return np.cumsum(change).astype(np.int64) - 1


def _dense(ids: IntArray) -> IntArray:
    change = np.r_[True, ids[1:] != ids[:-1]] if len(ids) else np.zeros(0, dtype=bool)
    return np.cumsum(change).astype(np.int64) - 1


def dispatch(
    timestamps: NDArray[np.datetime64],
    price_eur_per_MWh: FloatArray,
    asset: Asset,
    *,
    step_minutes: int,
    horizon: Horizon = Horizon.FULL,
    degradation_eur_per_MWh: float = 0.0,
    behind_the_meter: BehindTheMeter | None = None,
    fcr: FcrMarket | None = None,
    cycle_depth_costs_eur_per_MWh: FloatArray | None = None,
    solver: str = "simplex",
    presolve: bool | None = None,
    eliminate_discharge: bool = True,
) -> DispatchResult:
    """Schedule ``asset`` against the prices on a regular UTC grid ``timestamps`` (interval starts).

    A step whose price is NaN (a gap in the price file) is idle: no charge, no discharge, state of charge kept; the
    count is ``idle_steps``. In the rolling horizon each window is one Europe/Amsterdam day, scheduled at 12:00 the
    day before with that day's day-ahead prices (and its FCR prices, known since the 08:00 FCR auction) and nothing
    later; its state of charge starts where the previous day's schedule ends and ends at least at ``soc_end``.

    ``cycle_depth_costs_eur_per_MWh`` (from :func:`batteryloop.energy.degradation.cycle_depth_segment_costs`) splits
    the state-of-charge window into equal segments, shallowest first, each with its own cost per MWh drawn from it;
    the energy present at the start of each window fills the deepest segments first (so a rolling window inherits
    only the state of charge, not the previous window's choice among equally good segment splits).

    ``presolve`` (default: off for bare arbitrage, on otherwise) and ``eliminate_discharge`` (solve the LP with the
    discharge substituted out through the balance rows, see :class:`_Reduced`) only change the speed.
    """
    t_build = time.perf_counter()
    ts = np.asarray(timestamps).astype("datetime64[us]")
    price = np.asarray(price_eur_per_MWh, dtype=np.float64)
    T = len(ts)
    if T == 0 or len(price) != T:
        raise ValidationError(
            "prices and timestamps differ in length or are empty", field="prices", expected="one price per step"
        )
    step = np.timedelta64(step_minutes * 60_000_000, "us")
    if T > 1 and np.any(np.diff(ts) != step):
        raise ValidationError(
            "timestamps are not a regular grid", field="timestamps", expected=f"every {step_minutes} minutes"
        )
    if degradation_eur_per_MWh < 0 or not np.isfinite(degradation_eur_per_MWh):
        raise ValidationError(
            "degradation cost must be a non-negative number", field="degradation_eur_per_MWh", expected=">= 0"
        )
    dt = step_minutes / 60.0
    available = np.isfinite(price)
    price0 = np.where(available, price, 0.0)
    seg_costs = None
    if cycle_depth_costs_eur_per_MWh is not None:
        seg_costs = np.asarray(cycle_depth_costs_eur_per_MWh, dtype=np.float64)
        if seg_costs.ndim != 1 or len(seg_costs) == 0 or not np.all(np.isfinite(seg_costs)) or np.any(seg_costs < 0):
            raise ValidationError(
                "cycle-depth costs must be non-negative numbers, one per segment",
                field="cycle_depth_costs_eur_per_MWh",
                expected="e.g. cycle_depth_segment_costs(...)",
            )
    model = _Model(asset, dt, degradation_eur_per_MWh, fcr, seg_costs)
    model.eliminate = eliminate_discharge
    btm = behind_the_meter
    if btm is not None:
        for name, arr in (("load_kW", btm.load_kW), ("pv_kW", btm.pv_kW)):
            if len(arr) != T or not np.all(np.isfinite(arr)):
                raise ValidationError(
                    f"the {name} profile does not cover every step", field=name, expected=f"{T} finite values"
                )
        if not np.all(available):
            raise ValidationError(
                "behind the meter every step needs a price", field="prices", expected="prices without gaps"
            )
        if btm.peak_period not in ("month", "horizon"):
            raise ValidationError(
                f"unknown peak period {btm.peak_period!r}", field="peak_period", expected="month or horizon"
            )
        model.tariff = btm.capacity_tariff_eur_per_kW
    if fcr is not None and len(fcr.price_eur_per_MW) != T:
        raise ValidationError("FCR prices do not cover every step", field="fcr", expected=f"{T} values (NaN = none)")
    months = local_months(ts) if btm is not None and btm.capacity_tariff_eur_per_kW > 0 else None
    if months is not None and btm is not None and btm.peak_period == "horizon":
        months = np.zeros(T, dtype=np.int64)
    blocks: IntArray | None = None
    if fcr is not None:
        blocks = fcr_blocks(ts, fcr.block_hours)
        offered = np.isfinite(fcr.price_eur_per_MW)
        blocks = np.where(offered, blocks, -1)
    if horizon is Horizon.FULL:
        bounds = [(0, T)]
    else:
        day = local_days(ts)
        cuts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        edges = np.r_[cuts, T]
        bounds = [(int(edges[i]), int(edges[i + 1])) for i in range(len(cuts))]
    # measured (bench/energy_dispatch.py): presolve finds nothing to remove in the bare arbitrage LP and costs about
    # a fifth of its solve time; with more services it pays
    if presolve is None:
        presolve = not (btm is None and fcr is None and model.J == 0)
    highs = new_highs(solver, presolve=presolve)
    E = asset.energy_kWh
    soc = asset.soc_start * E
    depth_cost = 0.0

    def segments_at(energy_kWh: float) -> FloatArray | None:
        """Energy per cycle-depth segment for a state of charge: the deepest segment (the last) fills first."""
        if not model.J:
            return None
        cap = asset.usable_energy_kWh / model.J
        above = energy_kWh - asset.soc_min * E
        return np.asarray(np.clip(above - cap * np.arange(model.J), 0.0, cap)[::-1], dtype=np.float64)

    peak_floor: dict[int, float] = {}
    xs: list[tuple[_Layout, FloatArray, int, int, IntArray | None]] = []
    build_s = time.perf_counter() - t_build
    solve_s = 0.0
    window_times: list[float] = []
    objective = 0.0
    status = SolveStatus.OPTIMAL
    message = ""
    for lo, hi in bounds:
        t0 = time.perf_counter()
        w = _Window(
            price=price0[lo:hi],
            available=available[lo:hi],
            soc0_kWh=soc,
            soc_end_kWh=asset.soc_end * E,
            seg0_kWh=segments_at(soc),
        )
        if btm is not None:
            w.load = np.asarray(btm.load_kW[lo:hi], dtype=np.float64)
            w.pv = np.asarray(btm.pv_kW[lo:hi], dtype=np.float64)
            w.import_price = price0[lo:hi] + btm.import_adder_eur_per_MWh
            w.export_price = price0[lo:hi] + btm.export_adder_eur_per_MWh
        month_ids: IntArray | None = None
        if months is not None:
            month_ids = months[lo:hi]
            w.month = _dense(month_ids)
            firsts = month_ids[np.r_[True, month_ids[1:] != month_ids[:-1]]]
            w.peak_floor = np.array([peak_floor.get(int(m), 0.0) for m in firsts])
        if blocks is not None and fcr is not None:
            b = blocks[lo:hi]
            has = b >= 0
            dense = np.full(hi - lo, -1, dtype=np.int64)
            if np.any(has):
                dense[has] = _dense(b[has])
                firsts_b = np.flatnonzero(has)[np.r_[True, b[has][1:] != b[has][:-1]]]
                prices_b = fcr.price_eur_per_MW[lo:hi][firsts_b]
                w.block_price = prices_b
            w.block = dense
        lay = model.layout(w)
        vec = model.vectors(lay, w)
        t1 = time.perf_counter()
        st, x, obj = _solve(highs, lay, vec)
        t2 = time.perf_counter()
        build_s += t1 - t0
        solve_s += t2 - t1
        window_times.append(t2 - t0)
        if st is not SolveStatus.OPTIMAL:
            status = st
            message = f"window starting {_iso(ts[lo])} is {st.value}"
            break
        objective -= obj
        if lay.M and month_ids is not None and w.peak_floor is not None:
            firsts = month_ids[np.r_[True, month_ids[1:] != month_ids[:-1]]]
            for k, m in enumerate(firsts):
                new = float(x[lay.peak][k])
                # the objective paid tariff * peak; only the rise above the floor is new cost
                objective += model.tariff * float(w.peak_floor[k])
                peak_floor[int(m)] = max(peak_floor.get(int(m), 0.0), new)
        soc = float(x[lay.s][-1])
        if model.J:
            Tw, J = lay.T, model.J
            seg = lay.r.stop
            dj = x[seg + J * Tw : seg + 2 * J * Tw].reshape(J, Tw)
            depth_cost += float(np.sum(model.seg_cost * dj.sum(axis=1)) * dt / (asset.discharge_efficiency * 1000.0))
        xs.append((lay, x, lo, hi, w.block))
    t3 = time.perf_counter()
    result = _assemble(
        ts,
        price,
        asset,
        dt,
        degradation_eur_per_MWh,
        btm,
        fcr,
        months,
        xs,
        status,
        horizon,
        len(bounds),
        objective,
    )
    build_s += time.perf_counter() - t3
    if model.J:
        result.revenue_eur["cycle_depth"] = -depth_cost
    result.build_s = build_s
    result.solve_s = solve_s
    result.window_s = window_times
    result.message = message
    return result


def _iso(value: np.datetime64) -> str:
    return str(value.astype("datetime64[m]")) + "Z"


def _assemble(
    ts: NDArray[np.datetime64],
    price: FloatArray,
    asset: Asset,
    dt: float,
    deg_cost: float,
    btm: BehindTheMeter | None,
    fcr: FcrMarket | None,
    months: IntArray | None,
    xs: list[tuple[_Layout, FloatArray, int, int, IntArray | None]],
    status: SolveStatus,
    horizon: Horizon,
    windows: int,
    objective: float,
) -> DispatchResult:
    T = len(ts)
    nan = np.full(T, np.nan)
    charge, discharge, soc, fcr_kW = nan.copy(), nan.copy(), nan.copy(), np.zeros(T)
    gi, ge = nan.copy(), nan.copy()
    fcr_block_values: list[float] = []
    fcr_revenue = 0.0
    for lay, x, lo, hi, block in xs:
        charge[lo:hi] = x[lay.c]
        discharge[lo:hi] = x[lay.d]
        soc[lo:hi] = x[lay.s]
        if lay.btm:
            gi[lo:hi] = x[lay.gi]
            ge[lo:hi] = x[lay.ge]
        if lay.B and fcr is not None and block is not None:
            r = x[lay.r]
            has = block >= 0
            fcr_kW[lo:hi][has] = r[block[has]]
            prices_b = fcr.price_eur_per_MW[lo:hi][lay.block_first]
            fcr_revenue += float(np.sum(prices_b * r) / 1000.0)
            fcr_block_values.extend(r.tolist())
    solved = np.isfinite(charge)
    available = np.isfinite(price)
    p0 = np.where(available, price, 0.0)
    c0 = np.where(solved, charge, 0.0)
    d0 = np.where(solved, discharge, 0.0)
    drawn_kWh = float(np.sum(d0) * dt / asset.discharge_efficiency)
    revenue: dict[str, float] = {}
    baseline = 0.0
    if btm is None:
        revenue["arbitrage"] = float(np.sum(p0 * (d0 - c0)) * dt / 1000.0)
    else:
        net = np.asarray(btm.load_kW, dtype=np.float64) - np.asarray(btm.pv_kW, dtype=np.float64)
        pi = p0 + btm.import_adder_eur_per_MWh
        pe = p0 + btm.export_adder_eur_per_MWh
        imp0, exp0 = np.maximum(net, 0.0), np.maximum(-net, 0.0)
        energy0 = float(np.sum(pi * imp0 - pe * exp0) * dt / 1000.0)
        gi0, ge0 = np.where(solved, gi, imp0), np.where(solved, ge, exp0)
        energy = float(np.sum(pi * gi0 - pe * ge0) * dt / 1000.0)
        cap0 = cap = 0.0
        if months is not None:
            for m in np.unique(months):
                sel = months == m
                cap0 += btm.capacity_tariff_eur_per_kW * float(imp0[sel].max())
                cap += btm.capacity_tariff_eur_per_kW * float(gi0[sel].max())
        baseline = energy0 + cap0
        revenue["energy"] = energy0 - energy
        revenue["peak_shaving"] = cap0 - cap
    if fcr is not None:
        revenue["fcr"] = fcr_revenue
    if deg_cost > 0:
        revenue["degradation"] = -deg_cost * drawn_kWh / 1000.0
    tol = 1e-6 * asset.power_kW
    simultaneous = int(np.sum((c0 > tol) & (d0 > tol)))
    below = 0
    if fcr is not None:
        vals = np.asarray(fcr_block_values)
        below = int(np.sum((vals > 1e-6 * asset.power_kW) & (vals < fcr.min_bid_MW * 1000.0 - 1e-6)))
    data: dict[str, Any] = {
        "timestamp_utc": pl.Series(ts).dt.replace_time_zone("UTC"),
        "price_eur_per_MWh": price,
        "charge_kW": charge,
        "discharge_kW": discharge,
        "soc_kWh": soc,
        "fcr_kW": fcr_kW,
    }
    if btm is not None:
        data["grid_import_kW"] = gi
        data["grid_export_kW"] = ge
    schedule = pl.DataFrame(data)
    return DispatchResult(
        schedule=schedule,
        revenue_eur=revenue,
        objective_eur=objective,
        baseline_cost_eur=baseline,
        full_equivalent_cycles=drawn_kWh / asset.energy_kWh,
        simultaneous_steps=simultaneous,
        status=status,
        horizon=horizon,
        windows=windows,
        build_s=0.0,
        solve_s=0.0,
        idle_steps=int(np.sum(~available)),
        fcr_blocks_below_min_bid=below,
    )


@dataclass(frozen=True)
class LinearProgramme:
    """The LP of one window as arrays (minimise ``cost @ x``), for checks against other solvers."""

    matrix: Any  # scipy.sparse.csc_matrix
    cost: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray


def arbitrage_lp(
    price_eur_per_MWh: FloatArray, asset: Asset, *, step_minutes: int, degradation_eur_per_MWh: float = 0.0
) -> LinearProgramme:
    """The front-of-the-meter arbitrage LP over the whole of ``price_eur_per_MWh`` as :func:`dispatch` builds it
    (one window, NaN prices idle), in its equality form: before the discharge is eliminated (:class:`_Reduced`)."""
    price = np.asarray(price_eur_per_MWh, dtype=np.float64)
    available = np.isfinite(price)
    model = _Model(asset, step_minutes / 60.0, degradation_eur_per_MWh, None)
    w = _Window(
        price=np.where(available, price, 0.0),
        available=available,
        soc0_kWh=asset.soc_start * asset.energy_kWh,
        soc_end_kWh=asset.soc_end * asset.energy_kWh,
    )
    lay = model.layout(w)
    cost, col_lo, col_up, row_lo, row_up = model.vectors(lay, w)
    matrix = sp.csc_matrix((lay.value, lay.index, lay.start), shape=(lay.n_row, lay.n_col))
    return LinearProgramme(matrix, cost, col_lo, col_up, row_lo, row_up)
