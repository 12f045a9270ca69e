"""The chain verifier of a restore (two passes over the database, the first in worker processes) reaches the verdict
of the bundle verifier (:func:`batteryloop.passport.bundle.verify_bundle`, one passport at a time) on chains broken in
every way it checks, and a worker that finds a broken version fails the whole verification."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from batteryloop.config import Settings
from batteryloop.continuity import verify
from batteryloop.continuity.verify import NOT_INTEGRITY, verify_chains
from batteryloop.db import make_session_factory, transaction
from batteryloop.passport import signing
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.bundle import export_bundle, verify_bundle
from batteryloop.passport.models import Organisation, Passport, PassportVersion
from batteryloop.passport.service import PassportService
from tests.passport.samples import every_attribute


def registry(engine: Engine, settings: Settings, passports: int) -> list[str]:
    """Passports of one maker: the first 2/3 changed once (2 versions), every third of those declared waste and
    handed to a recycler (3 versions, the last signed across a transfer of responsibility)."""
    ids = []
    with transaction(make_session_factory(engine)) as session:
        svc = PassportService(session, settings)
        maker = svc.create_organisation("Maker B.V.", kind="manufacturer")
        svc.create_organisation("Recycler B.V.", kind="recycler")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker", organisation_id=maker.id)
        for i in range(passports):
            data = every_attribute("ev")
            data["serial_number"] = f"SN-{i}"
            pid = svc.create(viewer, data).id
            if i % 3 != 2:
                svc.update_static(viewer, pid, {"battery_mass_kg": 400.0 + i})
            if i % 3 == 0:
                svc.change_status(viewer, pid, "waste", new_responsible="Recycler B.V.")
            ids.append(pid)
    return ids


def bundle_verdict(session: Session) -> set[str]:
    """The passports that fail an integrity check of :func:`verify_bundle` or point at another head."""
    failing = set()
    for pid in session.scalars(select(Passport.id)):
        passport = session.get(Passport, pid)
        assert passport is not None
        bundle = export_bundle(session, pid, with_predecessors=False)
        if not bundle["versions"]:
            failing.add(pid)
            continue
        result = verify_bundle(bundle)
        newest = bundle["versions"][-1]
        if [c for c in result.failures if not c.name.startswith(NOT_INTEGRITY)] or (
            passport.version != len(bundle["versions"]) or passport.head_hash != newest["hash"]
        ):
            failing.add(pid)
    return failing


def failing_passports(report: verify.ChainReport, ids: list[str]) -> set[str]:
    return {pid for pid in ids if any(f.startswith(f"{pid}:") for f in report.failures)}


def versions_of(session: Session, pid: str) -> list[PassportVersion]:
    return list(
        session.scalars(
            select(PassportVersion).where(PassportVersion.passport_id == pid).order_by(PassportVersion.number)
        )
    )


def test_broken_chains_get_the_bundle_verifier_s_verdict(engine: Engine, settings: Settings) -> None:
    ids = registry(engine, settings, 12)
    factory = make_session_factory(engine)
    with factory() as session:
        report = verify_chains(session)
        assert report.ok, report.failures
        assert report.passports == 12 and report.versions == 12 + 8 + 4
        assert bundle_verdict(session) == set()
    # ids[0], [3], [6], [9] have 3 versions (a transfer), [1], [4], [7], [10] two, [2], [5], [8], [11] one
    with transaction(factory) as session:
        # content changed after signing: the hash no longer matches
        v = versions_of(session, ids[1])[0]
        session.execute(
            update(PassportVersion)
            .where(PassportVersion.id == v.id)
            .values(content={**v.content, "data": {**v.content["data"], "battery_mass_kg": 1.0}})
        )
        # a signature of another version
        a, b = versions_of(session, ids[4])
        session.execute(update(PassportVersion).where(PassportVersion.id == b.id).values(signature=a.signature))
        # the newest version gone: the passport points at a version that is not there
        session.execute(delete(PassportVersion).where(PassportVersion.id == versions_of(session, ids[7])[-1].id))
        # versions swapped in order
        a, b = versions_of(session, ids[10])
        session.execute(update(PassportVersion).where(PassportVersion.id == a.id).values(number=99))
        session.execute(update(PassportVersion).where(PassportVersion.id == b.id).values(number=1))
        session.execute(update(PassportVersion).where(PassportVersion.id == a.id).values(number=2))
        # the passport row points at another head
        session.execute(update(Passport).where(Passport.id == ids[2]).values(head_hash="f" * 64))
        # the middle version re-signed, validly, by the recycler, which was not yet responsible
        recycler = session.scalar(select(Organisation).where(Organisation.name == "Recycler B.V."))
        assert recycler is not None
        keys = signing.KeyPair.from_private_bytes(signing.unwrap_private(recycler.private_key, None))
        middle = versions_of(session, ids[3])[1]
        content = {**middle.content, "signer": {"organisation": recycler.name, "public_key": recycler.public_key}}
        digest = signing.content_hash(content)
        session.execute(
            update(PassportVersion)
            .where(PassportVersion.id == middle.id)
            .values(content=content, hash=digest, signature=keys.sign(digest), public_key=recycler.public_key)
        )
        last = versions_of(session, ids[3])[2]  # keep the link from the last version: re-sign it too
        content = {**last.content, "previous_hash": digest}
        maker_key = session.scalar(select(Organisation.private_key).where(Organisation.name == "Maker B.V."))
        assert maker_key is not None
        last_digest = signing.content_hash(content)
        resigned = signing.KeyPair.from_private_bytes(signing.unwrap_private(maker_key, None)).sign(last_digest)
        session.execute(
            update(PassportVersion)
            .where(PassportVersion.id == last.id)
            .values(content=content, hash=last_digest, previous_hash=digest, signature=resigned)
        )
        session.execute(update(Passport).where(Passport.id == ids[3]).values(head_hash=last_digest))
    broken = {ids[1], ids[4], ids[7], ids[10], ids[2], ids[3]}
    with factory() as session:
        assert bundle_verdict(session) == broken
        sequential = verify_chains(session, workers=1)
    assert failing_passports(sequential, ids) == broken
    assert any(f.startswith(f"{ids[3]}: version 2 signer: signed by an operator") for f in sequential.failures)
    assert any(f.startswith(f"{ids[1]}: version 1 hash: content hashes to") for f in sequential.failures)


def test_a_stored_previous_hash_that_differs_from_the_signed_content_fails(engine: Engine, settings: Settings) -> None:
    """The one check beyond the bundle's: the ``previous_hash`` column must be the one the signed content names (a
    bundle carries only the content, so the bundle verifier cannot see this column)."""
    ids = registry(engine, settings, 2)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        second = versions_of(session, ids[0])[1]
        session.execute(update(PassportVersion).where(PassportVersion.id == second.id).values(previous_hash="0" * 64))
    with factory() as session:
        report = verify_chains(session)
    assert failing_passports(report, ids) == {ids[0]}
    assert any("version 2 chain: content points at" in f for f in report.failures), report.failures


@pytest.mark.parametrize("broken_at", [0, 13])
def test_the_parallel_verifier_fails_on_a_broken_version_in_any_worker(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, broken_at: int
) -> None:
    """Two worker processes, batches of 2 versions: the broken version lands in a batch of either worker, early or
    late, and the whole verification fails naming it; intact, the parallel verdict and counts are the sequential
    ones."""
    monkeypatch.setattr(verify, "BATCH", 2)
    registry(engine, settings, 9)
    factory = make_session_factory(engine)
    with factory() as session:
        intact = verify_chains(session, workers=2, parallel_from=0)
        assert intact.ok, intact.failures
        assert (intact.passports, intact.versions) == (verify_chains(session, workers=1).passports, 9 + 6 + 3)
    with transaction(factory) as session:
        victim = session.scalars(select(PassportVersion).order_by(PassportVersion.id).offset(broken_at).limit(1)).one()
        session.execute(update(PassportVersion).where(PassportVersion.id == victim.id).values(signature="A" * 88))
    with factory() as session:
        report = verify_chains(session, workers=2, parallel_from=0)
    assert not report.ok
    assert report.failures == [
        f"{victim.passport_id}: version {victim.number} signature: signature does not verify with the signer's key"
    ]
