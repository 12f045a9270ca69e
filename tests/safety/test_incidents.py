"""The incident register on SQLite and PostgreSQL, through the real API and the command.

Expected access, written from the brief of the register rather than read from the code: the market surveillance
authority, the Commission and the fire service see every incident; an operator sees the incidents linked to its own
passports; an organisation with no linked passport (a notified body's) sees none; the public is refused individual
incidents and reads the counts. The counts below were made by hand from the six incidents of ``INCIDENTS``.
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
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import ValidationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from batteryloop.safety.incidents import allowed, validate
from tests.circularity.cli import cli_runner

URL = "/api/v1/safety/incidents"
ORGS = {"Maker A": "manufacturer", "Maker B": "manufacturer", "Authority": "authority", "Fire Brigade": "authority"}
ACCOUNTS = {
    "a-op": (Role.ECONOMIC_OPERATOR, "Maker A"),
    "b-op": (Role.ECONOMIC_OPERATOR, "Maker B"),
    "msa": (Role.MARKET_SURVEILLANCE_AUTHORITY, "Authority"),
    "commission": (Role.COMMISSION, "Authority"),
    "fire": (Role.FIRE_SERVICE, "Fire Brigade"),
    "notified-body": (Role.NOTIFIED_BODY, "Authority"),
}
# (date, location type, category, chemistry, cause, consequence, passport key or None)
INCIDENTS: list[tuple[str, str, str, str, str, str, str | None]] = [
    ("2025-03-04", "home", "portable", "Li-ion", "external_short_circuit", "material_damage", None),
    ("2025-03-20", "home", "portable", "Li-ion", "unknown", "evacuation", None),
    ("2025-03-28", "charging", "LMT", "NMC", "overcharge", "injury", "A1"),
    ("2025-07-02", "storage", "industrial", "LFP", "internal_defect", "material_damage", "B1"),
    ("2026-01-15", "vehicle", "EV", "NMC", "unknown", "no_damage", "A2"),  # corrected to charging below
    ("2026-01-30", "waste_facility", "portable", "Li-ion", "mechanical_damage", "material_damage", None),
]
ALL = {1, 2, 3, 4, 5, 6}
EXPECTED: dict[str | None, set[int] | None] = {
    None: None,  # refused (403)
    "a-op": {3, 5},
    "b-op": {4},
    "msa": ALL,
    "commission": ALL,
    "fire": ALL,
    "notified-body": set(),
}
BY_MONTH = {
    ("2025-03", "portable", "home", 2),
    ("2025-03", "LMT", "charging", 1),
    ("2025-07", "industrial", "storage", 1),
    ("2026-01", "EV", "charging", 1),
    ("2026-01", "portable", "waste_facility", 1),
}
BY_YEAR = {
    ("2025", "portable", "home", 2),
    ("2025", "LMT", "charging", 1),
    ("2025", "industrial", "storage", 1),
    ("2026", "EV", "charging", 1),
    ("2026", "portable", "waste_facility", 1),
}


def passport_data(serial: str, category: str) -> dict[str, Any]:
    return {
        "battery_category": category,
        "serial_number": serial,
        "gtin": "6291041500213",
        "battery_model_identifier": "M-1",
        "battery_chemistry": "NMC",
        "rated_capacity_Ah": 50.0,
        "manufacturer_name": "Maker",
    }


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def landscape(session_factory: sessionmaker[Session], settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """Tokens per account and passport ids per key (A1, A2 of Maker A; B1 of Maker B)."""
    tokens: dict[str, str] = {}
    passports: dict[str, str] = {}
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        orgs = {name: svc.create_organisation(name, kind=kind) for name, kind in ORGS.items()}
        for account, (role, org) in ACCOUNTS.items():
            tokens[account] = svc.issue_token(svc.create_account(account, role, org))
        for key, org, category in (("A1", "Maker A", "lmt"), ("A2", "Maker A", "ev"), ("B1", "Maker B", "industrial")):
            viewer = Viewer(Role.ECONOMIC_OPERATOR, account="x", organisation_id=orgs[org].id)
            passports[key] = svc.create(viewer, passport_data(f"S-{key}", category)).id
    return tokens, passports


def auth(tokens: dict[str, str], account: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[account]}"} if account else {}


@pytest.fixture
def filled(client: TestClient, landscape: tuple[dict[str, str], dict[str, str]]) -> dict[str, str]:
    """The six incidents (numbers 1-6; the fire service records those without a passport, each operator its own),
    and incident 5 corrected from vehicle to charging. Returns the tokens."""
    tokens, passports = landscape
    recorder = {None: "fire", "A1": "a-op", "A2": "a-op", "B1": "b-op"}
    for n, (day, where, category, chemistry, cause, consequence, key) in enumerate(INCIDENTS, start=1):
        body = {
            "occurred_on": day,
            "location_type": where,
            "category": category,
            "chemistry": chemistry,
            "cause": cause,
            "consequence": consequence,
            "description": f"incident {n}",
        }
        if key is not None:
            body["passport_id"] = passports[key]
        response = client.post(URL, json=body, headers=auth(tokens, recorder[key]))
        assert response.status_code == 201, response.text
        assert response.json()["number"] == n
    response = client.post(
        f"{URL}/5/corrections",
        json={"location_type": "charging", "reason": "the car was on a charging point"},
        headers=auth(tokens, "a-op"),
    )
    assert response.status_code == 201, response.text
    assert (response.json()["version"], response.json()["location_type"]) == (2, "charging")
    return tokens


@pytest.mark.parametrize("account", list(EXPECTED))
def test_each_role_sees_exactly_what_it_may(client: TestClient, filled: dict[str, str], account: str | None) -> None:
    headers = auth(filled, account)
    expected = EXPECTED[account]
    response = client.get(URL, headers=headers)
    if expected is None:
        assert response.status_code == 403
    else:
        assert response.status_code == 200, response.text
        assert {r["number"] for r in response.json()} == expected
        assert all(r["current"] for r in response.json())
    for n in ALL:
        one = client.get(f"{URL}/{n}", headers=headers)
        if expected is None:
            assert one.status_code == 403
        else:
            assert one.status_code == (200 if n in expected else 404), (n, one.text)
    # everyone, the public included, reads the counts; they name no passport, place or organisation. Those who see
    # every incident get the exact counts; the others see the counts below 3 (here: all) as "<3"
    counts = client.get(f"{URL}/counts", headers=headers)
    assert counts.status_code == 200, counts.text
    assert set(counts.json()[0]) == {"period", "category", "location_type", "incidents", "shown", "suppressed"}
    if expected == ALL:
        assert {(r["period"], r["category"], r["location_type"], r["incidents"]) for r in counts.json()} == BY_MONTH
        assert not any(r["suppressed"] for r in counts.json())
    else:
        cells = {(p, c, w) for p, c, w, _ in BY_MONTH}
        assert {(r["period"], r["category"], r["location_type"]) for r in counts.json()} == cells
        assert {(r["incidents"], r["shown"], r["suppressed"]) for r in counts.json()} == {(None, "<3", True)}


def test_counts_by_year_and_filters(client: TestClient, filled: dict[str, str]) -> None:
    msa = auth(filled, "msa")
    rows = client.get(f"{URL}/counts", params={"per": "year"}, headers=msa).json()
    assert {(r["period"], r["category"], r["location_type"], r["incidents"]) for r in rows} == BY_YEAR
    assert sum(r["incidents"] for r in rows) == 6  # the corrected incident counts once
    rows = client.get(f"{URL}/counts", params={"per": "year", "year": 2026, "category": "portable"}, headers=msa).json()
    assert [(r["period"], r["location_type"], r["incidents"]) for r in rows] == [("2026", "waste_facility", 1)]
    bad = client.get(f"{URL}/counts", params={"category": "phone"})
    assert bad.status_code == 422
    assert bad.json()["error"]["problems"][0]["field"] == "category"
    listed = client.get(URL, params={"year": 2025, "location_type": "home"}, headers=auth(filled, "fire")).json()
    assert [r["number"] for r in listed] == [1, 2]


def test_public_counts_below_the_threshold_are_suppressed(client: TestClient, filled: dict[str, str]) -> None:
    from batteryloop.safety.incidents import min_public_count

    assert min_public_count() == 3  # the threshold rule of disclosure_rules.csv
    # two more home fires of portable batteries in March 2025: that cell reaches 4, the others stay below 3
    for day in ("2025-03-09", "2025-03-30"):
        body = {
            "occurred_on": day,
            "location_type": "home",
            "category": "portable",
            "chemistry": "Li-ion",
            "cause": "unknown",
            "consequence": "material_damage",
        }
        assert client.post(URL, json=body, headers=auth(filled, "fire")).status_code == 201
    public = {(r["period"], r["category"], r["location_type"]): r for r in client.get(f"{URL}/counts").json()}
    home = public[("2025-03", "portable", "home")]
    assert (home["incidents"], home["shown"], home["suppressed"]) == (4, "4", False)
    others = [r for key, r in public.items() if key != ("2025-03", "portable", "home")]
    assert len(others) == 4 and all(r["shown"] == "<3" and r["incidents"] is None for r in others)
    # an operator without supervisory rights reads the public counts too; the fire service the exact ones
    assert client.get(f"{URL}/counts", headers=auth(filled, "a-op")).json() == list(public.values())
    exact = client.get(f"{URL}/counts", headers=auth(filled, "fire")).json()
    assert sorted(r["incidents"] for r in exact) == [1, 1, 1, 1, 4]


def test_a_correction_is_a_new_version_with_the_old_kept(client: TestClient, filled: dict[str, str]) -> None:
    versions = client.get(f"{URL}/5", headers=auth(filled, "a-op")).json()
    assert [(v["version"], v["current"], v["location_type"]) for v in versions] == [
        (1, False, "vehicle"),
        (2, True, "charging"),
    ]
    assert versions[0]["replaced_at"] is not None
    assert versions[1]["reason"] == "the car was on a charging point"
    assert versions[1]["occurred_on"] == "2026-01-15"  # fields not given are kept
    history = client.get(URL, params={"history": True}, headers=auth(filled, "msa")).json()
    assert len(history) == 7
    # another operator can neither see nor correct it
    assert (
        client.post(f"{URL}/5/corrections", json={"cause": "overcharge"}, headers=auth(filled, "b-op")).status_code
        == 404
    )


def test_a_linked_passport_must_exist_and_be_the_recorders(
    client: TestClient, landscape: tuple[dict[str, str], dict[str, str]]
) -> None:
    tokens, passports = landscape
    body = {
        "occurred_on": "2025-05-01",
        "location_type": "home",
        "category": "EV",
        "chemistry": "NMC",
        "cause": "unknown",
        "consequence": "no_damage",
    }
    missing = client.post(URL, json={**body, "passport_id": "NO-SUCH-PASSPORT"}, headers=auth(tokens, "msa"))
    assert missing.status_code == 422
    assert [p["field"] for p in missing.json()["error"]["problems"]] == ["passport_id"]
    other = client.post(URL, json={**body, "passport_id": passports["B1"]}, headers=auth(tokens, "a-op"))
    assert other.status_code == 403
    unlinked = client.post(URL, json=body, headers=auth(tokens, "a-op"))
    assert unlinked.status_code == 403
    assert client.post(URL, json=body).status_code in (401, 403)
    assert client.get(URL, headers=auth(tokens, "msa")).json() == []  # nothing refused was stored
    bad = client.post(URL, json={**body, "location_type": "garden", "cause": "arson"}, headers=auth(tokens, "fire"))
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["error"]["problems"]} == {"location_type", "cause"}


def test_validation_names_every_bad_field() -> None:
    with pytest.raises(ValidationError) as exc:
        validate(
            {
                "occurred_on": "2027-01-01",
                "location_type": "garden",
                "category": "phone",
                "chemistry": " ",
                "cause": "sabotage",
                "colour": "red",
            },
            today=date(2026, 11, 28),
        )
    assert {p.field for p in exc.value.problems} == {
        "occurred_on",
        "location_type",
        "category",
        "chemistry",
        "cause",
        "consequence",
        "colour",
    }
    with pytest.raises(ValidationError) as exc:
        validate({"occurred_on": "28-11-2026"}, today=date(2026, 11, 28))
    assert "occurred_on" in {p.field for p in exc.value.problems}
    good = validate(
        {
            "occurred_on": "2026-11-28",
            "location_type": "Waste facility",
            "category": "ev",
            "chemistry": "LFP",
            "cause": "unknown",
            "consequence": "no damage",
        },
        today=date(2026, 11, 28),
    )
    assert (good["location_type"], good["category"], good["consequence"]) == ("waste_facility", "EV", "no_damage")
    assert "unknown" in allowed("cause")
    assert allowed("consequence") == ("no_damage", "material_damage", "injury", "fatality", "evacuation")
    assert set(allowed("location_type")) == {
        "home",
        "storage",
        "transport",
        "waste_facility",
        "charging",
        "vehicle",
        "other",
    }


def test_command_end_to_end(tmp_path: Path) -> None:
    run = cli_runner(tmp_path)
    common = ("--category", "portable", "--chemistry", "Li-ion", "--cause", "unknown")
    for day, where in (("2025-03-04", "home"), ("2025-03-20", "home"), ("2025-04-01", "charging")):
        done = run("safety", "incident", "add", "--date", day, "--location-type", where, *common)
        assert done.returncode == 0, done.stderr
    done = run("safety", "incident", "add", "--date", "2025-04-02", "--location-type", "garden", *common)
    assert done.returncode == 2
    assert "location_type" in done.stderr
    done = run(
        "safety", "incident", "add", "--date", "2025-04-02", "--location-type", "home", "--passport", "NOPE", *common
    )
    assert done.returncode == 2
    assert "passport_id" in done.stderr
    done = run("safety", "incident", "counts", "--json")
    assert done.returncode == 0, done.stderr
    cells = ("2025-03", "portable", "home"), ("2025-04", "portable", "charging")
    assert json.loads(done.stdout) == [
        {"period": p, "category": c, "location_type": w, "incidents": n, "shown": str(n), "suppressed": False}
        for (p, c, w), n in zip(cells, (2, 1), strict=True)
    ]
    done = run("safety", "incident", "counts", "--public")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("<3") == 2
    for option, value in (("--year", "0"), ("--per", "week")):
        done = run("safety", "incident", "counts", option, value)
        assert done.returncode == 2
        assert option.lstrip("-") + ":" in done.stderr, done.stderr
    done = run("safety", "incident", "list")
    assert [r["number"] for r in json.loads(done.stdout)] == [1, 2, 3]
