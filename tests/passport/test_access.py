"""Access by role, enforced on the server: every attribute x every role, through the real API.

The expectation below is written from Regulation (EU) 2023/1542 itself, not read from access_rules.csv, so that a
wrong rule in the table fails this test:

* Art. 77(2)(a), Annex XIII point 1: the public part, for everyone;
* Art. 77(2)(b), points 2 and 3: notified bodies, market surveillance authorities and the Commission;
* Art. 77(2)(c) with its third subparagraph: persons with a legitimate interest; (a) repairers, remanufacturers,
  second-life operators and recyclers for dismantling and composition (point 2); (b) individual battery data
  (point 4) made available by the battery's owner or operator, here through a per-battery grant;
* the responsible economic operator (Art. 77(4)) reads everything of its own passports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.passport.attributes import AccessGroup, attributes
from batteryloop.passport.models import Grant
from tests.passport.conftest import Landscape, create
from tests.passport.samples import every_attribute

PUBLIC = {AccessGroup.PUBLIC}
POINT2 = {AccessGroup.LEGITIMATE_INTEREST}
POINT3 = {AccessGroup.AUTHORITIES}
POINT4 = {AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL}
ALL = PUBLIC | POINT2 | POINT3 | POINT4

# account -> groups it must see on a passport of "Maker B.V."; the "-2" accounts hold no grant.
EXPECTED: dict[str | None, set[AccessGroup]] = {
    None: PUBLIC,
    "maker-op": ALL,
    "other-op": PUBLIC,
    "pro-op": PUBLIC,
    "repairer": PUBLIC | POINT2 | POINT4,
    "remanufacturer": PUBLIC | POINT2 | POINT4,
    "repurposer": PUBLIC | POINT2 | POINT4,
    "recycler": PUBLIC | POINT2 | POINT4,
    "aggregator": PUBLIC | POINT4,
    "repairer-2": PUBLIC | POINT2,
    "remanufacturer-2": PUBLIC | POINT2,
    "repurposer-2": PUBLIC | POINT2,
    "recycler-2": PUBLIC | POINT2,
    "aggregator-2": PUBLIC,
    "notified-body": PUBLIC | POINT2 | POINT3,
    "market-surveillance": PUBLIC | POINT2 | POINT3,
    "commission": PUBLIC | POINT2 | POINT3,
}
GRANTED = ["repairer", "remanufacturer", "repurposer", "recycler", "aggregator"]


@pytest.fixture
def full_passport(client: TestClient, landscape: Landscape) -> str:
    pid = create(client, landscape, every_attribute("ev"))
    for account in GRANTED:
        r = client.post(
            f"/api/v1/passports/{pid}/grants", json={"account": account, "days": 30}, headers=landscape.auth("maker-op")
        )
        assert r.status_code == 201, r.text
    return pid


def test_every_role_sees_exactly_what_the_regulation_allows(
    client: TestClient, landscape: Landscape, full_passport: str
) -> None:
    table = attributes()
    stored = client.get(f"/api/v1/passports/{full_passport}", headers=landscape.auth("maker-op")).json()["data"]
    # every attribute of the table is on this passport, so each one is checked for each role
    assert set(stored) == {k for k, a in table.items() if a.applies_to("ev")}
    for account, groups in EXPECTED.items():
        response = client.get(f"/api/v1/passports/{full_passport}", headers=landscape.auth(account))
        assert response.status_code == 200, (account, response.text)
        seen = set(response.json()["data"])
        expected = {k for k in stored if table[k].access_group in groups}
        assert seen == expected, (
            f"{account}: sees {sorted(seen - expected)} it may not, misses {sorted(expected - seen)}"
        )
        # the values it sees are the stored ones, unchanged
        assert all(response.json()["data"][k] == stored[k] for k in seen)
        # dynamic observations only for attributes it may see
        assert set(response.json()["observations"]) <= seen


def test_no_route_leaks_what_the_role_may_not_see(client: TestClient, landscape: Landscape, full_passport: str) -> None:
    table = attributes()
    restricted_value = "sample dismantling"  # no point-2 value reaches the public through any route
    for account in (None, "aggregator-2", "other-op"):
        h = landscape.auth(account)
        versions = client.get(f"/api/v1/passports/{full_passport}/versions", headers=h)
        assert versions.status_code == 200
        v1 = client.get(f"/api/v1/passports/{full_passport}/versions/1", headers=h).json()["data"]
        assert all(table[k].access_group in EXPECTED[account] for k in v1)
        history = client.get(f"/api/v1/passports/{full_passport}/history/remaining_capacity_Ah", headers=h)
        assert history.status_code == 403
        export = client.get(f"/api/v1/passports/{full_passport}/export", params={"format": "batteryloop"}, headers=h)
        assert export.status_code == 403
        search = client.get("/api/v1/passports", params={"soh_min": 0}, headers=h).json()
        assert search["total"] == 0
        assert restricted_value not in client.get(f"/p/{full_passport}", headers=h).text


def test_grants_expire_and_revocation_takes_effect_on_the_next_request(
    client: TestClient, landscape: Landscape, full_passport: str, session_factory: sessionmaker[Session]
) -> None:
    h = landscape.auth("repurposer")
    assert "remaining_capacity_Ah" in client.get(f"/api/v1/passports/{full_passport}", headers=h).json()["data"]
    r = client.delete(f"/api/v1/passports/{full_passport}/grants/repurposer", headers=landscape.auth("maker-op"))
    assert r.status_code == 204
    assert "remaining_capacity_Ah" not in client.get(f"/api/v1/passports/{full_passport}", headers=h).json()["data"]
    # the aggregator's grant runs out
    ha = landscape.auth("aggregator")
    assert "remaining_capacity_Ah" in client.get(f"/api/v1/passports/{full_passport}", headers=ha).json()["data"]
    with session_factory() as s, s.begin():
        s.execute(
            update(Grant)
            .where(Grant.passport_id == full_passport)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert client.get(f"/api/v1/passports/{full_passport}", headers=ha).json()["data"].keys() <= {
        k for k, a in attributes().items() if a.access_group is AccessGroup.PUBLIC
    }


def test_only_the_responsible_operator_grants_and_only_to_legitimate_interest_roles(
    client: TestClient, landscape: Landscape, full_passport: str
) -> None:
    r = client.post(
        f"/api/v1/passports/{full_passport}/grants", json={"account": "repairer-2"}, headers=landscape.auth("other-op")
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/passports/{full_passport}/grants", json={"account": "commission"}, headers=landscape.auth("maker-op")
    )
    assert r.status_code == 422
    assert r.json()["error"]["problems"][0]["field"] == "name"
    r = client.post(
        f"/api/v1/passports/{full_passport}/grants", json={"account": "nobody"}, headers=landscape.auth("maker-op")
    )
    assert r.status_code == 404


def test_reads_of_non_public_data_are_logged_for_the_operator_and_authorities(
    client: TestClient, landscape: Landscape, full_passport: str
) -> None:
    client.get(f"/api/v1/passports/{full_passport}")  # public only: not logged
    client.get(f"/api/v1/passports/{full_passport}", headers=landscape.auth("recycler"))
    client.get(f"/api/v1/passports/{full_passport}/history/soh_capacity_pct", headers=landscape.auth("aggregator"))
    log = client.get("/api/v1/access-log", params={"passport_id": full_passport}, headers=landscape.auth("maker-op"))
    assert log.status_code == 200
    entries = log.json()
    assert [e["account"] for e in entries][:2] == ["aggregator", "recycler"]
    assert entries[0]["action"] == "history" and entries[0]["attributes"] == ["soh_capacity_pct"]
    recycler_entry = entries[1]
    assert "dismantling_information" in recycler_entry["attributes"]
    assert "remaining_capacity_Ah" in recycler_entry["attributes"]
    assert all(attributes()[k].access_group is not AccessGroup.PUBLIC for k in recycler_entry["attributes"])
    assert None not in [e["account"] for e in entries]
    msa = client.get("/api/v1/access-log", headers=landscape.auth("market-surveillance"))
    assert msa.status_code == 200 and len(msa.json()) >= 2
    for account in (None, "recycler", "other-op"):
        r = client.get("/api/v1/access-log", params={"passport_id": full_passport}, headers=landscape.auth(account))
        assert r.status_code == 403, account


def test_tokens_are_stored_hashed_and_revoked_tokens_refused(
    client: TestClient, landscape: Landscape, session_factory: sessionmaker[Session]
) -> None:
    from sqlalchemy import select

    from batteryloop.passport.models import ApiKey
    from batteryloop.passport.service import PassportService

    with session_factory() as s:
        stored = s.scalars(select(ApiKey.token_hash)).all()
    assert landscape.tokens["recycler"] not in stored
    assert all(len(h) == 64 for h in stored)
    assert client.get("/api/v1/me", headers=landscape.auth("recycler")).json()["role"] == "recycler"
    with session_factory() as s, s.begin():
        PassportService(s).revoke_tokens("recycler")
    r = client.get("/api/v1/me", headers=landscape.auth("recycler"))
    assert r.status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401
