"""Quality checks: every row accepted, repaired with a reason, or rejected with one; counts; thresholds as data."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteryloop.errors import ValidationError
from batteryloop.rules import chemistry
from batteryloop.telemetry.quality import QualityLimits, Reason, check, rules
from batteryloop.telemetry.readers.canonical import READ_PROBLEM
from tests.telemetry.frames import T0, frame

NAN = float("nan")


def reasons(result, kind: str = "rejected") -> dict[int, str]:  # type: ignore[no-untyped-def]
    table = result.rejected if kind == "rejected" else result.repairs
    return dict(zip(table["row"].to_list(), table["reason"].to_list(), strict=True))


def test_clean_data_is_accepted_unchanged() -> None:
    data = frame(100, voltage_V=[3.5 + i / 1000 for i in range(100)], soc_pct=[None] * 99 + [50.0])
    result = check(data, QualityLimits.for_chemistry("NMC", 1, 10.0))
    report = result.report
    assert (report.rows_in, report.accepted, report.repaired, report.rejected) == (100, 100, 0, 0)
    assert result.frame.equals(data)
    assert result.rows.to_list() == list(range(100))
    assert report.gaps == 0 and report.batteries == ["CELL-1"]
    assert report.first_timestamp == T0.isoformat()
    json.dumps(report.as_dict())


def test_unusable_rows_are_rejected_with_their_reason() -> None:
    data = frame(
        6,
        current_A=[1.0, None, NAN, 1.0, 1.0, math.inf],
        voltage_V=[3.7, 3.7, 3.7, None, NAN, 3.7],
    ).with_columns(pl.Series(READ_PROBLEM, [None, None, None, None, None, None], dtype=pl.String))
    data = data.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("current_A: 'x' is not a number")).alias(READ_PROBLEM)
    )
    result = check(data)
    assert reasons(result) == {
        0: "unreadable",
        1: "current_missing",
        2: "current_missing",
        3: "voltage_missing",
        4: "voltage_missing",
        5: "current_missing",
    }
    assert result.rejected["detail"][0] == "current_A: 'x' is not a number"
    assert result.report.rejected_by_reason == {"current_missing": 3, "voltage_missing": 2, "unreadable": 1}
    assert result.frame.height == 0


def test_missing_keys_are_rejected() -> None:
    data = frame(3).with_columns(
        pl.Series("battery_id", ["A", None, "A"]),
        pl.Series("timestamp", [T0, T0, None], dtype=pl.Datetime("us", "UTC")),
    )
    result = check(data)
    assert reasons(result) == {1: "battery_id_missing", 2: "timestamp_missing"}
    assert result.report.accepted == 1


def test_out_of_order_rows_are_moved_and_counted() -> None:
    # input order: 0 1 2 5 3 4 6 -> rows 4 and 5 (times 3 and 4) are earlier than time 5 before them
    data = frame(seconds=[0, 1, 2, 5, 3, 4, 6], current_A=[float(i) for i in range(7)])
    result = check(data)
    assert result.frame["timestamp"].is_sorted()
    assert result.frame["current_A"].to_list() == [0.0, 1.0, 2.0, 4.0, 5.0, 3.0, 6.0]
    assert reasons(result, "repairs") == {4: "out_of_order", 5: "out_of_order"}
    assert (result.report.accepted, result.report.repaired, result.report.rejected) == (5, 2, 0)
    assert result.rows.to_list() == [0, 1, 2, 4, 5, 3, 6]


def test_duplicate_timestamps_keep_the_first_row() -> None:
    data = frame(seconds=[0, 1, 1, 2, 1, 3], current_A=[0.0, 1.0, 1.0, 2.0, 9.0, 3.0])
    result = check(data)
    assert reasons(result) == {2: "duplicate_row", 4: "duplicate_timestamp"}
    assert result.frame["current_A"].to_list() == [0.0, 1.0, 2.0, 3.0]
    assert "differ" in result.rejected.filter(pl.col("row") == 4)["detail"][0]
    # row 4 came after time 2 (out of order), but it is rejected: a repair counts for kept rows only
    assert result.report.repaired_by_reason == {}
    assert result.report.repaired == 0


def test_gaps_are_reported_as_intervals_and_never_filled() -> None:
    gap_factor = rules()["gap_factor"].value  # 10 x the median interval
    seconds = [*range(0, 100), 100 + 9, *range(110, 200), 200 + 3600, 200 + 3601]
    result = check(frame(seconds=seconds))
    assert result.frame.height == len(seconds)  # no rows invented
    gaps = result.gaps.to_dicts()
    assert len(gaps) == 1  # 99 -> 109 is 10 s: not more than 10 x 1 s; 199 -> 3800 is a gap
    assert gaps[0]["gap_start"] == T0 + timedelta(seconds=199)
    assert gaps[0]["gap_end"] == T0 + timedelta(seconds=3800)
    assert gaps[0]["duration_s"] == 3601.0
    report = result.report
    assert (report.gaps, report.gap_total_s, report.gap_longest_s) == (1, 3601.0, 3601.0)
    assert report.gaps_listed[0]["start"] == (T0 + timedelta(seconds=199)).isoformat()
    wide = check(frame(seconds=seconds), QualityLimits.for_chemistry(None, gap_factor=gap_factor * 1000))
    assert wide.report.gaps == 0  # the threshold is a parameter
    tight = check(frame(seconds=seconds), QualityLimits.for_chemistry(None, gap_factor=5))
    assert tight.report.gaps == 2


def test_voltage_window_comes_from_the_chemistry_table_times_cells_in_series() -> None:
    lfp = chemistry("LFP")  # 2.0-3.6 V per cell
    tolerance = rules()["cell_voltage_tolerance_V"].value
    limits = QualityLimits.for_chemistry("LFP", cells_in_series=16, max_current_A=100.0)
    low, high = (lfp.cell_voltage_min_V - tolerance) * 16, (lfp.cell_voltage_max_V + tolerance) * 16
    assert (limits.voltage_min_V, limits.voltage_max_V) == pytest.approx((low, high))
    volts = [low - 0.01, low + 0.01, 51.2, high - 0.01, high + 0.01, lfp.cell_voltage_min_V * 16 - 0.1]
    result = check(frame(seconds=list(range(6)), voltage_V=volts), limits)
    assert reasons(result) == {0: "voltage_below_window", 4: "voltage_above_window"}
    assert result.report.accepted == 4
    notes = " ".join(result.report.notes)
    assert "2 accepted samples below the LFP lower cut-off (32 V)" in notes  # 29.0 and 31.9 V: deep discharge
    assert "1 accepted samples above the LFP upper cut-off" in notes
    strict = check(
        frame(seconds=list(range(6)), voltage_V=volts),
        QualityLimits.for_chemistry("LFP", 16, 100.0, cell_voltage_tolerance_V=0),
    )
    assert reasons(strict) == {
        0: "voltage_below_window",
        1: "voltage_below_window",
        3: "voltage_above_window",
        4: "voltage_above_window",
        5: "voltage_below_window",
    }


def test_current_limit_is_stated_not_assumed() -> None:
    data = frame(7, current_A=[5.0, -12.0, 12.0, 0.0, 3.0, 4.0, -2.0])
    assert check(data).report.rejected == 0
    assert "no current limit" in check(data).report.checks_skipped[1]
    result = check(data, QualityLimits.for_chemistry(None, max_current_A=10.0))
    assert reasons(result) == {1: "current_above_limit", 2: "current_above_limit"}


def test_millivolts_in_the_volt_column_are_repaired() -> None:
    # a cell logger that wrote 300 samples in mV among 700 in V: both fit their unit, only mV fits after /1000
    volts = [3.7] * 700 + [3712.0] * 300
    result = check(frame(seconds=list(range(1000)), voltage_V=volts), QualityLimits.for_chemistry("NMC"))
    assert result.report.repaired_by_reason == {"voltage_millivolts": 300}
    assert result.frame["voltage_V"][-1] == pytest.approx(3.712)
    assert result.report.rejected == 0
    assert "300 of 1000 voltage_V values read as mV" in result.report.notes[0]


def test_a_rare_misfit_is_rejected_not_converted() -> None:
    share = rules()["unit_mistake_min_share"].value
    n = 1000
    spikes = int(share * n) - 1  # fewer than the share: single faults, not a unit
    volts = [3.7] * (n - spikes) + [4000.0] * spikes
    result = check(frame(seconds=list(range(n)), voltage_V=volts), QualityLimits.for_chemistry("NMC"))
    assert result.report.rejected_by_reason == {"voltage_above_window": spikes}
    assert result.report.repaired == 0


def test_milliamperes_in_the_ampere_column_are_repaired_from_the_distribution() -> None:
    # 1 C of a 5 Ah cell in mA: 5000, rests of 0, a few small values (that fit amperes too)
    current = [5000.0] * 50 + [0.0] * 30 + [-2500.0] * 15 + [3.0] * 5
    limits = QualityLimits.for_chemistry("NMC", max_current_A=20.0)
    result = check(frame(seconds=list(range(100)), current_A=current), limits)
    assert result.report.repaired_by_reason == {"current_milliamperes": 100}  # every row, the small ones too
    assert result.frame["current_A"].to_list()[:1] == [5.0]
    assert result.frame["current_A"][-1] == pytest.approx(0.003)
    assert result.report.rejected == 0
    # amperes with a few spikes above the limit: the median says amperes; the spikes are rejected
    spiky = [2.0] * 95 + [5000.0] * 5
    result = check(frame(seconds=list(range(100)), current_A=spiky), limits)
    assert result.report.rejected_by_reason == {"current_above_limit": 5}
    assert result.report.repaired == 0


def test_kelvin_in_the_celsius_column_is_repaired() -> None:
    temps = [298.15] * 50 + [25.0] * 50
    result = check(frame(seconds=list(range(100)), temperature_C=temps, temperature_max_C=[300.15] * 100))
    assert result.report.repaired_by_reason == {"temperature_kelvin": 150}  # 50 rows of one column, 100 of the other
    assert result.report.repaired == 100  # rows, each counted once
    assert result.frame["temperature_C"].to_list() == pytest.approx([25.0] * 100)
    assert result.frame["temperature_max_C"].to_list() == pytest.approx([27.0] * 100)


def test_impossible_optional_values_become_null_with_a_reason() -> None:
    lo = rules()["temperature_plausible_min_C"].value
    data = frame(
        6,
        temperature_C=[25.0, NAN, lo - 10, 25.0, 25.0, None],
        soc_pct=[50.0, None, 101.0, -1.0, NAN, 100.0],
        cell_voltage_min_V=[3.6, 3.6, 3.6, 1.0, 3.6, 3.6],
    )
    result = check(data, QualityLimits.for_chemistry("NMC"))
    got = result.repairs.group_by("row").agg(pl.col("reason").sort()).sort("row")
    assert dict(got.iter_rows()) == {
        1: ["not_finite_to_null"],
        2: ["soc_out_of_range", "temperature_implausible"],
        3: ["cell_voltage_outside_window", "soc_out_of_range"],
        4: ["not_finite_to_null"],
    }
    out = result.frame
    assert out["temperature_C"].to_list() == [25.0, None, None, 25.0, 25.0, None]  # row 5: not measured, accepted
    assert out["soc_pct"].to_list() == [50.0, None, None, None, None, 100.0]
    assert out["cell_voltage_min_V"].to_list() == [3.6, 3.6, 3.6, None, 3.6, 3.6]
    assert (result.report.accepted, result.report.repaired, result.report.rejected) == (2, 4, 0)


def test_several_batteries_are_checked_each_on_its_own() -> None:
    a = frame(5, battery_id="B", seconds=[0, 1, 2, 3, 4])
    b = frame(5, battery_id="A", seconds=[0, 1, 1, 2, 3])  # same times as B are not duplicates; one inside A is
    mixed = pl.concat([a, b]).sample(fraction=1.0, shuffle=True, seed=3)
    result = check(mixed)
    assert result.frame["battery_id"].to_list() == ["A"] * 4 + ["B"] * 5
    assert result.report.rejected_by_reason == {"duplicate_row": 1}
    assert result.report.batteries == ["A", "B"]
    assert result.frame.filter(pl.col("battery_id") == "B")["timestamp"].is_sorted()


def test_cells_in_series_hint() -> None:
    result = check(frame(10, voltage_V=[355.0] * 10), QualityLimits.for_chemistry("NMC"))
    assert result.report.rejected_by_reason == {"voltage_above_window": 10}
    assert any("--cells-in-series" in note and "about 97 cells" in note for note in result.report.notes)


def test_extra_columns_are_set_aside_and_named() -> None:
    data = frame(3).with_columns(pl.Series("speed_kmh", ["1", "2", "3"]))
    result = check(data)
    assert result.report.extra_columns == ["speed_kmh"]
    assert "speed_kmh" not in result.frame.columns
    assert result.extra.to_dict(as_series=False) == {"row": [0, 1, 2], "speed_kmh": ["1", "2", "3"]}


def test_limits_are_checked() -> None:
    with pytest.raises(ValidationError, match="cells in series"):
        QualityLimits.for_chemistry("NMC", cells_in_series=0)
    with pytest.raises(ValidationError, match="current limit"):
        QualityLimits.for_chemistry("NMC", max_current_A=-1)
    with pytest.raises(ValidationError, match="unknown chemistry"):
        QualityLimits.for_chemistry("NiMH")
    with pytest.raises(ValidationError, match="unknown quality limit"):
        QualityLimits.for_chemistry("NMC", gap_factr=3)
    with pytest.raises(ValidationError, match="lacks column"):
        check(frame(2).drop("voltage_V"))


def test_every_rule_has_a_source() -> None:
    for rule in rules().values():
        assert rule.source.strip() and rule.confidence in {"low", "medium", "high"}
    limits = QualityLimits.for_chemistry("NCA", 3, 50.0)
    assert any(s.startswith("NCA cell window") for s in limits.sources)
    found = check(frame(3, voltage_V=[3.0, 11.1, 11.1]), limits).report.rejected_by_reason
    assert found == {Reason.VOLTAGE_BELOW_WINDOW.value: 1}


values = st.one_of(st.none(), st.just(NAN), st.just(math.inf), st.floats(-50, 5000, allow_nan=False))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["A", "B", None]),
            st.one_of(st.none(), st.integers(0, 40)),
            values,
            values,
            values,
            values,
        ),
        max_size=60,
    ),
    chem=st.sampled_from([None, "NMC", "LFP"]),
    limit=st.sampled_from([None, 10.0, 300.0]),
)
def test_no_row_is_lost(rows, chem, limit) -> None:  # type: ignore[no-untyped-def]
    data = pl.DataFrame(
        {
            "battery_id": [r[0] for r in rows],
            "timestamp": [None if r[1] is None else T0 + timedelta(seconds=r[1]) for r in rows],
            "current_A": [r[2] for r in rows],
            "voltage_V": [r[3] for r in rows],
            "temperature_C": [r[4] for r in rows],
            "soc_pct": [r[5] for r in rows],
        },
        schema={
            "battery_id": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "current_A": pl.Float64,
            "voltage_V": pl.Float64,
            "temperature_C": pl.Float64,
            "soc_pct": pl.Float64,
        },
    )
    result = check(data, QualityLimits.for_chemistry(chem, 1, limit))
    report = result.report
    assert report.accepted + report.repaired + report.rejected == len(rows)
    kept, rejected = set(result.rows.to_list()), set(result.rejected["row"].to_list())
    assert kept.isdisjoint(rejected) and kept | rejected == set(range(len(rows)))
    assert result.rows.len() == len(kept) and result.rejected.height == len(rejected)
    assert sum(report.rejected_by_reason.values()) == report.rejected
    assert set(result.repairs["row"].to_list()) <= kept
    out = result.frame
    assert out.select(pl.struct("battery_id", "timestamp").is_unique().all()).item()
    assert out.equals(out.sort("battery_id", "timestamp", maintain_order=True))
    for name in ("current_A", "voltage_V"):
        assert out[name].is_finite().all()
    for name in ("temperature_C", "soc_pct"):
        assert out[name].drop_nulls().is_finite().all()
    if limit is not None:
        assert (out["current_A"].abs() <= limit).all()
    if chem is not None:
        limits = QualityLimits.for_chemistry(chem)
        assert out["voltage_V"].is_between(limits.voltage_min_V, limits.voltage_max_V).all()


def test_no_rows_and_no_usable_rows() -> None:
    empty = check(frame(seconds=[]), QualityLimits.for_chemistry("NMC"))
    assert (empty.report.rows_in, empty.frame.height, empty.report.first_timestamp) == (0, 0, None)
    unusable = check(frame(2, voltage_V=[None, NAN]))
    assert unusable.report.rejected == 2 and unusable.report.batteries == []


def test_an_input_column_named_row_is_kept_aside_too() -> None:
    result = check(frame(2).with_columns(pl.Series("row", ["x", "y"])))
    assert result.report.extra_columns == ["row"]
    assert result.extra.to_dict(as_series=False) == {"row_": [0, 1], "row": ["x", "y"]}
    assert result.rows.to_list() == [0, 1]
