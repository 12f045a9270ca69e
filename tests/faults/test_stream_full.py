"""The MQTT streaming subscriber on a real full disk: nothing acknowledged that was not written, the batch retried in
place, and once there is room every reading is in the store exactly once (no restart, no message lost).

The store lies on a tmpfs of 256 KB mounted for the test (root only; without it the test skips, as in
``test_store_full.py``). The broker is the real Mosquitto on 127.0.0.1:1883.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from batteryloop.telemetry.store import STAGING, TelemetryStore
from batteryloop.telemetry.stream import StreamIngest
from tests.faults.test_store_full import files, remount, small_filesystem
from tests.telemetry.test_stream import (
    START,
    Names,
    Publisher,
    Running,
    names,  # noqa: F401 - fixture
    needs_broker,
    publisher,  # noqa: F401 - fixture
    stored_keys,
    wait_for,
)

BATTERIES = 3
PER_MESSAGE = 100


def noisy_readings(battery: int, first: int, count: int, rng: np.random.Generator) -> list[dict[str, object]]:
    """``count`` 1 Hz readings from second ``first`` on, with noisy values (they compress badly and fill the disk)."""
    return [
        {
            "timestamp": (START + timedelta(seconds=first + i)).isoformat().replace("+00:00", "Z"),
            "current_A": float(rng.normal(0.0, 20.0)),
            "voltage_V": float(rng.uniform(3.2, 4.1)),
            "temperature_C": float(rng.uniform(15.0, 35.0)),
        }
        for i in range(count)
    ]


@pytest.fixture
def mnt(tmp_path: Path) -> Iterator[Path]:
    with small_filesystem(tmp_path / "mnt", "256k") as where:
        yield where


@needs_broker
def test_disk_full_during_streaming_ingest_acknowledges_nothing_and_loses_nothing(
    mnt: Path,
    names: Names,  # noqa: F811 - fixture
    publisher: Publisher,  # noqa: F811 - fixture
) -> None:
    rng = np.random.default_rng(8)
    root = mnt / "store"
    ingest = StreamIngest(TelemetryStore(root), names.settings(batch_size=40, batch_seconds=0.3))
    running = Running(ingest)
    try:
        # a first batch that fits, acknowledged
        first = noisy_readings(0, 0, 50, rng)
        publisher.send(f"{names.prefix}/EV-0", first).wait_for_publish(10)
        wait_for(lambda: ingest.stats.rows_new == 50, "the first 50 readings stored")
        assert ingest.stats.batches == 1
        before = files(root)

        # 3 batteries x 3,000 noisy readings (far more Parquet than 256 KB): the disk is full
        sent = 50
        for b in range(BATTERIES):
            for start in range(0, 3_000, PER_MESSAGE):
                first_second = 50 + start if b == 0 else start
                publisher.send(f"{names.prefix}/EV-{b}", noisy_readings(b, first_second, PER_MESSAGE, rng))
                sent += PER_MESSAGE
        wait_for(lambda: ingest.stats.write_failures >= 2, "writes refused by the full disk (and retried)")

        # the subscriber now retries one batch that does not fit: what it acknowledged is exactly what the store
        # holds (batches that fitted before the disk filled up), nothing of the refused batch is in the store, no
        # partition changed between two refusals, nothing is left staged
        failures = ingest.stats.write_failures
        acknowledged = ingest.stats.rows_new
        assert 50 <= acknowledged < sent
        assert stored_keys(root).height == acknowledged
        during = files(root)
        wait_for(lambda: ingest.stats.write_failures > failures, "the retry refused again")
        assert files(root) == during and ingest.stats.rows_new == acknowledged
        assert not [p for p in (root / STAGING).rglob("*") if p.is_file()]
        assert len(during) >= len(before)

        # room again: the subscriber's own retry stores the batch; every reading exactly once, no restart
        remount(mnt, "size=32m")
        wait_for(lambda: ingest.stats.rows_new == sent, f"all {sent} readings stored after the disk had room")
    finally:
        running.close()
    keys = stored_keys(root)
    assert keys.height == sent and keys.n_unique() == sent
    expected = {
        (f"EV-{b}", START + timedelta(seconds=s)) for b in range(BATTERIES) for s in range(3_000 + 50 * (b == 0))
    }
    assert set(keys.iter_rows()) == expected
    assert ingest.stats.rows_unchanged == 0 and ingest.stats.rejected == 0
