"""A file of one battery: its id is cleaned once, and a few rejected rows are cut out of the rest unchanged."""

from __future__ import annotations

import polars as pl
import pytest

from batteryloop.errors import ImportFormatError
from batteryloop.telemetry import quality
from batteryloop.telemetry.readers import ReadOptions
from batteryloop.telemetry.readers.canonical import to_canonical
from tests.telemetry.frames import frame


def test_a_constant_battery_id_is_stripped_for_every_row() -> None:
    raw = frame(5, battery_id="  EV-7 ")
    out = to_canonical(raw, ReadOptions())
    assert out["battery_id"].to_list() == ["EV-7"] * 5


def test_a_constant_battery_id_must_match_the_one_given() -> None:
    raw = frame(3, battery_id="EV-7")
    out = to_canonical(raw, ReadOptions(battery_id="EV-7"))
    assert out["battery_id"].to_list() == ["EV-7"] * 3
    with pytest.raises(ImportFormatError, match=r"EV-7.*EV-8"):
        to_canonical(raw, ReadOptions(battery_id="EV-8"))


def test_a_few_rejected_rows_leave_the_others_unchanged_and_in_order() -> None:
    n = 200
    current: list[float | None] = [float(i) for i in range(n)]
    for row in (0, 57, 58, 199):
        current[row] = None
    checked = quality.check(frame(n, current_A=current))
    assert checked.report.rejected == 4
    assert checked.rejected["row"].to_list() == [0, 57, 58, 199]
    kept = checked.frame
    assert kept.height == n - 4
    assert checked.rows.to_list() == [i for i in range(n) if i not in (0, 57, 58, 199)]
    assert kept["current_A"].to_list() == [float(i) for i in range(n) if i not in (0, 57, 58, 199)]
    assert kept.equals(frame(n, current_A=current).filter(pl.col("current_A").is_not_null()))
