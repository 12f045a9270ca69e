"""Per-cycle table: hand-computed integrals, the cycler step convention, gaps, resistance steps, the tester's
counters, and the ``batteryloop health cycles`` command on Arbin files of one cell."""

from __future__ import annotations

import csv
import itertools
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from batteryloop.errors import ValidationError
from batteryloop.health.cycles import cycle_table, detect_cycles
from tests.telemetry.test_cyclers import CHARGE_AH, DISCHARGE_AH, RESISTANCE_OHM, write_arbin

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)


def frame(
    seconds: list[float],
    current: list[float],
    voltage: list[float],
    battery: str = "b1",
    **extra: list[object],
) -> pl.DataFrame:
    data: dict[str, object] = {
        "battery_id": [battery] * len(seconds),
        "timestamp": [T0 + timedelta(seconds=s) for s in seconds],
        "current_A": current,
        "voltage_V": voltage,
        "temperature_C": [None] * len(seconds),
        **extra,
    }
    return pl.DataFrame(data, schema_overrides={"timestamp": pl.Datetime("us", "UTC"), "temperature_C": pl.Float64})


def two_cycles(k: int = 30, m: int = 14) -> pl.DataFrame:
    """Minute samples: rest, k samples charging at 1 A (4.0 V), rest, m samples discharging at 2 A (3.5 V), twice."""
    current: list[float] = []
    voltage: list[float] = []
    for _ in range(2):
        current += [0.0] + [1.0] * k + [0.0] + [-2.0] * m + [0.0]
        voltage += [3.7] + [4.0] * k + [3.8] + [3.5] * m + [3.6]
    return frame([60.0 * i for i in range(len(current))], current, voltage)


def test_hand_computed_cycles_detected_from_the_current() -> None:
    k, m = 30, 14
    table = cycle_table(two_cycles(k, m))
    assert table["cycle_index"].to_list() == [1, 2]
    first = table.row(0, named=True)
    # trapezoids of 60 s: the ramps 0 -> 1 A and 1 -> 0 A add half an interval each, so k intervals at 1 A
    assert first["charge_capacity_Ah"] == pytest.approx(k * 60 * 1.0 / 3600)
    assert first["discharge_capacity_Ah"] == pytest.approx(m * 60 * 2.0 / 3600)
    assert first["charge_energy_Wh"] == pytest.approx(4.0 * k / 60)
    assert first["discharge_energy_Wh"] == pytest.approx(3.5 * m / 30)
    assert first["coulombic_efficiency"] == pytest.approx(2 * m / k)
    assert first["energy_efficiency"] == pytest.approx(3.5 * 2 * m / (4.0 * k))
    assert first["start_time"] == T0
    assert first["samples"] == k + m + 4
    assert first["gap_s"] == 0.0
    # the second cycle starts at its first charging sample; the rest samples before it close the first
    assert table["start_time"][1] == T0 + timedelta(minutes=k + m + 4)
    assert table["discharge_capacity_Ah"][1] == pytest.approx(m / 30)


def test_cycle_index_from_the_frame_is_used_as_given() -> None:
    data = two_cycles()
    given = data.with_columns(pl.Series("cycle_index", [7] * 20 + [8] * (data.height - 20)))
    assert cycle_table(given)["cycle_index"].to_list() == [7, 8]
    partly = data.with_columns(pl.Series("cycle_index", [1] * (data.height - 1) + [None], dtype=pl.Int64))
    with pytest.raises(ValidationError, match="has no cycle_index"):
        cycle_table(partly)


def test_a_cycler_step_change_holds_the_new_current_over_the_interval() -> None:
    # Arbin: the rest ends at 0 s and the discharge starts there, first logged 30 s later; it ends at 90 s (logged)
    # and the rest after it is first logged 60 s later.
    seconds = [0.0, 30.0, 60.0, 90.0, 150.0]
    current = [0.0, -1.1, -1.1, -1.1, 0.0]
    voltage = [4.1, 3.9, 3.8, 3.7, 3.9]
    with_steps = cycle_table(frame(seconds, current, voltage, step_index=[1, 2, 2, 2, 3]))
    assert with_steps["discharge_capacity_Ah"][0] == pytest.approx(1.1 * 90 / 3600)  # the discharge ran 0..90 s
    # without steps (BMS data) the moment of a change is unknown and every interval is a trapezoid
    without = cycle_table(frame(seconds, current, voltage))
    assert without["discharge_capacity_Ah"][0] == pytest.approx(1.1 * (15 + 30 + 30 + 30) / 3600)


def test_constant_voltage_decay_is_integrated_exactly() -> None:
    tau, i0 = 600.0, 0.55
    seconds = [300.0 * i for i in range(7)]
    current = [i0 * math.exp(-s / tau) for s in seconds]
    table = cycle_table(frame(seconds, current, [4.2] * 7, step_index=[4] * 7))
    exact = i0 * tau * (1 - math.exp(-1800 / tau)) / 3600
    assert table["charge_capacity_Ah"][0] == pytest.approx(exact, rel=1e-12)
    assert table["charge_energy_Wh"][0] == pytest.approx(4.2 * exact, rel=1e-12)
    trapezoid = sum((a + b) / 2 * 300 for a, b in itertools.pairwise(current)) / 3600
    assert trapezoid > exact * 1.01  # the plain trapezoid would overstate this CV step by more than 1 %


def test_a_gap_adds_nothing_and_is_reported() -> None:
    seconds = [0.0, 60.0, 120.0, 120.0 + 7200.0, 120.0 + 7260.0]
    table = cycle_table(frame(seconds, [-1.0] * 5, [3.6] * 5))
    assert table["discharge_capacity_Ah"][0] == pytest.approx(3 * 60 / 3600)
    assert table["gap_s"][0] == pytest.approx(7200.0)
    longer = cycle_table(frame(seconds, [-1.0] * 5, [3.6] * 5), max_interval_s=10_000.0)
    assert longer["discharge_capacity_Ah"][0] == pytest.approx(7380 / 3600)


def test_resistance_from_the_shortest_current_step_from_rest() -> None:
    # cycle 1: rest at 4.1 V, discharge at -1 A read 0.5 s after the step (4.0 V: 100 mOhm), later a rest and a
    # second step read after 5 s (3.75 V from 3.9 V: 150 mOhm); cycle 2: the first sample after its step is 30 s late
    seconds = [0.0, 0.5, 30.0, 60.0, 90.0, 95.0, 120.0, 150.0, 180.0, 210.0, 240.0]
    current = [0.0, -1.0, -1.0, 0.0, 0.0, -1.0, -1.0, 0.0, 1.0, 0.0, -1.0]
    voltage = [4.1, 4.0, 3.95, 3.9, 3.9, 3.75, 3.7, 3.8, 4.0, 4.0, 3.8]
    table = cycle_table(frame(seconds, current, voltage))
    assert table["resistance_mOhm"][0] == pytest.approx(100.0)
    assert table["resistance_delay_s"][0] == pytest.approx(0.5)
    assert table["resistance_mOhm"][1] is None
    slow = cycle_table(frame(seconds, current, voltage), max_step_delay_s=60.0)
    assert slow["resistance_delay_s"][1] == pytest.approx(30.0)
    assert slow["resistance_mOhm"][1] == pytest.approx(200.0)  # 3.8 -> 4.0 V at +1 A


def test_the_testers_counters_restart_and_are_summed_per_cycle() -> None:
    # a counter restarts at a new file (falls to a small value); the increment there is its new value
    seconds = [0.0, 60.0, 120.0, 180.0, 240.0, 300.0]
    current = [1.0, 1.0, -1.0, 1.0, 1.0, -1.0]
    counter = [0.50, 0.52, 0.52, 0.01, 0.03, 0.03]
    resistance = [0.0, 0.09, 0.11, 0.0, 0.1, 0.1]
    table = cycle_table(
        frame(
            seconds,
            current,
            [3.8] * 6,
            cycle_index=[1, 1, 1, 2, 2, 2],
            cycler_charge_capacity_Ah=counter,
            cycler_internal_resistance_Ohm=resistance,
        )
    )
    assert table["cycler_charge_capacity_Ah"].to_list() == pytest.approx([0.02, 0.03])
    assert table["cycler_resistance_mOhm"].to_list() == pytest.approx([100.0, 100.0])
    assert "cycler_discharge_capacity_Ah" not in table.columns


def test_batteries_are_kept_apart_and_rest_noise_does_not_split_cycles() -> None:
    a = two_cycles()
    noisy = a.with_columns(
        pl.when(pl.col("current_A") == 0)
        .then(0.004 * (-1) ** pl.int_range(pl.len()))
        .otherwise("current_A")
        .alias("current_A")
    )
    b = noisy.with_columns(pl.lit("b2").alias("battery_id"))
    table = cycle_table(pl.concat([b, a]), nominal_capacity_Ah=0.5)
    assert table.select("battery_id", "cycle_index").rows() == [("b1", 1), ("b1", 2), ("b2", 1), ("b2", 2)]
    assert table["soh_capacity_pct"][0] == pytest.approx(14 / 30 / 0.5 * 100)
    assert detect_cycles(noisy).to_list() == detect_cycles(a).to_list()
    assert detect_cycles(noisy, rest_current_A=0.001).max() > 2  # a threshold below the noise splits cycles


def test_bad_frames_are_refused_naming_the_row() -> None:
    data = two_cycles()
    with pytest.raises(ValidationError, match="lacks voltage_V"):
        cycle_table(data.drop("voltage_V"))
    with pytest.raises(ValidationError, match="row 3 has no current_A"):
        cycle_table(
            data.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("current_A").alias("current_A"))
        )
    repeated = pl.concat([data, data.slice(5, 1)])
    with pytest.raises(ValidationError, match="repeats the timestamp"):
        cycle_table(repeated)
    with pytest.raises(ValidationError, match="nominal capacity"):
        cycle_table(data, nominal_capacity_Ah=0.0)


def test_null_voltage_leaves_the_energy_of_that_cycle_unknown() -> None:
    data = two_cycles().with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise("voltage_V").alias("voltage_V")
    )
    table = cycle_table(data)
    assert table["charge_energy_Wh"][0] is None
    assert table["charge_energy_Wh"][1] == pytest.approx(2.0)
    assert table["charge_capacity_Ah"][0] == pytest.approx(0.5)


# --- the command ------------------------------------------------------------------------------------------------------


def run(*args: str, cwd: Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", "health", "cycles", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_health_cycles_command_on_the_arbin_files_of_one_cell(tmp_path: Path) -> None:
    folder = tmp_path / "CELL7"
    folder.mkdir()
    write_arbin(folder / "CELL7_2.xlsx", datetime(2024, 5, 13, 9, 0), cycles=2)
    write_arbin(folder / "CELL7_1.xlsx", datetime(2024, 5, 6, 9, 0), cycles=1)
    (folder / "CELL7_2_again.xlsx").write_bytes((folder / "CELL7_2.xlsx").read_bytes())
    proc = run(str(folder), "--nominal-capacity-Ah", "0.5", "--out", "cycles.csv", cwd=tmp_path)
    assert proc.stdout.strip().splitlines()[-1] == "cycles.csv"
    assert "skipped" in proc.stdout
    assert "CELL7_2_again.xlsx" in proc.stdout
    with (tmp_path / "cycles.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["cycle_index"] for r in rows] == ["1", "2", "3"]
    assert {r["battery_id"] for r in rows} == {"CELL7"}
    for row in rows:
        assert float(row["discharge_capacity_Ah"]) == pytest.approx(DISCHARGE_AH, rel=1e-9)
        assert float(row["charge_capacity_Ah"]) == pytest.approx(CHARGE_AH, rel=1e-6)
        assert float(row["discharge_capacity_Ah"]) == pytest.approx(float(row["cycler_discharge_capacity_Ah"]))
        assert float(row["charge_energy_Wh"]) == pytest.approx(float(row["cycler_charge_energy_Wh"]), rel=1e-6)
        assert float(row["coulombic_efficiency"]) == pytest.approx(DISCHARGE_AH / CHARGE_AH, rel=1e-6)
        assert float(row["resistance_mOhm"]) == pytest.approx(RESISTANCE_OHM * 1000)
        assert float(row["soh_capacity_pct"]) == pytest.approx(DISCHARGE_AH / 0.5 * 100)
    assert rows[0]["start_time"] == "2024-05-06T09:00:30.000000+00:00"
    assert datetime.fromisoformat(rows[1]["start_time"]) == datetime(2024, 5, 13, 9, 0, 30, tzinfo=UTC)


def test_health_cycles_command_errors(tmp_path: Path) -> None:
    proc = run(str(tmp_path / "missing.xlsx"), "--out", "c.csv", cwd=tmp_path, expect=2)
    assert "missing.xlsx does not exist" in proc.stderr
    (tmp_path / "notes.txt").write_text("x")
    proc = run(str(tmp_path / "notes.txt"), "--out", "c.csv", cwd=tmp_path, expect=2)
    assert "--format" in proc.stderr
    assert not (tmp_path / "c.csv").exists()
