"""``batteryloop telemetry ingest`` as a script uses it: a real process, the report, the store, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from batteryloop.telemetry.store import TelemetryStore

CSV = (
    "timestamp,current_A,voltage_V,temperature_C,soc_pct,speed_kmh\n"
    "2024-05-01T12:00:00+02:00,1.0,3.70,25,50,0\n"
    "2024-05-01T12:00:01+02:00,1.0,3.71,25,,0\n"
    "2024-05-01T12:00:03+02:00,1.0,3.72,25,,0\n"
    "2024-05-01T12:00:02+02:00,1.0,3.72,25,,0\n"  # out of order
    "2024-05-01T12:00:03+02:00,1.0,3.72,25,,0\n"  # duplicate
    "2024-05-01T12:00:04+02:00,1.0,9.99,25,,0\n"  # outside the NMC window
    "2024-05-01T12:00:05+02:00,abc,3.73,25,,0\n"  # unreadable
    "2024-05-01T13:00:05+02:00,1.0,3.73,25,,0\n"  # after a gap of an hour
    "2024-05-01T13:00:06+02:00,1.0,3.73,25,,0\n"
)


def ingest(tmp_path: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp_path / "var")}
    proc = subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", "telemetry", "ingest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_ingest_prints_the_report_and_stores_idempotently(tmp_path: Path) -> None:
    path = tmp_path / "bms.csv"
    path.write_text(CSV, encoding="utf-8")
    args = [str(path), "--battery-id", "CELL-9", "--chemistry", "NMC", "--max-current-A", "10"]
    text = ingest(tmp_path, *args).stdout
    assert "9 rows; battery CELL-9" in text
    assert "accepted               5" in text
    assert "repaired               1   out_of_order 1" in text
    assert "rejected               3   duplicate_row 1, unreadable 1, voltage_above_window 1" in text
    assert "gaps                   1" in text and "2024-05-01T10:00:03+00:00 .. 2024-05-01T11:00:05+00:00" in text
    assert "extra columns set aside (not stored): speed_kmh" in text
    assert "6 new rows" in text

    store = TelemetryStore(tmp_path / "var" / "telemetry")  # the default store: BATTERYLOOP_DATA_DIR/telemetry
    rows = store.scan("CELL-9").collect()
    assert rows["timestamp"][0] == datetime(2024, 5, 1, 10, tzinfo=UTC) and rows.height == 6
    (rejected_file,) = (store.root / "_rejected").glob("*.parquet")
    kept = pl.read_parquet(rejected_file)
    assert kept["reason"].to_list() == ["duplicate_row", "voltage_above_window", "unreadable"]
    assert kept["row"].to_list() == [4, 5, 6] and kept["source"][0] == str(path)

    again = json.loads(ingest(tmp_path, *args, "--json").stdout)
    assert again["quality"]["rejected_by_reason"] == {"duplicate_row": 1, "unreadable": 1, "voltage_above_window": 1}
    assert again["quality"]["gaps"]["count"] == 1
    assert again["store"]["rows_new"] == 0 and again["store"]["partitions_written"] == 0
    assert again["store"]["rows_unchanged"] == 6
    assert len(list((store.root / "_rejected").glob("*.parquet"))) == 1


def test_deviations_as_options_and_check_only(tmp_path: Path) -> None:
    path = tmp_path / "logger.csv"
    path.write_text(
        "timestamp,current_A,voltage_V,temperature_C\n2024-10-27 02:30:00,2500,3700,298.15\n", encoding="utf-8"
    )
    store = tmp_path / "elsewhere"
    args = [str(path), "--battery-id", "B", "--store", str(store), "--json"]
    args += ["--current-sign", "discharge-positive", "--current-unit", "mA", "--voltage-unit", "mV"]
    args += ["--temperature-unit", "K", "--timezone", "Europe/Amsterdam"]
    result = json.loads(ingest(tmp_path, *args).stdout)
    assert result["quality"]["accepted"] == 1
    row = TelemetryStore(store).scan("B").collect().row(0, named=True)
    assert row["timestamp"] == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert (row["current_A"], row["voltage_V"], row["temperature_C"]) == (-2.5, 3.7, 25.0)

    parquet = tmp_path / "bms.parquet"
    pl.read_csv(path).with_columns(pl.lit("P").alias("battery_id")).write_parquet(parquet)
    checked = ingest(tmp_path, str(parquet), "--check-only", "--timezone", "UTC", "--current-unit", "mA")
    assert "checked only: nothing stored" in checked.stdout
    assert not (tmp_path / "var" / "telemetry").exists()


def test_errors_name_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "bms.csv"
    path.write_text(CSV, encoding="utf-8")
    missing = ingest(tmp_path, str(path), expect=2)
    assert "battery_id" in missing.stderr and "--battery-id" in missing.stderr
    unit = ingest(tmp_path, str(path), "--battery-id", "B", "--current-unit", "kA", expect=2)
    assert "--current-unit" in unit.stderr and "A or mA" in unit.stderr
    chem = ingest(tmp_path, str(path), "--battery-id", "B", "--chemistry", "NiMH", expect=2)
    assert "unknown chemistry" in chem.stderr
    fmt = ingest(tmp_path, str(tmp_path / "bms.txt"), "--battery-id", "B", expect=2)
    assert "--format" in fmt.stderr
