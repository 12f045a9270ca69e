"""The telemetry store on a full or read-only file system: a clear error naming the path, nothing acknowledged that
was not written, no partition half-written, and the next write once there is room completes the data.

Two ways of making the file system refuse, each test says which:

- **a real small file system**: a tmpfs of a few hundred KB mounted in a temporary directory (unmounted in a
  ``finally``), filled by a real write, then remounted read-only. This needs root (``mount``); without it those
  tests skip, saying so.
- **injected errors**: the Parquet writer or the rename that moves a partition into place made to fail with the
  error the OS gives (monkeypatch), to reach the moments a real full disk hits only by chance: a failure after some
  partitions were staged, and one after some were already moved into place.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from batteryloop.telemetry.schema import SCHEMA
from batteryloop.telemetry.store import KEY, STAGING, StoreWriteError, TelemetryStore, bucket_of

T0 = datetime(2024, 5, 1, 22, 0, tzinfo=UTC)  # two hours before midnight: the rows span two UTC days


def readings(batteries: int, seconds: int, *, seed: int, prefix: str = "EV") -> pl.DataFrame:
    """Random 1 Hz readings (they compress badly, so a few thousand rows fill a small file system)."""
    rng = np.random.default_rng(seed)
    n = batteries * seconds
    stamps = [T0 + timedelta(seconds=s) for s in range(seconds)]
    return pl.DataFrame(
        {
            "battery_id": [f"{prefix}-{b:03d}" for b in range(batteries) for _ in range(seconds)],
            "timestamp": pl.Series(stamps * batteries, dtype=pl.Datetime("us", "UTC")),
            "current_A": rng.normal(0.0, 50.0, n),
            "voltage_V": rng.uniform(3.0, 4.2, n),
            "temperature_C": rng.uniform(15.0, 35.0, n),
        }
    )


def files(root: Path) -> dict[str, bytes]:
    """Every partition's data file, by partition, with its bytes."""
    return {str(p.relative_to(root).parent): p.read_bytes() for p in sorted(root.glob("day=*/bucket=*/data.parquet"))}


def leftovers(store: TelemetryStore) -> list[Path]:
    """Files left in the staging directory."""
    return [p for p in (store.root / STAGING).rglob("*") if p.is_file()]


def stored(store: TelemetryStore) -> pl.DataFrame:
    return store.scan().collect().sort(KEY)


def expected(*frames: pl.DataFrame) -> pl.DataFrame:
    full = pl.concat(frames).unique(subset=KEY, keep="last").sort(KEY)
    return full.select(
        [pl.col(c).cast(SCHEMA[c]) if c in full.columns else pl.lit(None, SCHEMA[c]).alias(c) for c in SCHEMA.names()]
    )


@contextmanager
def small_filesystem(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only; the test skips otherwise), unmounted afterwards."""
    where.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the disk-full test ({result.stderr.strip()}); it needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)
        if os.path.ismount(where):
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True, capture_output=True)


def test_disk_full_on_a_real_small_filesystem(tmp_path: Path) -> None:
    """Real tmpfs of 512 KB: the second write does not fit."""
    with small_filesystem(tmp_path / "mnt", "512k") as mnt:
        store = TelemetryStore(mnt / "store")
        first = readings(4, 600, seed=1)
        acknowledged = store.write(first)  # fits
        assert acknowledged.rows_new == first.height
        before = files(store.root)
        free_before = os.statvfs(mnt).f_bavail

        big = readings(8, 6_000, seed=2)  # about 1.2 MB of Parquet
        with pytest.raises(StoreWriteError) as info:
            store.write(big)
        error = info.value
        assert "no space left on the device" in error.message and str(store.root) in error.message
        assert "no partition was changed" in error.message
        (problem,) = error.problems
        assert Path(problem.field).is_relative_to(store.root) and problem.expected == "free space on the device"
        assert error.exit_code == 3 and error.code == "store_write_failed"

        # nothing of the failed write is in the store, the acknowledged one is whole, the staged files are gone
        assert files(store.root) == before
        assert stored(store).equals(expected(first))
        assert not leftovers(store)
        assert os.statvfs(mnt).f_bavail >= free_before - 2  # the space the failed write took is given back

        # with room again (no cleanup by hand), the same write succeeds and completes the data
        remount(mnt, "size=16m")
        report = store.write(big)
        assert report.rows_replaced == first.height  # big holds the first write's batteries and times, new values
        assert report.rows_new == big.height - first.height
        assert stored(store).equals(expected(first, big))


def test_read_only_store_on_a_real_filesystem(tmp_path: Path) -> None:
    """Real tmpfs remounted read-only: writes and the kept rejected rows are refused, naming the path."""
    with small_filesystem(tmp_path / "mnt", "4m") as mnt:
        store = TelemetryStore(mnt / "store")
        first = readings(3, 300, seed=3)
        store.write(first)
        before = files(store.root)
        remount(mnt, "ro")
        try:
            with pytest.raises(StoreWriteError) as info:
                store.write(readings(3, 300, seed=4, prefix="LFP"))
            assert "the file system is read-only" in info.value.message
            assert Path(info.value.problems[0].field).is_relative_to(store.root)
            with pytest.raises(StoreWriteError, match="read-only") as kept:
                store.keep_rejected(first.head(3), source="bms.csv", digest="ab" * 32)
            assert "_rejected" in kept.value.problems[0].field
            assert files(store.root) == before
            assert stored(store).equals(expected(first))  # still readable
        finally:
            remount(mnt, "rw")
        second = readings(3, 300, seed=4, prefix="LFP")
        store.write(second)
        assert stored(store).equals(expected(first, second))


def test_the_ingest_command_on_a_full_disk_reports_nothing_stored(tmp_path: Path) -> None:
    """``batteryloop telemetry ingest`` (a real process) into a real 256 KB tmpfs: exit 3, the path named, no report
    of stored rows; the same command succeeds once there is room."""
    source = tmp_path / "bms.csv"
    readings(1, 20_000, seed=5).drop("battery_id").write_csv(source)
    with small_filesystem(tmp_path / "mnt", "256k") as mnt:
        root = mnt / "store"
        cmd = [sys.executable, "-m", "batteryloop.cli", "telemetry", "ingest", str(source), "--battery-id", "EV-1"]
        cmd += ["--store", str(root), "--json"]
        env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp_path / "var"), "COLUMNS": "300"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "no space left on the device" in proc.stderr and str(root) in proc.stderr.replace("\n", "")
        assert proc.stdout.strip() == ""  # no report: nothing is claimed as stored
        assert TelemetryStore(root).partitions() == []
        remount(mnt, "size=16m")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
        assert '"rows_new": 20000' in proc.stdout


def _fail_on_call(n: int, exc: Callable[[], BaseException], real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, except that its ``n``-th call (counted across threads) raises ``exc()`` instead."""
    calls = 0
    lock = threading.Lock()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        with lock:
            calls += 1
            mine = calls
        if mine == n:
            raise exc()
        return real(*args, **kwargs)

    return wrapper


def test_injected_enospc_in_the_parquet_writer_changes_no_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected: the third partition written of a write fails as the Parquet writer reports a full disk (the
    error polars raises on a real tmpfs, measured: ComputeError "... No space left on device (os error 28)")."""
    store = TelemetryStore(tmp_path / "store", buckets=8)
    first = readings(6, 400, seed=6)
    store.write(first)
    before = files(store.root)
    update = readings(6, 400, seed=7)  # the same keys, new values: every partition would be rewritten
    real = pl.DataFrame.write_parquet
    failing = _fail_on_call(
        3,
        lambda: pl.exceptions.ComputeError(
            "parquet: File out of specification: underlying IO error: No space left on device (os error 28)"
        ),
        real,
    )
    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing)
    with pytest.raises(StoreWriteError, match="no space left on the device") as info:
        store.write(update)
    assert "no partition was changed" in info.value.message
    assert "_staging" in info.value.problems[0].field
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)
    assert files(store.root) == before and stored(store).equals(expected(first))
    assert not leftovers(store)
    store.write(update)
    assert stored(store).equals(expected(first, update))


def test_injected_failure_while_moving_partitions_into_place_leaves_each_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Injected: the second rename into place fails (EIO). The first partition is in place with the new rows, the
    others keep the old ones; every file is a whole Parquet file; the error says so, and writing again completes."""
    store = TelemetryStore(tmp_path / "store", buckets=8)
    first = readings(6, 400, seed=8)
    store.write(first)
    before = files(store.root)
    update = readings(6, 400, seed=9)
    monkeypatch.setattr(os, "replace", _fail_on_call(2, lambda: OSError(errno.EIO, "Input/output error"), os.replace))
    with pytest.raises(StoreWriteError, match="input/output error") as info:
        store.write(update)
    monkeypatch.undo()
    changed = len(before)
    assert f"1 of {changed} partitions of this write were already in place" in info.value.message
    after = files(store.root)
    assert after.keys() == before.keys()
    new_rows = expected(update)
    moved = [name for name in after if after[name] != before[name]]
    assert len(moved) == 1
    for name in after:
        part = pl.read_parquet(store.root / name / "data.parquet")  # whole: it reads
        day = name.split("/")[0].removeprefix("day=")
        bucket = int(name.split("=")[-1])
        want = new_rows if name in moved else expected(first)
        in_bucket = [b for b in want["battery_id"].unique().to_list() if bucket_of(b, 8) == bucket]
        want = want.filter(
            (pl.col("timestamp").dt.date().cast(pl.String) == day) & pl.col("battery_id").is_in(in_bucket)
        )
        assert part.sort(KEY).equals(want), name
    store.write(update)
    assert stored(store).equals(expected(update))
