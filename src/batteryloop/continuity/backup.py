"""``batteryloop backup``: a consistent, signed snapshot of the whole registry in one file.

Every table of the registry's schema is written (organisations with their private keys *as stored*, wrapped with
``BATTERYLOOP_KEY_ENCRYPTION_KEY`` when one is configured; accounts; token hashes; passports; versions; links; dynamic
values; grants; the access log; the producer-responsibility register; the incident register). All tables are read in
one read-only transaction, so the snapshot is consistent: on PostgreSQL at REPEATABLE READ (one snapshot for the
whole transaction), on SQLite inside one ``BEGIN`` (in WAL mode a reader keeps the snapshot of its first read while
writers go on). Rows stream, compressed as they are written (a thread compresses while the next rows are encoded), to
temporary files of about the size of the backup, so the memory used does not grow with the registry.

JSON columns are read as their text and decoded by :func:`batteryloop.continuity.canonical.loads`, so that each row
is written through the standard library's C encoder with the bytes of RFC 8785; a row holding a number or key that the
fast path cannot write as RFC 8785 does goes through the reference implementation (:func:`archive.encode_row`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, Select, Table, Text, TypeDecorator, cast, func, select
from sqlalchemy.engine import Connection, Engine

from batteryloop.continuity import archive, canonical
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
    with (
        tempfile.TemporaryDirectory(prefix="batteryloop-backup-", dir=out.parent) as tmp,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-gzip") as compressor,
    ):
        members: list[archive.MemberWriter] = []
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
                member = archive.MemberWriter(
                    f"{archive.TABLES_DIR}/{table.name}.jsonl", Path(tmp) / f"{table.name}.gz", compressor
                )
                try:
                    n, digest = _dump_table(conn, table, member)
                finally:
                    member.close()
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
                        "member": member.name,
                    }
                )
                members.append(member)
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


def _converters(table: Table) -> list[Callable[[Any], Any]]:
    """Per column: from what the database gives to a value :func:`canonical.encode_safe` writes as RFC 8785 does
    (:class:`canonical.UnsafeValueError` where it cannot). JSON columns are selected as text (see :func:`_select`)."""
    out: list[Callable[[Any], Any]] = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        if isinstance(kind, JSON):
            out.append(_json_text)
        elif isinstance(kind, DateTime | Date):
            out.append(encode_value)
        elif isinstance(kind, Float):
            out.append(_float)
        else:
            out.append(_scalar)
    return out


def _json_text(value: str | None) -> Any:
    return None if value is None else canonical.loads(value)


def _float(value: float | None) -> int | float | None:
    return None if value is None else canonical.safe_float(float(value))


def _scalar(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int and -canonical.SAFE_INT <= value <= canonical.SAFE_INT:
        return value
    raise canonical.UnsafeValueError(repr(value))  # the reference implementation writes it or names the problem


def _select(table: Table) -> Select[Any]:
    """Every column, JSON columns as their text (decoded by :func:`canonical.loads`), ordered by primary key."""
    columns = [cast(c, Text) if isinstance(c.type, JSON) else c for c in table.columns]
    order = list(table.primary_key.columns) or list(table.columns)
    return select(*columns).order_by(*order)


def _slow_line(table: Table, row: Sequence[Any]) -> bytes:
    """The row through the reference RFC 8785 implementation (numbers the fast path cannot write, odd keys)."""
    values = [
        json.loads(v) if v is not None and isinstance(c.type, JSON) else encode_value(v)
        for c, v in zip(table.columns, row, strict=True)
    ]
    try:
        return archive.encode_row(values)
    except (TypeError, ValueError) as exc:
        shown = dict(zip([c.name for c in table.columns], row, strict=True))
        raise ValidationError(
            f"table {table.name}, row {shown!r:.200}: cannot be written as JSON ({exc})", field=table.name
        ) from None


def _dump_table(conn: Connection, table: Table, out: archive.MemberWriter) -> tuple[int, str]:
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(_select(table))
    converters = _converters(table)
    encode = canonical.encode_safe
    unsafe = canonical.UnsafeValueError
    digest = hashlib.sha256()
    n = 0
    for rows in result.partitions():
        lines = []
        for row in rows:
            try:
                line = encode([conv(v) for conv, v in zip(converters, row, strict=True)])
            except unsafe:
                line = None
            lines.append(_slow_line(table, row) if line is None else line + b"\n")
        block = b"".join(lines)
        out.write(block)
        digest.update(block)
        n += len(lines)
    return n, digest.hexdigest()
