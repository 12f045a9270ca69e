"""Capacity from partial, field-like data: full cycles cut to 20-80 % SoC windows at 1/10 Hz with +-10 mV noise
must give the full-cycle capacity within 2 % (the issue's partial-window test), on a synthetic cell and on the real
CALCE CS2 cells.

The synthetic cell's full-cycle capacity is measured the way a test bench does (CC-CV charge to 4.2 V, CC-CV
discharge to 2.5 V, coulomb counted). Two kinds of partial data:

* OCV anchors: the same cell cycled between 20 and 80 % SoC with rests at both ends; the SoC at the rests comes from
  the OCV table of the chemistry (the cell follows that table, with an RC relaxation and voltage noise);
* BMS anchors: the full cycles cut to the samples between 20 and 80 % SoC, with a BMS soc_pct every minute
  (1 % resolution, 0.5 % noise); no rests at all.

On CALCE CS2_35 (LiCoO2, 1.1 Ah, 30 s Arbin sampling) each cycle's 1 C discharge is cut to 20-80 % of its own
capacity (the tester's coulomb count), resampled to 10 s, noised by +-10 mV, and given BMS-like soc_pct readings.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from batteryloop.health import capacity
from batteryloop.health.ocv import default_table
from batteryloop.health.pipeline import estimate
from batteryloop.health.series import from_frame
from tests.conftest import shared_path
from tests.health.synthetic import START, Cell

TRUE_CAPACITY_AH = 4.8
NOMINAL_AH = 5.0


def new_cell(dt_s: float = 1.0, soc: float = 50.0) -> Cell:
    return Cell(
        capacity_Ah=TRUE_CAPACITY_AH,
        table=default_table("NMC"),
        r0_Ohm=0.025,
        r1_Ohm=0.015,
        tau1_s=60.0,
        soc_pct=soc,
        dt_s=dt_s,
    )


def full_cycles(cell: Cell, n: int) -> None:
    for _ in range(n):
        cell.cc(NOMINAL_AH / 2, until_v=4.2)
        cell.cv(4.2, until_current_A=NOMINAL_AH / 50)
        cell.rest(3600)
        cell.cc(-NOMINAL_AH, until_v=2.5)
        cell.cv(2.5, until_current_A=NOMINAL_AH / 50)
        cell.rest(3600)


@pytest.fixture(scope="module")
def full_cycle_capacity() -> float:
    """The bench measurement: coulomb count of a CC-CV discharge after a CC-CV charge."""
    cell = new_cell(soc=10.0)
    full_cycles(cell, 2)
    est = estimate(cell.frame(), nominal_capacity_Ah=NOMINAL_AH, chemistry="NMC")
    assert "complete discharges" in est.parameters["remaining_capacity_Ah"].method
    value = float(est.value("remaining_capacity_Ah"))
    assert value == pytest.approx(TRUE_CAPACITY_AH, rel=0.01)  # the CV tail leaves a little charge in the cell
    return value


def test_partial_windows_with_rests_give_the_full_cycle_capacity(full_cycle_capacity):
    cell = new_cell(soc=80.0)
    for _ in range(12):
        cell.cc(-NOMINAL_AH, until_soc=20.0)
        cell.rest(3600)
        cell.cc(NOMINAL_AH / 2, until_soc=80.0)
        cell.rest(3600)
    frame = cell.frame(noise_V=0.010, every=10, seed=7)  # 1/10 Hz, +-10 mV
    assert frame.get_column("voltage_V").max() < 4.2 and frame.get_column("voltage_V").min() > 3.2
    est = estimate(frame, nominal_capacity_Ah=NOMINAL_AH, chemistry="NMC")
    got = est.value("remaining_capacity_Ah")
    unc = est.parameters["remaining_capacity_Ah"].uncertainty
    assert "OCV table" in est.parameters["remaining_capacity_Ah"].method
    assert abs(got / full_cycle_capacity - 1) < 0.02
    assert unc is not None and 0 < unc < 0.02 * got
    assert est.details["capacity"]["ocv_fit"]["windows"] >= 20


def cut_to_window(frame: pl.DataFrame, soc: np.ndarray, lo: float = 20.0, hi: float = 80.0) -> pl.DataFrame:
    return frame.filter(pl.Series((soc >= lo) & (soc <= hi)))


def test_full_cycles_cut_to_windows_with_bms_soc_give_the_full_cycle_capacity(full_cycle_capacity):
    cell = new_cell(soc=10.0)
    full_cycles(cell, 6)
    frame = cell.frame(every=10, noise_V=0.010, soc_every_s=60, soc_noise_pct=0.5, soc_resolution_pct=1.0, seed=11)
    cut = cut_to_window(frame, cell.true_soc()[::10])  # 1/10 Hz
    est = estimate(cut, nominal_capacity_Ah=NOMINAL_AH, chemistry="NMC")
    got = est.value("remaining_capacity_Ah")
    assert "BMS soc_pct" in est.parameters["remaining_capacity_Ah"].method
    assert abs(got / full_cycle_capacity - 1) < 0.02
    fit = est.details["capacity"]["bms_soc_fit"]
    assert fit["window_groups"] >= 10  # each cut half-cycle is its own window (the cuts are gaps with current)


def test_capacity_fade_in_a_long_record_is_followed():
    """Capacity falling from 4.8 to 4.56 Ah over 120 days: the fit gives the value at the end and at the start."""
    cell = new_cell(dt_s=10.0, soc=80.0)
    days = 120
    for day in range(days):
        cell.capacity_Ah = TRUE_CAPACITY_AH * (1 - 0.05 * day / (days - 1))
        cell.cc(-NOMINAL_AH, until_soc=25.0)
        cell.rest(3600)
        cell.cc(NOMINAL_AH / 2, until_soc=80.0)
        cell.rest(3600)
        cell.gap(86400 - (cell.t_s % 86400))
    frame = cell.frame(noise_V=0.005)
    est = estimate(frame, nominal_capacity_Ah=NOMINAL_AH, chemistry="NMC")
    fit = est.details["capacity"]["ocv_fit"]
    assert fit["drift_in_time"]
    assert est.value("remaining_capacity_Ah") == pytest.approx(TRUE_CAPACITY_AH * 0.95, rel=0.01)
    assert fit["start_capacity_Ah"] == pytest.approx(TRUE_CAPACITY_AH, rel=0.01)
    assert est.value("capacity_fade_pct") == pytest.approx(100 * (1 - 0.95 * TRUE_CAPACITY_AH / NOMINAL_AH), abs=1.0)


def test_windows_across_a_gap_with_current_are_not_used():
    cell = new_cell(soc=80.0)
    for _ in range(4):
        cell.cc(-NOMINAL_AH, until_soc=30.0)
        cell.rest(3600)
        cell.cc(NOMINAL_AH, until_soc=80.0)
        cell.rest(3600)
    frame = cell.frame(every=10)
    s = from_frame(frame, rest_current_A=0.1, max_gap_s=120)
    anchors = capacity.ocv_anchors(s, capacity.rest_periods(s, 1800), default_table("NMC"), tail_s=300)
    # drop ten minutes in the middle of every discharge: the counted charge across it is unknown
    t = s.time_s
    hole = np.zeros(frame.height, dtype=bool)
    for k in range(len(anchors) - 1):
        a = anchors.index[k]
        if s.current_A[a + 5] < 0:
            hole |= (t > t[a] + 300) & (t < t[a] + 900)
    holed = frame.filter(pl.Series(~hole))
    s2 = from_frame(holed, rest_current_A=0.1, max_gap_s=120)
    assert s2.uncovered.size == 3  # the first discharge has no rest before it
    a2 = capacity.ocv_anchors(s2, capacity.rest_periods(s2, 1800), default_table("NMC"), tail_s=300)
    fit = capacity.fit_capacity(
        s2, a2, max_window_h=48, min_window_span_Ah=0.25, min_windows=3, min_trend_days=30, outlier_sigma=4
    )
    assert fit is not None
    assert fit.windows == 4  # the four charges; the discharges with a hole are not windows
    assert fit.capacity_Ah == pytest.approx(TRUE_CAPACITY_AH, rel=0.01)


# --- CALCE CS2 (real Arbin data) -------------------------------------------------------------------------------------

CALCE_FILES = ("CS2_35_10_15_10.xlsx", "CS2_35_12_13_10.xlsx", "CS2_35_1_18_11.xlsx")


def calce_discharges(path) -> list[pl.DataFrame]:
    """The 1 C discharges of one Arbin file, each with the tester's own per-cycle capacity."""
    from batteryloop.telemetry import readers
    from batteryloop.telemetry.readers import ReadOptions

    frame = readers.read(path, "arbin-xlsx", ReadOptions(battery_id="CS2_35")).with_row_index("row")
    rows = frame.get_column("row").to_numpy()
    discharging = frame.get_column("current_A").to_numpy() < -0.5
    out = []
    for _, cyc in frame.filter(pl.Series(discharging)).group_by("cycle_index", maintain_order=True):
        if cyc.height < 20:
            continue
        first = int(cyc.get_column("row")[0])
        part = frame.slice(first - 1, cyc.height + 1)  # from the record before the discharge: the tester's start
        assert rows[first - 1] == first - 1
        cum = part.get_column("cycler_discharge_capacity_Ah")
        out.append(part.with_columns((pl.col("cycler_discharge_capacity_Ah") - cum[0]).alias("q_Ah")))
    return out


def field_like(discharge: pl.DataFrame, rng: np.random.Generator) -> tuple[pl.DataFrame, float]:
    """The 20-80 % part of one discharge at 10 s, +-10 mV noise, soc_pct every 60 s (1 % steps, 0.5 % noise)."""
    q = discharge.get_column("q_Ah").to_numpy()
    full = float(q[-1])
    t_us = discharge.get_column("timestamp").to_physical().to_numpy()
    t = (t_us - t_us[0]) / 1e6
    grid = np.arange(0.0, t[-1], 10.0)
    qi = np.interp(grid, t, q)
    soc = 100.0 * (1 - qi / full)
    keep = (soc >= 20) & (soc <= 80)
    grid, qi, soc = grid[keep], qi[keep], soc[keep]
    current = np.interp(grid, t, discharge.get_column("current_A").to_numpy())
    voltage = np.interp(grid, t, discharge.get_column("voltage_V").to_numpy()) + rng.uniform(-0.01, 0.01, grid.size)
    report = np.concatenate(([True], np.floor(grid[1:] / 60) != np.floor(grid[:-1] / 60)))
    bms = np.round(soc + rng.normal(0, 0.5, soc.size))
    micros = t_us[0] + (grid * 1e6).astype(np.int64)
    return (
        pl.DataFrame(
            {
                "battery_id": ["CS2_35"] * grid.size,
                "timestamp": pl.Series(micros).cast(pl.Datetime("us", "UTC")),
                "current_A": current,
                "voltage_V": voltage,
                "temperature_C": np.full(grid.size, 25.0),
                "soc_pct": pl.Series(np.where(report, bms, np.nan)).fill_nan(None),
            }
        ),
        full,
    )


@pytest.mark.shared_data
def test_calce_cycles_cut_to_windows_give_the_testers_capacity():
    folder = shared_path("battery-aging", "calce_cs2", "CS2_35")
    rng = np.random.default_rng(35)
    errors = []
    for name in CALCE_FILES:
        discharges = calce_discharges(folder / name)
        assert len(discharges) >= 10, name
        # blocks of five consecutive cycles: the estimate from their windows against their mean full capacity
        for start in range(0, len(discharges) - 4, 5):
            parts = [field_like(d, rng) for d in discharges[start : start + 5]]
            windows = pl.concat([p[0] for p in parts])
            truth = float(np.mean([p[1] for p in parts]))
            est = estimate(windows, nominal_capacity_Ah=1.1, chemistry="LCO")
            assert "BMS soc_pct" in est.parameters["remaining_capacity_Ah"].method
            errors.append(est.value("remaining_capacity_Ah") / truth - 1)
    errors_arr = np.abs(np.array(errors))
    assert len(errors) >= 6
    assert errors_arr.max() < 0.02, errors


@pytest.mark.shared_data
def test_calce_complete_discharges_match_the_testers_cumulative_capacity():
    """The full pipeline on one raw Arbin file: the capacity of its last complete discharges equals the tester's
    (difference of its cumulative Discharge_Capacity column) within 0.5 %."""
    folder = shared_path("battery-aging", "calce_cs2", "CS2_35")
    from batteryloop.telemetry import readers
    from batteryloop.telemetry.readers import ReadOptions

    frame = readers.read(folder / CALCE_FILES[1], "arbin-xlsx", ReadOptions(battery_id="CS2_35"))
    discharges = calce_discharges(folder / CALCE_FILES[1])
    tester = float(np.mean([d.get_column("q_Ah")[-1] for d in discharges[-3:]]))
    est = estimate(frame, nominal_capacity_Ah=1.1, chemistry="LCO")
    assert "complete discharges" in est.parameters["remaining_capacity_Ah"].method
    assert est.value("remaining_capacity_Ah") == pytest.approx(tester, rel=0.005)
    assert est.details["capacity"]["complete_discharges"] >= len(discharges) - 1
    # 30 s sampling: no current step can be read within 10 s, and the estimate says so
    assert est.value("ohmic_resistance_mOhm") is None or est.details["resistance"]["used"] >= 3


def test_start_is_in_utc():
    assert START.tzinfo is not None
    assert timedelta(0) == START.utcoffset()
