"""Writes are all or nothing: a failure in the middle of an import or a lifecycle change leaves no trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.migrate import upgrade
from batteryloop.passport.bundle import export_bundle
from batteryloop.passport.models import AccessLogEntry, DynamicValue, Passport, PassportLink, PassportVersion
from batteryloop.passport.service import PassportService
from batteryloop.passport.transfer import import_document
from tests.passport.test_lifecycle import ev


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as s:
        return {
            t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0
            for t in (Passport, PassportVersion, DynamicValue, PassportLink, AccessLogEntry)
        }


@pytest.fixture
def registry(session_factory: sessionmaker[Session], settings: Settings) -> sessionmaker[Session]:
    with transaction(session_factory) as s:
        svc = PassportService(s, settings)
        svc.create_organisation("Maker B.V.")
        svc.create_organisation("Second Life B.V.", kind="repurposer")
        svc.create_account("maker", "economic_operator", "Maker B.V.")
        svc.create_account("second-life", "repurposer", "Second Life B.V.")
        svc.create(svc.viewer_for("maker"), {**ev("T-1"), "soh_capacity_pct": 90.0})
        svc.create(svc.viewer_for("maker"), ev("T-2"))
    return session_factory


def fail_on_version(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Let ``after`` versions be written, then fail as a crash would (after rows were flushed)."""
    original = PassportService._append_version
    calls = {"n": 0}

    def flaky(self: PassportService, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > after:
            self.session.flush()
            raise RuntimeError("simulated crash")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PassportService, "_append_version", flaky)


def test_a_failed_import_writes_nothing(
    registry: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a passport exported by another registry
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    with transaction(make_session_factory(other)) as s:
        svc = PassportService(s, settings)
        svc.create_organisation("Maker B.V.")
        svc.create_account("maker", "economic_operator", "Maker B.V.")
        pid = svc.create(svc.viewer_for("maker"), ev("ELSEWHERE-1")).id
        doc = export_bundle(s, pid)
    other.dispose()
    before = counts(registry)
    fail_on_version(monkeypatch, after=0)
    with pytest.raises(RuntimeError), transaction(registry) as s:  # noqa: PT012 - the transaction is under test
        svc = PassportService(s, settings)
        import_document(svc, svc.viewer_for("maker"), "batteryloop", doc, source="copy.json")
    assert counts(registry) == before


def test_a_repurposing_that_fails_halfway_leaves_the_originals_untouched(
    registry: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = counts(registry)
    fail_on_version(monkeypatch, after=2)  # the new passport and the first original are written, then the crash
    originals = ["0106291041500213" + "21T-1", "0106291041500213" + "21T-2"]
    with pytest.raises(RuntimeError), transaction(registry) as s:  # noqa: PT012 - the transaction is under test
        svc = PassportService(s, settings)
        svc.create_successor(
            svc.viewer_for("second-life"),
            originals,
            "repurposed",
            {"battery_category": "industrial", "serial_number": "S-9", "gtin": "6291041500237"},
        )
    assert counts(registry) == before
    with registry() as s:
        states = s.scalars(select(Passport.state).where(Passport.id.in_(originals))).all()
    assert states == ["active", "active"]


def test_a_batch_with_one_bad_record_issues_none(registry: sessionmaker[Session], settings: Settings) -> None:
    from batteryloop.errors import ValidationError

    before = counts(registry)
    records = [{"data": ev(f"BATCH-{i}")} for i in range(5)]
    records[3]["data"]["rated_capacity_Ah"] = -5
    records.append({"data": ev("BATCH-1")})  # the same battery twice
    with pytest.raises(ValidationError) as info, transaction(registry) as s:  # noqa: PT012
        svc = PassportService(s, settings)
        svc.issue_batch(svc.viewer_for("maker"), records)
    fields = {p.field for p in info.value.problems}
    assert "records.3.data.rated_capacity_Ah" in fields
    assert "records.5" in fields  # BATCH-1 twice
    assert counts(registry) == before
    with transaction(registry) as s:
        svc = PassportService(s, settings)
        issued = svc.issue_batch(svc.viewer_for("maker"), [{"data": ev(f"BATCH-{i}")} for i in range(5)])
    assert len(issued) == 5
    assert counts(registry)["passport_versions"] == before["passport_versions"] + 5
