"""Price files: the NL formats load, gaps and duplicates are named, errors name the row; the real 2024 year."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import dispatch
from batteryloop.energy.prices import align, load_prices, local_day_bounds, regular_grid
from batteryloop.errors import ImportFormatError
from tests.conftest import shared_path


def write(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_merged_format_and_gap_named(tmp_path):
    path = write(
        tmp_path,
        "datetime_utc,price_eur_per_mwh,source\n"
        "2024-01-01 00:00:00+00:00,10,x\n2024-01-01 01:00:00+00:00,20,x\n2024-01-01 04:00:00+00:00,30,x\n",
    )
    series = load_prices(path)
    assert series.step_minutes == 60
    assert series.values.tolist() == [10, 20, 30]
    assert len(series.gaps) == 1
    assert series.gaps[0].intervals == 2
    assert str(series.gaps[0]).startswith("2024-01-01 02:00 .. 2024-01-01 03:00 UTC")
    grid = regular_grid(series)
    assert np.isnan(align(series, grid, name="p")).sum() == 2  # reported, not filled


def test_15_minute_sample_format_in_eur_per_kwh(tmp_path):
    path = write(
        tmp_path,
        "start_utc,end_utc,base_eur_per_kwh_excl_vat,all_in_eur_per_kwh_incl_vat\n"
        "2025-12-15T23:00:00Z,2025-12-15T23:15:00Z,0.07994,0.2\n2025-12-15T23:15:00Z,2025-12-15T23:30:00Z,0.08307,0.2\n",
    )
    series = load_prices(path)
    assert series.step_minutes == 15
    assert series.values == pytest.approx([79.94, 83.07])


def test_duplicate_timestamp_names_both_lines(tmp_path):
    path = write(
        tmp_path,
        "datetime_utc,price_eur_per_mwh\n2024-01-01 00:00,10\n2024-01-01 01:00,20\n2024-01-01 01:00,21\n",
    )
    with pytest.raises(ImportFormatError) as info:
        load_prices(path)
    problem = info.value.problems[0]
    assert problem.field == "p.csv:line 4:datetime_utc"
    assert "line 3" in problem.message


def test_bad_price_and_time_name_the_row(tmp_path):
    path = write(tmp_path, "datetime_utc,price_eur_per_mwh\n2024-01-01 00:00,10\n2024-01-01 01:00,abc\nnoon,5\n")
    with pytest.raises(ImportFormatError) as info:
        load_prices(path)
    fields = {p.field for p in info.value.problems}
    assert fields == {"p.csv:line 3:price_eur_per_mwh", "p.csv:line 4:datetime_utc"}


def test_off_grid_row_left_out_and_listed(tmp_path):
    path = write(
        tmp_path,
        "datetime_utc,price_eur_per_mwh\n2025-10-26 00:00:00+00:00,1\n2025-10-26 01:00:01+00:00,2\n"
        "2025-10-26 02:00:00+00:00,3\n2025-10-26 03:00:00+00:00,4\n",
    )
    series = load_prices(path)
    assert series.values.tolist() == [1, 3, 4]
    assert series.rejected[0].field == "p.csv:line 3:datetime_utc"
    assert series.gaps[0].intervals == 1


def test_resample_60_to_15_repeats_only_when_asked(tmp_path):
    path = write(tmp_path, "datetime_utc,price_eur_per_mwh\n2024-01-01 00:00,10\n2024-01-01 01:00,20\n")
    series = load_prices(path)
    quarter = series.resample(15)
    assert quarter.values.tolist() == [10] * 4 + [20] * 4
    assert quarter.resampled_from_minutes == 60
    assert quarter.resample(60).values.tolist() == [10, 20]


def test_missing_column_is_named(tmp_path):
    path = write(tmp_path, "when,price\n2024-01-01 00:00,10\n")
    with pytest.raises(ImportFormatError) as info:
        load_prices(path)
    assert info.value.problems[0].field == "p.csv:header"


@pytest.mark.shared_data
def test_nl_2024_year_revenue_equals_objective():
    path = shared_path("grid", "nl_dayahead_hourly", "nl_da_hourly_2015_2026_merged.csv")
    series = load_prices(path)
    lo, hi = local_day_bounds(date(2024, 1, 1), date(2025, 1, 1))
    year = series.between(lo, hi)
    # 8784 local hours in 2024, one of them missing in the file (2024-12-30 23:00 UTC)
    assert len(year) == 8783
    assert [str(g) for g in year.gaps] == ["2024-12-30 23:00 .. 2024-12-30 23:00 UTC (1 missing)"]
    grid = regular_grid(year)
    result = dispatch(grid, align(year, grid, name="p"), Asset(power_kW=1000, energy_kWh=2000), step_minutes=60)
    assert result.idle_steps == 1
    assert result.revenue_eur["arbitrage"] == pytest.approx(result.objective_eur, rel=1e-6)
    # independent recomputation of the revenue from the schedule
    s = result.schedule.drop_nans()
    own = float(((s["discharge_kW"] - s["charge_kW"]) * s["price_eur_per_MWh"]).sum()) / 1000.0
    assert own == pytest.approx(result.objective_eur, rel=1e-6)
    assert 50_000 < result.objective_eur < 150_000


def test_cli_dispatch_json_and_schedule(tmp_path):
    from batteryloop.cli import app
    from batteryloop.commands import load_all

    load_all()
    rows = ["datetime_utc,price_eur_per_mwh"]
    for h in range(24):
        rows.append(
            f"2024-01-09 {23 if h == 0 else h - 1:02d}:00:00+00:00,{20 if h < 12 else 100}".replace(
                "2024-01-09 ", "2024-01-09 " if h == 0 else "2024-01-10 "
            )
        )
    prices = write(tmp_path, "\n".join(rows) + "\n")
    out = tmp_path / "schedule.csv"
    res = CliRunner().invoke(
        app,
        [
            "energy",
            "dispatch",
            "--prices",
            str(prices),
            "--power-kW",
            "1000",
            "--energy-kWh",
            "2000",
            "--soc-start",
            "0",
            "--soc-end",
            "0",
            "--resolution",
            "15min",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout.strip().splitlines()[-1])
    assert payload["status"] == "optimal"
    assert payload["steps"] == 96
    assert payload["resampled_from_minutes"] == 60
    assert payload["revenue_eur"]["arbitrage"] == pytest.approx(2.0 * (100 * 0.95 - 20 / 0.95), rel=1e-6)
    assert out.read_text().startswith("timestamp_utc,price_eur_per_MWh,charge_kW,discharge_kW,soc_kWh,fcr_kW")


def test_cli_gap_refused_naming_it(tmp_path):
    from batteryloop.cli import app
    from batteryloop.commands import load_all
    from batteryloop.errors import ValidationError

    load_all()
    prices = write(
        tmp_path, "datetime_utc,price_eur_per_mwh\n2024-01-01 00:00,1\n2024-01-01 02:00,2\n2024-01-01 03:00,2\n"
    )
    res = CliRunner().invoke(
        app, ["energy", "dispatch", "--prices", str(prices), "--power-kW", "1", "--energy-kWh", "2"]
    )
    assert isinstance(res.exception, ValidationError)
    assert res.exception.problems[0].field == "--prices"
    assert "2024-01-01 01:00" in res.exception.message


def test_cli_behind_the_meter_with_load_and_pv_per_kWp(tmp_path):
    from batteryloop.cli import app
    from batteryloop.commands import load_all

    load_all()
    start = np.datetime64("2024-01-09T23:00")
    stamps = [str(start + np.timedelta64(h, "h")).replace("T", " ") for h in range(24)]
    write(tmp_path, "datetime_utc,price_eur_per_mwh\n" + "".join(f"{s},50\n" for s in stamps), "prices.csv")
    load = [500.0] * 24
    load[18] = 1500.0
    write(
        tmp_path,
        "timestamp_utc,load_kW\n" + "".join(f"{s},{v}\n" for s, v in zip(stamps, load, strict=True)),
        "load.csv",
    )
    # the nl_pv_2019 layout: time (UTC), local_time, electricity per kWp
    write(tmp_path, "time,local_time,electricity\n" + "".join(f"{s[:16]},x,0\n" for s in stamps), "pv.csv")
    res = CliRunner().invoke(
        app,
        [
            "energy",
            "dispatch",
            "--prices",
            str(tmp_path / "prices.csv"),
            "--load",
            str(tmp_path / "load.csv"),
            "--pv",
            str(tmp_path / "pv.csv"),
            "--pv-kWp",
            "100",
            "--power-kW",
            "400",
            "--energy-kWh",
            "2000",
            "--capacity-tariff-eur-per-kW",
            "5",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout.strip().splitlines()[-1])
    assert payload["revenue_eur"]["peak_shaving"] == pytest.approx(5.0 * 400)
    assert payload["baseline_cost_eur"] == pytest.approx(0.05 * (500 * 23 + 1500) + 5.0 * 1500)


def test_cli_profile_not_covering_prices_is_named(tmp_path):
    from batteryloop.cli import app
    from batteryloop.commands import load_all
    from batteryloop.errors import ValidationError

    load_all()
    write(
        tmp_path,
        "datetime_utc,price_eur_per_mwh\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n2024-01-01 02:00,2\n",
        "p.csv",
    )
    write(tmp_path, "datetime_utc,load_kW\n2024-01-01 00:00,1\n2024-01-01 01:00,2\n", "l.csv")
    res = CliRunner().invoke(
        app,
        [
            "energy",
            "dispatch",
            "--prices",
            str(tmp_path / "p.csv"),
            "--load",
            str(tmp_path / "l.csv"),
            "--power-kW",
            "1",
            "--energy-kWh",
            "2",
        ],
    )
    assert isinstance(res.exception, ValidationError)
    assert res.exception.problems[0].field == "--load"
    assert "2024-01-01T02:00" in res.exception.message
