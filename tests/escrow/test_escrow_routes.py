"""The per-version routes and the QR code of a mirrored passport, answered by the mirror once the origin is gone:
``/versions``, ``/versions/{n}``, ``/history/{key}`` and ``/qr.{svg,png}``, with the origin's access rules."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select
from tests.escrow.conftest import BASE_URL, ORIGIN, Pair
from tests.passport.fixtures import full_passport_data

from batteryloop.db import transaction
from batteryloop.escrow import versions as mirrored_versions
from batteryloop.escrow.models import MirroredPassport
from batteryloop.escrow.versions import history_points, recorded_dynamic_keys
from batteryloop.passport.access import Role, Viewer, visible_groups
from batteryloop.passport.attributes import AccessGroup, attributes
from batteryloop.passport.models import AccessLogEntry
from batteryloop.passport.schemas import HistoryPoint
from batteryloop.passport.service import PassportService

GTIN = full_passport_data("ev")["gtin"]
SERIAL = "ESC-R001"
ROLES = {"anonymous": None, "repairer": "repairer", "authority": "authority"}
ALLOWED = {
    "anonymous": {AccessGroup.PUBLIC},
    "repairer": {AccessGroup.PUBLIC, AccessGroup.LEGITIMATE_INTEREST},
    "authority": {AccessGroup.PUBLIC, AccessGroup.LEGITIMATE_INTEREST, AccessGroup.AUTHORITIES},
}
HISTORY_KEYS = ("remaining_capacity_Ah", "battery_status", "soh_capacity_pct")
HEADER = "X-Mirrored-Copy"


def _scan(png: bytes) -> str:
    (decoded,) = [d.text for d in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    return str(decoded)


def _lived(pair: Pair) -> str:
    """A passport with four signed versions: issued, a new measurement, a static correction, declared waste."""
    pid = pair.issue(SERIAL)
    pair.update(pid, 190.0)
    with transaction(pair.a_factory) as session:
        service = PassportService(session, pair.a_settings)
        operator = pair.operator(service)
        service.update_static(operator, pid, {"batch_number": "B2025-11-08"}, note="batch number corrected")
        service.change_status(operator, pid, "waste")
    return pid


def _answers(client: Any, pid: str, headers: dict[str, str]) -> dict[str, Any]:
    """What one caller gets from the per-version routes and the QR code: status codes and bodies."""
    out: dict[str, Any] = {}
    versions = client.get(f"/api/v1/passports/{pid}/versions", headers=headers)
    out["versions"] = (versions.status_code, versions.json())
    for number in range(1, len(versions.json()) + 1):
        answer = client.get(f"/api/v1/passports/{pid}/versions/{number}", headers=headers)
        out[f"version {number}"] = (answer.status_code, answer.json())
    for key in (*HISTORY_KEYS, "rated_capacity_Ah", "no_such_attribute"):
        answer = client.get(f"/api/v1/passports/{pid}/history/{key}", headers=headers)
        out[f"history {key}"] = (answer.status_code, answer.json())
    png = client.get(f"/api/v1/passports/{pid}/qr.png", headers=headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    out["qr.png"] = _scan(png.content)
    svg = client.get(f"/api/v1/passports/{pid}/qr.svg", headers=headers)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    out["qr.svg"] = svg.content  # the same bytes as the origin's: the same matrix, title and link
    return out


def _gone(pair: Pair, tmp_path: Path) -> None:
    """The origin is gone: its server and its database."""
    pair.a_client.close()
    pair.a_engine.dispose()
    for path in (tmp_path / "a").glob("origin.db*"):
        path.unlink()


def test_the_mirror_answers_versions_history_and_qr_as_the_origin_did(pair: Pair, tmp_path: Path) -> None:
    pid = _lived(pair)
    assert pair.push(ids=[pid]).sent == [{"passport_id": pid, "outcome": "created", "version": 4}]
    at_origin = {role: _answers(pair.a_client, pid, pair.auth(f"a:{a}") if a else {}) for role, a in ROLES.items()}
    responsible = {
        key: pair.a_client.get(f"/api/v1/passports/{pid}/history/{key}", headers=pair.auth("a:maker-op")).json()
        for key in HISTORY_KEYS
    }
    assert [len(responsible[k]) for k in HISTORY_KEYS] == [2, 1, 1]  # issue + measurement; waste; issue
    _gone(pair, tmp_path)

    table = attributes()
    seen: dict[str, set[str]] = {}
    for role, account in ROLES.items():
        on_mirror = _answers(pair.b_client, pid, pair.auth(account))
        expected = at_origin[role]
        # the version list: the origin's signed chain, number by number
        assert on_mirror["versions"] == expected["versions"], role
        assert [v["kind"] for v in on_mirror["versions"][1]] == ["create", "dynamic", "update", "status"]
        assert {v["signed_by"] for v in on_mirror["versions"][1]} == {ORIGIN}
        # each version's data: the origin's answer for the same role, and nothing outside the role's groups
        seen[role] = set()
        for number in range(1, 5):
            status, body = on_mirror[f"version {number}"]
            assert status == 200, (role, number, body)
            mirror = body.pop("mirror")
            assert body == expected[f"version {number}"][1], (role, number)
            assert {table[k].access_group for k in body["data"]} <= ALLOWED[role], (role, number)  # leak check
            assert mirror["version"] == number and mirror["newest_version"] == 4
            assert mirror["signed_by"] == ORIGIN and mirror["served_by"] == "Backup Provider B.V."
            assert mirror["bundle"] == f"/api/v1/escrow/passports/{pid}/bundle"
            seen[role] |= set(body["data"])
        # the history: the origin's answers (individual battery data needs a grant, which does not travel)
        for key in (*HISTORY_KEYS, "rated_capacity_Ah", "no_such_attribute"):
            assert on_mirror[f"history {key}"][0] == expected[f"history {key}"][0], (role, key)
        assert {on_mirror[f"history {k}"][0] for k in HISTORY_KEYS} == {403}
        assert on_mirror["history rated_capacity_Ah"][0] == 422
        # the QR code carries the link the origin printed
        assert on_mirror["qr.png"] == expected["qr.png"] == f"{BASE_URL}/01/{GTIN}/21/{SERIAL}", role
        assert on_mirror["qr.svg"] == expected["qr.svg"], role
    assert "test_report_results" in seen["authority"] and "detailed_composition" in seen["repairer"]
    assert seen["anonymous"] < seen["repairer"] < seen["authority"]
    assert "batch_number" in seen["anonymous"]

    # the mirrored answers say where the signed copy is
    for path in ("versions", "versions/2", "qr.svg"):
        answer = pair.b_client.get(f"/api/v1/passports/{pid}/{path}")
        assert answer.headers[HEADER] == f"/api/v1/escrow/passports/{pid}/bundle", path

    # restricted reads go to the mirror's access log; public ones do not
    with transaction(pair.b_factory) as session:
        logged = session.execute(
            select(AccessLogEntry.role, AccessLogEntry.action, AccessLogEntry.route).where(
                AccessLogEntry.passport_id == pid
            )
        ).all()
    assert ("market_surveillance_authority", "version", f"GET /api/v1/passports/{pid}/versions/1") in logged
    assert ("repairer", "version", f"GET /api/v1/passports/{pid}/versions/4") in logged
    assert {r.action for r in logged if r.role == "market_surveillance_authority"} >= {"version", "qr"}
    assert "anonymous" not in {r.role for r in logged}

    # the history the bundle records is the one the origin kept in its tables
    with transaction(pair.b_factory) as session:
        row = session.get(MirroredPassport, pid)
        assert row is not None
        held = row.bundle["versions"]
    assert [recorded_dynamic_keys(v["content"]) != [] for v in held] == [True, True, False, True]
    for key in HISTORY_KEYS:
        points = [HistoryPoint.model_validate(p).model_dump(mode="json") for p in history_points(held, key)]
        assert points == responsible[key], key


def test_a_history_the_rules_open_is_served_from_the_bundle(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the access rules give a role individual battery data on the mirror, the history route serves it from the
    signed versions, as the origin served it to the responsible operator, and logs the read."""
    pid = _lived(pair)
    pair.push(ids=[pid])
    responsible = pair.a_client.get(
        f"/api/v1/passports/{pid}/history/remaining_capacity_Ah", headers=pair.auth("a:maker-op")
    )
    assert responsible.status_code == 200
    _gone(pair, tmp_path)

    def wider(viewer: Viewer, *, responsible: bool, granted: bool) -> frozenset[AccessGroup]:
        return visible_groups(viewer, responsible=responsible, granted=True)

    monkeypatch.setattr(mirrored_versions, "visible_groups", wider)
    answer = pair.b_client.get(f"/api/v1/passports/{pid}/history/remaining_capacity_Ah", headers=pair.auth("repairer"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == responsible.json()
    assert [p["value"] for p in answer.json()] == [202.0, 190.0]
    assert answer.headers[HEADER] == f"/api/v1/escrow/passports/{pid}/bundle"
    assert pair.b_client.get(f"/api/v1/passports/{pid}/history/remaining_capacity_Ah").status_code == 403
    version = pair.b_client.get(f"/api/v1/passports/{pid}/versions/2", headers=pair.auth("repairer")).json()
    assert version["data"]["remaining_capacity_Ah"] == 190.0
    with transaction(pair.b_factory) as session:
        actions = session.scalars(
            select(AccessLogEntry.action).where(AccessLogEntry.passport_id == pid, AccessLogEntry.account == "repairer")
        ).all()
    assert "history" in actions


def test_unknown_passports_and_versions_are_not_found(pair: Pair, tmp_path: Path) -> None:
    pid = pair.issue("ESC-R002")
    pair.push(ids=[pid])
    _gone(pair, tmp_path)
    for path in ("versions", "versions/1", "history/remaining_capacity_Ah", "qr.svg", "qr.png"):
        assert pair.b_client.get(f"/api/v1/passports/{pid}/{path}").status_code in (200, 403), path
        missing = pair.b_client.get(f"/api/v1/passports/NO-SUCH-PASSPORT/{path}", headers=pair.auth("authority"))
        assert missing.status_code == 404, path
        assert HEADER not in missing.headers
    for number in (2, 99):
        unknown = pair.b_client.get(f"/api/v1/passports/{pid}/versions/{number}", headers=pair.auth("authority"))
        assert unknown.status_code == 404 and f"no version {number}" in unknown.text
    assert pair.b_client.get(f"/api/v1/passports/{pid}/versions/0").status_code == 422
    # a mirrored passport is read-only, and is not exported to other formats
    patch = pair.b_client.patch(
        f"/api/v1/passports/{pid}", json={"data": {"batch_number": "X"}}, headers=pair.auth("other-op")
    )
    assert patch.status_code == 404
    exported = pair.b_client.get(f"/api/v1/passports/{pid}/export?format=idta-02035", headers=pair.auth("authority"))
    assert exported.status_code == 404

    # the mirror's own passports answer from its own tables, without the mirror's mark
    with transaction(pair.b_factory) as session:
        service = PassportService(session)
        org = service.organisation("Other Maker B.V.")
        local = service.create(
            Viewer(Role.ECONOMIC_OPERATOR, "other-op", org.id), {**full_passport_data("ev"), "serial_number": "LOCAL-1"}
        ).id
    own = pair.b_client.get(f"/api/v1/passports/{local}/versions")
    assert own.status_code == 200 and len(own.json()) == 1 and HEADER not in own.headers
    assert pair.b_client.get(f"/api/v1/passports/{local}/versions/2").status_code == 404
