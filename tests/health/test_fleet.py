"""`health fleet`: every battery of a store estimated on a runner, errors kept per battery, results pushed once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import ValidationError
from batteryloop.health import fleet
from batteryloop.health.ocv import default_table
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService
from batteryloop.runners import DaskRunner, LocalRunner
from batteryloop.telemetry.store import TelemetryStore
from tests.health.synthetic import Cell
from tests.passport.test_lifecycle import ev

# battery id -> true capacity of the synthetic cell (Ah)
CAPACITIES = {"B-01": 4.0, "B-02": 5.0, "B-03": 6.5, "B-04": 8.0, "B-05": 10.0}
PACK = "B-PACK"  # a 14-cell pack whose cells in series nobody states: its estimate fails
NO_RATING = "B-NORATING"  # in the store, absent from the CSV: no nominal capacity


def battery_frame(battery_id: str, capacity_Ah: float, cells: int = 1) -> pl.DataFrame:
    """Four 60 % cycles at 1C down / C/2 up with 1 h rests, sampled every 10 s (the capacity is known exactly)."""
    cell = Cell(capacity_Ah=capacity_Ah, table=default_table("NMC"), r0_Ohm=0.03, soc_pct=80.0, cells=cells)
    for _ in range(4):
        cell.cc(-capacity_Ah, until_soc=20.0)
        cell.rest(3600)
        cell.cc(capacity_Ah / 2, until_soc=80.0)
        cell.rest(3600)
    return cell.frame(battery_id=battery_id, every=10, noise_V=0.01 * cells)


def make_store(root: Path) -> Path:
    store = TelemetryStore(root)
    for battery, capacity in CAPACITIES.items():
        store.write(battery_frame(battery, capacity))
    store.write(battery_frame(PACK, 5.0, cells=14))
    store.write(battery_frame(NO_RATING, 5.0))
    return root


def batteries_csv(path: Path) -> Path:
    lines = ["battery_id,nominal_capacity_Ah,chemistry"]
    lines += [f"{b},{c:g},NMC" for b, c in CAPACITIES.items()]
    lines.append(f"{PACK},5,NMC")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("fleet") / "store")


@pytest.fixture(scope="module")
def tasks(store: Path, tmp_path_factory: pytest.TempPathFactory) -> list[fleet.BatteryTask]:
    table = fleet.read_batteries_csv(batteries_csv(tmp_path_factory.mktemp("csv") / "batteries.csv"))
    return fleet.plan(store, batteries_csv=table)


@pytest.fixture(scope="module")
def local_results(tasks: list[fleet.BatteryTask]) -> tuple[pl.DataFrame, fleet.FleetReport]:
    return fleet.run_fleet(tasks, LocalRunner(workers=1))


def test_capacities_match_the_simulated_cells_and_failures_are_rows(local_results):
    frame, report = local_results
    assert frame["battery_id"].to_list() == sorted([*CAPACITIES, PACK, NO_RATING])
    ok = frame.filter(pl.col("error").is_null())
    assert sorted(ok["battery_id"].to_list()) == sorted(CAPACITIES)
    for row in ok.iter_rows(named=True):
        assert row["remaining_capacity_Ah"] == pytest.approx(CAPACITIES[row["battery_id"]], rel=0.02)
        assert row["remaining_capacity_Ah_uncertainty"] > 0
        assert "discharge" in row["remaining_capacity_Ah_method"] or "rest" in row["remaining_capacity_Ah_method"]
        assert row["full_equivalent_cycles"] == pytest.approx(4 * 0.6, rel=0.01)
        assert row["rows"] == battery_frame(row["battery_id"], CAPACITIES[row["battery_id"]]).height
        assert row["parameter_sources"] == "csv"
    errors = dict(frame.filter(pl.col("error").is_not_null()).select("battery_id", "error").iter_rows())
    assert "voltage_above_window" in errors[PACK] and "about 14 cells" in errors[PACK]
    assert errors[NO_RATING].startswith("nominal_capacity_Ah: no nominal capacity")
    assert (report.batteries, report.ok, report.failed) == (7, 5, 2)
    assert {f["battery_id"] for f in report.failures} == {PACK, NO_RATING}
    assert report.rows == ok["rows"].sum()


def test_process_pool_and_dask_give_the_same_results(tasks, local_results, tmp_path):
    pytest.importorskip("distributed", reason="the dask engine needs pip install 'batteryloop[scale]'")
    expected = fleet.comparable(local_results[0])
    pool, _ = fleet.run_fleet(tasks, LocalRunner(workers=2), out=tmp_path / "pool.parquet")
    dask, report = fleet.run_fleet(tasks, DaskRunner(workers=2, processes=False), out=tmp_path / "dask.parquet")
    assert report.engine == "dask" and report.workers == 2
    assert_frame_equal(fleet.comparable(pool), expected)
    assert_frame_equal(fleet.comparable(dask), expected)
    assert_frame_equal(fleet.comparable(pl.read_parquet(tmp_path / "dask.parquet")), expected)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed into place


def test_parameters_come_from_csv_then_passport_then_defaults():
    csv = fleet.BatteryParameters(nominal_capacity_Ah=5.0)
    passport = fleet.BatteryParameters(nominal_capacity_Ah=7.0, chemistry="LFP", cells_in_series=4)
    defaults = fleet.BatteryParameters(chemistry="NMC", cells_in_series=1, max_current_A=50.0)
    merged, sources = fleet.merge_parameters([("csv", csv), ("passport", passport), ("defaults", defaults)])
    assert merged == fleet.BatteryParameters(
        nominal_capacity_Ah=5.0, chemistry="LFP", cells_in_series=4, max_current_A=50.0
    )
    assert sources == "csv+passport+defaults"
    assert fleet.merge_parameters([("csv", None), ("defaults", defaults)])[1] == "defaults"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("battery,nominal_capacity_Ah\nB-01,5\n", ["b.csv row 1 column battery", "b.csv row 1 column battery_id"]),
        ("battery_id,nominal_capacity_Ah\nB-01,5\nB-02,five\nB-03,-1\n",
         ["b.csv row 3 column nominal_capacity_Ah", "b.csv row 4 column nominal_capacity_Ah"]),
        ("battery_id,cells_in_series,chemistry\nB-01,2.5,NMC\nB-02,14,NiMH\n",
         ["b.csv row 2 column cells_in_series", "b.csv row 3 column chemistry"]),
        ("battery_id,nominal_capacity_Ah\nB-01,5\n,5\nB-01,6\n",
         ["b.csv row 3 column battery_id", "b.csv row 4 column battery_id"]),
        ("battery_id,nominal_capacity_Ah\nB-01,5,7\n", ["b.csv row 2"]),
    ],
)  # fmt: skip
def test_batteries_csv_errors_name_row_and_column(tmp_path, text, fields):
    path = tmp_path / "b.csv"
    path.write_text(text)
    with pytest.raises(ValidationError) as err:
        fleet.read_batteries_csv(path)
    assert [p.field for p in err.value.problems] == fields


def test_batteries_csv_reads_what_is_given(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("battery_id,nominal_capacity_Ah,chemistry,cells_in_series\nB-01,5,lfp,\nB-02,,,14\n")
    table = fleet.read_batteries_csv(path)
    assert table["B-01"] == fleet.BatteryParameters(nominal_capacity_Ah=5.0, chemistry="LFP")
    assert table["B-02"] == fleet.BatteryParameters(cells_in_series=14)


# ---------------------------------------------------------------------------------------------------------------------
# passports


def _issue(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, str]:
    """Passports of Maker B.V. for B-01 (by identifier) and B-02..B-04 (by serial); B-05 of another maker."""
    ids: dict[str, str] = {}
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        for name in ("Maker B.V.", "Other Maker B.V."):
            org = svc.create_organisation(name, identifier=f"ID-{name[:5].upper()}")
            svc.create_account(f"{name[:5].lower()}-op", Role.ECONOMIC_OPERATOR, org.name)
        for battery, capacity in CAPACITIES.items():
            maker = "Other Maker B.V." if battery == "B-05" else "Maker B.V."
            org = svc.organisation(maker)
            viewer = Viewer(Role.ECONOMIC_OPERATOR, account="test", organisation_id=org.id)
            data = ev(battery, rated_capacity_Ah=capacity, battery_chemistry="NMC", nominal_voltage_V=3.7)
            pid = battery if battery == "B-01" else None
            ids[battery] = svc.create(viewer, data, passport_id=pid).id
    return ids


def _versions(session_factory: sessionmaker[Session]) -> dict[str, int]:
    with transaction(session_factory) as session:
        return {p.serial_number: p.version for p in session.scalars(select(Passport))}


def test_push_records_one_version_per_battery_and_a_rerun_none(store, session_factory, settings):
    ids = _issue(session_factory, settings)
    with transaction(session_factory) as session:
        matches = fleet.find_passports(session, TelemetryStore(store).batteries())
    assert matches["B-01"].matched_on == "passport_identifier" and matches["B-01"].passport_id == "B-01"
    assert matches["B-02"].matched_on == "serial_number" and matches["B-02"].passport_id == ids["B-02"]
    assert matches["B-03"].parameters == fleet.BatteryParameters(
        nominal_capacity_Ah=6.5, chemistry="NMC", cells_in_series=1
    )
    assert matches[NO_RATING].passport_id is None
    tasks = fleet.plan(store, passports=matches)  # ratings from the passports alone
    push = fleet.PushSettings(session_factory, account="maker-op", settings=settings)
    frame, report = fleet.run_fleet(tasks, LocalRunner(1), push=push, passports=matches)
    assert (report.pushed, report.refused, report.unchanged) == (4, 1, 0)  # B-05 belongs to the other maker
    assert report.refusals[0]["battery_id"] == "B-05" and "responsible" in report.refusals[0]["reason"]
    assert report.no_passport == 0 and report.failed == 2  # the pack and the unrated battery: no result to push
    assert _versions(session_factory) == {"B-01": 2, "B-02": 2, "B-03": 2, "B-04": 2, "B-05": 1}
    with transaction(session_factory) as session:
        p = session.get(Passport, ids["B-03"])
        assert p is not None
        assert p.data["remaining_capacity_Ah"] == pytest.approx(6.5, rel=0.02)
        assert (
            p.data["remaining_capacity_Ah"] == frame.filter(pl.col("battery_id") == "B-03")["remaining_capacity_Ah"][0]
        )
        assert p.observations["remaining_capacity_Ah"]["uncertainty"] > 0
    again = fleet.run_fleet(tasks, LocalRunner(1), push=push, passports=matches)[1]
    assert (again.pushed, again.unchanged, again.refused) == (0, 4, 1)
    assert _versions(session_factory) == {"B-01": 2, "B-02": 2, "B-03": 2, "B-04": 2, "B-05": 1}
    as_operator = fleet.PushSettings(session_factory, settings=settings)  # each passport's responsible operator
    third = fleet.run_fleet(tasks, LocalRunner(1), push=as_operator, passports=matches)[1]
    assert (third.pushed, third.unchanged, third.refused) == (1, 4, 0)
    assert _versions(session_factory)["B-05"] == 2


def test_serial_numbers_shared_by_two_passports_are_not_matched(session_factory, settings):
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        org = svc.create_organisation("Maker B.V.", identifier="ID-MAKER")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="test", organisation_id=org.id)
        svc.create(viewer, ev("TWIN"))
        svc.create(viewer, ev("TWIN", gtin="4006381333931"))
        matches = fleet.find_passports(session, ["TWIN", "NONE"])
    assert matches["TWIN"].passport_id is None and "ambiguous: 2 passports" in (matches["TWIN"].reason or "")
    assert matches["NONE"].passport_id is None


# ---------------------------------------------------------------------------------------------------------------------
# the command


def _cli(tmp: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp)}
    env.pop("BATTERYLOOP_DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", *args], env=env, capture_output=True, text=True, timeout=180, cwd=tmp
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc


def test_cli_fleet_writes_parquet_and_pushes_once(store, tmp_path):
    csv = batteries_csv(tmp_path / "batteries.csv")
    out = tmp_path / "results.parquet"
    run = ["health", "fleet", "--store", str(store), "--batteries", str(csv), "--out", str(out)]
    data = json.loads(_cli(tmp_path, *run, "--json").stdout)
    assert (data["batteries"], data["ok"], data["failed"], data["push"]) == (7, 5, 2, False)
    assert data["passports_read"] is False  # no registry configured or present
    results = pl.read_parquet(out)
    assert results.filter(pl.col("battery_id") == "B-04")["remaining_capacity_Ah"][0] == pytest.approx(8.0, rel=0.02)
    table = _cli(tmp_path, *run).stdout
    assert "Fleet health" in table and "failed B-NORATING: nominal_capacity_Ah" in table

    spec = tmp_path / "pack.json"
    spec.write_text(json.dumps({"data": ev("B-02", rated_capacity_Ah=5.0)}))
    pid = _cli(tmp_path, "passport", "create", str(spec), "--operator", "maker").stdout.strip().splitlines()[-1]
    pushed = json.loads(_cli(tmp_path, *run, "--push", "--json").stdout)
    assert (pushed["pushed"], pushed["unchanged"], pushed["no_passport"]) == (1, 0, 4)
    again = json.loads(_cli(tmp_path, *run, "--push", "--json").stdout)
    assert (again["pushed"], again["unchanged"]) == (0, 1)
    shown = json.loads(_cli(tmp_path, "passport", "show", pid).stdout)
    assert shown["version"] == 2
    assert shown["data"]["remaining_capacity_Ah"] == pytest.approx(5.0, rel=0.02)
    assert pl.read_parquet(out).filter(pl.col("battery_id") == "B-02")["push"][0] == "unchanged"


def test_cli_errors_name_the_option_row_and_column(store, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("battery_id,nominal_capacity_Ah\nB-01,lots\n")
    proc = _cli(tmp_path, "health", "fleet", "--store", str(store), "--batteries", str(bad), expect=2)
    assert "bad.csv row 2 column nominal_capacity_Ah" in proc.stderr
    proc = _cli(tmp_path, "health", "fleet", "--store", str(tmp_path / "nothing"), expect=2)
    assert "--store" in proc.stderr and "not a telemetry store" in proc.stderr
    proc = _cli(tmp_path, "health", "fleet", "--store", str(store), "--engine", "spark", expect=2)
    assert "--engine" in proc.stderr and "local or dask" in proc.stderr
