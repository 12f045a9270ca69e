"""A workshop check-up of a battery pack as its management system logs it: the canonical telemetry of one session.

The session follows the capacity test of IEC 62660-1:2018 clause 7.2 (a full charge, a rest, a complete discharge at
1/3 C to the lower cut-off) and adds 10 s discharge pulses at rest (the USABC HPPC pulse, INL/EXT-15-34184) from
which the ohmic resistance is read. The pack is an equivalent circuit: ``n`` cells in series on the chemistry's OCV
table (``batteryloop.health.ocv``), a series resistance ``R0`` and one RC pair (``R1 = R0 / 2``, 30 s), with the
capacity and the resistance the ageing model gives for that day. Constant-current and rest steps are computed in
closed form; the constant-voltage taper is integrated step by step. The samples carry sensor noise (voltage: 1 mV
per cell, uniform; current: 0.05 % of 1 C) so that the estimates have something to average.

Sign convention: current is positive while charging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl
from numpy.typing import NDArray

from batteryloop.health.ocv import OcvTable, default_table

FloatArray = NDArray[np.float64]
DT_S = 2.0
"""Sampling period of the log [s]: fast enough for the 1-10 s resistance reading, within the 120 s gap limit."""
TAU_S = 30.0


@dataclass
class Pack:
    capacity_Ah: float
    r0_Ohm: float
    cells: int
    table: OcvTable
    v_min_cell: float
    v_max_cell: float
    temperature_C: float
    soc: float = 50.0
    v1: float = 0.0
    t: float = 0.0
    parts: dict[str, list[FloatArray]] = field(default_factory=lambda: {"t": [], "i": [], "v": [], "T": []})

    @property
    def r1_Ohm(self) -> float:
        return self.r0_Ohm / 2.0

    def _emit(self, t: FloatArray, i: FloatArray, v: FloatArray, soc: FloatArray) -> None:
        self.parts["t"].append(t)
        self.parts["i"].append(i)
        self.parts["v"].append(v)
        # a little self-heating with current (I^2 R over a pack's heat capacity is small at these rates)
        self.parts["T"].append(self.temperature_C + 0.5 * np.abs(i) / self.capacity_Ah + 0.0 * soc)

    def cc(self, current_A: float, *, duration_s: float, until_v_cell: float | None = None) -> None:
        """Constant current for ``duration_s``, or until the cell voltage reaches ``until_v_cell``."""
        k = np.arange(1, int(duration_s / DT_S) + 1, dtype=np.float64)
        if k.size == 0:
            return
        soc = self.soc + 100.0 * current_A * k * DT_S / 3600.0 / self.capacity_Ah
        decay = np.exp(-k * DT_S / TAU_S)
        v1 = self.v1 * decay + current_A * self.r1_Ohm * (1.0 - decay)
        v = self.cells * self.table.ocv_at(np.clip(soc, 0.0, 100.0)) + current_A * self.r0_Ohm + v1
        stop = k.size
        if until_v_cell is not None:
            limit = until_v_cell * self.cells
            hit = np.flatnonzero(v >= limit) if current_A > 0 else np.flatnonzero(v <= limit)
            if hit.size:
                stop = int(hit[0]) + 1
        k, soc, v, v1 = k[:stop], soc[:stop], v[:stop], v1[:stop]
        t = self.t + k * DT_S
        self._emit(t, np.full(k.size, current_A), v, soc)
        self.t, self.soc, self.v1 = float(t[-1]), float(soc[-1]), float(v1[-1])

    def rest(self, duration_s: float) -> None:
        self.cc(0.0, duration_s=duration_s)

    def cv(self, until_current_A: float, max_s: float = 4 * 3600) -> None:
        """Hold the pack at its upper voltage until the current falls to ``until_current_A``."""
        v_hold = self.v_max_cell * self.cells
        e = math.exp(-DT_S / TAU_S)
        ts: list[float] = []
        cs: list[float] = []
        vs: list[float] = []
        ss: list[float] = []
        steps = 0
        while steps * DT_S < max_s:
            ocv = float(self.table.ocv_at(min(self.soc, 100.0))) * self.cells
            i = (v_hold - ocv - self.v1 * e) / (self.r0_Ohm + self.r1_Ohm * (1.0 - e))
            if i <= until_current_A:
                break
            self.soc += 100.0 * i * DT_S / 3600.0 / self.capacity_Ah
            self.v1 = self.v1 * e + i * self.r1_Ohm * (1.0 - e)
            self.t += DT_S
            steps += 1
            ts.append(self.t)
            cs.append(i)
            vs.append(v_hold)
            ss.append(self.soc)
        if ts:
            self._emit(np.array(ts), np.array(cs), np.array(vs), np.array(ss))


def session(
    battery_id: str,
    start: datetime,
    *,
    capacity_Ah: float,
    resistance_Ohm: float,
    chemistry: str,
    cells_in_series: int,
    v_min_cell: float,
    v_max_cell: float,
    temperature_C: float,
    seed: int,
) -> pl.DataFrame:
    """The canonical telemetry of one check-up session (about 9 hours at 2 s) of a pack in the given state."""
    table = default_table(chemistry)
    pack = Pack(capacity_Ah, resistance_Ohm, cells_in_series, table, v_min_cell, v_max_cell, temperature_C)
    c = capacity_Ah
    pack.rest(20 * 60)
    pack.cc(c / 3.0, duration_s=5 * 3600, until_v_cell=v_max_cell)  # CC charge at 1/3 C
    pack.cv(c / 20.0)  # CV to C/20
    pack.rest(60 * 60)
    pack.cc(-c / 3.0, duration_s=5 * 3600, until_v_cell=v_min_cell)  # complete discharge at 1/3 C
    pack.rest(60 * 60)
    pack.cc(c / 3.0, duration_s=1.5 * 3600)  # back to about half charge
    pack.rest(20 * 60)
    for _ in range(6):  # 10 s pulses at 1 C from rest, 2 min apart
        pack.cc(-c, duration_s=10)
        pack.rest(110)
    pack.rest(10 * 60)
    rng = np.random.default_rng(seed)
    t = np.concatenate(pack.parts["t"])
    i = np.concatenate(pack.parts["i"])
    v = np.concatenate(pack.parts["v"])
    temp = np.concatenate(pack.parts["T"])
    v = v + rng.uniform(-1e-3, 1e-3, v.size) * cells_in_series
    i = i + rng.normal(0.0, 5e-4 * c, i.size)
    micros = int(start.timestamp() * 1_000_000) + (t * 1_000_000).round().astype(np.int64)
    return pl.DataFrame(
        {
            "battery_id": [battery_id] * t.size,
            "timestamp": pl.Series(micros).cast(pl.Datetime("us", "UTC")),
            "current_A": i,
            "voltage_V": v,
            "temperature_C": np.round(temp + rng.normal(0.0, 0.1, temp.size), 1),
        }
    )
