"""A synthetic cell for the health tests: OCV table + series resistance + one RC pair, sampled like a BMS.

Constant-current and rest steps are computed in closed form (vectorised); a constant-voltage step is integrated
sample by sample (it is short). Every quantity the estimates should find is known exactly: the capacity, the
resistance, the self-discharge rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from batteryloop.health.ocv import OcvTable

START = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)


@dataclass
class Cell:
    """State and parameters of the synthetic cell (or of a pack of ``cells`` identical cells in series)."""

    capacity_Ah: float
    table: OcvTable
    r0_Ohm: float
    r1_Ohm: float = 0.0
    tau1_s: float = 60.0
    soc_pct: float = 50.0
    v1_V: float = 0.0
    self_discharge_pct_per_month: float = 0.0
    cells: int = 1
    dt_s: float = 1.0
    t_s: float = 0.0
    temperature_C: float = 25.0
    rows: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in ("t", "i", "v", "s", "T")})

    # ------------------------------------------------------------------------------------------------------------

    def _ocv(self, soc: np.ndarray) -> np.ndarray:
        return self.table.ocv_at(soc)

    def _emit(self, t: np.ndarray, i: np.ndarray, v: np.ndarray, s: np.ndarray, temp: np.ndarray | float) -> None:
        self.rows["t"].append(t)
        self.rows["i"].append(i)
        self.rows["v"].append(v)
        self.rows["s"].append(s)
        self.rows["T"].append(np.broadcast_to(np.asarray(temp, dtype=float), t.shape).copy())

    def cc(
        self,
        current_A: float,
        *,
        until_soc: float | None = None,
        until_v: float | None = None,
        duration_s: float | None = None,
        temperature_C: float | None = None,
    ) -> None:
        """Constant current (positive charges) until a SoC, a cell voltage or a duration is reached."""
        rate = 100.0 * current_A / 3600.0 / self.capacity_Ah - self.self_discharge_pct_per_month / (30.4375 * 86400)
        bound = duration_s
        if until_soc is not None:
            need = (until_soc - self.soc_pct) / rate if rate != 0 else math.inf
            bound = need if bound is None else min(bound, need)
        if bound is None or not math.isfinite(bound):
            bound = 100.0 / max(abs(rate), 1e-12) * 1.2
        k = np.arange(1, math.floor(bound / self.dt_s + 1e-9) + 1, dtype=float)
        if until_soc is not None and k.size == 0:
            return
        s = self.soc_pct + rate * k * self.dt_s
        e = np.exp(-k * self.dt_s / self.tau1_s)
        v1 = self.v1_V * e + current_A * self.r1_Ohm * (1 - e)
        v = self._ocv(s) + current_A * self.r0_Ohm + v1
        stop = k.size
        if until_v is not None:
            hit = np.flatnonzero(v >= until_v) if current_A > 0 else np.flatnonzero(v <= until_v)
            if hit.size:
                stop = int(hit[0]) + 1
        k, s, v, v1 = k[:stop], s[:stop], v[:stop], v1[:stop]
        t = self.t_s + k * self.dt_s
        temp = self.temperature_C if temperature_C is None else temperature_C
        self._emit(t, np.full(k.size, current_A), v * self.cells, s, temp)
        self.t_s, self.soc_pct, self.v1_V = float(t[-1]), float(s[-1]), float(v1[-1])

    def rest(self, duration_s: float, *, temperature_C: float | None = None) -> None:
        self.cc(0.0, duration_s=duration_s, temperature_C=temperature_C)

    def cv(self, voltage_V: float, *, until_current_A: float) -> None:
        """Hold the cell voltage until |current| falls to ``until_current_A`` (sample by sample)."""
        ts, cs, vs, ss = [], [], [], []
        e = math.exp(-self.dt_s / self.tau1_s)
        while True:
            ocv = float(self._ocv(np.array([self.soc_pct]))[0])
            # current that gives the voltage at the end of the next sample
            i = (voltage_V - ocv - self.v1_V * e) / (self.r0_Ohm + self.r1_Ohm * (1 - e))
            if abs(i) <= until_current_A:
                break
            self.soc_pct += 100.0 * i * self.dt_s / 3600.0 / self.capacity_Ah
            self.v1_V = self.v1_V * e + i * self.r1_Ohm * (1 - e)
            self.t_s += self.dt_s
            ts.append(self.t_s)
            cs.append(i)
            vs.append(float(self._ocv(np.array([self.soc_pct]))[0]) + i * self.r0_Ohm + self.v1_V)
            ss.append(self.soc_pct)
        if ts:
            self._emit(np.array(ts), np.array(cs), np.array(vs) * self.cells, np.array(ss), self.temperature_C)

    def gap(self, duration_s: float) -> None:
        """Time passes without samples (the logger is off); the battery rests."""
        rate = self.self_discharge_pct_per_month / (30.4375 * 86400)
        self.soc_pct -= rate * duration_s
        self.v1_V *= math.exp(-duration_s / self.tau1_s)
        self.t_s += duration_s

    # ------------------------------------------------------------------------------------------------------------

    def frame(
        self,
        *,
        battery_id: str = "cell-1",
        noise_V: float = 0.0,
        seed: int = 1,
        every: int = 1,
        soc_every_s: float | None = None,
        soc_noise_pct: float = 0.0,
        soc_resolution_pct: float = 0.0,
    ) -> pl.DataFrame:
        """The canonical frame of what was simulated: every ``every``-th sample, voltage noise uniform in
        +-``noise_V``, and a BMS soc_pct every ``soc_every_s`` seconds (else none)."""
        t = np.concatenate(self.rows["t"])[::every]
        i = np.concatenate(self.rows["i"])[::every]
        v = np.concatenate(self.rows["v"])[::every]
        s = np.concatenate(self.rows["s"])[::every]
        temp = np.concatenate(self.rows["T"])[::every]
        rng = np.random.default_rng(seed)
        if noise_V:
            v = v + rng.uniform(-noise_V, noise_V, v.size)
        ts = [START + timedelta(seconds=float(x)) for x in t[:1]]
        micros = (t * 1e6).round().astype(np.int64) + int(ts[0].timestamp() * 1e6 - t[0] * 1e6)
        columns: dict[str, object] = {
            "battery_id": [battery_id] * t.size,
            "timestamp": pl.Series(micros).cast(pl.Datetime("us", "UTC")),
            "current_A": i,
            "voltage_V": v,
            "temperature_C": temp,
        }
        if soc_every_s is not None:
            soc = s + (rng.normal(0.0, soc_noise_pct, s.size) if soc_noise_pct else 0.0)
            if soc_resolution_pct:
                soc = np.round(soc / soc_resolution_pct) * soc_resolution_pct
            report = np.concatenate(([True], np.floor(t[1:] / soc_every_s) != np.floor(t[:-1] / soc_every_s)))
            columns["soc_pct"] = pl.Series(np.where(report, soc, np.nan)).fill_nan(None)
        return pl.DataFrame(columns)

    def true_soc(self) -> np.ndarray:
        return np.concatenate(self.rows["s"])
