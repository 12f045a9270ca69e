"""The register through the real API on SQLite and PostgreSQL: every role sees exactly the reports it may.

Expected access, written from the brief of the register rather than read from the code: an authority (market
surveillance, the Commission) sees every report; a PRO sees its own and its members' reports; a producer or recycler
sees its own; an organisation that is neither (a notified body's organisation) sees none of the others'; the public
sees aggregates only and is refused individual reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.access import Role
from batteryloop.passport.service import PassportService

ORGS = {
    "Maker A": "manufacturer",
    "Maker B": "importer",
    "Maker C": "manufacturer",
    "PRO X": "producer_responsibility_organisation",
    "Recycler R": "recycler",
    "Authority": "authority",
}
ACCOUNTS = {
    "a-op": (Role.ECONOMIC_OPERATOR, "Maker A"),
    "b-op": (Role.ECONOMIC_OPERATOR, "Maker B"),
    "c-op": (Role.ECONOMIC_OPERATOR, "Maker C"),
    "pro-op": (Role.ECONOMIC_OPERATOR, "PRO X"),
    "recycler": (Role.RECYCLER, "Recycler R"),
    "msa": (Role.MARKET_SURVEILLANCE_AUTHORITY, "Authority"),
    "commission": (Role.COMMISSION, "Authority"),
    "notified-body": (Role.NOTIFIED_BODY, "Authority"),
}
EVERYONE = {"Maker A", "Maker B", "Maker C", "PRO X", "Recycler R"}
EXPECTED: dict[str | None, set[str] | None] = {
    None: None,  # refused (403)
    "a-op": {"Maker A"},
    "b-op": {"Maker B"},
    "c-op": {"Maker C"},
    "pro-op": {"Maker A", "Maker B", "PRO X"},
    "recycler": {"Recycler R"},
    "msa": EVERYONE,
    "commission": EVERYONE,
    "notified-body": set(),
}
PROCESS = {
    "inputs": [{"chemistry": "lead-acid", "mass_t": 50.0, "element_content_pct": {"Pb": 60.0}}],
    "outputs": [
        {
            "chemistry": "lead-acid",
            "fraction": "lead bullion",
            "mass_t": 29.0,
            "element_content_pct": {"Pb": 99.0},
            "destination": "refinery",
            "recycled": True,
        },
        {
            "chemistry": "lead-acid",
            "fraction": "polypropylene",
            "mass_t": 9.0,
            "element_content_pct": {},
            "destination": "plastics recycler",
            "recycled": True,
        },
    ],
}


def market(pom: float, col: float, category: str = "portable") -> dict[str, Any]:
    return {"lines": [{"category": category, "chemistry": "alkaline", "placed_on_market_t": pom, "collected_t": col}]}


@pytest.fixture
def client(engine: Engine, settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def tokens(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, str]:
    out: dict[str, str] = {}
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        for name, kind in ORGS.items():
            svc.create_organisation(name, kind=kind)
        for account, (role, org) in ACCOUNTS.items():
            out[account] = svc.issue_token(svc.create_account(account, role, org))
    return out


def auth(tokens: dict[str, str], account: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[account]}"} if account else {}


@pytest.fixture
def filled(client: TestClient, tokens: dict[str, str]) -> dict[str, int]:
    """Reports of every organisation; returns organisation name -> the id of its last report."""
    ids: dict[str, int] = {}

    def submit(account: str, kind: str, org: str, year: int, data: dict[str, Any]) -> None:
        body = {"kind": kind, "organisation": org, "year": year, "data": data}
        response = client.post("/api/v1/circularity/reports", json=body, headers=auth(tokens, account))
        assert response.status_code == 201, response.text
        ids[org] = response.json()["id"]

    for producer in ("Maker A", "Maker B"):
        response = client.post(
            "/api/v1/circularity/memberships",
            json={"producer": producer, "pro": "PRO X", "category": "portable", "since_year": 2020},
            headers=auth(tokens, "pro-op"),
        )
        assert response.status_code == 201, response.text
    for year in (2022, 2023, 2024):
        submit("a-op", "market", "Maker A", year, market(100.0, 0.0))
        submit("b-op", "market", "Maker B", year, market(300.0, 0.0))
    submit("c-op", "market", "Maker C", 2024, market(50.0, 30.0))
    submit("pro-op", "market", "PRO X", 2024, market(0.0, 200.0))
    submit("recycler", "process", "Recycler R", 2024, PROCESS)
    return ids


@pytest.mark.parametrize("account", list(EXPECTED))
def test_each_role_sees_exactly_what_it_may(
    client: TestClient, tokens: dict[str, str], filled: dict[str, int], account: str | None
) -> None:
    headers = auth(tokens, account)
    expected = EXPECTED[account]
    response = client.get("/api/v1/circularity/reports", headers=headers)
    if expected is None:
        assert response.status_code == 403
    else:
        assert response.status_code == 200, response.text
        assert {r["organisation"] for r in response.json()} == expected
    for org, report_id in filled.items():
        one = client.get(f"/api/v1/circularity/reports/{report_id}", headers=headers)
        assert one.status_code == (200 if expected is not None and org in expected else 404), (org, one.text)
        rate = client.get(
            "/api/v1/circularity/collection-rate",
            params={"category": "portable", "year": 2024, "organisation": org},
            headers=headers,
        )
        if expected is not None and org in expected:
            assert rate.status_code in (200, 422), rate.text  # 422: that organisation lacks the three years
        else:
            assert rate.status_code == 403, rate.text
    # everyone, the public included, reads the aggregates and the national rate; they name no organisation
    totals = client.get("/api/v1/circularity/aggregates", params={"year": 2024}, headers=headers)
    assert totals.status_code == 200
    assert totals.json() == [
        {
            "year": 2024,
            "category": "portable",
            "chemistry": "alkaline",
            "placed_on_market_t": 450.0,
            "collected_t": 230.0,
            "collected_by_producers_t": 230.0,
            "collected_by_other_operators_t": 0.0,
            "reports": 4,
        }
    ]
    national = client.get(
        "/api/v1/circularity/collection-rate", params={"category": "portable", "year": 2024}, headers=headers
    )
    assert national.status_code == 200
    # 230 t over the mean of 400, 400 and 450 t
    assert national.json()["collection_rate_pct"] == pytest.approx(230.0 / (1250.0 / 3) * 100)


def test_pro_rate_compliance_and_process_figures(
    client: TestClient, tokens: dict[str, str], filled: dict[str, int]
) -> None:
    rate = client.get(
        "/api/v1/circularity/collection-rate",
        params={"category": "portable", "year": 2024, "organisation": "PRO X", "method": "regulation"},
        headers=auth(tokens, "pro-op"),
    )
    assert rate.status_code == 200, rate.text
    assert rate.json()["collection_rate_pct"] == pytest.approx(50.0)  # 200 t over 400 t
    compliance = client.get(
        "/api/v1/circularity/compliance", params={"organisation": "PRO X", "year": 2024}, headers=auth(tokens, "msa")
    )
    assert compliance.status_code == 200, compliance.text
    (result,) = compliance.json()["results"]
    assert (result["target_id"], result["met"], result["margin_pp"]) == ("CR_PORT_2023", True, pytest.approx(5.0))
    denied = client.get(
        "/api/v1/circularity/compliance", params={"organisation": "PRO X", "year": 2024}, headers=auth(tokens, "c-op")
    )
    assert denied.status_code == 403
    report = client.get(f"/api/v1/circularity/reports/{filled['Recycler R']}", headers=auth(tokens, "recycler"))
    figures = report.json()["figures"]
    # (29 + 9) t of 50 t recycled; lead: 29 t x 99 % = 28.71 t of 30 t
    assert figures["recycling_efficiency_pct"] == {"lead-acid": pytest.approx(76.0)}
    assert figures["material_recovery_pct"] == {"Pb": pytest.approx(95.7)}


def test_bad_reports_and_corrections_over_the_api(
    client: TestClient, tokens: dict[str, str], filled: dict[str, int]
) -> None:
    url = "/api/v1/circularity/reports"
    bad = {"lines": [{"category": "bicycle", "chemistry": "x", "placed_on_market_t": -1.0}]}
    body = {"kind": "market", "organisation": "Maker C", "year": 2023, "data": bad}
    response = client.post(url, json=body, headers=auth(tokens, "c-op"))
    assert response.status_code == 422
    assert {p["field"] for p in response.json()["error"]["problems"]} == {
        "lines[0].category",
        "lines[0].placed_on_market_t",
        "lines[0].collected_t",
    }
    again = {"kind": "market", "organisation": "Maker C", "year": 2024, "data": market(55.0, 30.0)}
    response = client.post(url, json=again, headers=auth(tokens, "c-op"))
    assert response.status_code == 409
    assert response.json()["error"]["problems"][0]["field"] == "year"
    response = client.post(url, json={**again, "correction": True, "reason": "recount"}, headers=auth(tokens, "c-op"))
    assert response.status_code == 201
    assert response.json()["version"] == 2
    history = client.get(
        "/api/v1/circularity/reports", params={"organisation": "Maker C", "history": True}, headers=auth(tokens, "msa")
    ).json()
    assert [(r["version"], r["current"], r["data"]["lines"][0]["placed_on_market_t"]) for r in history] == [
        (1, False, 50.0),
        (2, True, 55.0),
    ]
    response = client.post(url, json=again, headers=auth(tokens, "a-op"))  # Maker A reporting for Maker C
    assert response.status_code == 403
