"""Charge and energy between samples asked for after the series was prepared (read without a pass over the series)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from batteryloop.health.series import from_frame


def _frame(current: np.ndarray, voltage: np.ndarray, seconds: np.ndarray) -> pl.DataFrame:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "battery_id": ["B"] * seconds.size,
            "timestamp": [t0 + timedelta(seconds=float(s)) for s in seconds],
            "current_A": current,
            "voltage_V": voltage,
        }
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def test_integrals_at_samples_asked_later_match_the_trapezoidal_rule() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    seconds = np.cumsum(rng.uniform(0.5, 2.0, n))
    current = rng.normal(0.0, 20.0, n)
    voltage = 350 + rng.normal(0.0, 5.0, n)
    s = from_frame(_frame(current, voltage, seconds - seconds[0]), rest_current_A=0.5, max_gap_s=120)
    s.prepare(np.array([1000, 4000]))
    late = np.array([17, 1000, 2500, 2501, 3999, 4999])  # 17, 2500, 2501, 3999 were not prepared
    q_in, q_out = s.charge_between(late)
    e_in, e_out = s.energy_between(late)
    t = s.time_s
    for k in range(late.size - 1):
        a, b = int(late[k]), int(late[k + 1]) + 1
        i, p = current[a:b], current[a:b] * voltage[a:b]
        assert np.isclose(q_in[k] - q_out[k], _trapezoid(i, t[a:b]) / 3600, rtol=1e-9, atol=1e-12)
        assert np.isclose(e_in[k] - e_out[k], _trapezoid(p, t[a:b]) / 3600, rtol=1e-9, atol=1e-9)
        assert np.isclose(q_in[k] + q_out[k], _trapezoid(np.abs(i), t[a:b]) / 3600, rtol=0.05)
    # asked again: the same values, from what was kept
    assert np.array_equal(s.charge_between(late)[0], q_in)
