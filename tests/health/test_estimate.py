"""`health estimate`: bad inputs are named, and the command prints the JSON of the pipeline with the quality report."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from batteryloop.errors import ValidationError
from batteryloop.health.ocv import default_table
from batteryloop.health.pipeline import estimate
from tests.health.synthetic import Cell
from tests.health.test_annex_vii import LINEAR, frame_of, reference_cycle


def field_cell_frame(cells: int = 1) -> pl.DataFrame:
    cell = Cell(capacity_Ah=5.0, table=default_table("NMC"), r0_Ohm=0.03, soc_pct=80.0, cells=cells, dt_s=1.0)
    for _ in range(4):
        cell.cc(-5.0, until_soc=20.0)
        cell.rest(3600)
        cell.cc(2.5, until_soc=80.0)
        cell.rest(3600)
    return cell.frame(every=10, noise_V=0.01 * cells)


def test_pack_voltage_with_cells_in_series():
    pack = field_cell_frame(cells=14)
    est = estimate(pack, nominal_capacity_Ah=5.0, chemistry="NMC", cells_in_series=14)
    assert est.value("remaining_capacity_Ah") == pytest.approx(5.0, rel=0.02)
    assert est.value("ohmic_resistance_mOhm") == pytest.approx(14 * 30.0, rel=0.05)
    with pytest.raises(ValidationError) as err:
        estimate(pack, nominal_capacity_Ah=5.0, chemistry="NMC")
    assert err.value.problems[0].field == "cells_in_series"
    assert "--cells-in-series about 14" in (err.value.problems[0].expected or "")


@pytest.mark.parametrize(
    ("change", "kwargs", "field"),
    [
        (None, {"nominal_capacity_Ah": 0.0}, "nominal_capacity_Ah"),
        (None, {"nominal_capacity_Ah": float("nan")}, "nominal_capacity_Ah"),
        (None, {"nominal_capacity_Ah": 2.0, "nominal_energy_kWh": -1.0}, "nominal_energy_kWh"),
        (None, {"nominal_capacity_Ah": 2.0, "cells_in_series": 0}, "cells_in_series"),
        (None, {"nominal_capacity_Ah": 2.0, "chemistry": "NiMH"}, "chemistry"),
        (None, {"nominal_capacity_Ah": 2.0, "chemistry": "LMO"}, None),  # LMO: no default table, but it runs
        ("two_batteries", {"nominal_capacity_Ah": 2.0}, "battery_id"),
        ("unsorted", {"nominal_capacity_Ah": 2.0}, "timestamp:row 1"),
        ("no_current", {"nominal_capacity_Ah": 2.0}, "current_A"),
        ("null_voltage", {"nominal_capacity_Ah": 2.0}, "voltage_V"),
        ("one_row", {"nominal_capacity_Ah": 2.0}, "timestamp"),
    ],
)
def test_bad_inputs_are_named(change, kwargs, field):
    frame = reference_cycle()
    if change == "two_batteries":
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) > 100).then(pl.lit("b")).otherwise(pl.lit("a")).alias("battery_id")
        )
    elif change == "unsorted":
        frame = pl.concat([frame.slice(1, 1), frame.slice(0, 1), frame.slice(2)])
    elif change == "no_current":
        frame = frame.drop("current_A")
    elif change == "null_voltage":
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("voltage_V")).alias("voltage_V")
        )
    elif change == "one_row":
        frame = frame.head(1)
    if field is None:
        est = estimate(frame, **kwargs)
        assert est.value("remaining_power_capability") is None  # no OCV table for LMO
        assert "OCV table" in est.parameters["remaining_power_capability"].note
        return
    with pytest.raises(ValidationError) as err:
        estimate(frame, **kwargs)
    assert field in [p.field for p in err.value.problems], err.value.problems


def test_no_rests_no_steps_says_why():
    n = 2000
    frame = frame_of(np.full(n, -0.5), np.linspace(4.0, 3.5, n))
    frame = frame.with_columns(
        (pl.col("timestamp").first() + pl.duration(seconds=pl.int_range(pl.len()) * 30)).alias("timestamp")
    )
    est = estimate(frame, nominal_capacity_Ah=10.0, chemistry="NMC")
    d = est.as_dict()
    assert d["remaining_capacity_Ah"]["value"] is None
    assert "windows" in d["remaining_capacity_Ah"]["note"]
    assert d["ohmic_resistance_mOhm"]["value"] is None
    assert "1-10 s" in d["ohmic_resistance_mOhm"]["note"]
    assert d["capacity_throughput_Ah"]["value"] == pytest.approx(0.5 * (n - 1) * 30 / 3600)


def test_cli_estimate_prints_json_with_the_quality_report(tmp_path):
    path = tmp_path / "cell.csv"
    field_cell_frame().write_csv(path)
    ocv = tmp_path / "ocv.csv"
    table = default_table("NMC")
    pl.DataFrame({"soc_pct": table.soc_pct, "ocv_V": table.ocv_V}).write_csv(ocv)
    proc = subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", "health", "estimate", str(path), "--nominal-capacity-Ah", "5",
         "--nominal-energy-kWh", "0.0182", "--chemistry", "NMC", "--ocv-table", str(ocv), "--json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["remaining_capacity_Ah"]["value"] == pytest.approx(5.0, rel=0.02)
    assert data["remaining_capacity_Ah"]["uncertainty"] > 0
    assert data["state_of_certified_energy_pct"]["value"] == pytest.approx(100.0, abs=3.0)
    assert data["quality"]["rows_in"] == data["record"]["samples"]
    assert data["inputs"]["ocv_table"]["name"] == str(ocv)
    assert data["full_equivalent_cycles"]["value"] == pytest.approx(4 * 0.6, rel=0.01)


def test_cli_names_a_bad_ocv_table_and_a_missing_file(tmp_path):
    path = tmp_path / "cell.csv"
    reference_cycle().write_csv(path)
    bad = tmp_path / "ocv.csv"
    bad.write_text("soc_pct,ocv_V\n0,3.0\n50,2.9\n100,4.0\n")
    run = [sys.executable, "-m", "batteryloop.cli", "health", "estimate"]
    proc = subprocess.run([*run, str(path), "--nominal-capacity-Ah", "2", "--ocv-table", str(bad), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert "ocv.csv" in proc.stderr and "falls" in proc.stderr
    proc = subprocess.run([*run, str(tmp_path / "nope.csv"), "--nominal-capacity-Ah", "2", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2
    assert "nope.csv" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_as_dict_is_json_and_each_value_carries_its_time():
    est = estimate(reference_cycle(), nominal_capacity_Ah=2.0, chemistry="NMC", ocv_table=LINEAR)
    d = json.loads(json.dumps(est.as_dict()))
    end = reference_cycle().get_column("timestamp").max()
    assert d["measured_at"] == (end.isoformat().replace("+00:00", "Z"))
    assert d["remaining_capacity_Ah"]["measured_at"] == d["measured_at"]
    assert d["record"]["duration_h"] == pytest.approx((5 * 3600 - 1) / 3600)
    assert timedelta(hours=5) > timedelta(0)
