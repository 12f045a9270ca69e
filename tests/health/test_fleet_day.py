"""`health fleet --day`: the daily job reads only the partitions of its day and estimates from that day's rows."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from batteryloop.errors import ValidationError
from batteryloop.health import fleet
from batteryloop.runners import LocalRunner
from batteryloop.telemetry.store import TelemetryStore
from tests.health.test_fleet import _cli
from tests.health.test_fleet import battery_frame as cycling

DAYS = [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]
# battery id -> its true capacity (Ah) on each day: it fades from day to day, so a result tells which day it read
CAPACITY = {"D-01": (5.0, 4.5, 4.0), "D-02": (8.0, 7.6, 7.2)}
DAY1_ONLY = "D-GONE"  # reports on the first day only


def day_frame(battery_id: str, capacity_Ah: float, day: date) -> pl.DataFrame:
    """About 15 h of cycling (every 10 s) starting at the UTC midnight of ``day``."""
    frame = cycling(battery_id, capacity_Ah)
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return frame.with_columns(pl.col("timestamp") - pl.col("timestamp").min() + pl.lit(midnight))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, date], int]]:
    """A store of three days; the rows of each battery and day."""
    root = tmp_path_factory.mktemp("days") / "store"
    telemetry = TelemetryStore(root)
    rows: dict[tuple[str, date], int] = {}
    for k, day in enumerate(DAYS):
        frames = [day_frame(b, caps[k], day) for b, caps in CAPACITY.items()]
        if k == 0:
            frames.append(day_frame(DAY1_ONLY, 6.0, day))
        for f in frames:
            rows[(f["battery_id"][0], day)] = f.height
        telemetry.write(pl.concat(frames))
    return root, rows


def ratings(path: Path) -> Path:
    lines = ["battery_id,nominal_capacity_Ah,chemistry"] + [f"{b},{c[0]:g},NMC" for b, c in CAPACITY.items()]
    path.write_text("\n".join([*lines, f"{DAY1_ONLY},6,NMC"]) + "\n")
    return path


def without_other_days(root: Path, keep: set[date], tmp: Path) -> Path:
    """A copy of the store whose partitions outside ``keep`` are unreadable: a job that opened one would fail."""
    copy = tmp / "store"
    shutil.copytree(root, copy)
    for part in TelemetryStore(copy).partitions():
        if part.day not in keep:
            part.path.write_bytes(b"not parquet")
    return copy


def test_the_job_on_day_two_reads_only_day_two(store, tmp_path):
    root, rows = store
    copy = without_other_days(root, {DAYS[1]}, tmp_path)
    table = fleet.read_batteries_csv(ratings(tmp_path / "ratings.csv"))
    window = fleet.day_window(DAYS[1])
    tasks = fleet.plan(copy, batteries_csv=table, window=window)
    assert [t.battery_id for t in tasks] == sorted(CAPACITY)  # D-GONE has no row on day 2
    results, report = fleet.run_fleet(tasks, LocalRunner(workers=1))
    assert report.failed == 0, report.failures
    assert (report.window_start, report.window_end) == ("2025-03-02T00:00:00+00:00", "2025-03-03T00:00:00+00:00")
    for row in results.iter_rows(named=True):
        battery = row["battery_id"]
        assert row["rows"] + row["rows_rejected"] == rows[(battery, DAYS[1])]
        assert row["record_start"].date() == row["measured_at"].date() == DAYS[1]
        # the day-2 capacity, not the day-1 or day-3 one
        assert row["remaining_capacity_Ah"] == pytest.approx(CAPACITY[battery][1], rel=0.02)
    assert report.rows + int(results["rows_rejected"].sum()) == sum(rows[(b, DAYS[1])] for b in CAPACITY)


def test_a_trailing_window_and_the_default_read_more_days(store, tmp_path):
    root, rows = store
    table = fleet.read_batteries_csv(ratings(tmp_path / "ratings.csv"))
    copy = without_other_days(root, {DAYS[1], DAYS[2]}, tmp_path)
    two = fleet.plan(copy, batteries_csv=table, window=fleet.parse_window(day="2025-03-03", days=2))
    results, report = fleet.run_fleet(two, LocalRunner(workers=1))
    assert report.failed == 0, report.failures
    got = {r["battery_id"]: r["rows"] + r["rows_rejected"] for r in results.iter_rows(named=True)}
    assert got == {b: rows[(b, DAYS[1])] + rows[(b, DAYS[2])] for b in CAPACITY}

    everything, _ = fleet.run_fleet(fleet.plan(root, batteries_csv=table), LocalRunner(workers=1))
    got = {r["battery_id"]: r["rows"] + r["rows_rejected"] for r in everything.iter_rows(named=True)}
    assert got == {b: sum(n for (bb, _), n in rows.items() if bb == b) for b in [*CAPACITY, DAY1_ONLY]}


def test_store_scan_and_batteries_open_only_the_days_of_the_window(store, tmp_path):
    root, rows = store
    copy = TelemetryStore(without_other_days(root, {DAYS[1]}, tmp_path))
    start = datetime(2025, 3, 2, tzinfo=UTC)
    assert copy.batteries(start=start, end=start + timedelta(days=1)) == sorted(CAPACITY)
    assert copy.scan("D-01", start=start, end=start + timedelta(days=1)).collect().height == rows[("D-01", DAYS[1])]
    noon = start + timedelta(hours=12)
    half = copy.scan("D-01", start=start, end=noon).collect()
    assert 0 < half.height < rows[("D-01", DAYS[1])] and half["timestamp"].max() < noon


def test_parse_window():
    assert fleet.parse_window() is None
    w = fleet.parse_window(since="2025-03-02", until="2025-03-02T06:00:00+02:00")
    assert (w.start, w.end) == (datetime(2025, 3, 2, tzinfo=UTC), datetime(2025, 3, 2, 4, tzinfo=UTC))
    assert fleet.parse_window(since="2025-03-02T00:00:00Z").end is None
    cases = [
        ({"day": "2025-02-30"}, "--day"),
        ({"day": "yesterday"}, "--day"),
        ({"day": "2025-03-02", "since": "2025-03-01"}, "--day"),
        ({"days": 2}, "--days"),
        ({"day": "2025-03-02", "days": 0}, "--days"),
        ({"since": "2025-03-02T10:00:00"}, "--since"),  # no UTC offset
        ({"until": "03/02/2025"}, "--until"),
        ({"since": "2025-03-02", "until": "2025-03-01"}, "--until"),
    ]
    for kwargs, option in cases:
        with pytest.raises(ValidationError) as info:
            fleet.parse_window(**kwargs)
        assert info.value.problems[0].field == option, kwargs


def test_cli_day_and_its_errors(store, tmp_path):
    root, rows = store
    csv = ratings(tmp_path / "ratings.csv")
    out = tmp_path / "day.parquet"
    base = ["health", "fleet", "--store", str(root), "--batteries", str(csv), "--out", str(out)]
    data = json.loads(_cli(tmp_path, *base, "--day", "2025-03-02", "--json").stdout)
    assert (data["batteries"], data["ok"], data["failed"]) == (2, 2, 0)
    assert data["window_start"] == "2025-03-02T00:00:00+00:00"
    results = pl.read_parquet(out)
    assert int((results["rows"] + results["rows_rejected"]).sum()) == sum(rows[(b, DAYS[1])] for b in CAPACITY)

    bad = _cli(tmp_path, *base, "--day", "2025-02-30", expect=2)
    assert "--day" in bad.stderr and "YYYY-MM-DD" in bad.stderr
    empty = _cli(tmp_path, *base, "--day", "2025-04-01", expect=2)
    assert "--day" in empty.stderr and "no battery in the store with rows" in empty.stderr
    both = _cli(tmp_path, *base, "--day", "2025-03-02", "--until", "2025-03-03", expect=2)
    assert "--day" in both.stderr and "--since/--until" in both.stderr


def test_a_frame_in_key_order_is_stored_as_a_shuffled_one_and_repeats_are_refused(tmp_path):
    frames = [day_frame(b, caps[0], DAYS[0]) for b, caps in CAPACITY.items()]
    ordered = pl.concat(frames)  # already sorted by battery and time: stored without a sort
    TelemetryStore(tmp_path / "a").write(ordered)
    TelemetryStore(tmp_path / "b").write(ordered.sample(fraction=1.0, shuffle=True, seed=3))
    a = TelemetryStore(tmp_path / "a").scan().collect()
    assert a.equals(TelemetryStore(tmp_path / "b").scan().collect())
    assert a.sort(["battery_id", "timestamp"]).select(ordered.columns).equals(ordered)
    repeated = pl.concat([ordered.head(5), ordered.slice(4, 3)])  # in order, but row 4 twice
    with pytest.raises(ValidationError, match="same battery_id and timestamp"):
        TelemetryStore(tmp_path / "c").write(repeated)
