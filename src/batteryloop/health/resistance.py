"""Ohmic / internal resistance from current steps in the data: dV/dI read 1-10 s after a step.

A *step* is a change of current of at least ``min_step_A`` between two samples, with the current steady before it
(the two samples before agree within ``steady_fraction`` of the step) and during the reading. The resistance is

    R = (V(t_k-1 + dt) - V(t_k-1)) / (I(t_k-1 + dt) - I(t_k-1))

where ``t_k-1`` is the last sample before the step and ``dt`` the first sample time at least ``min_dt_s`` after it,
which must lie within ``max_dt_s`` (with 1 Hz data: the first sample after the step; with 0.1 Hz data: 10 s). This
is the "quotient of change of voltage by the corresponding change of current" of IEV 482-03-36 as the Battery Pass
content guidance asks for the ohmic resistance, read like the 10 s pulse resistance of the USABC HPPC test. With
current positive while charging, R is positive. With a pack voltage it is the pack's resistance.

The per-step values scatter with the voltage noise over the current step: steps are weighted by ``dI^2`` (the
inverse variance of ``dV / dI`` for a given voltage noise) and combined by :func:`batteryloop.health.annex_vii.trend`.

References
----------
.. [1] IEC 60050-482:2004, International Electrotechnical Vocabulary - Primary and secondary cells and batteries,
   482-03-36 (internal resistance).
.. [2] Idaho National Laboratory, "Battery Test Manual for Electric Vehicles", Revision 3 (2015), INL/EXT-15-34184,
   section 3.3 (hybrid pulse power characterisation, 10 s pulses).
.. [3] W. Waag, S. Kaebitz, D. U. Sauer, "Experimental investigation of the lithium-ion battery impedance
   characteristic at various conditions and aging states and its influence on the application", Appl. Energy 102
   (2013) 885, doi:10.1016/j.apenergy.2012.09.030 (resistance from current steps in operation, its dependence on
   temperature and SoC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from batteryloop.health.series import FloatArray, IntArray, TimeSeries


@dataclass(frozen=True)
class Steps:
    """Current steps and the resistance each gives.

    ``before`` is the sample before the step and ``reading`` the sample read after it (indices); ``delta_I_A``
    [A] and ``delta_V_V`` [V] are the changes between them; ``resistance_Ohm`` their quotient [Ohm];
    ``temperature_C`` the temperature at the reading (NaN where unknown) [degC].
    """

    before: IntArray
    reading: IntArray
    delta_I_A: FloatArray
    delta_V_V: FloatArray
    resistance_Ohm: FloatArray
    temperature_C: FloatArray

    def __len__(self) -> int:
        return int(self.before.size)

    def select(self, mask: np.ndarray) -> Steps:
        return Steps(
            self.before[mask],
            self.reading[mask],
            self.delta_I_A[mask],
            self.delta_V_V[mask],
            self.resistance_Ohm[mask],
            self.temperature_C[mask],
        )


def current_steps(
    series: TimeSeries,
    *,
    min_step_A: float,
    min_dt_s: float,
    max_dt_s: float,
    steady_fraction: float,
) -> Steps:
    """Find the current steps of ``series`` and the dV/dI of each (vectorised).

    Parameters
    ----------
    series : TimeSeries
        The samples (pack voltage gives the pack's resistance).
    min_step_A : float
        Smallest change of current that counts as a step. [A]
    min_dt_s, max_dt_s : float
        The reading is the first sample at least ``min_dt_s`` after the last sample before the step; it must be
        within ``max_dt_s`` of it. [s]
    steady_fraction : float
        Before the step (between the two samples before it) and during the reading (between the first sample after
        the step and the reading) the current may change by at most this fraction of the step. [1]

    Returns
    -------
    Steps
        One entry per clean step.
    """
    i = series.current_A
    v = series.voltage_V
    t = series.time_s
    n = series.n
    empty = Steps(*(np.zeros(0, dtype=np.int64),) * 2, *(np.zeros(0),) * 4)
    if n < 3:
        return empty
    jump = series.scratch[: n - 1]
    np.subtract(i[1:], i[:-1], out=jump)
    np.abs(jump, out=jump)
    k = np.flatnonzero(jump >= min_step_A) + 1  # first sample after the step
    k = k[k >= 2]
    if k.size == 0:
        return empty
    before = k - 1
    reading = np.searchsorted(t, t[before] + min_dt_s, side="left")
    ok = (reading < n) & (reading >= k)
    k, before, reading = k[ok], before[ok], reading[ok]
    d_i = i[reading] - i[before]
    tol = steady_fraction * np.abs(d_i)
    ok = (
        (t[reading] - t[before] <= max_dt_s)
        & (np.abs(d_i) >= min_step_A)
        & (np.abs(i[before] - i[before - 1]) <= tol)
        & (np.abs(i[reading] - i[k]) <= tol)
        & (t[before] - t[before - 1] <= max_dt_s)
    )
    k, before, reading, d_i = k[ok], before[ok], reading[ok], d_i[ok]
    d_v = v[reading] - v[before]
    r = d_v / d_i
    temp = series.temperature_C[reading] if series.temperature_C is not None else np.full(reading.size, np.nan)
    return Steps(before.astype(np.int64), reading.astype(np.int64), d_i, d_v, r, temp)
