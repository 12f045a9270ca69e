"""Synthetic fleet telemetry at 1 Hz, shared by ``bench/health_fleet.py`` and ``bench/fleet_scale.py``.

14-cell NMC packs of 40-120 Ah at 75-100 % state of health, each with its own series resistance, driven by a random
sequence of partial discharges (0.1-1 C), partial charges (0.2-0.5 C) and rests (minutes to hours), with measurement
noise quantised like a BMS (1 mV, 10 mA, 0.1 degC). Vectorised numpy per battery.

:func:`battery_frame` gives a battery's whole record at once; :func:`battery_day_frame` gives one UTC day of the same
duty cycle (the same currents and state of charge, continuous over midnight; the noise is drawn per day), so that a
store of many batteries can be written one day at a time without holding more than one day of a bucket in memory.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from batteryloop.health.ocv import default_table

CELLS = 14
START_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
SECONDS_PER_DAY = 86_400
POLARISATION_TAU_S = 60.0


def battery_truth(index: int) -> dict[str, Any]:
    """The rating and the simulated truth of battery ``index`` (the same for every run)."""
    rng = np.random.default_rng(10_000 + index)
    nominal = float(rng.choice([40.0, 60.0, 80.0, 100.0, 120.0]))
    soh = float(rng.uniform(0.75, 1.0))
    return {
        "battery_id": f"FLEET-{index:05d}",
        "nominal_capacity_Ah": nominal,
        "true_capacity_Ah": nominal * soh,
        "r0_Ohm": float(rng.uniform(0.06, 0.2)) / nominal * CELLS,  # pack: 1.5-5 mOhm per 40 Ah cell
        "seed": 20_000 + index,
    }


def current_profile(rng: np.random.Generator, capacity_Ah: float, n: int) -> tuple[np.ndarray, float]:
    """``n`` seconds of current [A] (segments of constant current) and the initial state of charge [%]."""
    currents: list[float] = []
    durations: list[int] = []
    soc0 = soc = float(rng.uniform(30, 90))
    t = 0
    while t < n:
        kind = rng.random()
        if kind < 0.35:  # rest: minutes to hours (long ones give OCV anchors)
            i, d = 0.0, int(rng.choice([rng.integers(60, 1800), rng.integers(3600, 4 * 3600)]))
        elif soc > 35 and kind < 0.7:  # partial discharge
            i = -float(rng.uniform(0.1, 1.0)) * capacity_Ah
            d = int((soc - float(rng.uniform(15, max(16.0, soc - 10)))) / 100 * capacity_Ah * 3600 / -i)
        elif soc < 85:  # partial charge
            i = float(rng.uniform(0.2, 0.5)) * capacity_Ah
            d = int((float(rng.uniform(min(soc + 5, 89.0), 90)) - soc) / 100 * capacity_Ah * 3600 / i)
        else:
            continue
        d = max(1, min(d, n - t))
        soc += 100.0 * i * d / 3600.0 / capacity_Ah
        currents.append(i)
        durations.append(d)
        t += d
    return np.repeat(np.asarray(currents), np.asarray(durations))[:n], soc0


def _samples(
    truth: dict[str, Any],
    rng: np.random.Generator,
    current: np.ndarray,
    soc: np.ndarray,
    polarisation: np.ndarray,
    first_second: int,
) -> pl.DataFrame:
    """The frame of the seconds ``first_second ...`` given the true current, state of charge and polarisation."""
    n = current.size
    cap = truth["true_capacity_Ah"]
    table = default_table("NMC")
    ocv = np.interp(np.clip(soc, 0, 100), table.soc_pct, table.ocv_V)
    voltage = CELLS * (ocv + polarisation) + current * truth["r0_Ohm"] + rng.normal(0.0, 0.004, n)
    seconds = first_second + np.arange(n, dtype=np.int64)
    day_phase = 2 * np.pi * (seconds % SECONDS_PER_DAY) / SECONDS_PER_DAY
    temperature = 22.0 + 6.0 * np.sin(day_phase) + np.abs(current) / cap * 4.0 + rng.normal(0.0, 0.2, n)
    return pl.DataFrame(
        {
            "battery_id": pl.Series([truth["battery_id"]]).extend_constant(truth["battery_id"], n - 1),
            "timestamp": pl.Series(START_US + seconds * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "current_A": np.round(current + rng.normal(0.0, 0.02, n), 2),
            "voltage_V": np.round(voltage, 3),
            "temperature_C": np.round(temperature, 1),
        }
    )


def _truth_trace(truth: dict[str, Any], rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    cap = truth["true_capacity_Ah"]
    current, soc0 = current_profile(rng, cap, n)
    soc = soc0 + np.cumsum(current) / 3600.0 / cap * 100.0
    # series resistance + a first-order polarisation (time constant 60 s) through an exponential filter of I
    polarisation = _exp_filter(current, math.exp(-1.0 / POLARISATION_TAU_S)) * (0.5 * truth["r0_Ohm"] / CELLS)
    return current, soc, polarisation


def battery_frame(truth: dict[str, Any], days: int) -> pl.DataFrame:
    """``days`` days at 1 Hz of one pack, from 2025-01-01T00:00Z."""
    rng = np.random.default_rng(truth["seed"])
    current, soc, polarisation = _truth_trace(truth, rng, days * SECONDS_PER_DAY)
    return _samples(truth, rng, current, soc, polarisation, 0)


def battery_day_frame(truth: dict[str, Any], days: int, day: int) -> pl.DataFrame:
    """Day ``day`` (0-based) of a ``days``-day record of one pack at 1 Hz: the same duty cycle whichever day is asked
    (the state of charge runs on over midnight), the measurement noise drawn for that day alone."""
    if not 0 <= day < days:
        raise ValueError(f"day {day} outside 0..{days - 1}")
    current, soc, polarisation = _truth_trace(truth, np.random.default_rng(truth["seed"]), days * SECONDS_PER_DAY)
    part = slice(day * SECONDS_PER_DAY, (day + 1) * SECONDS_PER_DAY)
    rng = np.random.default_rng([truth["seed"], day])
    return _samples(truth, rng, current[part], soc[part], polarisation[part], day * SECONDS_PER_DAY)


def _exp_filter(x: np.ndarray, alpha: float) -> np.ndarray:
    """y[k] = alpha y[k-1] + (1 - alpha) x[k], vectorised by scipy where present, else in blocks."""
    try:
        from scipy.signal import lfilter

        return np.asarray(lfilter([1 - alpha], [1, -alpha], x))
    except ImportError:  # pragma: no cover - scipy is a dependency of the health methods
        y = np.empty_like(x)
        acc = 0.0
        for k, v in enumerate(x):
            acc = alpha * acc + (1 - alpha) * v
            y[k] = acc
        return y


def write_day_bucket(store: str, indices: list[int], days: int, day: int) -> dict[str, float]:
    """Generate day ``day`` of the batteries ``indices`` (one hash bucket) and write it through
    :meth:`TelemetryStore.write`: one partition. The seconds spent generating and writing, and the rows."""
    import time
    from pathlib import Path

    from batteryloop.telemetry.store import TelemetryStore

    started = time.perf_counter()
    frame = pl.concat([battery_day_frame(battery_truth(i), days, day) for i in indices])
    generated = time.perf_counter()
    TelemetryStore(Path(store)).write(frame)
    written = time.perf_counter()
    return {"rows": frame.height, "generate_s": generated - started, "write_s": written - generated}
