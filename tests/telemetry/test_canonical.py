"""The canonical BMS format: CSV and Parquet, time forms, the deviation options, exact names, unknown columns."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from batteryloop.errors import ImportFormatError, ValidationError
from batteryloop.telemetry import readers
from batteryloop.telemetry.readers import ReadOptions
from batteryloop.telemetry.readers.canonical import READ_PROBLEM
from batteryloop.telemetry.schema import SCHEMA


def write(tmp_path: Path, text: str, name: str = "bms.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_csv_with_offsets_is_read_in_utc(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,current_A,voltage_V,temperature_C\n"
        "2024-01-15T08:00:00+01:00,-2.5,3.61,12.5\n"  # winter time in Amsterdam
        "2024-07-15T08:00:00.250+02:00,1.25,4.01,30\n"  # summer time, fraction of a second
        "2024-07-15T06:00:01Z,0,3.9,\n",  # Z; temperature not measured
    )
    frame = readers.read(path, options=ReadOptions(battery_id="PACK-7"))
    assert frame.schema == pl.Schema({c: SCHEMA[c] for c in frame.columns})
    assert frame.columns == ["battery_id", "timestamp", "current_A", "voltage_V", "temperature_C"]
    assert frame["timestamp"].to_list() == [
        utc(2024, 1, 15, 7),
        utc(2024, 7, 15, 6, 0, 0, 250_000),
        utc(2024, 7, 15, 6, 0, 1),
    ]
    assert frame["current_A"].to_list() == [-2.5, 1.25, 0.0]
    assert frame["temperature_C"].to_list() == [12.5, 30.0, None]
    assert frame["battery_id"].to_list() == ["PACK-7"] * 3
    assert READ_PROBLEM not in frame.columns


def test_epoch_seconds_integer_and_decimal(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "battery_id,timestamp,current_A,voltage_V,temperature_C\n"
        "B1,1714557600,1,3.7,20\n"
        "B1,1714557600.5,1,3.7,20\n"
        "B1,1714557601.000001,1,3.7,20\n",
    )
    frame = readers.read(path)
    assert frame["timestamp"].to_list() == [
        utc(2024, 5, 1, 10),
        utc(2024, 5, 1, 10, 0, 0, 500_000),
        utc(2024, 5, 1, 10, 0, 1, 1),
    ]
    assert frame["battery_id"].to_list() == ["B1"] * 3


def test_parquet_with_zoned_timestamps_and_optional_columns(tmp_path: Path) -> None:
    local = pl.Series([datetime(2024, 3, 30, 12), datetime(2024, 4, 1, 12)]).dt.replace_time_zone("Europe/Amsterdam")
    source = pl.DataFrame(
        {
            "timestamp": local,
            "current_A": [1, 2],  # integers are numbers too
            "voltage_V": [3.6, 3.7],
            "temperature_C": [20.0, 21.0],
            "soc_pct": [None, 55.5],
            "cycle_index": [1, 1],
            "battery_id": ["E-BIKE-1", "E-BIKE-1"],
        }
    )
    path = tmp_path / "bms.parquet"
    source.write_parquet(path)
    frame = readers.read(path)
    assert frame["timestamp"].to_list() == [utc(2024, 3, 30, 11), utc(2024, 4, 1, 10)]
    assert frame["current_A"].dtype == pl.Float64 and frame["current_A"].to_list() == [1.0, 2.0]
    assert frame["soc_pct"].to_list() == [None, 55.5]
    assert frame["cycle_index"].dtype == pl.Int64
    assert frame.columns == [
        "battery_id",
        "timestamp",
        "current_A",
        "voltage_V",
        "temperature_C",
        "soc_pct",
        "cycle_index",
    ]


def test_parquet_epoch_seconds_and_naive_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "epoch.parquet"
    pl.DataFrame(
        {
            "timestamp": [1714557600.0, 1714557601.0],
            "current_A": [1.0, 1.0],
            "voltage_V": [3.7] * 2,
            "temperature_C": [20.0] * 2,
        }
    ).write_parquet(path)
    assert readers.read(path, options=ReadOptions(battery_id="B"))["timestamp"][0] == utc(2024, 5, 1, 10)

    naive = tmp_path / "naive.parquet"
    pl.DataFrame(
        {"timestamp": [datetime(2024, 5, 1, 12)], "current_A": [1.0], "voltage_V": [3.7], "temperature_C": [20.0]}
    ).write_parquet(naive)
    with pytest.raises(ImportFormatError, match="no time zone") as info:
        readers.read(naive, options=ReadOptions(battery_id="B"))
    assert "--timezone" in (info.value.expected or "")
    frame = readers.read(naive, options=ReadOptions(battery_id="B", timezone="Europe/Amsterdam"))
    assert frame["timestamp"][0] == utc(2024, 5, 1, 10)
    assert readers.read(naive, options=ReadOptions(battery_id="B", timezone="UTC"))["timestamp"][0] == utc(
        2024, 5, 1, 12
    )


def test_local_time_with_a_zone_across_both_clock_changes(tmp_path: Path) -> None:
    # Europe/Amsterdam: 2024-03-31 02:00 -> 03:00 (02:30 does not exist); 2024-10-27 03:00 -> 02:00 (02:xx twice)
    path = write(
        tmp_path,
        "timestamp,current_A,voltage_V,temperature_C\n"
        "2024-03-31 01:59:59,1,3.7,20\n"
        "2024-03-31 02:30:00,1,3.7,20\n"
        "2024-03-31 03:00:00,1,3.7,20\n"
        "2024-10-27 01:30:00,1,3.7,20\n"
        "2024-10-27 02:30:00,1,3.7,20\n"  # first pass: summer time (+02:00)
        "2024-10-27 02:59:59,1,3.7,20\n"
        "2024-10-27 02:00:00,1,3.7,20\n"  # the clock stepped back: winter time (+01:00)
        "2024-10-27 02:30:00,1,3.7,20\n"
        "2024-10-27 03:00:00,1,3.7,20\n",
    )
    frame = readers.read(path, options=ReadOptions(battery_id="B", timezone="Europe/Amsterdam"))
    assert frame["timestamp"].to_list() == [
        utc(2024, 3, 31, 0, 59, 59),
        None,
        utc(2024, 3, 31, 1),
        utc(2024, 10, 26, 23, 30),
        utc(2024, 10, 27, 0, 30),
        utc(2024, 10, 27, 0, 59, 59),
        utc(2024, 10, 27, 1),
        utc(2024, 10, 27, 1, 30),
        utc(2024, 10, 27, 2),
    ]
    problems = frame[READ_PROBLEM].to_list()
    assert problems[1] is not None and "does not exist in Europe/Amsterdam" in problems[1]
    assert [p for i, p in enumerate(problems) if i != 1] == [None] * 8


def test_local_time_without_a_zone_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,current_A,voltage_V,temperature_C\n2024-05-01 12:00:00,1,3.7,20\n")
    with pytest.raises(ImportFormatError, match="without a UTC offset") as info:
        readers.read(path, options=ReadOptions(battery_id="B"))
    assert "--timezone" in (info.value.expected or "")
    with pytest.raises(ValidationError, match="unknown time zone"):
        readers.read(path, options=ReadOptions(battery_id="B", timezone="Europe/Amsterdm"))


def test_mixed_forms_are_read_per_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,current_A,voltage_V,temperature_C\n"
        "2024-05-01T12:00:00+02:00,1,3.7,20\n"
        "2024-05-01 12:00:01,1,3.7,20\n"  # local time in a file with offsets
        "2024-05-01T10:00:02+00,1,3.7,20\n"  # offset without minutes
        "yesterday,1,3.7,20\n"
        ",1,3.7,20\n",
    )
    frame = readers.read(path, options=ReadOptions(battery_id="B"))
    assert frame["timestamp"].to_list() == [utc(2024, 5, 1, 10), None, utc(2024, 5, 1, 10, 0, 2), None, None]
    problems = frame[READ_PROBLEM].to_list()
    assert problems[0] is None and problems[2] is None
    assert "no UTC offset" in problems[1] and "--timezone" in problems[1]
    assert problems[3] == "timestamp: 'yesterday' is not ISO 8601"
    assert problems[4] == "timestamp: empty"
    with_zone = readers.read(path, options=ReadOptions(battery_id="B", timezone="Europe/Amsterdam"))
    assert with_zone["timestamp"][1] == utc(2024, 5, 1, 10, 0, 1)  # the zone applies to the local row only
    assert with_zone["timestamp"][0] == utc(2024, 5, 1, 10)


def test_the_deviation_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,current_A,voltage_V,temperature_C,cell_voltage_min_V,cell_voltage_max_V,temperature_max_C\n"
        "2024-05-01T12:00:00Z,2500,3712,298.15,3690,3730,300.15\n"
        "2024-05-01T12:00:01Z,-1000,3650,273.15,3600,3700,283.15\n",
    )
    options = ReadOptions(
        battery_id="B", current_sign="discharge-positive", current_unit="mA", voltage_unit="mV", temperature_unit="K"
    )
    frame = readers.read(path, options=options)
    assert frame["current_A"].to_list() == [-2.5, 1.0]  # discharge of 2.5 A, charge of 1 A
    assert frame["voltage_V"].to_list() == pytest.approx([3.712, 3.65])
    assert frame["cell_voltage_min_V"].to_list() == pytest.approx([3.69, 3.6])
    assert frame["cell_voltage_max_V"].to_list() == pytest.approx([3.73, 3.7])
    assert frame["temperature_C"].to_list() == pytest.approx([25.0, 0.0])
    assert frame["temperature_max_C"].to_list() == pytest.approx([27.0, 10.0])


def test_unknown_columns_are_kept_after_the_canonical_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "vehicle_speed_kmh,timestamp,current_A,voltage_V,temperature_C,Mode\n"
        "50,2024-05-01T12:00:00Z,1,3.7,20,drive\n"
        "0.5,2024-05-01T12:00:01Z,1,3.7,20,\n",
    )
    frame = readers.read(path, options=ReadOptions(battery_id="B"))
    assert frame.columns[:5] == ["battery_id", "timestamp", "current_A", "voltage_V", "temperature_C"]
    assert frame.columns[5:] == ["vehicle_speed_kmh", "Mode"]
    assert frame["vehicle_speed_kmh"].to_list() == ["50", "0.5"]  # kept as written
    assert frame["Mode"].to_list() == ["drive", None]


def test_names_are_matched_exactly_with_hints(tmp_path: Path) -> None:
    path = write(tmp_path, "Timestamp,Current_A,voltage_mV,temperature_C\n2024-05-01T12:00:00Z,1,3700,20\n")
    with pytest.raises(ImportFormatError) as info:
        readers.read(path, options=ReadOptions(battery_id="B"))
    message = info.value.message
    assert "missing column(s) timestamp, current_A, voltage_V" in message
    assert "'Timestamp' is not 'timestamp'" in message and "'Current_A' is not 'current_A'" in message
    assert "voltage_V with --voltage-unit mV" in message
    assert "matched exactly" in message


def test_a_file_without_battery_id_needs_the_option(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,current_A,voltage_V,temperature_C\n2024-05-01T12:00:00Z,1,3.7,20\n")
    with pytest.raises(ImportFormatError, match="battery_id") as info:
        readers.read(path)
    assert "--battery-id" in info.value.message
    with pytest.raises(ValidationError, match="empty"):
        readers.read(path, options=ReadOptions(battery_id="  "))


def test_battery_id_column_and_option(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "battery_id,timestamp,current_A,voltage_V,temperature_C\n"
        "B1,2024-05-01T12:00:00Z,1,3.7,20\n"
        ",2024-05-01T12:00:01Z,1,3.7,20\n",
    )
    assert readers.read(path)["battery_id"].to_list() == ["B1", None]  # the quality check rejects the second
    assert readers.read(path, options=ReadOptions(battery_id="B1"))["battery_id"].to_list() == ["B1", "B1"]
    with pytest.raises(ImportFormatError, match="holds 'B1'"):
        readers.read(path, options=ReadOptions(battery_id="B2"))


def test_unreadable_values_become_row_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,current_A,voltage_V,temperature_C,cycle_index\n"
        "2024-05-01T12:00:00Z,1,3.7,20,1\n"
        "2024-05-01T12:00:01Z,abc,3.7,20,1\n"
        "2024-05-01T12:00:02Z, 2 ,NaN,,2\n"
        "2024-05-01T12:00:03Z,1,3.7,20,2.5\n",
    )
    frame = readers.read(path, options=ReadOptions(battery_id="B"))
    assert frame["current_A"].to_list() == [1.0, None, 2.0, 1.0]
    assert frame["voltage_V"][2] != frame["voltage_V"][2]  # NaN is kept for the quality check to judge
    assert frame["cycle_index"].to_list() == [1, 1, 2, None]
    assert frame[READ_PROBLEM].to_list() == [
        None,
        "current_A: 'abc' is not a number",
        None,
        "cycle_index: 2.5 is not a whole number",
    ]


def test_not_a_canonical_file(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp;current_A;voltage_V;temperature_C\n2024-05-01T12:00:00Z;1;3,7;20\n")
    with pytest.raises(ImportFormatError, match="separated by ';'"):
        readers.read(path, options=ReadOptions(battery_id="B"))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ImportFormatError, match="not a readable Parquet file"):
        readers.read(broken, options=ReadOptions(battery_id="B"))
    reserved = write(
        tmp_path, f"timestamp,current_A,voltage_V,temperature_C,{READ_PROBLEM}\n2024-05-01T12:00:00Z,1,3.7,20,x\n"
    )
    with pytest.raises(ImportFormatError, match="reserved"):
        readers.read(reserved, options=ReadOptions(battery_id="B"))
    with pytest.raises(ImportFormatError, match="does not exist"):
        readers.read(tmp_path / "absent.csv", options=ReadOptions(battery_id="B"))


def test_a_file_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,current_A,voltage_V,temperature_C\n")
    frame = readers.read(path, options=ReadOptions(battery_id="B"))
    assert frame.height == 0 and frame["timestamp"].dtype == pl.Datetime("us", "UTC")
