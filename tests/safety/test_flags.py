"""`safety flags`: each hazard of a synthetic battery flagged with its evidence, a healthy battery not, passports
marked once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import ValidationError
from batteryloop.health import fleet
from batteryloop.health.ocv import default_table
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.models import Passport, PassportVersion
from batteryloop.passport.service import PassportService
from batteryloop.rules import chemistry as chemistry_limits
from batteryloop.safety import flags as hazard
from batteryloop.telemetry.store import TelemetryStore
from tests.health.synthetic import START, Cell
from tests.passport.test_lifecycle import ev

RATED_AH = 5.0
SELF_DISCHARGE = 40.0  # %/month simulated in B-SD
HOT_C = 72.0  # above the NMC operating maximum of 60 °C
HOT_S = 2150.0  # a 1C discharge from 80 to 20 % SoC lasts 2160 s; sampled every 10 s, first to last hot sample


def _cycles(cell: Cell, n: int) -> None:
    for _ in range(n):
        cell.cc(-cell.capacity_Ah, until_soc=20.0)
        cell.rest(3600)
        cell.cc(cell.capacity_Ah / 2, until_soc=80.0)
        cell.rest(3600)


def _cell(capacity_Ah: float = RATED_AH, r0_Ohm: float = 0.03, **extra: Any) -> Cell:
    return Cell(capacity_Ah=capacity_Ah, table=default_table("NMC"), r0_Ohm=r0_Ohm, soc_pct=80.0, **extra)


def battery_frames() -> dict[str, pl.DataFrame]:
    cells: dict[str, Cell] = {}
    cells["B-OK"] = _cell()
    _cycles(cells["B-OK"], 4)
    sd = cells["B-SD"] = _cell(self_discharge_pct_per_month=SELF_DISCHARGE)
    _cycles(sd, 2)
    sd.cc(-RATED_AH, until_soc=50.0)
    sd.rest(86400)  # a day at rest: the OCV drifts by the self-discharge
    _cycles(sd, 2)
    hot = cells["B-HOT"] = _cell()
    _cycles(hot, 2)
    hot.cc(-RATED_AH, until_soc=20.0, temperature_C=HOT_C)
    hot.rest(3600)
    hot.cc(RATED_AH, until_soc=80.0, temperature_C=HOT_C)  # a second event: a 1C charge, hot as well
    hot.rest(3600)
    _cycles(hot, 1)
    deep = cells["B-DEEP"] = _cell()
    _cycles(deep, 2)
    deep.cc(-RATED_AH / 2, until_v=2.3)  # below the NMC cut-off of 2.5 V
    deep.rest(3600)
    deep.cc(RATED_AH / 2, until_soc=80.0)
    deep.rest(3600)
    _cycles(deep, 2)
    cells["B-RES"] = _cell(r0_Ohm=0.06)  # twice the resistance its passport holds
    _cycles(cells["B-RES"], 4)
    cells["B-CAP"] = _cell(capacity_Ah=4.0)  # 1 Ah (20 % of rated) below its passport's previous estimate
    _cycles(cells["B-CAP"], 4)
    return {b: c.frame(battery_id=b, every=10, noise_V=0.005) for b, c in cells.items()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flags") / "store"
    s = TelemetryStore(root)
    for frame in battery_frames().values():
        s.write(frame)
    return root


def batteries_csv(path: Path) -> Path:
    lines = ["battery_id,nominal_capacity_Ah,chemistry"]
    lines += [f"{b},{RATED_AH:g},NMC" for b in ("B-OK", "B-SD", "B-HOT", "B-DEEP", "B-RES", "B-CAP")]
    path.write_text("\n".join(lines) + "\n")
    return path


def _rule(rule: str) -> hazard.FlagRule:
    found = hazard.rule_for(hazard.flag_rules(), rule, "NMC")
    assert found is not None
    return found


# ---------------------------------------------------------------------------------------------------------------------
# rules and events


def test_every_rule_has_a_row_for_every_known_chemistry_with_a_source_and_rationale():
    rules = hazard.flag_rules()
    for chem in ("NMC", "NCA", "LFP", "LCO", "LMO"):
        for rule in hazard.RULES:
            row = rules[(rule, chem)]
            assert row.source and row.rationale and row.severity in hazard.SEVERITIES
    assert hazard.rule_for(rules, "self_discharge", "NaIon") == rules[("self_discharge", "*")]
    assert hazard.rule_for(rules, "over_temperature", None) is None  # needs the chemistry's temperature limit


def test_bad_rules_file_names_row_and_column(tmp_path):
    path = tmp_path / "rules.csv"
    path.write_text(
        "rule,chemistry,threshold,unit,severity,source,rationale\n"
        "self_discharge,NMC,ten,%/month,defective,a,b\n"
        "capacity_drop,NMC,5,%,broken,a,b\n"
        "hot,NMC,5,%,damaged,a,b\n"
    )
    with pytest.raises(ValidationError) as err:
        hazard.read_flag_rules(path)
    fields = [p.field for p in err.value.problems]
    assert fields == [
        "rules.csv row 2 column threshold",
        "rules.csv row 3 column severity",
        "rules.csv row 4 column rule",
    ]


def test_over_temperature_events_split_on_cool_samples_and_gaps():
    seconds = [0, 10, 20, 30, 40, 50, 400, 410, 420]
    temps = [25.0, 61.0, 65.0, 62.0, 25.0, 70.0, 63.0, 64.0, 20.0]
    frame = pl.DataFrame(
        {
            "timestamp": pl.Series([START + timedelta(seconds=s) for s in seconds]).cast(pl.Datetime("us", "UTC")),
            "temperature_C": temps,
        }
    )
    events = hazard.over_temperature_events(frame, 60.0)
    # 10-30 s (20 s, peak 65), the single sample at 50 s (0 s), then 400-410 s after a 350 s gap (10 s)
    assert [(e["duration_s"], e["peak_C"]) for e in events] == [(20.0, 65.0), (0.0, 70.0), (10.0, 64.0)]
    assert events[0]["start"] == "2025-01-06T06:00:10Z"


# ---------------------------------------------------------------------------------------------------------------------
# the store


@pytest.fixture(scope="module")
def tasks(store: Path, tmp_path_factory: pytest.TempPathFactory) -> list[fleet.BatteryTask]:
    table = fleet.read_batteries_csv(batteries_csv(tmp_path_factory.mktemp("csv") / "b.csv"))
    return fleet.plan(store, batteries_csv=table)


@pytest.fixture(scope="module")
def judged(tasks: list[fleet.BatteryTask]) -> dict[str, dict[str, Any]]:
    rows, report = hazard.run_flags(tasks)
    assert (report.batteries, report.judged, report.failed) == (6, 6, 0)
    return {r["battery_id"]: r for r in rows}


def test_healthy_battery_and_those_without_a_previous_estimate_give_no_flag(judged):
    # B-RES and B-CAP are only abnormal against their passports' previous estimates, which this run does not have
    for battery in ("B-OK", "B-RES", "B-CAP"):
        assert judged[battery]["flags"] == [] and judged[battery]["status"] is None


def test_self_discharge_flag_carries_the_simulated_rate(judged):
    (flag,) = judged["B-SD"]["flags"]
    assert flag["rule"] == "self_discharge" and flag["severity"] == "defective"
    assert flag["value"] == pytest.approx(SELF_DISCHARGE, rel=0.05)
    assert flag["threshold"] == _rule("self_discharge").threshold == 10.0
    assert "BU-802b" in flag["source"]
    assert judged["B-SD"]["status"] == "defective"


def test_over_temperature_flag_counts_events_above_the_chemistry_limit(judged):
    (flag,) = judged["B-HOT"]["flags"]
    limit = chemistry_limits("NMC").operating_temperature_max_C
    assert flag["rule"] == "over_temperature" and flag["severity"] == "damaged"
    assert flag["evidence"]["limit_C"] == limit == 60.0
    assert flag["evidence"]["events"] == 2  # the hot discharge and the hot charge, an hour's rest at 25 °C between
    assert flag["evidence"]["peak_C"] == HOT_C
    assert flag["value"] == pytest.approx(HOT_S, abs=10.0)  # the longest event
    assert flag["evidence"]["total_s"] > flag["value"]
    assert datetime.fromisoformat(flag["time"]) > START.astimezone(UTC)
    assert judged["B-HOT"]["status"] == "damaged"


def test_deep_discharge_flag_names_the_cut_off_and_the_lowest_voltage(judged):
    (flag,) = judged["B-DEEP"]["flags"]
    assert flag["rule"] == "deep_discharge" and flag["value"] == 1.0
    assert flag["evidence"]["cut_off_V"] == chemistry_limits("NMC").cell_voltage_min_V == 2.5
    assert flag["evidence"]["lowest_cell_voltage_V"] < 2.5 - 0.02
    assert flag["time"] == flag["evidence"]["first"]["start"]


# ---------------------------------------------------------------------------------------------------------------------
# passports


def _issue(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, str]:
    """Passports for B-OK, B-HOT, B-RES and B-CAP; B-RES and B-CAP with a previous estimate (30 mOhm, 5 Ah)."""
    ids: dict[str, str] = {}
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        org = svc.create_organisation("Maker B.V.", identifier="ID-MAKER")
        svc.create_account("maker-op", Role.ECONOMIC_OPERATOR, org.name)
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="test", organisation_id=org.id)
        for battery in ("B-OK", "B-HOT", "B-RES", "B-CAP"):
            data = ev(battery, rated_capacity_Ah=RATED_AH, battery_chemistry="NMC", nominal_voltage_V=3.7)
            ids[battery] = svc.create(viewer, data).id
        before = (START - timedelta(days=90)).isoformat()
        for battery in ("B-RES", "B-CAP"):
            svc.update_dynamic(
                viewer,
                ids[battery],
                {"ohmic_resistance_mOhm": 30.0, "remaining_capacity_Ah": RATED_AH},
                measured_at=datetime.fromisoformat(before),
                method="earlier estimate",
            )
    return ids


def _versions(session_factory: sessionmaker[Session]) -> dict[str, int]:
    with transaction(session_factory) as session:
        return {p.serial_number: p.version for p in session.scalars(select(Passport))}


def test_mark_writes_one_version_per_flagged_passport_and_a_rerun_none(store, session_factory, settings):
    ids = _issue(session_factory, settings)
    with transaction(session_factory) as session:
        matches = fleet.find_passports(session, TelemetryStore(store).batteries())
        previous = hazard.previous_values(session, list(ids.values()))
    tasks = fleet.plan(store, passports=matches)  # ratings from the passports (and none for the others)
    mark = fleet.PushSettings(session_factory, settings=settings)
    before = _versions(session_factory)
    rows, report = hazard.run_flags(tasks, previous=previous, mark=mark)
    by_id = {r["battery_id"]: r for r in rows}
    (res,) = by_id["B-RES"]["flags"]
    assert res["rule"] == "resistance_jump" and res["evidence"]["basis"] == "previous estimate"
    assert res["value"] == pytest.approx(100.0, abs=5.0)  # 60 mOhm simulated against the 30 mOhm before
    assert res["evidence"]["before_measured_at"].startswith("2024-10-08")
    (cap,) = by_id["B-CAP"]["flags"]
    assert cap["rule"] == "capacity_drop" and cap["value"] == pytest.approx(20.0, abs=1.0)  # (5 - 4) / 5 Ah
    assert by_id["B-OK"]["flags"] == []
    assert (report.marked, report.unchanged, report.refused) == (3, 0, 0)  # B-HOT, B-RES, B-CAP
    after = _versions(session_factory)
    assert {b: after[b] - before[b] for b in ids} == {"B-OK": 0, "B-HOT": 1, "B-RES": 1, "B-CAP": 1}
    with transaction(session_factory) as session:
        p = session.get(Passport, ids["B-HOT"])
        assert p is not None
        (event,) = p.data["negative_events"]
        assert event["event"].startswith("safety status damaged: over_temperature")
        assert p.data["safety_status"] == "damaged"  # over-temperature: exposure outside the specification
        res_passport = session.get(Passport, ids["B-RES"])
        assert res_passport is not None and res_passport.data["safety_status"] == "defective"  # resistance jump
        assert "safety_status" not in (session.get(Passport, ids["B-OK"]) or p).data
        assert '"limit_C": 60.0' in event["event"]
        last = session.scalars(
            select(PassportVersion).where(PassportVersion.passport_id == p.id).order_by(PassportVersion.number.desc())
        ).first()
        assert last is not None and last.content["change"]["by"] == "cli:Maker B.V."  # the responsible operator
    _, again = hazard.run_flags(tasks, previous=previous, mark=mark)
    assert (again.marked, again.unchanged) == (0, 3)
    assert _versions(session_factory) == after


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


def test_cli_flags_and_marks_once(store, tmp_path):
    csv = batteries_csv(tmp_path / "b.csv")
    run = ["safety", "flags", "--store", str(store), "--batteries", str(csv)]
    data = json.loads(_cli(tmp_path, *run, "--json").stdout)
    assert {b["battery_id"]: b["rules"] for b in data["batteries_flagged"]} == {
        "B-SD": ["self_discharge"],
        "B-HOT": ["over_temperature"],
        "B-DEEP": ["deep_discharge"],
    }
    assert data["passports_read"] is False
    text = _cli(tmp_path, *run).stdout
    assert "B-HOT: damaged - over_temperature" in text and "3 flagged" in text

    spec = tmp_path / "hot.json"
    spec.write_text(json.dumps({"data": ev("B-HOT", rated_capacity_Ah=RATED_AH)}))
    pid = _cli(tmp_path, "passport", "create", str(spec), "--operator", "maker").stdout.strip().splitlines()[-1]
    marked = json.loads(_cli(tmp_path, *run, "--mark", "--json").stdout)
    assert (marked["marked"], marked["unchanged"], marked["no_passport"]) == (1, 0, 2)
    again = json.loads(_cli(tmp_path, *run, "--mark", "--json").stdout)
    assert (again["marked"], again["unchanged"]) == (0, 1)
    shown = json.loads(_cli(tmp_path, "passport", "show", pid).stdout)
    assert shown["version"] == 2
    assert shown["data"]["negative_events"][0]["event"].startswith("safety status damaged: over_temperature")


def test_cli_errors_name_the_option(store, tmp_path):
    proc = _cli(tmp_path, "safety", "flags", "--store", str(tmp_path / "none"), expect=2)
    assert "--store" in proc.stderr and "not a telemetry store" in proc.stderr
    proc = _cli(tmp_path, "safety", "flags", "--store", str(store), "--account", "x", expect=2)
    assert "--account" in proc.stderr
