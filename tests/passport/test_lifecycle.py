"""Versions, dynamic data, status changes, successors and responsibility, through the API."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient

from batteryloop.passport import signing
from tests.passport.conftest import Landscape, create

EV = {
    "battery_category": "ev",
    "serial_number": "PACK-0001",
    "gtin": "6291041500213",
    "battery_model_identifier": "EV-75",
    "battery_chemistry": "NMC",
    "rated_capacity_Ah": 211.0,
    "manufacturer_name": "Maker B.V.",
}


def ev(serial: str, **extra: Any) -> dict[str, Any]:
    return {**EV, "serial_number": serial, **extra}


def test_issue_assigns_identity_status_and_a_signed_first_version(client: TestClient, landscape: Landscape) -> None:
    pid = create(client, landscape, ev("PACK-0001"))
    assert pid == "01062910415002132" + "1PACK-0001"  # (01) GTIN-14 (21) serial
    body = client.get(f"/api/v1/passports/{pid}", headers=landscape.auth("maker-op")).json()
    assert body["data"]["passport_identifier"] == pid
    assert body["data"]["battery_status"] == "original"
    assert body["data"]["economic_operator_identifier"] == "ID-MAKER"
    assert body["digital_link"] == "https://passport.example.nl/01/06291041500213/21/PACK-0001"
    assert "capacity_threshold_exhaustion_pct" in body["missing_mandatory"]
    versions = client.get(f"/api/v1/passports/{pid}/versions").json()
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["previous_hash"] == signing.GENESIS
    assert versions[0]["signed_by"] == "Maker B.V."


def test_a_battery_has_one_passport(client: TestClient, landscape: Landscape) -> None:
    create(client, landscape, ev("PACK-0002"))
    r = client.post("/api/v1/passports", json={"data": ev("PACK-0002")}, headers=landscape.auth("maker-op"))
    assert r.status_code == 409


def test_only_economic_operators_issue_passports(client: TestClient, landscape: Landscape) -> None:
    for account in (None, "repurposer", "commission"):
        r = client.post("/api/v1/passports", json={"data": ev("PACK-0003")}, headers=landscape.auth(account))
        assert r.status_code == 403, account


def test_every_change_is_a_new_version_in_one_hash_chain(client: TestClient, landscape: Landscape) -> None:
    h = landscape.auth("maker-op")
    pid = create(client, landscape, ev("PACK-0004"))
    r = client.patch(
        f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": 478.0}, "note": "weighed"}, headers=h
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.patch(f"/api/v1/passports/{pid}", json={"remove": ["battery_mass_kg"]}, headers=h)
    assert r.status_code == 200 and "battery_mass_kg" not in r.json()["data"]
    versions = client.get(f"/api/v1/passports/{pid}/versions").json()
    assert [v["version"] for v in versions] == [1, 2, 3]
    for earlier, later in itertools.pairwise(versions):
        assert later["previous_hash"] == earlier["hash"]
    v2 = client.get(f"/api/v1/passports/{pid}/versions/2", headers=h).json()
    assert v2["data"]["battery_mass_kg"] == 478.0
    # another operator may not change it; dynamic data through the static route is refused
    assert (
        client.patch(
            f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": 1.0}}, headers=landscape.auth("other-op")
        ).status_code
        == 403
    )
    r = client.patch(f"/api/v1/passports/{pid}", json={"data": {"remaining_capacity_Ah": 200.0}}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["problems"][0]["field"] == "data.remaining_capacity_Ah"


def test_dynamic_values_carry_time_and_method_and_keep_their_history(client: TestClient, landscape: Landscape) -> None:
    h = landscape.auth("maker-op")
    pid = create(client, landscape, ev("PACK-0005"))
    readings = [("2025-03-01T10:00:00+01:00", 96.1), ("2026-03-01T10:00:00+01:00", 92.4)]
    for when, soh in readings:
        r = client.post(
            f"/api/v1/passports/{pid}/dynamic",
            json={
                "values": {
                    "soh_capacity_pct": soh,
                    "remaining_capacity_Ah": {"value": 211.0 * soh / 100, "uncertainty": 1.2},
                },
                "measured_at": when,
                "method": "coulomb counting between OCV rest points",
            },
            headers=h,
        )
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["observations"]["soh_capacity_pct"]["measured_at"] == "2026-03-01T09:00:00+00:00"
    assert body["observations"]["remaining_capacity_Ah"]["uncertainty"] == 1.2
    history = client.get(f"/api/v1/passports/{pid}/history/soh_capacity_pct", headers=h).json()
    assert [p["value"] for p in history] == [96.1, 92.4]
    assert all(p["method"] == "coulomb counting between OCV rest points" for p in history)
    # the state of health is searchable by the operator
    found = client.get("/api/v1/passports", params={"soh_min": 90, "soh_max": 93}, headers=h).json()
    assert [i["passport_id"] for i in found["items"]] == [pid]
    # a value without time or method is refused, naming it
    r = client.post(f"/api/v1/passports/{pid}/dynamic", json={"values": {"soh_capacity_pct": 91.0}}, headers=h)
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["error"]["problems"]} == {"values.soh_capacity_pct"}
    r = client.post(
        f"/api/v1/passports/{pid}/dynamic",
        json={"values": {"battery_mass_kg": 1.0}, "measured_at": "2026-03-02T10:00:00Z", "method": "scale"},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["field"] == "values.battery_mass_kg"


def test_waste_moves_responsibility_and_recycling_closes_the_passport(client: TestClient, landscape: Landscape) -> None:
    pid = create(client, landscape, ev("PACK-0006"))
    r = client.post(
        f"/api/v1/passports/{pid}/status",
        json={"status": "waste", "new_responsible": "PRO (test)"},
        headers=landscape.auth("maker-op"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["missing_mandatory"] == []  # the maker is no longer responsible: it sees the public part
    assert "battery_status" not in r.json()["data"]
    pro = client.get(f"/api/v1/passports/{pid}", headers=landscape.auth("pro-op")).json()
    assert pro["data"]["battery_status"] == "waste"
    assert pro["data"]["economic_operator_identifier"] == "ID-PRO"
    # the maker can no longer change it; only a waste battery can be recycled
    assert (
        client.post(
            f"/api/v1/passports/{pid}/status", json={"status": "recycled"}, headers=landscape.auth("maker-op")
        ).status_code
        == 403
    )
    r = client.post(f"/api/v1/passports/{pid}/status", json={"status": "recycled"}, headers=landscape.auth("pro-op"))
    assert r.status_code == 200 and r.json()["state"] == "closed"
    public = client.get(f"/api/v1/passports/{pid}").json()
    assert public["state"] == "closed" and public["data"] == {} and public["closed_at"]
    # nor do its earlier versions show the public what the passport held; an authority still reads them
    assert client.get(f"/api/v1/passports/{pid}/versions/1").json()["data"] == {}
    held = client.get(f"/api/v1/passports/{pid}/versions/1", headers=landscape.auth("market-surveillance")).json()
    assert held["data"]["serial_number"] == "PACK-0006"
    page = client.get(f"/p/{pid}", headers={"Accept-Language": "en"})
    assert "This battery was recycled" in page.text
    r = client.patch(
        f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": 1.0}}, headers=landscape.auth("pro-op")
    )
    assert r.status_code == 409


def test_a_recycler_takes_a_battery_in_as_waste(client: TestClient, landscape: Landscape) -> None:
    pid = create(client, landscape, ev("PACK-0007"))
    r = client.post(f"/api/v1/passports/{pid}/status", json={"status": "waste"}, headers=landscape.auth("recycler"))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["economic_operator_identifier"] == "ID-RECYCLER"
    assert (
        client.post(
            f"/api/v1/passports/{pid}/status", json={"status": "waste"}, headers=landscape.auth("aggregator")
        ).status_code
        == 403
    )
    r = client.post(
        f"/api/v1/passports/{pid}/status", json={"status": "repurposed"}, headers=landscape.auth("recycler")
    )
    assert r.status_code == 422


def test_several_ev_packs_become_one_repurposed_store(client: TestClient, landscape: Landscape) -> None:
    a = create(client, landscape, ev("PACK-0008"))
    b = create(client, landscape, ev("PACK-0009"))
    store = {
        "battery_category": "industrial",
        "serial_number": "STORE-1",
        "gtin": "6291041500220",
        "battery_model_identifier": "2L-150",
        "rated_capacity_Ah": 400.0,
    }
    r = client.post(
        "/api/v1/passports/successors",
        json={"originals": [a, b], "kind": "repurposed", "data": store},
        headers=landscape.auth("repurposer"),
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["links"]["predecessors"] == [a, b]
    assert new["data"]["battery_status"] == "repurposed"
    assert new["data"]["economic_operator_identifier"] == "ID-REPURPOSER"
    for original in (a, b):
        o = client.get(f"/api/v1/passports/{original}").json()
        assert o["state"] == "superseded" and o["links"]["successors"] == [new["passport_id"]]
        assert o["data"]["economic_operator_identifier"] == "ID-REPURPOSER"
        versions = client.get(f"/api/v1/passports/{original}/versions").json()
        assert versions[-1]["kind"] == "superseded" and versions[-1]["signed_by"] == "Second Life B.V."
    # an original cannot be repurposed twice, and an aggregator cannot repurpose
    r = client.post(
        "/api/v1/passports/successors",
        json={"originals": [a], "kind": "repurposed", "data": {**store, "serial_number": "STORE-2"}},
        headers=landscape.auth("repurposer"),
    )
    assert r.status_code == 409 and r.json()["error"]["problems"][0]["field"] == "originals.0"
    c = create(client, landscape, ev("PACK-0010"))
    r = client.post(
        "/api/v1/passports/successors",
        json={"originals": [c], "kind": "repurposed", "data": {**store, "serial_number": "STORE-3"}},
        headers=landscape.auth("aggregator"),
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/passports/successors",
        json={"originals": [c, "missing"], "kind": "remanufactured", "data": ev("R-1")},
        headers=landscape.auth("remanufacturer"),
    )
    assert r.status_code == 404 and r.json()["error"]["problems"][0]["field"] == "originals.1"
    # nothing was half-written by the refused request: c is still active and has one version
    assert client.get(f"/api/v1/passports/{c}").json()["state"] == "active"
    assert len(client.get(f"/api/v1/passports/{c}/versions").json()) == 1


def test_search_by_public_facts_and_status_only_where_readable(client: TestClient, landscape: Landscape) -> None:
    create(client, landscape, ev("PACK-0011"))
    create(
        client,
        landscape,
        {**ev("PACK-0012"), "battery_category": "lmt", "battery_model_identifier": "EB-500"},
        account="other-op",
    )
    assert client.get("/api/v1/passports", params={"category": "lmt"}).json()["total"] == 1
    assert client.get("/api/v1/passports", params={"model": "EV-75"}).json()["total"] == 1
    public = client.get("/api/v1/passports", params={"model": "EV-75"}).json()["items"][0]
    assert "battery_status" not in {k for k, v in public.items() if v is not None}
    assert client.get("/api/v1/passports", params={"battery_status": "original"}).json()["total"] == 0
    mine = client.get("/api/v1/passports", params={"battery_status": "original"}, headers=landscape.auth("maker-op"))
    assert mine.json()["total"] == 1 and mine.json()["items"][0]["battery_status"] == "original"


def test_a_broad_search_counts_up_to_the_limit_and_says_the_total_is_a_lower_bound(
    client: TestClient, landscape: Landscape, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batteryloop.api.routes import passports as routes

    for n in range(4):
        create(client, landscape, ev(f"PACK-01{n}"))
    exact = client.get("/api/v1/passports", params={"model": "EV-75"}).json()
    assert (exact["total"], exact["total_exact"], len(exact["items"])) == (4, True, 4)
    monkeypatch.setattr(routes, "SEARCH_COUNT_LIMIT", 4)
    at_limit = client.get("/api/v1/passports", params={"model": "EV-75"}).json()
    assert (at_limit["total"], at_limit["total_exact"]) == (4, True)
    monkeypatch.setattr(routes, "SEARCH_COUNT_LIMIT", 3)
    capped = client.get("/api/v1/passports", params={"model": "EV-75"}).json()
    # the count stops, the page does not: all four hits are listed, in identifier order
    assert (capped["total"], capped["total_exact"]) == (3, False)
    assert [i["passport_id"] for i in capped["items"]] == [i["passport_id"] for i in exact["items"]]
    assert len(capped["items"]) == 4
    mine = client.get(
        "/api/v1/passports", params={"battery_status": "original"}, headers=landscape.auth("maker-op")
    ).json()
    assert (mine["total"], mine["total_exact"]) == (3, False)
