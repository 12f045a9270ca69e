"""Backup and restore of the registry (Art. 78: the passport outlives its operator).

A backup of the demo landscape made on SQLite is restored into PostgreSQL and the other way round; after each restore
every passport's hash chain verifies and a second backup of the restored database holds byte-identical tables. A
backup is one snapshot even while others write; a changed, re-signed or damaged file is refused with the reason, and
so is a database that is not empty. Nothing is left behind by a refused restore.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from batteryloop.commands.continuity import register
from batteryloop.config import Settings, get_settings
from batteryloop.continuity import archive
from batteryloop.continuity.archive import load_or_create_key, open_backup
from batteryloop.continuity.backup import registry_tables, write_backup
from batteryloop.continuity.restore import restore_backup
from batteryloop.db import make_session_factory, transaction
from batteryloop.demo import build_demo
from batteryloop.errors import ConflictError, IntegrityError, ValidationError
from batteryloop.passport import signing
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.models import Organisation, Passport, PassportVersion
from batteryloop.passport.service import PassportService
from tests.continuity.conftest import NewDb, demo_settings
from tests.passport.samples import every_attribute


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            fh = tar.extractfile(m)
            assert fh is not None
            out[m.name] = fh.read()
        return out


def gzip_members(path: Path) -> int:
    """How many gzip members the file is a concatenation of."""
    data, n = path.read_bytes(), 0
    while data:
        inflater = zlib.decompressobj(31)
        inflater.decompress(data)
        assert inflater.eof
        data, n = inflater.unused_data, n + 1
    return n


def manifest_of(path: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(members(path)[archive.MANIFEST])
    return loaded


def assert_same_content(a: Path, b: Path) -> None:
    """Every table byte for byte, and the manifests equal apart from the time stamp."""
    ma, mb = members(a), members(b)
    assert sorted(ma) == sorted(mb)
    for name in ma:
        if name.startswith(archive.TABLES_DIR):
            assert ma[name] == mb[name], name
    man_a, man_b = manifest_of(a), manifest_of(b)
    assert man_a.pop("created_at") != "" and man_b.pop("created_at") != ""
    assert man_a == man_b


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in registry_tables()}


def demo(engine: Engine, tmp_path: Path) -> Settings:
    """The small demo landscape, and reads by an authority so that the access log holds rows too."""
    settings = demo_settings(tmp_path / f"demo-{engine.dialect.name}")
    factory = make_session_factory(engine)
    summary = build_demo(factory, settings, scale="small")
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        authority = svc.viewer_for(summary.tokens[Role.MARKET_SURVEILLANCE_AUTHORITY.value][0])
        for pid in session.scalars(select(Passport.id).order_by(Passport.id).limit(25)):
            svc.view(authority, pid, route="test read")
    return settings


@pytest.fixture
def keys(tmp_path: Path) -> signing.KeyPair:
    return load_or_create_key(tmp_path / "backup.key")[0]


@pytest.mark.postgres
@pytest.mark.parametrize("first", ["sqlite", "postgres"])
def test_a_backup_restores_into_the_other_database_identically(
    first: str, new_db: NewDb, tmp_path: Path, keys: signing.KeyPair
) -> None:
    second = "postgres" if first == "sqlite" else "sqlite"
    source = new_db(first)
    settings = demo(source, tmp_path)
    a = write_backup(source, tmp_path / "a.tar.gz", keys)
    assert a.tables["passports"] >= 300 and a.tables["passport_versions"] > a.tables["passports"]
    for table in (
        "access_log",
        "grants",
        "epr_reports",
        "safety_incidents",
        "passport_links",
        "dynamic_values",
        "api_keys",
    ):
        assert a.tables[table] > 0, table  # the demo fills every register the backup must carry
    target = new_db(second)
    restored = restore_backup(target, a.path, trusted_keys=[keys.public_b64])
    assert restored.tables == a.tables == counts(target)
    assert restored.chains.ok and restored.chains.passports == a.tables["passports"]
    assert restored.chains.versions == a.tables["passport_versions"]
    b = write_backup(target, tmp_path / "b.tar.gz", keys)
    assert_same_content(a.path, b.path)
    # the restored registry works: signing keys unwrap, new rows get fresh ids (sequences moved on PostgreSQL)
    with transaction(make_session_factory(target)) as session:
        svc = PassportService(session, settings)
        org = svc.create_organisation("Nieuwe Operator B.V.", kind="manufacturer")
        assert org.id > a.tables["organisations"]
        maker = session.scalar(select(Organisation).where(Organisation.name == "Amstel Battery Systems B.V."))
        assert maker is not None
        passport = svc.create(
            Viewer(Role.ECONOMIC_OPERATOR, account="test", organisation_id=maker.id), every_attribute("ev")
        )
        assert passport.version == 1
    # and back again: a third database, the same bytes
    third = new_db(first)
    restore_backup(third, b.path)
    c = write_backup(third, tmp_path / "c.tar.gz", keys)
    assert_same_content(a.path, c.path)


def _small_registry(engine: Engine, settings: Settings, passports: int = 3) -> None:
    with transaction(make_session_factory(engine)) as session:
        svc = PassportService(session, settings)
        org = svc.create_organisation("Maker B.V.", kind="manufacturer")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker", organisation_id=org.id)
        for i in range(passports):
            data = every_attribute("ev")
            data["serial_number"] = f"SN-{i}"
            svc.create(viewer, data)
        svc.issue_token(svc.create_account("recycler", Role.RECYCLER, "Maker B.V."))


def test_a_backup_is_one_snapshot_while_others_write(
    engine: Engine, settings: Settings, tmp_path: Path, keys: signing.KeyPair
) -> None:
    _small_registry(engine, settings)
    before = counts(engine)
    order = [t.name for t in registry_tables()]
    assert order.index("access_log") < order.index("organisations") < order.index("passports")
    factory = make_session_factory(engine)

    def write_meanwhile(table: str) -> None:
        if table == "access_log":  # read already; organisations, passports, ... not yet
            with transaction(factory) as session:
                svc = PassportService(session, settings)
                org = svc.create_organisation("Late B.V.", kind="manufacturer")
                data = every_attribute("ev")
                data["serial_number"] = "SN-late"
                svc.create(Viewer(Role.ECONOMIC_OPERATOR, account="late", organisation_id=org.id), data)

    summary = write_backup(engine, tmp_path / "snap.tar.gz", keys, after_table=write_meanwhile)
    assert summary.tables == before  # none of the rows written during the backup
    after = counts(engine)
    assert after["organisations"] == before["organisations"] + 1 and after["passports"] == before["passports"] + 1
    assert b"Late B.V." not in members(summary.path)["tables/organisations.jsonl"]
    assert write_backup(engine, tmp_path / "later.tar.gz", keys).tables == after


def _rewrite(src: Path, dst: Path, change: dict[str, bytes]) -> None:
    """A copy of the archive with some members replaced (same order) or added (at the end)."""
    original = members(src)
    with tarfile.open(dst, "w:gz") as tar:
        for name in [*original, *(n for n in change if n not in original)]:
            data = change.get(name, original.get(name, b""))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_changed_or_damaged_backup_is_refused_with_the_reason(
    engine: Engine, settings: Settings, new_db: NewDb, tmp_path: Path, keys: signing.KeyPair
) -> None:
    _small_registry(engine, settings)
    good = write_backup(engine, tmp_path / "good.tar.gz", keys).path
    target = new_db("sqlite")
    files = members(good)

    # a row changed: the member no longer has the hash the signed manifest names
    rows = files["tables/passports.jsonl"].replace(b"SN-1", b"SN-9")
    _rewrite(good, tmp_path / "row.tar.gz", {"tables/passports.jsonl": rows})
    with pytest.raises(IntegrityError, match=r"tables/passports.jsonl: SHA-256 .* changed after the backup"):
        restore_backup(target, tmp_path / "row.tar.gz")

    # the manifest changed to match: its signature no longer verifies
    manifest = json.loads(files[archive.MANIFEST])
    import hashlib

    for t in manifest["tables"]:
        if t["name"] == "passports":
            t["sha256"] = hashlib.sha256(rows).hexdigest()
    forged = json.dumps(manifest).encode()
    _rewrite(good, tmp_path / "manifest.tar.gz", {"tables/passports.jsonl": rows, archive.MANIFEST: forged})
    with pytest.raises(IntegrityError, match="signature does not verify"):
        restore_backup(target, tmp_path / "manifest.tar.gz")

    # re-signed by someone else: the signature holds, but the key is not the trusted one
    other = signing.KeyPair.generate()
    manifest["signer"] = {"public_key": other.public_b64, "fingerprint": signing.fingerprint(other.public_b64)}
    resigned = {
        "tables/passports.jsonl": rows,
        archive.MANIFEST: json.dumps(manifest).encode(),
        archive.SIGNATURE: other.sign(archive.manifest_digest(manifest)).encode(),
    }
    _rewrite(good, tmp_path / "resigned.tar.gz", resigned)
    with pytest.raises(IntegrityError, match=f"signed with key {signing.fingerprint(other.public_b64)}, which is not"):
        restore_backup(target, tmp_path / "resigned.tar.gz", trusted_keys=[signing.fingerprint(keys.public_b64)])
    open_backup(tmp_path / "resigned.tar.gz")  # without trusted keys only integrity is checked: that holds

    # an unknown member, a cut-off file, not a backup at all
    _rewrite(good, tmp_path / "extra.tar.gz", {"tables/evil.jsonl": b"[1]\n"})
    with pytest.raises(IntegrityError, match=r"members the manifest does not name: tables/evil\.jsonl"):
        restore_backup(target, tmp_path / "extra.tar.gz")
    (tmp_path / "cut.tar.gz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(IntegrityError, match="damaged"):
        restore_backup(target, tmp_path / "cut.tar.gz")
    (tmp_path / "junk.tar.gz").write_text("not a backup")
    with pytest.raises(ValidationError, match="not a batteryloop backup"):
        restore_backup(target, tmp_path / "junk.tar.gz")

    assert sum(counts(target).values()) == 0  # nothing was loaded by any refused restore
    restore_backup(target, good, trusted_keys=[signing.fingerprint(keys.public_b64)])
    assert counts(target) == counts(engine)


def test_a_backup_in_the_single_stream_layout_restores(
    engine: Engine, settings: Settings, new_db: NewDb, tmp_path: Path, keys: signing.KeyPair
) -> None:
    """Backups written before the file became a concatenation of gzip members (one gzip stream of a tar archive, as
    ``tarfile`` writes it) restore the same way; the current layout is one archive to ``tarfile`` and to ``tar``."""
    _small_registry(engine, settings)
    new = write_backup(engine, tmp_path / "new.tar.gz", keys).path
    assert gzip_members(new) == 2 + 2 * len(registry_tables())  # manifest, header + data per table, end
    old = tmp_path / "old.tar.gz"
    _rewrite(new, old, {})  # the same members in one gzip stream
    assert gzip_members(old) == 1
    assert members(old) == members(new)
    target = new_db("sqlite")
    restored = restore_backup(target, old, trusted_keys=[keys.public_b64])
    assert restored.chains.ok and counts(target) == counts(engine)
    again = write_backup(target, tmp_path / "again.tar.gz", keys).path
    assert_same_content(new, again)


def test_a_broken_hash_chain_in_the_backup_is_refused_and_nothing_stays(
    engine: Engine, settings: Settings, new_db: NewDb, tmp_path: Path, keys: signing.KeyPair
) -> None:
    """The backup signs what the database held; a version changed in the database before (outside the registry)
    gives a well-signed backup whose chain does not verify: the restore refuses it and rolls back."""
    _small_registry(engine, settings)
    with transaction(make_session_factory(engine)) as session:
        version = session.scalars(select(PassportVersion).order_by(PassportVersion.id)).first()
        assert version is not None
        content = dict(version.content)
        content["data"] = {**content["data"], "battery_mass_kg": 1.0}
        session.execute(update(PassportVersion).where(PassportVersion.id == version.id).values(content=content))
        pid = version.passport_id
    path = write_backup(engine, tmp_path / "broken.tar.gz", keys).path
    target = new_db("sqlite")
    with pytest.raises(IntegrityError, match=rf"hash-chain check\(s\) fail .*{pid}: version 1 hash"):
        restore_backup(target, path)
    assert sum(counts(target).values()) == 0


def test_restore_refuses_a_database_that_is_not_empty(
    engine: Engine, settings: Settings, tmp_path: Path, keys: signing.KeyPair
) -> None:
    _small_registry(engine, settings)
    path = write_backup(engine, tmp_path / "b.tar.gz", keys).path
    before = counts(engine)
    with pytest.raises(
        ConflictError, match=r"restore needs an empty database; this one holds .*organisations \(1 rows\)"
    ):
        restore_backup(engine, path)
    assert counts(engine) == before


def test_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``batteryloop backup`` and ``batteryloop restore`` as a user runs them (on SQLite files)."""
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    source = tmp_path / "source"
    monkeypatch.setenv("BATTERYLOOP_DATA_DIR", str(source))
    monkeypatch.delenv("BATTERYLOOP_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        from batteryloop.cli import _engine

        engine = _engine(get_settings())
        _small_registry(engine, get_settings(), passports=2)
        engine.dispose()
        out = tmp_path / "registry.tar.gz"
        result = runner.invoke(app, ["backup", "--out", str(out)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "created the backup key" in result.output and "passports" in result.output
        assert (source / "backup-signing.key").stat().st_mode & 0o077 == 0  # the key is private to its owner
        public = (source / "backup-signing.key.pub").read_text().strip()

        monkeypatch.setenv("BATTERYLOOP_DATA_DIR", str(tmp_path / "target"))
        get_settings.cache_clear()
        result = runner.invoke(app, ["restore", str(out), "--trusted-key", public], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "every hash chain verifies" in result.output
        with pytest.raises(ConflictError):
            runner.invoke(app, ["restore", str(out)], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
