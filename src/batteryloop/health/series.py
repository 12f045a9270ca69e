"""One battery's time series as NumPy arrays, with the integrals every estimate shares.

:class:`TimeSeries` holds the canonical columns of one battery (:mod:`batteryloop.telemetry.schema`) as arrays and
computes, once and vectorised, the sample weights of the trapezoidal rule and the running integrals of current and
power. Nothing here loops over samples, and the few full-length work arrays are written in place: at 31.5 million
samples (a year at 1 Hz) each pass over an array costs tens of milliseconds, a fresh array more.

Integration is the trapezoidal rule, split per sample: sample ``k`` carries the weight ``w_k = (d_k-1 + d_k) / 2``
where ``d_k`` is the interval to the next sample. An interval longer than ``max_gap_s`` is not integrated
(``d_k = 0``): with current flowing at either end it is *uncovered* (the charge in it is unknown, and its duration is
reported); at rest on both ends (a logger asleep while the battery is parked) nothing flowed. The same weights give
the time spent in a state (:meth:`TimeSeries.duration_where`).

Cycler data carries a ``step_index``: a cycler logs a record at the end of each step and then every logging period,
so the current of the first record of a new step held over the whole interval before it. An interval whose two
samples belong to different steps is therefore integrated with the current of its later sample (the backward
rectangle rule) instead of the trapezoid, which would smear a step change over up to a logging period (0.5 % of a
1 C discharge at 30 s logging).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
import polars as pl
from numpy.typing import NDArray

from batteryloop.errors import Problem, ValidationError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

SECONDS_PER_HOUR = 3600.0
_ADD_AT_MOST = 64  # more samples than this missing from the prepared running integrals: one pass over all samples


@dataclass(frozen=True, eq=False)
class TimeSeries:
    """The samples of one battery.

    Parameters
    ----------
    time_s : ndarray
        Sample times since ``start``, strictly increasing. [s]
    current_A : ndarray
        Current, positive while charging. [A]
    voltage_V : ndarray
        Terminal voltage of the pack (or the cell when ``cells_in_series`` is 1). [V]
    start : datetime
        UTC time of ``time_s == 0``.
    rest_current_A : float
        Largest |current| that counts as rest. [A]
    max_gap_s : float
        Longest interval that is integrated. [s]
    cells_in_series : int
        Cells in series; ``voltage_V / cells_in_series`` is the mean cell voltage.
    temperature_C, temperature_max_C, cell_voltage_min_V, cell_voltage_max_V, soc_pct : ndarray or None
        Optional columns, NaN where not measured. [degC], [V], [%]
    step_index : ndarray or None
        Cycler step of each sample; intervals across a step change take the current of their later sample.
    """

    time_s: FloatArray
    current_A: FloatArray
    voltage_V: FloatArray
    start: datetime
    rest_current_A: float
    max_gap_s: float
    cells_in_series: int = 1
    temperature_C: FloatArray | None = None
    temperature_max_C: FloatArray | None = None
    cell_voltage_min_V: FloatArray | None = None
    cell_voltage_max_V: FloatArray | None = None
    soc_pct: FloatArray | None = None
    step_index: NDArray[np.int64] | None = None
    _prepared: tuple[IntArray, FloatArray] | None = field(default=None, init=False, repr=False)

    @property
    def n(self) -> int:
        return int(self.time_s.shape[0])

    def timestamp(self, seconds: float) -> datetime:
        """The UTC time ``seconds`` after the start."""
        return self.start + timedelta(seconds=float(seconds))

    def cell_voltage_at(self, idx: IntArray) -> FloatArray:
        """Mean cell voltage at the samples ``idx`` [V] (the full-length array is never made)."""
        v = self.voltage_V[idx]
        return v if self.cells_in_series == 1 else v / float(self.cells_in_series)

    @cached_property
    def rest(self) -> BoolArray:
        """Samples at rest (|current| <= ``rest_current_A``)."""
        r = self.current_A <= self.rest_current_A
        r &= self.current_A >= -self.rest_current_A
        return r

    @cached_property
    def _long(self) -> tuple[IntArray, IntArray]:
        """Intervals ``k -> k+1`` longer than ``max_gap_s``: all of them, and those with current at an end."""
        t = self.time_s
        # an interval longer than the limit makes the two-interval spans around it longer too: search those only
        span = t[2:] - t[:-2] if self.n > 2 else np.zeros(0)
        near = np.flatnonzero(span > self.max_gap_s)
        cand = np.unique(np.concatenate((near, near + 1, [0, self.n - 2] if self.n >= 2 else [])).astype(np.int64))
        cand = cand[(cand >= 0) & (cand < self.n - 1)]
        long = cand[(t[cand + 1] - t[cand]) > self.max_gap_s]
        rest = self.rest
        flowing = ~(rest[long] & rest[long + 1])
        return long, long[flowing]

    def interval_at(self, idx: IntArray) -> FloatArray:
        """Integrated length of the interval from each sample of ``idx`` to the next (0 for the last sample and for
        intervals longer than ``max_gap_s``). [s]"""
        idx = np.asarray(idx, dtype=np.int64)
        nxt = np.minimum(idx + 1, self.n - 1)
        d = self.time_s[nxt] - self.time_s[idx]
        return np.where(d > self.max_gap_s, 0.0, d)

    @property
    def uncovered(self) -> IntArray:
        """Indices ``k`` of the intervals ``k -> k+1`` longer than ``max_gap_s`` with current at an end."""
        return self._long[1]

    @cached_property
    def uncovered_s(self) -> float:
        """Total duration of the uncovered intervals. [s]"""
        u = self.uncovered
        return float((self.time_s[u + 1] - self.time_s[u]).sum()) if u.size else 0.0

    @cached_property
    def weight_s(self) -> FloatArray:
        """Trapezoidal weight of each sample: half the integrated intervals on either side. [s]"""
        t = self.time_s
        n = self.n
        w = np.empty(n)
        if n > 2:
            np.subtract(t[2:], t[:-2], out=w[1:-1])
        w[0] = t[1] - t[0]
        w[-1] = t[-1] - t[-2]
        long = self._long[0]
        if long.size:
            d = t[long + 1] - t[long]
            np.subtract.at(w, long, d)
            np.subtract.at(w, long + 1, d)
        w *= 0.5
        step = self._step_changes
        if step.size:
            half = 0.5 * self.interval_at(step)
            w[step] -= half
            w[step + 1] += half
        return w

    @cached_property
    def _step_changes(self) -> IntArray:
        """Intervals ``k -> k+1`` whose samples belong to different cycler steps."""
        if self.step_index is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.step_index[1:] != self.step_index[:-1]).astype(np.int64)

    def forward_at(self, idx: IntArray) -> FloatArray:
        """The part of the interval after each sample of ``idx`` that the sample's own value integrates over (half
        the interval; none across a step change). [s]"""
        idx = np.asarray(idx, dtype=np.int64)
        d = 0.5 * self.interval_at(idx)
        step = self._step_changes
        if step.size:
            d = np.where(np.isin(idx, step), 0.0, d)
        return d

    @cached_property
    def observed_s(self) -> float:
        """Time covered by integrated intervals. [s]"""
        long = self._long[0]
        total = float(self.time_s[-1] - self.time_s[0])
        return total - float((self.time_s[long + 1] - self.time_s[long]).sum())

    def duration_where(self, mask: BoolArray) -> float:
        """Time spent in the state ``mask`` (per sample), over the integrated intervals. [s]

        Each interval counts half for the state of each of its two samples (the trapezoidal rule), so a state that
        begins or ends between two samples counts half the interval in which it changed.
        """
        return float(np.sum(self.weight_s, where=mask))

    # --- integrals --------------------------------------------------------------------------------------------

    @cached_property
    def scratch(self) -> FloatArray:
        """One full-length work array shared by the computations that need one (its content is never kept).

        Fresh full-length arrays are the expensive part at 31.5 million samples (the memory must be mapped in),
        so the integrals and the step search write into this one.
        """
        return np.empty(self.n)

    def prepare(self, *index_sets: IntArray) -> None:
        """Compute the running integrals of current, |current|, power and |power| at the given sample indices
        (added to those prepared before, with the first and last sample), in one pass per quantity.

        :meth:`charge_between` and :meth:`energy_between` prepare what they are asked for themselves; preparing
        every index set at once first saves passes over the samples.
        """
        parts = [np.asarray(i, dtype=np.int64).ravel() for i in index_sets]
        have = self._prepared[0] if self._prepared is not None else np.array([0, self.n - 1], dtype=np.int64)
        idx = np.unique(np.concatenate([have, *parts]))
        if self._prepared is not None and idx.size == have.size:
            return
        work = self.scratch
        w = self.weight_s
        out = np.empty((4, idx.size))
        for row, (first, second) in enumerate(((self.current_A, None), (self.voltage_V, self.current_A))):
            if second is None:
                np.multiply(first, w, out=work)
            else:
                np.multiply(first, second, out=work)
                work *= w
            for k in range(2):
                if k == 1:
                    np.abs(work, out=work)
                seg = np.add.reduceat(work, idx)  # sums from each index up to the next one
                at = work[idx]
                running = np.concatenate(([0.0], np.cumsum(seg[:-1]))) + at  # inclusive of the sample itself
                out[2 * row + k] = running
        object.__setattr__(self, "_prepared", (idx, out))

    def _running_at(self, idx: IntArray) -> FloatArray:
        """Running integrals (4 rows: I, |I|, P, |P| times the weights, summed) at the samples ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        if self._prepared is None:
            self.prepare(idx)
        assert self._prepared is not None
        have, values = self._prepared
        pos = np.searchsorted(have, idx)
        known = pos < have.size
        known[known] = have[pos[known]] == idx[known]
        if not known.all():
            missing = np.unique(idx[~known])
            if missing.size > _ADD_AT_MOST:
                self.prepare(missing)
            else:
                self._add(missing)
            have, values = self._prepared
            pos = np.searchsorted(have, idx)
        return values[:, pos]

    def _add(self, missing: IntArray) -> None:
        """Running integrals at a few more samples, each from the prepared sample before it: a pass over the samples
        in between only, not over the whole series."""
        assert self._prepared is not None
        have, values = self._prepared
        before = np.searchsorted(have, missing, side="right") - 1  # sample 0 is always prepared
        w = self.weight_s
        added = np.empty((4, missing.size))
        last = -1  # the previous sample added (``missing`` is sorted): a chain, so no sample is summed twice
        for k, (j, b) in enumerate(zip(missing.tolist(), before.tolist(), strict=True)):
            start, base = (last, added[:, k - 1]) if last > have[b] else (int(have[b]), values[:, b])
            lo = start + 1
            q = self.current_A[lo : j + 1] * w[lo : j + 1]
            p = self.voltage_V[lo : j + 1] * self.current_A[lo : j + 1]
            p *= w[lo : j + 1]
            added[:, k] = base + np.array([q.sum(), np.abs(q).sum(), p.sum(), np.abs(p).sum()])
            last = j
        idx = np.concatenate((have, missing))
        order = np.argsort(idx, kind="stable")
        object.__setattr__(self, "_prepared", (idx[order], np.concatenate((values, added), axis=1)[:, order]))

    @cached_property
    def totals(self) -> tuple[float, float, float, float]:
        """Charge in, charge out [Ah], energy in, energy out [Wh] over the whole series."""
        q_net, q_abs, e_net, e_abs = (float(x) for x in self._running_at(np.array([self.n - 1]))[:, 0])
        h = SECONDS_PER_HOUR
        return (q_abs + q_net) / 2 / h, (q_abs - q_net) / 2 / h, (e_abs + e_net) / 2 / h, (e_abs - e_net) / 2 / h

    def _between(self, indices: IntArray, energy: bool) -> tuple[FloatArray, FloatArray]:
        """In and out integrals between consecutive sample ``indices``: running sums corrected at both ends so that
        exactly the intervals from ``indices[k]`` to ``indices[k + 1]`` count."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size < 2:
            return np.zeros(0), np.zeros(0)
        run = self._running_at(idx)
        row = 2 if energy else 0
        x = self.current_A[idx] * (self.voltage_V[idx] if energy else 1.0)
        d = self.forward_at(idx)
        out = []
        for k, xv in enumerate((x, np.abs(x))):
            half = xv * d
            r = run[row + k]
            out.append(r[1:] - r[:-1] + half[:-1] - half[1:])
        net, tot = out
        h = SECONDS_PER_HOUR
        return (tot + net) / 2 / h, (tot - net) / 2 / h

    def charge_between(self, indices: IntArray) -> tuple[FloatArray, FloatArray]:
        """Charge in and out [Ah] between consecutive sample ``indices`` (sorted)."""
        return self._between(indices, energy=False)

    def energy_between(self, indices: IntArray) -> tuple[FloatArray, FloatArray]:
        """Energy in and out [Wh] between consecutive sample ``indices`` (sorted)."""
        return self._between(indices, energy=True)

    def uncovered_between(self, indices: IntArray) -> IntArray:
        """Number of uncovered intervals between consecutive sample ``indices``."""
        pos = np.searchsorted(self.uncovered, np.asarray(indices, dtype=np.int64), side="left")
        return np.diff(pos).astype(np.int64)


def _column(frame: pl.DataFrame, name: str) -> FloatArray | None:
    if name not in frame.columns:
        return None
    series = frame.get_column(name)
    nulls = series.null_count()
    if nulls == series.len():
        return None
    if series.dtype != pl.Float64:
        series = series.cast(pl.Float64)
    return series.to_numpy()  # nulls become NaN in the one copy this makes


def from_frame(frame: pl.DataFrame, *, rest_current_A: float, max_gap_s: float, cells_in_series: int = 1) -> TimeSeries:
    """The :class:`TimeSeries` of a canonical frame of one battery (sorted, no duplicate timestamps).

    Raises :class:`~batteryloop.errors.ValidationError` naming the column when a required one is missing, holds
    empty values, or the timestamps do not increase (run :func:`batteryloop.telemetry.quality.check` first).
    """
    problems: list[Problem] = []
    for name in ("timestamp", "current_A", "voltage_V"):
        if name not in frame.columns:
            problems.append(Problem(name, "column missing", "the canonical columns of batteryloop.telemetry.schema"))
        elif frame.get_column(name).null_count():
            count = frame.get_column(name).null_count()
            problems.append(
                Problem(name, f"{count} empty value(s)", "no empty values (quality.check repairs or rejects them)")
            )
    if problems:
        raise ValidationError("the frame cannot be analysed", problems=problems)
    if frame.height < 2:
        raise ValidationError(f"{frame.height} sample(s)", field="timestamp", expected="at least 2 samples")
    if cells_in_series < 1:
        raise ValidationError(f"cells in series {cells_in_series}", field="cells_in_series", expected="1 or more")
    ts = frame.get_column("timestamp")
    if not isinstance(ts.dtype, pl.Datetime):
        raise ValidationError(f"timestamp is {ts.dtype}", field="timestamp", expected="Datetime(us, UTC)")
    if ts.dtype.time_unit != "us":
        ts = ts.dt.cast_time_unit("us")
    micros = ts.to_physical().to_numpy()
    back = np.flatnonzero(micros[1:] <= micros[:-1])
    if back.size:
        row = int(back[0]) + 1
        raise ValidationError(
            f"timestamps do not increase at row {row}",
            field=f"timestamp:row {row}",
            expected="sorted timestamps without duplicates (run quality.check first)",
        )
    t0 = int(micros[0])
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t0)
    time_s = np.empty(micros.size)
    np.subtract(micros, t0, out=time_s, casting="unsafe")
    time_s *= 1e-6
    current = _column(frame, "current_A")
    voltage = _column(frame, "voltage_V")
    assert current is not None
    assert voltage is not None
    return TimeSeries(
        time_s=time_s,
        current_A=current,
        voltage_V=voltage,
        start=start,
        rest_current_A=rest_current_A,
        max_gap_s=max_gap_s,
        cells_in_series=cells_in_series,
        temperature_C=_column(frame, "temperature_C"),
        temperature_max_C=_column(frame, "temperature_max_C"),
        cell_voltage_min_V=_column(frame, "cell_voltage_min_V"),
        cell_voltage_max_V=_column(frame, "cell_voltage_max_V"),
        soc_pct=_column(frame, "soc_pct"),
        step_index=_steps(frame),
    )


def _steps(frame: pl.DataFrame) -> NDArray[np.int64] | None:
    if "step_index" not in frame.columns:
        return None
    col = frame.get_column("step_index")
    if col.null_count() == col.len():
        return None
    return col.cast(pl.Int64).fill_null(-1).to_numpy()
