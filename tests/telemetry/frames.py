"""Small canonical frames for the telemetry tests, made here (no real data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def stamps(seconds: list[float], start: datetime = T0) -> list[datetime]:
    return [start + timedelta(seconds=s) for s in seconds]


def frame(
    n: int = 10,
    *,
    battery_id: str = "CELL-1",
    seconds: list[float] | None = None,
    current_A: list[float | None] | None = None,
    voltage_V: list[float | None] | None = None,
    temperature_C: list[float | None] | None = None,
    start: datetime = T0,
    **optional: list[float | None],
) -> pl.DataFrame:
    """A canonical frame of ``n`` samples at 1 Hz (or at ``seconds``), 1 A, 3.7 V, 25 °C unless given."""
    seconds = list(range(n)) if seconds is None else seconds
    n = len(seconds)
    data: dict[str, pl.Series] = {
        "battery_id": pl.Series([battery_id] * n, dtype=pl.String),
        "timestamp": pl.Series(stamps(seconds, start), dtype=pl.Datetime("us", "UTC")),
        "current_A": pl.Series(current_A if current_A is not None else [1.0] * n, dtype=pl.Float64),
        "voltage_V": pl.Series(voltage_V if voltage_V is not None else [3.7] * n, dtype=pl.Float64),
        "temperature_C": pl.Series(temperature_C if temperature_C is not None else [25.0] * n, dtype=pl.Float64),
    }
    for name, values in optional.items():
        data[name] = pl.Series(values, dtype=pl.Float64)
    return pl.DataFrame(data)
