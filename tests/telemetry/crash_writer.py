"""The writer process of the store's crash test: writes batches, says ``ACK k`` after each write returns.

``python crash_writer.py ROOT BATCHES [N]``: with N, the process kills itself with SIGKILL just before the N-th
file-system step of the store (an fsync of a staged file, a rename into place): a crash at a chosen point. Without N,
the test kills it from outside at a random moment.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

BATTERIES = ("PACK-1", "CELL-1", "E-BIKE-3")
ROWS_PER_DAY = 1440  # one sample a minute


def batch(k: int) -> pl.DataFrame:
    """Batch k: one battery, three UTC days from day k, values that depend on k (later batches replace rows)."""
    n = 3 * ROWS_PER_DAY
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=k)
    return pl.DataFrame(
        {
            "battery_id": [BATTERIES[k % len(BATTERIES)]] * n,
            "timestamp": pl.datetime_range(
                start, start + timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC"
            ).cast(pl.Datetime("us", "UTC")),
            "current_A": [float(k) + i / n for i in range(n)],
            "voltage_V": [3.6 + k / 100] * n,
            "temperature_C": [20.0 + k] * n,
        }
    )


def main(argv: list[str]) -> None:
    root, batches = Path(argv[1]), int(argv[2])
    from batteryloop.telemetry import store

    if len(argv) > 3:
        kill_at = int(argv[3])
        calls = [0]

        def killing(real: Callable[..., Any]) -> Callable[..., Any]:
            def step(*args: Any, **kwargs: Any) -> Any:
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            return step

        os.replace = killing(os.replace)  # type: ignore[assignment]
        os.rename = killing(os.rename)  # type: ignore[assignment]
        store._fsync_file = killing(store._fsync_file)  # type: ignore[assignment]
    print("READY", flush=True)
    for k in range(batches):
        store.TelemetryStore(root).write(batch(k))
        print(f"ACK {k}", flush=True)


if __name__ == "__main__":
    main(sys.argv)
