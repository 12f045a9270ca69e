"""The telemetry store: layout, stable buckets, idempotent re-ingest, atomic partitions under SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from hashlib import blake2b
from pathlib import Path

import polars as pl
import pytest

from batteryloop.errors import ValidationError
from batteryloop.telemetry.schema import SCHEMA
from batteryloop.telemetry.store import DATA_FILE, STAGING, TelemetryStore, bucket_of
from tests.telemetry import crash_writer
from tests.telemetry.frames import frame

WRITER = Path(crash_writer.__file__)
ROOT = Path(__file__).resolve().parents[2]


def test_bucket_is_the_documented_stable_hash() -> None:
    # fixed values: a change of the hash would move every stored battery to another bucket
    assert [bucket_of(b) for b in ("PACK-1", "CELL-1", "é-bike 7")] == [27, 4, 3]
    assert bucket_of("PACK-1", 16) == 11
    digest = blake2b(b"PACK-1", digest_size=8).digest()
    assert bucket_of("PACK-1", 32) == int.from_bytes(digest, "big") % 32 == 0x30DE899253EF05DB % 32
    spread = {bucket_of(f"B{i}") for i in range(1000)}
    assert spread == set(range(32))


def test_layout_by_utc_day_and_bucket(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path / "t")
    late = datetime(2024, 5, 1, 23, 59, 58, tzinfo=UTC)
    data = frame(4, battery_id="PACK-1", start=late)  # 23:59:58, 23:59:59 | 00:00:00, 00:00:01
    report = store.write(data)
    assert report.rows_new == 4 and report.partitions_written == [
        "day=2024-05-01/bucket=27",
        "day=2024-05-02/bucket=27",
    ]
    files = sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*.parquet"))
    assert files == ["day=2024-05-01/bucket=27/data.parquet", "day=2024-05-02/bucket=27/data.parquet"]
    first = pl.read_parquet(store.root / files[0])
    assert first.schema == SCHEMA  # every canonical column, the optional ones null
    assert first["timestamp"].to_list() == data["timestamp"].to_list()[:2]
    meta = json.loads((store.root / "_store.json").read_text())
    assert meta["buckets"] == 32 and "blake2b" in meta["bucket"]
    assert [(p.day, p.bucket) for p in store.partitions()] == [(date(2024, 5, 1), 27), (date(2024, 5, 2), 27)]


def test_scan_and_batteries(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path)
    a = frame(100, battery_id="A", soc_pct=[50.0] * 100)
    b = frame(50, battery_id="B", start=datetime(2024, 6, 1, tzinfo=UTC))
    store.write(pl.concat([a, b], how="diagonal"))
    assert store.batteries() == ["A", "B"]
    got = store.scan("A").collect()
    assert got.select(a.columns).equals(a)
    assert store.scan("B").collect()["soc_pct"].null_count() == 50
    assert store.scan().collect().height == 150
    window = store.scan("A", start=a["timestamp"][10], end=a["timestamp"][20]).collect()
    assert window["timestamp"].to_list() == a["timestamp"].to_list()[10:20]
    assert store.scan("nobody").collect().height == 0
    assert TelemetryStore(tmp_path / "empty").scan().collect().schema == SCHEMA


def test_rewriting_the_same_rows_changes_nothing(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path)
    data = frame(3000, seconds=[i * 60.0 for i in range(3000)])  # two days and more
    first = store.write(data)
    assert (first.rows_new, len(first.partitions_written)) == (3000, 3)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob(DATA_FILE)}
    again = store.write(data)
    assert (again.rows_new, again.rows_replaced, again.rows_unchanged) == (0, 0, 3000)
    assert again.partitions_written == [] and len(again.partitions_unchanged) == 3
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob(DATA_FILE)} == before
    part = store.write(data.slice(100, 50))  # a part of what is stored: nothing to do either
    assert part.partitions_written == [] and part.rows_unchanged == 50


def test_overlapping_writes_replace_by_battery_and_timestamp(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path)
    store.write(frame(10, current_A=[1.0] * 10))
    newer = frame(seconds=list(range(5, 15)), current_A=[2.0] * 10)
    report = store.write(newer)
    assert (report.rows_new, report.rows_replaced, report.rows_unchanged) == (5, 5, 0)
    stored = store.scan("CELL-1").collect()
    assert stored["current_A"].to_list() == [1.0] * 5 + [2.0] * 10
    assert stored["timestamp"].is_sorted() and stored.height == 15


def test_batteries_sharing_a_bucket_share_a_partition(tmp_path: Path) -> None:
    ids = [f"B{i}" for i in range(200)]
    first = ids[0]
    second = next(b for b in ids[1:] if bucket_of(b) == bucket_of(first))
    store = TelemetryStore(tmp_path)
    store.write(frame(5, battery_id=second))
    store.write(frame(5, battery_id=first, current_A=[3.0] * 5))
    (partition,) = store.partitions()
    stored = pl.read_parquet(partition.path)
    assert stored["battery_id"].to_list() == sorted([first] * 5 + [second] * 5)
    assert store.scan(second).collect()["current_A"].to_list() == [1.0] * 5  # untouched by the other's write


def test_what_the_store_refuses(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path)
    with pytest.raises(ValidationError, match="same battery_id and timestamp"):
        store.write(frame(seconds=[0, 1, 1]))
    with pytest.raises(ValidationError, match="outside the canonical schema"):
        store.write(frame(2).with_columns(pl.lit(1).alias("speed")))
    with pytest.raises(ValidationError, match="without a battery_id"):
        store.write(frame(2).with_columns(pl.Series("battery_id", ["A", None])))
    assert not any(tmp_path.rglob(DATA_FILE))
    store.write(frame(2))
    with pytest.raises(ValidationError, match="32 buckets, not 8"):
        TelemetryStore(tmp_path, buckets=8)
    shuffled = frame(20).sample(fraction=1.0, shuffle=True, seed=1)
    TelemetryStore(tmp_path / "s").write(shuffled)  # unsorted input is sorted
    assert TelemetryStore(tmp_path / "s").scan().collect()["timestamp"].is_sorted()


def test_leftovers_of_a_crashed_writer_are_removed(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path)
    store.write(frame(5))
    (tmp_path / STAGING / "0123").mkdir(parents=True)
    (tmp_path / STAGING / "0123" / DATA_FILE).write_bytes(b"half a file")
    (tmp_path / "day=2030-01-01").mkdir()
    assert len(store.partitions()) == 1  # neither is a partition
    store.write(frame(5, battery_id="OTHER"))
    assert not any((tmp_path / STAGING).iterdir())
    assert not (tmp_path / "day=2030-01-01").exists()


# -- crash test -----------------------------------------------------------------------------------------------------


def _model(acked: int) -> pl.DataFrame:
    """The store's content after batches 0..acked-1, computed without the store."""
    if acked == 0:
        return pl.DataFrame(schema=SCHEMA)
    rows = pl.concat([crash_writer.batch(k) for k in range(acked)], how="diagonal")
    rows = rows.select([pl.col(c) if c in rows.columns else pl.lit(None, t).alias(c) for c, t in SCHEMA.items()])
    return rows.unique(subset=["battery_id", "timestamp"], keep="last", maintain_order=True).sort(
        "battery_id", "timestamp"
    )


def _by_partition(rows: pl.DataFrame) -> dict[tuple[str, int], pl.DataFrame]:
    keyed = rows.with_columns(
        pl.col("timestamp").dt.date().cast(pl.String).alias("day"),
        pl.col("battery_id").map_elements(bucket_of, return_dtype=pl.Int64).alias("bucket"),
    )
    return {
        (day, bucket): part.drop("day", "bucket").sort("battery_id", "timestamp")
        for (day, bucket), part in keyed.partition_by("day", "bucket", as_dict=True).items()
    }


def _stored(root: Path) -> dict[tuple[str, int], pl.DataFrame]:
    out = {}
    for bucket_dir in root.glob("day=*/bucket=*"):
        assert sorted(p.name for p in bucket_dir.iterdir()) == [DATA_FILE], f"{bucket_dir} holds a partial partition"
        data = pl.read_parquet(bucket_dir / DATA_FILE)  # readable: whole
        out[(bucket_dir.parent.name[4:], int(bucket_dir.name[7:]))] = data
    return out


def _run_writer(root: Path, batches: int, *, kill_at: int | None = None, kill_after_s: float | None = None) -> int:
    """Run the writer until it ends or is killed with SIGKILL; return the number of acknowledged writes."""
    args = [sys.executable, str(WRITER), str(root), str(batches)] + ([str(kill_at)] if kill_at else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY", proc.stderr.read() if proc.stderr else ""
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"writer failed ({proc.returncode}):\n{err}")
    return sum(1 for line in out.splitlines() if line.startswith("ACK"))


def _states(root: Path, acked: int, batches: int, models: list[pl.DataFrame], context: str) -> list[str]:
    """Per partition: "before" or "after" the interrupted write (or "same" in both); anything else fails."""
    stored = _stored(root)
    before, after = _by_partition(models[acked]), _by_partition(models[min(acked + 1, batches)])
    states = []
    for key in sorted(set(before) | set(after) | set(stored)):
        got = stored.get(key)
        if key in before:
            assert got is not None, f"acknowledged partition {key} lost: {context}"

        def same(want: pl.DataFrame | None, got: pl.DataFrame | None = got) -> bool:
            return (got is None and want is None) or (got is not None and want is not None and got.equals(want))

        is_before, is_after = same(before.get(key)), same(after.get(key))
        assert is_before or is_after, f"partition {key} is neither before nor after the interrupted write: {context}"
        states.append("same" if is_before and is_after else "before" if is_before else "after")
    return states


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_acknowledged_and_leaves_no_partial_partition(tmp_path: Path) -> None:
    batches = 6
    seed = int(os.environ.get("CRASH_TEST_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    # a write of 3 partitions takes 6 steps (3 fsyncs of staged files, 3 renames); the first also writes _store.json
    # (2 steps): step 8 is the third rename of the first write, step 13 the second rename of the second
    trials: list[dict[str, float | int]] = [{"kill_at": 8}, {"kill_at": 13}]
    trials += [{"kill_at": rng.randint(1, 40)} for _ in range(3)]
    trials += [{"kill_after_s": rng.uniform(0.0, 0.6)} for _ in range(4)]
    models = [_model(a) for a in range(batches + 1)]
    for i, trial in enumerate(trials):
        root = tmp_path / f"trial{i}"
        acked = _run_writer(root, batches, **trial)  # type: ignore[arg-type]
        context = f"seed {seed} (CRASH_TEST_SEED), trial {trial}, {acked} acknowledged"
        states = _states(root, acked, batches, models, context)
        if "kill_at" in trial and trial["kill_at"] in (8, 13):
            # killed between two renames of one write: some partitions are new, others old, each whole
            assert "after" in states and "before" in states, context
        # recovery: writing the interrupted batch again completes it; the store then holds exactly the model
        if acked < batches:
            TelemetryStore(root).write(crash_writer.batch(acked))
            assert set(_states(root, acked + 1, batches, models, context)) <= {"before", "same"}, context
            assert not any((root / STAGING).iterdir()), context
            assert not [d for d in root.glob("day=*") if not any(d.iterdir())], context
        scanned = TelemetryStore(root).scan().collect().sort("battery_id", "timestamp")
        assert scanned.equals(models[min(acked + 1, batches)]), context


def test_the_writer_acknowledges_every_batch_when_not_killed(tmp_path: Path) -> None:
    assert _run_writer(tmp_path, 2) == 2
    assert TelemetryStore(tmp_path).scan().collect().sort("battery_id", "timestamp").equals(_model(2))
    assert timedelta(days=4) == max(_model(2)["timestamp"]) - min(_model(2)["timestamp"]) + timedelta(minutes=1)
