"""The passport's safety status (ADR SP 376 terms) and the hazard flags through the API: who may see a battery's
flags (its passport's responsible operator and accounts it granted), who may mark them, a person's mark with its
evidence, and the transport classification taking its condition from the status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.attributes import attribute
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService
from batteryloop.safety import flags as hazard
from batteryloop.safety import status as safety
from tests.passport.test_lifecycle import ev
from tests.safety.test_flags import RATED_AH, store  # noqa: F401  (the module's telemetry store fixture)

FLAGS = "/api/v1/safety/flags"
TRANSPORT = "/api/v1/safety/transport"
# a one-cell 5 Ah NMC battery of 3.7 V (18.5 Wh) and 0.1 kg, as the telemetry of the flags store: UN3480
BATTERY = {"rated_capacity_Ah": RATED_AH, "battery_chemistry": "NMC", "nominal_voltage_V": 3.7, "battery_mass_kg": 0.1}


# ---------------------------------------------------------------------------------------------------------------------
# the status table


def test_statuses_are_the_attribute_s_values_and_flags_set_only_flag_statuses() -> None:
    table = safety.statuses()
    assert list(table) == attribute("safety_status").type.removeprefix("enum:").split("|")
    assert {s.status for s in table.values() if s.set_by_flags} == set(hazard.SEVERITIES)
    assert {r.severity for r in hazard.flag_rules().values()} <= set(hazard.SEVERITIES)
    assert [s.adr_condition for s in table.values()] == ["intact", "damaged", "damaged", "critical"]
    assert all("special provision 376" in s.source for s in table.values())
    assert safety.more_severe(None, "damaged") == "damaged"
    assert safety.more_severe("damaged", "defective") == "defective"
    assert safety.more_severe("critically_defective", "defective") == "critically_defective"
    assert safety.more_severe("intact", "damaged") == "damaged"


def test_bad_status_table_names_row_and_column(tmp_path: Path) -> None:
    text = safety.STATUS_PATH.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "s.csv"
    rows = [text[0], text[1].replace("intact,0,intact,no", "intact,0,fine,maybe"), *text[2:4]]
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        safety.read_statuses(bad)
    assert {p.field for p in info.value.problems} == {"s.csv row 2 adr_condition", "s.csv row 2 set_by_flags"}
    rows = [text[0], *text[1:4]]  # critically_defective missing
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        safety.read_statuses(bad)
    assert "critically_defective" in info.value.problems[0].message


@pytest.mark.parametrize(
    ("data", "condition"),
    [
        ({}, "intact"),
        ({"battery_status": "waste"}, "waste"),
        ({"safety_status": "intact", "battery_status": "waste"}, "waste"),
        ({"safety_status": "damaged", "battery_status": "waste"}, "damaged"),
        ({"safety_status": "defective"}, "damaged"),  # SP 376 carries both under P908/LP904
        ({"safety_status": "critically_defective"}, "critical"),
    ],
)
def test_transport_condition_from_the_passport(data: dict[str, Any], condition: str) -> None:
    found, note = safety.transport_condition(data)
    assert found == condition
    assert ("safety_status" in note) or ("no safety status" in note)


# ---------------------------------------------------------------------------------------------------------------------
# the API


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _landscape(session_factory: sessionmaker[Session], settings: Settings, store_root: Path) -> dict[str, Any]:
    """The flags store as the server's; Maker's passports for B-OK and B-HOT, a recycler granted B-HOT, a stranger."""
    (settings.data_dir / "telemetry").symlink_to(store_root, target_is_directory=True)
    out: dict[str, Any] = {"ids": {}, "auth": {}}
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        maker = svc.create_organisation("Maker B.V.", identifier="ID-MAKER")
        svc.create_organisation("Stranger", kind="manufacturer")
        svc.create_organisation("Recycling B.V.", kind="recycler")
        for name, role, org in (
            ("maker-op", Role.ECONOMIC_OPERATOR, "Maker B.V."),
            ("stranger-op", Role.ECONOMIC_OPERATOR, "Stranger"),
            ("recycler-op", Role.RECYCLER, "Recycling B.V."),
        ):
            out["auth"][name] = {"Authorization": f"Bearer {svc.issue_token(svc.create_account(name, role, org))}"}
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker-op", organisation_id=maker.id)
        for battery in ("B-OK", "B-HOT"):
            out["ids"][battery] = svc.create(viewer, ev(battery, **BATTERY)).id
        svc.grant(viewer, out["ids"]["B-HOT"], "recycler-op", days=30, purpose="recycling")
    return out


def _passport(session_factory: sessionmaker[Session], pid: str) -> Passport:
    with transaction(session_factory) as session:
        p = session.scalars(select(Passport).where(Passport.id == pid)).one()
        session.expunge(p)
    return p


def test_flags_are_shown_to_whoever_may_read_the_battery_s_individual_data(
    client: TestClient,
    session_factory: sessionmaker[Session],
    settings: Settings,
    store: Path,  # noqa: F811
) -> None:
    land = _landscape(session_factory, settings, store)
    r = client.get(FLAGS, headers=land["auth"]["maker-op"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["batteries"], body["total_visible"], body["withheld"]) == (6, 2, 4)
    rows = {row["battery_id"]: row for row in body["rows"]}
    assert set(rows) == {"B-OK", "B-HOT"}
    assert rows["B-OK"]["flags"] == []
    assert len(rows["B-HOT"]["flags"]) == 1, rows["B-HOT"]["error"]
    (flag,) = rows["B-HOT"]["flags"]
    assert (flag["rule"], flag["severity"]) == ("over_temperature", "damaged")
    assert flag["evidence"]["limit_C"] == 60.0 and flag["evidence"]["events"] == 2
    # the stranger sees none and is refused a named battery; a battery without a passport is withheld from all
    r = client.get(FLAGS, headers=land["auth"]["stranger-op"])
    assert r.status_code == 200 and (r.json()["rows"], r.json()["withheld"]) == ([], 6)
    assert client.get(FLAGS, params={"battery_id": "B-HOT"}, headers=land["auth"]["stranger-op"]).status_code == 403
    r = client.get(FLAGS, params={"battery_id": "B-SD"}, headers=land["auth"]["maker-op"])
    assert r.status_code == 403 and "no passport" in r.text
    assert client.get(FLAGS, params={"battery_id": "B-NONE"}, headers=land["auth"]["maker-op"]).status_code == 404
    assert client.get(FLAGS).status_code == 401
    # the recycler granted B-HOT sees that battery's flags, not B-OK's
    r = client.get(FLAGS, headers=land["auth"]["recycler-op"])
    assert [row["battery_id"] for row in r.json()["rows"]] == ["B-HOT"]
    # reading a battery's flags is in its passport's access log
    log = client.get(
        "/api/v1/access-log", params={"passport_id": land["ids"]["B-HOT"]}, headers=land["auth"]["maker-op"]
    )
    assert log.status_code == 200, log.text
    readers = {e["account"] for e in log.json() if e["attributes"] == ["safety_flags"]}
    assert readers == {"maker-op", "recycler-op"}


def test_marking_flags_sets_the_safety_status_once_and_only_for_the_operator(
    client: TestClient,
    session_factory: sessionmaker[Session],
    settings: Settings,
    store: Path,  # noqa: F811
) -> None:
    land = _landscape(session_factory, settings, store)
    pid = land["ids"]["B-HOT"]
    mark = f"{FLAGS}/B-HOT/mark"
    assert client.post(mark, headers=land["auth"]["stranger-op"]).status_code == 403
    assert client.post(mark, headers=land["auth"]["recycler-op"]).status_code == 403  # may read, may not write
    assert _passport(session_factory, pid).version == 1
    r = client.post(mark, headers=land["auth"]["maker-op"])
    assert r.status_code == 200, r.text
    assert r.json()["mark"] == "marked"
    p = _passport(session_factory, pid)
    assert (p.version, p.data["safety_status"]) == (2, "damaged")
    (event,) = p.data["negative_events"]
    assert event["event"].startswith("safety status damaged: over_temperature") and '"limit_C": 60.0' in event["event"]
    assert client.post(mark, headers=land["auth"]["maker-op"]).json()["mark"] == "unchanged"
    assert client.post(f"{FLAGS}/B-OK/mark", headers=land["auth"]["maker-op"]).json()["mark"] == "no flag"
    assert _passport(session_factory, pid).version == 2


def test_a_person_s_mark_and_the_transport_condition(
    client: TestClient,
    session_factory: sessionmaker[Session],
    settings: Settings,
    store: Path,  # noqa: F811
) -> None:
    land = _landscape(session_factory, settings, store)
    pid = land["ids"]["B-HOT"]
    url = f"/api/v1/safety/passports/{pid}/safety-status"
    # without a status the passport's battery is intact; the grantee may read that, the stranger may not
    r = client.post(TRANSPORT, json={"passport_id": pid}, headers=land["auth"]["recycler-op"])
    assert r.status_code == 200, r.text
    assert (r.json()["un_number"], r.json()["input"]["condition"]) == ("UN3480", "intact")
    assert "no safety status" in r.json()["input"]["condition_source"]
    r = client.post(TRANSPORT, json={"passport_id": pid}, headers=land["auth"]["stranger-op"])
    assert r.status_code == 403 and "safety_status" in r.text
    # the stranger may still classify with a condition given (the public attributes suffice)
    r = client.post(TRANSPORT, json={"passport_id": pid, "condition": "intact"}, headers=land["auth"]["stranger-op"])
    assert r.status_code == 200 and r.json()["un_number"] == "UN3480", r.text
    body = {"status": "critically_defective", "evidence": "venting and swelling found at intake inspection"}
    assert client.post(url, json=body, headers=land["auth"]["stranger-op"]).status_code == 403
    assert client.post(url, json=body, headers=land["auth"]["recycler-op"]).status_code == 403
    assert client.post(url, json={**body, "status": "broken"}, headers=land["auth"]["maker-op"]).status_code == 422
    r = client.post(url, json=body, headers=land["auth"]["maker-op"])
    assert r.status_code == 200, r.text
    assert (r.json()["result"], r.json()["safety_status"], r.json()["version"]) == ("marked", "critically_defective", 2)
    p = _passport(session_factory, pid)
    assert p.data["negative_events"][0]["event"].endswith(body["evidence"])
    assert client.post(url, json=body, headers=land["auth"]["maker-op"]).json()["result"] == "unchanged"
    r = client.post(TRANSPORT, json={"passport_id": pid}, headers=land["auth"]["maker-op"])
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["input"]["condition"] == "critical"
    assert "P911" in result["packing_instructions"] and "critically_defective" in result["input"]["condition_source"]
    # data flags never lower a person's finding
    assert client.post(f"{FLAGS}/B-HOT/mark", headers=land["auth"]["maker-op"]).json()["mark"] == "marked"
    assert _passport(session_factory, pid).data["safety_status"] == "critically_defective"
    # a person clears the battery after repair: intact, the version note carries the evidence
    cleared = {"status": "intact", "evidence": "cells replaced and retested (UN 38.3)"}
    assert client.post(url, json=cleared, headers=land["auth"]["maker-op"]).json()["safety_status"] == "intact"
    r = client.post(TRANSPORT, json={"passport_id": pid}, headers=land["auth"]["maker-op"])
    assert r.json()["input"]["condition"] == "intact"
    # the same flags do not raise a cleared status again (recorded already)
    assert client.post(f"{FLAGS}/B-HOT/mark", headers=land["auth"]["maker-op"]).json()["mark"] == "unchanged"
    # without a passport the condition is required
    r = client.post(
        TRANSPORT, json={"chemistry": "li-ion", "mass_kg": 1.0, "energy_Wh": 50.0}, headers=land["auth"]["maker-op"]
    )
    assert r.status_code == 422 and "condition" in {p["field"] for p in r.json()["error"]["problems"]}


# ---------------------------------------------------------------------------------------------------------------------
# the commands


def test_cli_status_and_transport_from_the_passport(tmp_path: Path) -> None:
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(tmp_path)}
    env.pop("BATTERYLOOP_DATABASE_URL", None)

    def cli(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "batteryloop.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
        )
        assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc

    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"data": ev("C-1", **BATTERY)}))
    pid = cli("passport", "create", str(spec), "--operator", "maker").stdout.strip().splitlines()[-1]
    text = cli("safety", "transport", "--passport", pid).stdout
    assert "UN3480" in text and "condition: condition intact" in text
    cli("safety", "status", pid, "--set", "defective", "--evidence", "self-discharge 30 %/month in storage")
    data = json.loads(cli("safety", "transport", "--passport", pid, "--json").stdout)
    assert data["input"]["condition"] == "damaged" and "P908" in data["packing_instructions"]
    assert "safety_status 'defective'" in data["input"]["condition_source"]
    given = json.loads(cli("safety", "transport", "--passport", pid, "--condition", "intact", "--json").stdout)
    assert given["input"]["condition"] == "intact" and "condition_source" not in given["input"]
    proc = cli("safety", "status", pid, "--set", "broken", "--evidence", "x", expect=2)
    assert "--set" in proc.stderr
    proc = cli("safety", "transport", "--chemistry", "li-ion", "--mass-kg", "1", "--energy-Wh", "50", expect=2)
    assert "--condition" in proc.stderr
