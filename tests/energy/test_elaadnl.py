"""Sessions drawn from the ElaadNL statistics reproduce them (read here straight from the CSV files)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from batteryloop.energy.elaadnl import load_stats, sample_sessions
from tests.conftest import shared_path

DAY = date(2024, 6, 12)  # a Wednesday, summer time (UTC+2)


@pytest.fixture(scope="module")
def folder() -> Path:
    return shared_path("grid", "elaadnl_ev_charging_stats")


def _csv_column(path: Path, column: str) -> dict[str, float]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    i = rows[0].index(column)
    return {r[0]: float(r[i]) for r in rows[1:] if len(r) > i and r[i].strip()}


def test_arrival_histogram_follows_the_15_minute_distribution(folder: Path) -> None:
    n = 40_000
    fleet = sample_sessions(n, DAY, seed=11, mix={"home": 1.0}, stats=load_stats(folder))
    expected = np.array(list(_csv_column(folder / "distribution-of-arrival.csv", "private").values())) / 100.0
    got = np.bincount(fleet.arrival_slot, minlength=96) / n
    # binomial standard error at the largest share (~3.2 %) is 0.09 percentage points; allow 5 of them
    assert np.abs(got - expected).max() < 0.005
    # slot 0 (00:00 local, summer time) is 22:00 UTC the day before
    first = fleet.sessions.arrival[fleet.arrival_slot == 0]
    assert np.all((first >= np.datetime64("2024-06-11T22:00")) & (first < np.datetime64("2024-06-11T22:15")))


def test_mean_demand_and_stay_per_arrival_follow_the_charts(folder: Path) -> None:
    n = 60_000
    fleet = sample_sessions(n, DAY, seed=12, mix={"public": 1.0}, stats=load_stats(folder))
    demand = _csv_column(folder / "mean-demand-per-arrival.csv", "public")
    stay = _csv_column(folder / "mean-session-length-per.csv", "public")
    stay_h = (fleet.sessions.departure - fleet.sessions.arrival).astype(np.float64) / 3600.0
    for slot_text in ("09:00", "18:00"):
        hh, mm = map(int, slot_text.split(":"))
        half = fleet.arrival_slot // 2 == hh * 2 + mm // 30
        assert half.sum() > 1000
        assert fleet.demand_drawn_kWh[half].mean() == pytest.approx(demand[slot_text], rel=0.05)
        assert stay_h[half].mean() == pytest.approx(stay[slot_text], rel=0.05)
    # the caps only ever lower the drawn demand, and each capped session is counted
    assert np.all(fleet.sessions.energy_kWh <= fleet.demand_drawn_kWh + 1e-12)
    cap = np.minimum(fleet.sessions.max_charge_kW * stay_h, fleet.sessions.battery_kWh / 0.9)
    assert fleet.sessions.energy_kWh == pytest.approx(np.minimum(fleet.demand_drawn_kWh, cap), rel=1e-12)
    assert fleet.capped_by_stay + fleet.capped_by_battery >= int(np.sum(fleet.demand_drawn_kWh > cap + 1e-9))
    assert np.all(fleet.sessions.energy_kWh <= fleet.sessions.max_charge_kW * stay_h + 1e-9)


def test_models_follow_registrations_and_v2g_uses_the_v2g_list(folder: Path) -> None:
    stats = load_stats(folder)
    fleet = sample_sessions(30_000, DAY, seed=3, v2g=True, stats=stats)
    names, counts = np.unique(fleet.model, return_counts=True)
    share = dict(zip(names.tolist(), (counts / counts.sum()).tolist(), strict=True))
    reg = stats.v2g_models.registrations
    assert share["Tesla Model 3"] == pytest.approx(47783 / reg.sum(), abs=0.01)
    assert set(names) <= set(stats.v2g_models.names)
    assert np.all(fleet.sessions.max_discharge_kW > 0)
    plain = sample_sessions(1000, DAY, seed=3, stats=stats)
    assert np.all(plain.sessions.max_discharge_kW == 0)


def test_seeded_draws_repeat(folder: Path) -> None:
    stats = load_stats(folder)
    a = sample_sessions(500, DAY, seed=9, stats=stats).sessions
    b = sample_sessions(500, DAY, seed=9, stats=stats).sessions
    c = sample_sessions(500, DAY, seed=10, stats=stats).sessions
    assert np.array_equal(a.arrival, b.arrival) and np.array_equal(a.energy_kWh, b.energy_kWh)
    assert not np.array_equal(a.arrival, c.arrival)


def test_weekend_uses_the_weekend_arrivals(folder: Path) -> None:
    stats = load_stats(folder)
    sat = sample_sessions(40_000, date(2024, 6, 15), seed=1, mix={"home": 1.0}, stats=stats)
    expected = np.array(list(_csv_column(folder / "distribution-of-arrival-weekend.csv", "private").values())) / 100.0
    assert np.abs(np.bincount(sat.arrival_slot, minlength=96) / 40_000 - expected).max() < 0.005


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    from batteryloop.errors import ValidationError

    with pytest.raises(ValidationError) as exc:
        load_stats(tmp_path)
    assert "distribution-of-arrival.csv" in str(exc.value)


def test_local_wall_time_to_utc_on_the_spring_clock_change() -> None:
    from batteryloop.energy.elaadnl import _slot_utc

    slots = _slot_utc(date(2024, 3, 31))  # 02:00 -> 03:00 CEST
    assert slots[0] == np.datetime64("2024-03-30T23:00")  # 00:00 CET
    assert slots[4 * 3] == np.datetime64("2024-03-31T01:00")  # 03:00 CEST
    assert slots[4 * 2] == np.datetime64("2024-03-31T01:00")  # 02:00 does not exist: read at the old offset, +1
    assert slots[4 * 12] == np.datetime64("2024-03-31T10:00")  # 12:00 CEST
