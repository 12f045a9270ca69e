"""``batteryloop backup``: a consistent, signed snapshot of the whole registry in one file.

Every table of the registry's schema is written (organisations with their private keys *as stored*, wrapped with
``BATTERYLOOP_KEY_ENCRYPTION_KEY`` when one is configured; accounts; token hashes; passports; versions; links; dynamic
values; grants; the access log; the producer-responsibility register; the incident register). All tables are read in
one read-only transaction, so the snapshot is consistent: on PostgreSQL at REPEATABLE READ (one snapshot for the
whole transaction), on SQLite inside one ``BEGIN`` (in WAL mode a reader keeps the snapshot of its first read while
writers go on). Rows stream to temporary files, so the memory used does not grow with the registry.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection, Engine

from batteryloop.continuity import archive
from batteryloop.db import Base
from batteryloop.errors import ValidationError
from batteryloop.passport import signing

BATCH = 5_000


def registry_tables() -> list[Table]:
    """Every table of the registry, parents before children (the order a restore inserts them in)."""
    import batteryloop.models_all  # noqa: F401 - registers every table on Base.metadata

    return list(Base.metadata.sorted_tables)


def encode_value(value: Any) -> Any:
    """A column value as JSON: times as ISO 8601 (UTC), everything else as it is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        raise TypeError("binary columns are not supported")
    return value


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    tables: dict[str, int]
    """Rows per table."""
    fingerprint: str
    created_at: str
    raw_private_keys: int
    """Organisations whose private key is stored without a key-encryption key (base64 only)."""

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _snapshot(conn: Connection) -> None:
    """Start the one read-only transaction every table is read in."""
    if conn.dialect.name == "sqlite":
        # pysqlite runs SELECTs outside a transaction unless one is begun explicitly
        conn.exec_driver_sql("BEGIN")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def _revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def write_backup(
    engine: Engine,
    out: Path,
    keys: signing.KeyPair,
    *,
    after_table: Callable[[str], None] | None = None,
) -> BackupSummary:
    """Write a backup of the registry on ``engine`` to ``out``, signed with ``keys``.

    ``after_table`` is called with each table's name once it has been read (the tests use it to write to the
    database in the middle of a backup and show that the snapshot does not see it).
    """
    tables = registry_tables()
    created_at = datetime.now(UTC).isoformat()
    entries: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    raw_keys = 0
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    with tempfile.TemporaryDirectory(prefix="batteryloop-backup-", dir=out.parent) as tmp:
        members: list[tuple[str, Path]] = []
        with engine.connect() as conn:
            _snapshot(conn)
            revision = _revision(conn)
            if revision is None:
                raise ValidationError(
                    "the database has no schema (no Alembic revision)",
                    field="BATTERYLOOP_DATABASE_URL",
                    expected="a batteryloop database (batteryloop db upgrade)",
                )
            for table in tables:
                member = f"{archive.TABLES_DIR}/{table.name}.jsonl"
                path = Path(tmp) / f"{table.name}.jsonl"
                n, digest = _dump_table(conn, table, path)
                if table.name == "organisations":
                    raw_keys = int(
                        conn.scalar(select(func.count()).select_from(table).where(table.c.private_key.like("raw:%")))
                        or 0
                    )
                counts[table.name] = n
                entries.append(
                    {
                        "name": table.name,
                        "columns": [c.name for c in table.columns],
                        "rows": n,
                        "sha256": digest,
                        "member": member,
                    }
                )
                members.append((member, path))
                if after_table is not None:
                    after_table(table.name)
            conn.rollback()  # read-only: nothing to commit
        manifest: dict[str, Any] = {
            "format": archive.FORMAT,
            "format_version": archive.FORMAT_VERSION,
            "created_at": created_at,
            "schema_revision": revision,
            "signer": {"public_key": keys.public_b64, "fingerprint": signing.fingerprint(keys.public_b64)},
            "tables": entries,
        }
        signature = keys.sign(archive.manifest_digest(manifest))
        archive.write_archive(out, manifest, signature, members)
    return BackupSummary(
        path=out,
        tables=counts,
        fingerprint=signing.fingerprint(keys.public_b64),
        created_at=created_at,
        raw_private_keys=raw_keys,
    )


def _dump_table(conn: Connection, table: Table, path: Path) -> tuple[int, str]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(select(table).order_by(*order))
    digest = hashlib.sha256()
    n = 0
    with open(path, "wb") as fh:
        for row in result:
            try:
                line = archive.encode_row([encode_value(v) for v in row])
            except (TypeError, ValueError) as exc:
                raise ValidationError(
                    f"table {table.name}, row {dict(zip(row._fields, row, strict=True))!r:.200}: cannot be written "
                    f"as JSON ({exc})",
                    field=table.name,
                ) from None
            fh.write(line)
            digest.update(line)
            n += 1
    return n, digest.hexdigest()
