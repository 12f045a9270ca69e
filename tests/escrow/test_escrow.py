"""Escrow end to end: A issues and pushes, B keeps and extends, A goes, B serves by role; and every refusal."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select
from tests.escrow.conftest import BASE_URL, ORIGIN, Pair
from tests.passport.fixtures import full_passport_data

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.errors import PermissionDeniedError
from batteryloop.escrow.models import MirroredPassport
from batteryloop.escrow.service import EscrowService
from batteryloop.passport import signing
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.attributes import AccessGroup, attributes
from batteryloop.passport.bundle import verify_bundle
from batteryloop.passport.models import AccessLogEntry, Organisation
from batteryloop.passport.service import PassportService

GTIN = full_passport_data("ev")["gtin"]
ROLES = {"anonymous": None, "repairer": "repairer", "authority": "authority"}
ALLOWED = {
    "anonymous": {AccessGroup.PUBLIC},
    "repairer": {AccessGroup.PUBLIC, AccessGroup.LEGITIMATE_INTEREST},
    "authority": {AccessGroup.PUBLIC, AccessGroup.LEGITIMATE_INTEREST, AccessGroup.AUTHORITIES},
}


def _origin_answers(pair: Pair, pid: str) -> dict[str, dict[str, Any]]:
    answers = {}
    for role, account in ROLES.items():
        headers = pair.auth(f"a:{account}") if account else {}
        response = pair.a_client.get(f"/api/v1/passports/{pid}", headers=headers)
        assert response.status_code == 200, response.text
        answers[role] = response.json()
    return answers


def _held(pair: Pair) -> dict[str, list[str]]:
    with transaction(pair.b_factory) as session:
        rows = session.scalars(select(MirroredPassport)).all()
        return {r.passport_id: [v["hash"] for v in r.bundle["versions"]] for r in rows}


def _put(pair: Pair, pid: str, bundle: Any, account: str | None = "depositor") -> Any:
    return pair.b_client.put(f"/api/v1/escrow/passports/{pid}", json=bundle, headers=pair.auth(account))


def _problems(response: Any) -> str:
    error = response.json()["error"]
    return str(error["message"]) + " | " + " | ".join(f"{p['field']}: {p['message']}" for p in error["problems"])


def test_mirror_extends_with_the_origin_and_serves_by_role_when_it_is_gone(pair: Pair, tmp_path: Path) -> None:
    pid = pair.issue("ESC-0001")
    first = pair.push(ids=[pid])
    assert first.sent == [{"passport_id": pid, "outcome": "created", "version": 1}] and not first.refused
    again = pair.push(everything=True)
    assert again.sent == [] and again.unchanged == [pid]

    pair.update(pid, 190.0)
    extended = pair.push(everything=True)
    assert extended.sent == [{"passport_id": pid, "outcome": "extended", "version": 2}]
    assert pair.push(everything=True).unchanged == [pid]
    origin_bundle = pair.export(pid)
    expected = _origin_answers(pair, pid)
    png = pair.a_client.get(f"/api/v1/passports/{pid}/qr.png")
    (scanned,) = [d.text for d in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    assert scanned == f"{BASE_URL}/01/{GTIN}/21/ESC-0001"

    # the origin is gone: its server and its database
    pair.a_client.close()
    pair.a_engine.dispose()
    for path in (tmp_path / "a").glob("origin.db*"):
        path.unlink()

    table = attributes()
    for role, account in ROLES.items():
        response = pair.b_client.get(f"/api/v1/passports/{pid}", headers=pair.auth(account))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"] == expected[role]["data"], role
        assert body["access"]["groups"] == expected[role]["access"]["groups"], role
        assert {table[k].access_group for k in body["data"]} <= ALLOWED[role], role  # leak check
        assert body["version"] == 2 and body["digital_link"] == expected[role]["digital_link"]
        assert body["mirror"]["version"] == 2 and body["mirror"]["signed_by"] == ORIGIN
        assert body["mirror"]["served_by"] == "Backup Provider B.V."
    anonymous = pair.b_client.get(f"/api/v1/passports/{pid}").json()["data"]
    authority = pair.b_client.get(f"/api/v1/passports/{pid}", headers=pair.auth("authority")).json()["data"]
    assert any(table[k].access_group is AccessGroup.AUTHORITIES for k in authority)
    assert set(authority) > set(anonymous)
    assert "remaining_capacity_Ah" not in authority  # individual data needs a grant, which does not travel

    page = pair.b_client.get(f"/p/{pid}?lang=en")
    assert page.status_code == 200
    assert "mirrored copy" in page.text and "version 2" in page.text and ORIGIN in page.text
    assert "Backup Provider B.V." in page.text
    assert f">{table['rated_capacity_Ah'].label('en')} <" in page.text  # the form the check below looks for
    restricted = [k for k, a in table.items() if a.access_group is not AccessGroup.PUBLIC]
    assert not [k for k in restricted if f'data-key="{k}"' in page.text or f">{table[k].label('en')} <" in page.text]
    assert "versie 2" in pair.b_client.get(f"/p/{pid}?lang=nl").text

    # the QR code printed by the origin, its domain now pointing at the mirror
    link = pair.b_client.get(scanned.removeprefix(BASE_URL), follow_redirects=False)
    assert link.status_code == 307 and link.headers["location"] == f"/p/{pid}"
    as_json = pair.b_client.get(
        f"/01/{GTIN}/21/ESC-0001", headers={"Accept": "application/json"}, follow_redirects=True
    )
    assert as_json.status_code == 200 and as_json.json()["passport_id"] == pid
    assert pair.b_client.get(f"/01/{GTIN}/21/ESC-9999", follow_redirects=False).status_code == 404

    # the copy on the mirror is the origin's signed chain, and it verifies offline with the origin's key alone
    assert pair.b_client.get(f"/api/v1/escrow/passports/{pid}/bundle").status_code == 403
    assert pair.b_client.get(f"/api/v1/escrow/passports/{pid}/bundle", headers=pair.auth("repairer")).status_code == 403
    # an authority reads Annex XIII points 1-3: the bundle, which cannot be filtered, records point-4 data
    refused = pair.b_client.get(f"/api/v1/escrow/passports/{pid}/bundle", headers=pair.auth("authority"))
    assert refused.status_code == 403 and "point 4" in refused.text
    held = pair.b_client.get(f"/api/v1/escrow/passports/{pid}/bundle", headers=pair.auth("depositor")).json()
    assert [v["hash"] for v in held["versions"]] == [v["hash"] for v in origin_bundle["versions"]]
    origin_key = origin_bundle["versions"][-1]["public_key"]
    assert verify_bundle(held, trusted_keys=[origin_key]).ok
    with transaction(pair.b_factory) as session:
        logged = session.scalars(select(AccessLogEntry.role).where(AccessLogEntry.passport_id == pid)).all()
    assert "market_surveillance_authority" in logged and "anonymous" not in logged


def test_refusals_name_the_reason_and_store_nothing(pair: Pair) -> None:
    pid = pair.issue("ESC-0101")
    pair.update(pid, 200.0)
    assert pair.push(ids=[pid]).sent[0]["version"] == 2
    before = _held(pair)
    bundle = pair.export(pid)

    # unauthorised callers
    assert _put(pair, pid, bundle, account=None).status_code == 401
    stranger = _put(pair, pid, bundle, account="stranger")
    assert stranger.status_code == 403 and "not named by any escrow agreement" in _problems(stranger)
    assert _put(pair, pid, bundle, account="other-op").status_code == 403
    assert pair.b_client.get("/api/v1/escrow/passports", headers=pair.auth("stranger")).status_code == 403
    with pytest.raises(PermissionDeniedError, match="refuses this account"):
        pair.push(token="stranger", everything=True)

    # idempotent
    same = _put(pair, pid, bundle)
    assert same.status_code == 200 and same.json()["outcome"] == "unchanged"

    # tampered content: the hash no longer matches
    tampered = copy.deepcopy(bundle)
    tampered["versions"][0]["content"]["data"]["rated_capacity_Ah"] = 1.0
    answer = _put(pair, pid, tampered)
    assert answer.status_code == 409 and "version 1 hash" in _problems(answer)

    # a shorter chain, and a validly signed chain that forks from the one held
    shorter = copy.deepcopy(bundle)
    shorter["versions"] = shorter["versions"][:1]
    answer = _put(pair, pid, shorter)
    assert answer.status_code == 409 and "not shorten it" in _problems(answer)
    forked = copy.deepcopy(bundle)
    content = forked["versions"][1]["content"]
    content["data"]["remaining_capacity_Ah"] = 123.0
    with transaction(pair.a_factory) as session:
        service = PassportService(session, pair.a_settings)
        keys = service._keys(service.organisation(ORIGIN))
    digest = signing.content_hash(content)
    forked["versions"][1].update(hash=digest, signature=keys.sign(digest))
    assert verify_bundle(forked).ok  # a valid chain in itself ...
    answer = _put(pair, pid, forked)
    assert answer.status_code == 409 and "does not extend the mirrored chain" in _problems(answer)  # ... not ours

    # a passport signed by a key the agreement does not name
    with transaction(pair.a_factory) as session:
        service = PassportService(session, pair.a_settings)
        rogue = service.create_organisation("Rogue B.V.")
        rogue_pid = service.create(
            Viewer(Role.ECONOMIC_OPERATOR, "rogue-op", rogue.id), {**full_passport_data("ev"), "serial_number": "R-1"}
        ).id
    answer = _put(pair, rogue_pid, pair.export(rogue_pid))
    assert answer.status_code == 409 and "is not trusted" in _problems(answer)
    refused = pair.push(ids=[rogue_pid])
    assert refused.sent == [] and refused.refused[0].status == 409 and "not trusted" in str(refused.refused[0])

    # the address and the bundle disagree
    other = pair.issue("ESC-0102")
    answer = _put(pair, other, bundle)
    assert answer.status_code == 422 and "passport_id" in _problems(answer)

    # a passport the mirror issued itself keeps its identifier
    with transaction(pair.b_factory) as session:
        service = PassportService(session)
        org = session.scalar(select(Organisation).where(Organisation.name == "Other Maker B.V."))
        assert org is not None
        local = service.create(
            Viewer(Role.ECONOMIC_OPERATOR, "other-op", org.id),
            {**full_passport_data("ev"), "serial_number": "ESC-0103"},
        ).id
    clash = pair.issue("ESC-0103")
    assert clash == local
    answer = _put(pair, clash, pair.export(clash))
    assert answer.status_code == 409 and "was issued on this registry" in _problems(answer)

    assert _held(pair) == before  # nothing of a refused deposit was stored
    for refused_id in (rogue_pid, other):
        assert pair.b_client.get(f"/api/v1/passports/{refused_id}").status_code == 404
    with transaction(pair.b_factory) as session:
        assert session.scalar(select(func.count()).select_from(MirroredPassport)) == 1
        # an ended agreement takes no further deposits; what it holds stays served
        EscrowService(session).end(ORIGIN)
    pair.update(pid, 180.0)
    ended = _put(pair, pid, pair.export(pid))
    assert ended.status_code == 403 and "ended" in _problems(ended)
    assert pair.b_client.get(f"/api/v1/passports/{pid}").json()["mirror"]["version"] == 2


def test_agreement_needs_valid_keys_and_one_account_per_origin(pair: Pair) -> None:
    from batteryloop.errors import ConflictError, ValidationError

    with transaction(pair.b_factory) as session:
        service = EscrowService(session)
        with pytest.raises(ValidationError, match="not an Ed25519 public key"):
            service.agree("Someone", ["bm90IGEga2V5"], "stranger")
        with pytest.raises(ValidationError):
            service.agree("Someone", [], "stranger")
        with pytest.raises(ConflictError, match="deposits for"):
            service.agree("Someone", [signing.KeyPair.generate().public_b64], "depositor")
        widened = service.agree(ORIGIN, [signing.KeyPair.generate().public_b64], "depositor")
        assert len(widened.public_keys) == 2


def test_the_mirror_own_backup_carries_the_escrow(pair: Pair, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from batteryloop.api.app import create_app
    from batteryloop.config import Settings
    from batteryloop.continuity.archive import load_or_create_key
    from batteryloop.continuity.backup import write_backup
    from batteryloop.continuity.restore import restore_backup
    from batteryloop.db import make_engine
    from batteryloop.migrate import upgrade

    pid = pair.issue("ESC-0201")
    pair.push(ids=[pid])
    keys = load_or_create_key(tmp_path / "backup.key")[0]
    engine = pair.b_factory.kw["bind"]
    written = write_backup(engine, tmp_path / "b.tar.gz", keys)
    assert written.tables["escrow_passports"] == 1 and written.tables["escrow_agreements"] == 1
    target = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    upgrade(target)
    try:
        restore_backup(target, written.path, trusted_keys=[keys.public_b64])
        app = create_app(Settings(data_dir=tmp_path, public_base_url="https://passport.example.nl"), engine=target)
        with TestClient(app) as client:
            body = client.get(f"/api/v1/passports/{pid}").json()
        assert body["mirror"]["version"] == 1 and body["mirror"]["signed_by"] == ORIGIN
    finally:
        target.dispose()


def test_the_mirror_issues_no_passport_of_its_own_for_a_mirrored_battery(pair: Pair) -> None:
    """B holds A's passport in escrow: B's own operators cannot issue one for the same id or the same battery
    (GTIN and serial), one at a time or in a batch; other batteries are issued as usual."""
    from batteryloop.errors import ConflictError

    pid = pair.issue("ESC-0500")
    pair.push(ids=[pid])
    with transaction(pair.b_factory) as session:
        gtin = session.get(MirroredPassport, pid).gtin  # type: ignore[union-attr]
    same_battery = {**full_passport_data("ev"), "serial_number": "ESC-0500", "gtin": gtin}
    with transaction(pair.b_factory) as session:
        service = PassportService(session, Settings(public_base_url=BASE_URL))
        org = service.organisation("Other Maker B.V.")
        maker = Viewer(Role.ECONOMIC_OPERATOR, account="other-op", organisation_id=org.id)
        with pytest.raises(ConflictError, match="escrow copy"):
            service.create(maker, same_battery)
        with pytest.raises(ConflictError, match="escrow copy"):
            service.create(maker, {**full_passport_data("ev"), "serial_number": "OTHER-1"}, passport_id=pid)
        with pytest.raises(ConflictError, match="escrow copy"):
            service.issue_batch(
                maker, [{"data": {**full_passport_data("ev"), "serial_number": "B-1"}}, {"data": same_battery}]
            )
    with transaction(pair.b_factory) as session:
        service = PassportService(session, Settings(public_base_url=BASE_URL))
        org = service.organisation("Other Maker B.V.")
        maker = Viewer(Role.ECONOMIC_OPERATOR, account="other-op", organisation_id=org.id)
        assert service.create(maker, {**full_passport_data("ev"), "serial_number": "B-2"}).id != pid
