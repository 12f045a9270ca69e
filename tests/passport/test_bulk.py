"""Bulk loading with COPY: a bulk-loaded passport is read, searched, changed and verified like an issued one."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.continuity.verify import verify_chains
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.errors import NotFoundError, ValidationError
from batteryloop.passport import bulk, signing
from batteryloop.passport.access import Viewer
from batteryloop.passport.bulk import BulkReport, Mix, bulk_load, load_mix, passport_id_for, sql_passport_id
from batteryloop.passport.models import DynamicValue, Passport, PassportLink, PassportVersion
from batteryloop.passport.service import PassportService
from tests.conftest import postgres_schema

pytestmark = pytest.mark.postgres

COUNT = 1000  # the category shares are exact over any 1000 consecutive numbers


@dataclass
class Loaded:
    engine: Engine
    factory: sessionmaker[Session]
    settings: Settings
    report: BulkReport
    indexes_before: set[str]


def _indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select indexdef from pg_indexes where schemaname = current_schema() "
                "union all select conname || ' ' || pg_get_constraintdef(c.oid) from pg_constraint c "
                "where connamespace = to_regnamespace(current_schema())::oid"
            )
        ).scalars()
        return set(rows)


@contextmanager
def _registry(data_dir: Path) -> Iterator[tuple[Engine, sessionmaker[Session], Settings]]:
    """A fresh PostgreSQL schema with the organisations and accounts of a bulk load; dropped afterwards."""
    with postgres_schema() as engine:
        settings = Settings(data_dir=data_dir, public_base_url="https://passport.example.nl")
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            svc = PassportService(session, settings)
            for name, kind, ident in (
                ("Maker B.V.", "manufacturer", "NL-MAKER"),
                ("Second Life B.V.", "repurposer", None),
                ("Reman B.V.", "remanufacturer", "NL-REMAN"),
                ("Recycler B.V.", "recycler", "NL-RECYC"),
            ):
                svc.create_organisation(name, kind=kind, identifier=ident)
            svc.create_account("maker", "economic_operator", "Maker B.V.")
            svc.create_account("repurposer", "repurposer", "Second Life B.V.")
            svc.create_account("reman", "remanufacturer", "Reman B.V.")
            svc.create_account("recycler", "recycler", "Recycler B.V.")
        yield engine, factory, settings


ACCOUNTS = {"issuer": "maker", "repurposer": "repurposer", "remanufacturer": "reman"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    with _registry(tmp_path_factory.mktemp("bulk")) as (engine, factory, settings):
        before = _indexes(engine)
        report = bulk_load(engine, COUNT, **ACCOUNTS, settings=settings, workers=2, chunk=300)
        yield Loaded(engine, factory, settings, report, before)


def test_a_load_that_fails_keeps_its_committed_chunks_and_restores_the_indexes(tmp_path: Path) -> None:
    with _registry(tmp_path) as (engine, factory, settings):
        before = _indexes(engine)

        def fail_after_first_chunk(done: int, total: int, seconds: float) -> None:
            raise RuntimeError("interrupted")

        with pytest.raises(RuntimeError, match="interrupted"):
            bulk_load(engine, 100, **ACCOUNTS, settings=settings, workers=1, chunk=40, progress=fail_after_first_chunk)
        assert _indexes(engine) == before
        with factory() as session:
            assert _count(session, Passport, Passport.serial_number.like("B%")) == 40
            assert verify_chains(session).failures == []
        with engine.connect() as conn:  # the pooled connections carry no setting of the load
            assert conn.execute(text("show synchronous_commit")).scalar_one() == "on"


def _count(session: Session, model: type, *where: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def test_the_load_writes_what_it_reports_with_the_configured_category_shares(loaded: Loaded) -> None:
    r = loaded.report
    mix = load_mix()
    assert r.passports == COUNT
    assert dict(r.categories) == {k: round(v * COUNT) for k, v in mix.categories.items()}
    assert sum(r.statuses.values()) == COUNT
    successors = sum(r.statuses[s] for s in bulk.SUCCESSOR_STATUSES)
    assert r.extra_passports == successors == r.links
    # versions: 1 per original, 2 per waste, 3 per recycled, 1 per successor and 2 per superseded original
    expected_versions = r.statuses["original"] + 2 * r.statuses["waste"] + 3 * r.statuses["recycled"] + 3 * successors
    assert r.versions == expected_versions
    with loaded.factory() as session:
        assert _count(session, Passport) == COUNT + r.extra_passports
        assert _count(session, PassportVersion) == r.versions
        assert _count(session, DynamicValue) == r.dynamic_values
        assert _count(session, PassportLink) == r.links
        assert _count(session, Passport, Passport.state == "superseded") == successors
        assert _count(session, Passport, Passport.state == "closed") == r.statuses["recycled"]
        assert _count(session, Passport, Passport.status == "waste") == r.statuses["waste"] + r.statuses["recycled"]
        assert _count(session, Passport, Passport.soh_pct.is_(None)) == 0
        by_category = dict(
            session.execute(
                select(Passport.category, func.count())
                .where(Passport.serial_number.like("B%"))
                .group_by(Passport.category)
            ).all()
        )
    assert by_category == dict(r.categories)


def test_indexes_and_constraints_are_rebuilt_as_the_migrations_made_them(loaded: Loaded) -> None:
    assert _indexes(loaded.engine) == loaded.indexes_before


def test_every_bulk_loaded_chain_verifies(loaded: Loaded) -> None:
    with loaded.factory() as session:
        report = verify_chains(session)
    assert report.failures == []
    assert report.passports == COUNT + loaded.report.extra_passports
    assert report.versions == loaded.report.versions


def test_each_version_is_stored_as_the_exact_bytes_that_were_hashed_and_signed(loaded: Loaded) -> None:
    """Version content is ``json`` (text kept as written): the stored text of a bulk-loaded version is its canonical
    JSON byte for byte, so its SHA-256 is the stored hash without parsing it again (jsonb would re-render it)."""
    with loaded.engine.connect() as conn:
        kind = conn.scalar(
            text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'passport_versions' AND column_name = 'content'"
            )
        )
        rows = conn.execute(text("SELECT content::text, hash FROM passport_versions ORDER BY id LIMIT 200")).all()
    assert kind == "json"
    assert len(rows) == 200
    for stored, digest in rows:
        assert stored.encode() == signing.canonical(json.loads(stored))
        assert hashlib.sha256(stored.encode()).hexdigest() == digest


def test_the_status_mix_comes_out_as_configured() -> None:
    """Statuses are drawn per passport: over 20,000 the shares lie within 4.5 standard deviations."""
    mix = load_mix()
    plan = bulk.Plan(mix=mix, seed=3, issuer=None, successors={}, note=None, templates=bulk._templates(mix))  # type: ignore[arg-type]
    n = 20_000
    got = Counter(bulk._battery(i, plan).status for i in range(1, n + 1))
    for status, share in mix.statuses.items():
        sigma = math.sqrt(n * share * (1 - share))
        assert abs(got[status] - n * share) <= 4.5 * sigma + 1, (status, got[status], n * share)
    soh = [bulk._battery(i, plan).soh for i in range(1, 2001)]
    assert 40 <= min(soh) < 90 < max(soh) <= 100


def test_the_registry_reads_and_searches_a_bulk_loaded_passport_like_an_issued_one(loaded: Loaded) -> None:
    mix = load_mix()
    with transaction(loaded.factory) as session:
        svc = PassportService(session, loaded.settings)
        maker = svc.viewer_for("maker")
        originals = session.scalars(
            select(Passport.id)
            .where(Passport.status == "original", Passport.state == "active", Passport.serial_number.like("B%"))
            .order_by(Passport.id)
            .limit(3)
        ).all()
        pid = originals[0]
        public = svc.view(Viewer.anonymous(), pid)
        own = svc.view(maker, pid)
        passport = session.get(Passport, pid)
        assert passport is not None
        n = int(str(passport.serial_number)[1:])
        assert passport_id_for(n, mix) == pid
        assert public.data["passport_identifier"] == pid
        assert "soh_capacity_pct" not in public.data  # Annex XIII point 4 is not public
        assert own.data["soh_capacity_pct"] == passport.soh_pct
        assert public.digital_link and passport.gtin and passport.gtin in public.digital_link
        # search: category + state-of-health range as the responsible operator; the total agrees with SQL
        total, items = svc.search(maker, category="ev", soh_min=80, soh_max=95, limit=500)
        expected = _count(
            session,
            Passport,
            Passport.category == "ev",
            Passport.soh_pct.between(80, 95),
            Passport.operator_id == maker.organisation_id,
        )
        assert total == expected > 0
        assert all(i["category"] == "ev" and 80 <= i["soh_pct"] <= 95 for i in items)
        # the history of a dynamic value bulk-loaded at issue
        history = svc.history(maker, pid, "soh_capacity_pct")
        assert [h["value"] for h in history] == [passport.soh_pct]


def test_a_bulk_loaded_passport_is_changed_through_the_registry_and_its_chain_still_verifies(loaded: Loaded) -> None:
    with transaction(loaded.factory) as session:
        svc = PassportService(session, loaded.settings)
        maker = svc.viewer_for("maker")
        pid, other = session.scalars(
            select(Passport.id)
            .where(Passport.status == "original", Passport.state == "active", Passport.serial_number.like("B%"))
            .order_by(Passport.id.desc())
            .limit(2)
        ).all()
        svc.update_dynamic(
            maker,
            pid,
            {"soh_capacity_pct": 77.5},
            measured_at=datetime(2026, 6, 1, tzinfo=UTC),
            method="capacity test at the workshop",
        )
        svc.change_status(maker, other, "waste")
        svc.grant(maker, pid, "repurposer", days=30, purpose="test")
    with transaction(loaded.factory) as session:
        svc = PassportService(session, loaded.settings)
        passport = session.get(Passport, pid)
        assert passport is not None and passport.version == 2 and passport.soh_pct == 77.5
        granted = svc.view(svc.viewer_for("repurposer"), pid)
        assert granted.data["soh_capacity_pct"] == 77.5
        successor = svc.create_successor(
            svc.viewer_for("repurposer"), [pid], "repurposed", {**_static(passport.data), "serial_number": "R1"}
        )
        assert successor.links["predecessors"] == [pid]
    with loaded.factory() as session:
        report = verify_chains(session)
    assert report.failures == []


def _static(data: dict[str, object]) -> dict[str, object]:
    registry = {"passport_identifier", "economic_operator_identifier", "battery_status"}
    dynamic = {"soh_capacity_pct", "remaining_capacity_Ah"}
    return {k: v for k, v in data.items() if k not in registry | dynamic}


def test_second_life_and_waste_passports_are_linked_and_closed_as_the_registry_makes_them(loaded: Loaded) -> None:
    with transaction(loaded.factory) as session:
        svc = PassportService(session, loaded.settings)
        link = session.scalars(select(PassportLink).limit(1)).one()
        original = session.get(Passport, link.predecessor_id)
        successor = session.get(Passport, link.successor_id)
        assert original is not None and successor is not None
        assert original.state == "superseded" and original.operator_id == successor.operator_id
        assert original.links == {"predecessors": [], "successors": [successor.id]}
        assert successor.status == link.kind and successor.links["predecessors"] == [original.id]
        first = session.scalars(
            select(PassportVersion).where(PassportVersion.passport_id == original.id, PassportVersion.number == 1)
        ).one()
        assert link.predecessor_hash == first.hash
        view = svc.view(Viewer.anonymous(), successor.id)
        assert view.predecessors == [original.id]
        closed = session.scalars(select(Passport).where(Passport.state == "closed").limit(1)).first()
        if closed is not None:
            assert closed.version == 3 and closed.closed_at is not None and closed.status == "waste"


def test_the_sql_identifier_matches_the_python_one(loaded: Loaded) -> None:
    mix = load_mix()
    with loaded.engine.connect() as conn:
        for n in (1, 879, 880, 979, 980, 999, 1000, 123_456_789):
            assert conn.execute(text(f"select {sql_passport_id(str(n), mix)}")).scalar_one() == passport_id_for(n, mix)


def test_bad_arguments_are_refused_with_the_field_named(loaded: Loaded, tmp_path: Path) -> None:
    kw = {"issuer": "maker", "repurposer": "repurposer", "remanufacturer": "reman", "settings": loaded.settings}
    cases: list[tuple[dict[str, object], str]] = [
        ({"count": 0}, "count"),
        ({"count": 10, "start": -1}, "start"),
        ({"count": 10, "start": 999_999_995}, "count"),
        ({"count": 10, "workers": 0}, "workers"),
        ({"count": 10, "chunk": 0}, "chunk"),
        ({"count": 10, "start": 1}, "start"),  # loaded already
        ({"count": 10, "start": 5000, "repurposer": None}, "repurposer"),
        ({"count": 10, "start": 5000, "issuer": "recycler"}, "issuer"),
    ]
    for overrides, field in cases:
        args = {**kw, **overrides}
        count = args.pop("count")
        with pytest.raises(ValidationError) as exc:
            bulk_load(loaded.engine, count, **args)  # type: ignore[arg-type]
        assert exc.value.problems[0].field == field, overrides
    with pytest.raises(NotFoundError) as nf:
        bulk_load(loaded.engine, 10, **{**kw, "issuer": "nobody", "start": 5000})  # type: ignore[arg-type]
    assert nf.value.problems[0].field == "issuer"
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValidationError) as sq:
        bulk_load(sqlite, 10, **kw)  # type: ignore[arg-type]
    assert sq.value.problems[0].field == "database"
    sqlite.dispose()


def test_a_bad_mix_is_refused_with_the_row_or_share_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        Mix(categories={"ev": 0.5, "lmt": 0.4}, statuses={"original": 1.0}, soh_fade={"ev": 2, "lmt": 3})
    assert exc.value.problems[0].field == "category"
    with pytest.raises(ValidationError) as exc:
        Mix(categories={"ev": 1.0}, statuses={"scrapped": 1.0}, soh_fade={"ev": 2})
    assert exc.value.problems[0].field == "status"
    with pytest.raises(ValidationError) as exc:
        Mix(categories={"ev": 1.0}, statuses={"original": 1.0}, soh_fade={})
    assert exc.value.problems[0].field == "soh_fade.ev"
    bad = tmp_path / "mix.csv"
    bad.write_text("dimension,key,value\ncategory,ev,1\nstatus,original,one\n")
    with pytest.raises(ValidationError) as exc:
        load_mix(str(bad))
    assert exc.value.problems[0].field == f"{bad}:3.value"
    bad.write_text("dimension,key,value\ncolour,ev,1\n")
    with pytest.raises(ValidationError) as exc:
        load_mix(str(bad))
    assert exc.value.problems[0].field == f"{bad}:2.dimension"
    with pytest.raises(ValidationError) as exc:
        load_mix(str(tmp_path / "missing.csv"))
    assert exc.value.problems[0].field == "mix"
