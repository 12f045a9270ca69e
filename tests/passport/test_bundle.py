"""The signed, versioned export and its offline verification: every kind of tampering is named."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from batteryloop.errors import PermissionDeniedError
from batteryloop.passport import signing
from batteryloop.passport.access import Role, Viewer, bundle_attribute_keys, visible_groups
from batteryloop.passport.bundle import verify_bundle
from batteryloop.passport.transfer import check_whole_bundle
from tests.passport.conftest import Landscape, create
from tests.passport.test_lifecycle import ev


@pytest.fixture
def bundle(client: TestClient, landscape: Landscape) -> dict[str, Any]:
    h = landscape.auth("maker-op")
    pid = create(client, landscape, ev("B-1"))
    client.patch(f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": 478.0}}, headers=h)
    client.post(
        f"/api/v1/passports/{pid}/dynamic",
        json={"values": {"soh_capacity_pct": 93.0}, "measured_at": "2026-01-01T00:00:00Z", "method": "BMS"},
        headers=h,
    )
    client.post(f"/api/v1/passports/{pid}/status", json={"status": "waste", "new_responsible": "PRO (test)"}, headers=h)
    r = client.get(
        f"/api/v1/passports/{pid}/export", params={"format": "batteryloop"}, headers=landscape.auth("pro-op")
    )
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def failed(doc: Any, **kw: Any) -> list[str]:
    return [c.name for c in verify_bundle(doc, **kw).failures]


def test_an_untouched_export_verifies(bundle: dict[str, Any]) -> None:
    report = verify_bundle(bundle)
    assert report.ok, [str(c) for c in report.failures]
    assert len(bundle["versions"]) == 4
    # the transfer to the PRO was signed by the maker, who was responsible before it
    assert bundle["versions"][3]["content"]["signer"]["organisation"] == "Maker B.V."
    assert bundle["versions"][3]["content"]["responsible"]["organisation"] == "PRO (test)"


def test_a_changed_value_breaks_that_version_hash_and_signature(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    doc["versions"][1]["content"]["data"]["battery_mass_kg"] = 400.0
    assert failed(doc) == ["version 2 hash", "version 3 chain"]


def test_a_recomputed_hash_without_the_key_fails_the_signature(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    doc["versions"][3]["content"]["data"]["battery_mass_kg"] = 1.0
    doc["versions"][3]["hash"] = signing.content_hash(doc["versions"][3]["content"])
    assert failed(doc) == ["version 4 signature"]


def test_removed_or_reordered_versions_break_the_chain(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    del doc["versions"][1]
    assert "version 2 chain" in failed(doc) and "version 2 number" in failed(doc)
    doc = copy.deepcopy(bundle)
    doc["versions"][1], doc["versions"][2] = doc["versions"][2], doc["versions"][1]
    assert "version 2 chain" in failed(doc)


def test_a_version_signed_by_an_outsider_is_named(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    outsider = signing.KeyPair.generate()
    content = doc["versions"][2]["content"]
    content["signer"] = {"organisation": "Mallory", "public_key": outsider.public_b64}
    digest = signing.content_hash(content)
    doc["versions"][2].update(hash=digest, signature=outsider.sign(digest), public_key=outsider.public_b64)
    doc["versions"][3]["content"]["previous_hash"] = digest  # even with the chain repaired behind it
    names = failed(doc)
    assert "version 3 signer" in names


def test_trusted_keys_pin_the_operators(bundle: dict[str, Any]) -> None:
    maker = bundle["versions"][0]["public_key"]
    assert verify_bundle(bundle, trusted_keys=[maker]).ok  # every version so far was signed by the maker
    assert verify_bundle(bundle, trusted_keys=[signing.fingerprint(maker)]).ok
    names = failed(bundle, trusted_keys=["0000000000000000"])
    assert names == [f"version {i} trusted key" for i in range(1, 5)]


def test_schema_of_the_newest_data_is_checked(bundle: dict[str, Any]) -> None:
    doc = copy.deepcopy(bundle)
    content = doc["versions"][3]["content"]
    content["data"]["rated_capacity_Ah"] = "lots"
    assert "schema" in failed(doc)


def test_not_a_bundle() -> None:
    assert failed([1, 2]) == ["format"]
    assert failed({"format": "other"}) == ["format"]


def test_repurposed_bundle_carries_and_verifies_its_originals(client: TestClient, landscape: Landscape) -> None:
    a = create(client, landscape, ev("B-2"))
    b = create(client, landscape, ev("B-3"))
    r = client.post(
        "/api/v1/passports/successors",
        json={
            "originals": [a, b],
            "kind": "repurposed",
            "data": {"battery_category": "industrial", "serial_number": "S-1", "gtin": "6291041500237"},
        },
        headers=landscape.auth("repurposer"),
    )
    pid = r.json()["passport_id"]
    doc = client.get(
        f"/api/v1/passports/{pid}/export", params={"format": "batteryloop"}, headers=landscape.auth("repurposer")
    ).json()
    report = verify_bundle(doc)
    assert report.ok, [str(c) for c in report.failures]
    assert {c.name for c in report.checks} >= {f"predecessor {a}", f"predecessor {b}"}
    doc["predecessors"][0]["versions"][0]["content"]["data"]["serial_number"] = "X"
    assert f"predecessor {a}" in failed(doc)


def test_an_authority_takes_the_bundle_only_while_it_may_read_every_attribute_in_it(
    client: TestClient, landscape: Landscape
) -> None:
    """A signed bundle cannot be filtered without breaking its signatures. An authority reads Annex XIII points 1-3;
    every passport records its battery status (point 4(c)), so an authority is refused the bundle, with the reason,
    and takes the filtered export instead; the responsible operator exports all of it."""
    pid = create(client, landscape, ev("B-AUTH"))
    client.post(
        f"/api/v1/passports/{pid}/dynamic",
        json={"values": {"soh_capacity_pct": 91.0}, "measured_at": "2026-01-01T00:00:00Z", "method": "BMS"},
        headers=landscape.auth("maker-op"),
    )
    for authority in ("market-surveillance", "commission"):
        h = landscape.auth(authority)
        r = client.get(f"/api/v1/passports/{pid}/export", params={"format": "batteryloop"}, headers=h)
        assert r.status_code == 403 and "Annex XIII point 4" in r.json()["error"]["message"], r.text
        filtered = client.get(f"/api/v1/passports/{pid}/export", params={"format": "batterypass-1.2"}, headers=h)
        assert filtered.status_code == 200 and "soh_capacity_pct" not in filtered.text
        assert "Maker B.V." in filtered.text  # the filtered export carries what the authority may read
    r = client.get(
        f"/api/v1/passports/{pid}/export", params={"format": "batteryloop"}, headers=landscape.auth("maker-op")
    )
    assert r.status_code == 200 and verify_bundle(r.json()).ok

    # the rule itself: a bundle that records only what the authority may read passes, one point-4 key refuses it
    groups = visible_groups(Viewer(role=Role.MARKET_SURVEILLANCE_AUTHORITY), responsible=False, granted=False)
    doc = r.json()
    public_only = {"versions": [{"content": {"data": {"battery_category": "ev", "battery_mass_kg": 478.0}}}]}
    check_whole_bundle(public_only, groups)
    assert "soh_capacity_pct" in bundle_attribute_keys(doc) and "battery_status" in bundle_attribute_keys(doc)
    with pytest.raises(PermissionDeniedError, match="point 4"):
        check_whole_bundle({"predecessors": [doc]}, groups)
