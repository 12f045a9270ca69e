"""Recycled content of a battery model (Regulation (EU) 2023/1542, Art. 8): shares, minimums, the passports.

Expected numbers are worked out by hand from the declared masses (share = recovered mass / element mass in the active
materials) and the minimums of Art. 8(2)-(3) (2031: Co 16, Pb 85, Li 6, Ni 6 %; 2036: Co 26, Pb 85, Li 12, Ni 15 %).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.circularity.recycled_content import recycled_content, validate_inputs
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import ValidationError
from batteryloop.passport.access import Role
from batteryloop.passport.service import PassportService
from tests.circularity.cli import cli_runner

INPUTS: dict[str, Any] = {
    "category": "EV",
    "elements": {
        "Co": {"total_kg": 10.0, "pre_consumer_kg": 0.6, "post_consumer_kg": 1.0},
        "Li": {"total_kg": 5.0, "pre_consumer_kg": 0.1, "post_consumer_kg": 0.15},
        "Ni": {"total_kg": 40.0, "pre_consumer_kg": 0.0, "post_consumer_kg": 3.0},
    },
}


def test_shares_split_into_pre_and_post_consumer() -> None:
    result = recycled_content(INPUTS, date(2030, 1, 1))
    by = {s.element: s for s in result.shares}
    assert [s.element for s in result.shares] == ["Co", "Li", "Ni"]
    assert by["Co"].pre_consumer_pct == pytest.approx(6.0)
    assert by["Co"].post_consumer_pct == pytest.approx(10.0)
    assert by["Co"].recycled_pct == pytest.approx(16.0)
    assert by["Li"].recycled_pct == pytest.approx(5.0)
    assert by["Ni"].recycled_pct == pytest.approx(7.5)
    assert result.checks == []  # no minimum before 18 August 2031
    assert result.passport_value()[0] == {
        "material": "cobalt",
        "pre_consumer_pct": 6.0,
        "post_consumer_pct": 10.0,
        "total_pct": 16.0,
    }


def test_minimums_apply_from_18_august_2031() -> None:
    assert recycled_content(INPUTS, date(2031, 8, 17)).checks == []
    result = recycled_content(INPUTS, date(2031, 8, 18))
    checks = {c.share.element: c for c in result.checks}
    assert {e: c.target.value_pct for e, c in checks.items()} == {"Co": 16.0, "Li": 6.0, "Ni": 6.0}
    assert checks["Co"].met and checks["Co"].margin_pp == pytest.approx(0.0, abs=1e-9)  # exactly on the minimum
    assert not checks["Li"].met and checks["Li"].missing_kg == pytest.approx(0.05)  # 6 % of 5 kg = 0.30 kg
    assert checks["Ni"].met and checks["Ni"].margin_pp == pytest.approx(1.5)
    assert not result.all_met


def test_2036_minimums_bind_and_the_2031_ones_still_listed() -> None:
    result = recycled_content(INPUTS, date(2036, 8, 18))
    co = [c for c in result.checks if c.share.element == "Co"]
    assert [(c.target.value_pct, c.met, c.binding) for c in co] == [(16.0, True, False), (26.0, False, True)]
    assert co[1].missing_kg == pytest.approx(1.0)  # 2.6 kg needed, 1.6 kg recycled
    ni = next(c for c in result.checks if c.share.element == "Ni" and c.binding)
    assert ni.target.value_pct == 15.0 and ni.missing_kg == pytest.approx(3.0)


def test_lmt_only_from_2036_and_portable_never() -> None:
    assert recycled_content(INPUTS, date(2035, 1, 1), "LMT").checks == []
    assert {c.target.value_pct for c in recycled_content(INPUTS, date(2036, 9, 1), "lmt").checks if c.binding} == {
        26.0,
        12.0,
        15.0,
    }
    assert recycled_content(INPUTS, date(2040, 1, 1), "portable").checks == []


def test_element_without_mass_is_left_out() -> None:
    data = {"elements": {"Co": {"total_kg": 0, "pre_consumer_kg": 0, "post_consumer_kg": 0}, **INPUTS["elements"]}}
    assert [s.element for s in validate_inputs(data)] == ["Co", "Li", "Ni"]
    lfp = {"elements": {"Co": {"total_kg": 0, "pre_consumer_kg": 0, "post_consumer_kg": 0}}}
    assert validate_inputs(lfp) == []


@pytest.mark.parametrize(
    ("element", "row", "field"),
    [
        ("Co", {"total_kg": 10, "pre_consumer_kg": -1, "post_consumer_kg": 0}, "elements.Co.pre_consumer_kg"),
        ("Co", {"total_kg": 10, "pre_consumer_kg": 6, "post_consumer_kg": 5}, "elements.Co.post_consumer_kg"),
        ("Co", {"total_kg": 10, "pre_consumer_kg": 1}, "elements.Co.post_consumer_kg"),
        ("Co", {"total_kg": "ten", "pre_consumer_kg": 1, "post_consumer_kg": 1}, "elements.Co.total_kg"),
        ("Mn", {"total_kg": 10, "pre_consumer_kg": 1, "post_consumer_kg": 1}, "elements.Mn"),
    ],
)
def test_bad_inputs_name_the_field(element: str, row: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        recycled_content({"category": "EV", "elements": {element: row}}, date(2032, 1, 1))
    assert field in [p.field for p in err.value.problems]


def test_unknown_category_and_missing_elements_refused() -> None:
    with pytest.raises(ValidationError) as err:
        recycled_content({**INPUTS, "category": "car"}, date(2032, 1, 1))
    assert err.value.problems[0].field == "category"
    with pytest.raises(ValidationError) as err:
        recycled_content({"category": "EV"}, date(2032, 1, 1))
    assert err.value.problems[0].field == "elements"


# ---------------------------------------------------------------------------------------------------------------------
# into the passports, through the API

EV = {
    "battery_category": "ev",
    "gtin": "6291041500213",
    "battery_model_identifier": "EV-75",
    "battery_chemistry": "NMC",
    "manufacturer_name": "Maker B.V.",
}
ACCOUNTS = {
    "maker-op": (Role.ECONOMIC_OPERATOR, "Maker"),
    "other-op": (Role.ECONOMIC_OPERATOR, "Other Maker"),
    "msa": (Role.MARKET_SURVEILLANCE_AUTHORITY, "Authority"),
}


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def tokens(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, str]:
    out: dict[str, str] = {}
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        svc.create_organisation("Maker", kind="manufacturer")
        svc.create_organisation("Other Maker", kind="manufacturer")
        svc.create_organisation("Authority", kind="authority")
        for account, (role, org) in ACCOUNTS.items():
            out[account] = svc.issue_token(svc.create_account(account, role, org))
    return out


def _auth(tokens: dict[str, str], account: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[account]}"}


def _issue(client: TestClient, tokens: dict[str, str], serial: str, model: str = "EV-75") -> str:
    data = {**EV, "serial_number": serial, "battery_model_identifier": model}
    response = client.post("/api/v1/passports", json={"data": data}, headers=_auth(tokens, "maker-op"))
    assert response.status_code == 201, response.text
    pid: str = response.json()["passport_id"]
    return pid


def test_written_into_every_passport_of_the_model_once(client: TestClient, tokens: dict[str, str]) -> None:
    a, b = _issue(client, tokens, "P-1"), _issue(client, tokens, "P-2")
    other_model = _issue(client, tokens, "P-3", model="EV-90")
    body = {"model": "EV-75", "inputs": INPUTS, "on_date": "2031-09-01"}
    response = client.post("/api/v1/circularity/recycled-content", json=body, headers=_auth(tokens, "maker-op"))
    assert response.status_code == 200, response.text
    result = response.json()
    assert {r["passport_id"]: (r["action"], r["version"]) for r in result["passports"]} == {
        a: ("updated", 2),
        b: ("updated", 2),
    }
    assert not result["all_met"]  # lithium 5 % < 6 %
    for pid in (a, b):
        data = client.get(f"/api/v1/passports/{pid}", headers=_auth(tokens, "maker-op")).json()["data"]
        cobalt = next(e for e in data["recycled_content"] if e["material"] == "cobalt")
        assert (cobalt["pre_consumer_pct"], cobalt["post_consumer_pct"], cobalt["total_pct"]) == (6.0, 10.0, 16.0)
        versions = client.get(f"/api/v1/passports/{pid}/versions").json()
        assert [v["version"] for v in versions] == [1, 2]
    untouched = client.get(f"/api/v1/passports/{other_model}", headers=_auth(tokens, "maker-op")).json()["data"]
    assert "recycled_content" not in untouched
    again = client.post("/api/v1/circularity/recycled-content", json=body, headers=_auth(tokens, "maker-op")).json()
    assert {r["action"] for r in again["passports"]} == {"unchanged"}
    assert [v["version"] for v in client.get(f"/api/v1/passports/{a}/versions").json()] == [1, 2]


def test_only_the_operator_of_the_model_may_declare(client: TestClient, tokens: dict[str, str]) -> None:
    pid = _issue(client, tokens, "P-1")
    body = {"model": "EV-75", "inputs": INPUTS}
    for account in ("other-op", "msa"):
        response = client.post("/api/v1/circularity/recycled-content", json=body, headers=_auth(tokens, account))
        assert response.status_code == 403, (account, response.text)
    assert client.post("/api/v1/circularity/recycled-content", json=body).status_code in (401, 403)
    missing = client.post(
        "/api/v1/circularity/recycled-content", json={**body, "model": "NOPE"}, headers=_auth(tokens, "maker-op")
    )
    assert missing.status_code == 404
    assert [v["version"] for v in client.get(f"/api/v1/passports/{pid}/versions").json()] == [1]


def test_bad_inputs_refused_through_the_api_with_the_field(client: TestClient, tokens: dict[str, str]) -> None:
    _issue(client, tokens, "P-1")
    bad = {"category": "EV", "elements": {"Co": {"total_kg": 1, "pre_consumer_kg": -2, "post_consumer_kg": 0}}}
    response = client.post(
        "/api/v1/circularity/recycled-content",
        json={"model": "EV-75", "inputs": bad},
        headers=_auth(tokens, "maker-op"),
    )
    assert response.status_code == 422
    assert "elements.Co.pre_consumer_kg" in response.text


def test_command_dry_run_then_apply(tmp_path: Path) -> None:
    run = cli_runner(tmp_path)

    assert run("organisations", "create", "Maker", "--kind", "manufacturer").returncode == 0
    passport = tmp_path / "p.json"
    passport.write_text(json.dumps({"data": {**EV, "serial_number": "P-1"}}))
    done = run("passport", "create", "--operator", "Maker", str(passport))
    assert done.returncode == 0, done.stderr
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(INPUTS))
    base = ("circularity", "recycled-content", "--model", "EV-75", "--inputs", str(inputs), "--date", "2036-09-01")
    dry = json.loads(run(*base, "--json").stdout)
    assert [p["action"] for p in dry["passports"]] == ["would update"]
    binding = {c["element"]: (c["minimum_pct"], c["met"]) for c in dry["minimums"] if c["binding"]}
    assert binding == {"Co": (26.0, False), "Li": (12.0, False), "Ni": (15.0, False)}
    applied = json.loads(run(*base, "--apply", "--json").stdout)
    assert [(p["action"], p["version"]) for p in applied["passports"]] == [("updated", 2)]
    again = json.loads(run(*base, "--apply", "--json").stdout)
    assert [p["action"] for p in again["passports"]] == ["unchanged"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"elements": {"Li": {"total_kg": 1, "pre_consumer_kg": 1, "post_consumer_kg": 1}}}))
    done = run("circularity", "recycled-content", "--model", "EV-75", "--inputs", str(bad))
    assert done.returncode == 2
    assert "elements.Li.post_consumer_kg" in done.stderr
