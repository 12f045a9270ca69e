"""``batteryloop restore``: load a backup into an empty database, verified before and after.

1. the file is checked as a whole before anything is written (:func:`batteryloop.continuity.archive.open_backup`:
   signature, SHA-256 and row count of every table);
2. the database must be at the backup's schema revision and hold no rows in any registry table (a restore never
   merges; the refusal names the tables that hold rows);
3. the rows are inserted in one transaction, parents before children, read from the file in one more pass (each
   line must be a JSON array of the manifest's width): on PostgreSQL through ``COPY ... FROM STDIN``, after which
   the id sequences are moved past the restored ids and the two passport tables analysed (for the plans of step 4);
   on SQLite as batched inserts;
4. inside that transaction every passport's hash chain is verified
   (:func:`batteryloop.continuity.verify.verify_chains`); only then is it committed. Any failure rolls everything
   back and leaves the database empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import JSON, Date, DateTime, Integer, Table, TypeDecorator, func, select
from sqlalchemy.engine import Connection, Engine

from batteryloop.continuity.archive import TableEntry, VerifiedBackup, open_backup, parse_line, split_line
from batteryloop.continuity.backup import registry_tables
from batteryloop.continuity.verify import ChainReport, verify_chains
from batteryloop.errors import ConflictError, IntegrityError, ValidationError

BATCH = 2_000


@dataclass(frozen=True)
class RestoreSummary:
    tables: dict[str, int]
    fingerprint: str
    created_at: str
    chains: ChainReport

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _decoder(table: Table) -> list[Any]:
    """Per column: a function from the JSON value back to what the column takes (times from ISO 8601)."""
    out: list[Any] = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        if isinstance(kind, DateTime):
            out.append(datetime.fromisoformat)
        elif isinstance(kind, Date):
            out.append(date.fromisoformat)
        else:
            out.append(None)
    return out


def _check_target(conn: Connection, backup: VerifiedBackup, tables: list[Table]) -> None:
    from alembic.runtime.migration import MigrationContext

    revision = MigrationContext.configure(conn).get_current_revision()
    wanted = backup.manifest.get("schema_revision")
    if revision != wanted:
        raise ConflictError(
            f"the backup is of schema revision {wanted}, this database is at {revision}: restore with the batteryloop "
            "version that wrote the backup, then upgrade (batteryloop db upgrade)",
            field="schema_revision",
            expected=str(wanted),
        )
    known = {t.name: t for t in tables}
    in_backup = {t.name for t in backup.tables}
    problems = []
    for entry in backup.tables:
        table = known.get(entry.name)
        if table is None:
            problems.append(f"table {entry.name} is not in this schema")
        elif entry.columns != [c.name for c in table.columns]:
            problems.append(
                f"table {entry.name}: columns {entry.columns} differ from {[c.name for c in table.columns]}"
            )
    missing = sorted(set(known) - in_backup)
    if missing:
        problems.append(f"the backup lacks table(s) {', '.join(missing)}")
    if problems:
        raise ConflictError("the backup does not match this schema: " + "; ".join(problems), field="schema")
    filled = []
    for table in tables:
        n = conn.scalar(select(func.count()).select_from(table))
        if n:
            filled.append(f"{table.name} ({n} rows)")
    if filled:
        raise ConflictError(
            "restore needs an empty database; this one holds " + ", ".join(filled),
            field="BATTERYLOOP_DATABASE_URL",
            expected="a new, empty database (batteryloop db upgrade creates its tables)",
        )


def _load(conn: Connection, table: Table, entry: TableEntry, lines: IO[bytes]) -> int:
    """Insert the rows of one table member: PostgreSQL through ``COPY ... FROM STDIN``, SQLite in batches."""
    if conn.dialect.name == "postgresql":
        return _copy_in(conn, table, entry, lines)
    decoders = _decoder(table)
    names = entry.columns
    batch: list[dict[str, Any]] = []
    n = 0
    for n, line in enumerate(lines, start=1):
        values = parse_line(line, entry, n)
        row: dict[str, Any] = {}
        for name, decode, value in zip(names, decoders, values, strict=True):
            if decode is not None and value is not None:
                value = _decode_time(decode, value, entry, n, name)
            row[name] = value
        batch.append(row)
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
    return n


def _decode_time(decode: Any, value: Any, entry: TableEntry, line_no: int, name: str) -> Any:
    try:
        return decode(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{entry.member} line {line_no}: {name} = {value!r} is not a valid time",
            field=f"{entry.member}:{line_no}:{name}",
            expected="ISO 8601",
        ) from None


def _copy_in(conn: Connection, table: Table, entry: TableEntry, lines: IO[bytes]) -> int:
    """PostgreSQL: the rows through ``COPY`` on the transaction's own connection. Times go as their ISO 8601 text
    (checked here: the server would parse more forms), JSON values as their text in the file (the server parses them
    into ``jsonb``); the server checks types and constraints as for an ``INSERT``."""
    json_at: list[int] = []
    times: list[tuple[int, Callable[[str], Any]]] = []
    for i, column in enumerate(table.columns):
        kind = column.type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        if isinstance(kind, JSON):
            json_at.append(i)
        elif isinstance(kind, DateTime):
            times.append((i, datetime.fromisoformat))
        elif isinstance(kind, Date):
            times.append((i, date.fromisoformat))
    preparer = conn.dialect.identifier_preparer
    statement = (
        f"COPY {preparer.format_table(table)} ({', '.join(preparer.quote(c) for c in entry.columns)}) FROM STDIN"
    )
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw_at = frozenset(json_at)
    n = 0
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        for n, line in enumerate(lines, start=1):
            values = split_line(line, entry, n, raw_at)
            for i, decode in times:
                value = values[i]
                if value is not None:
                    _decode_time(decode, value, entry, n, entry.columns[i])
            copy.write_row(values)
    return n


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: move each serial id's sequence past the restored ids, so that new rows get fresh ones."""
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].autoincrement not in (True, "auto") or not isinstance(pk[0].type, Integer):
            continue
        highest = select(func.max(pk[0])).scalar_subquery()
        conn.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(table.name, pk[0].name),
                    func.coalesce(highest, 1),
                    highest.is_not(None),
                )
            )
        )


def restore_backup(
    engine: Engine, path: Path, *, trusted_keys: list[str] | None = None, workers: int | None = None
) -> RestoreSummary:
    """Restore the backup in ``path`` into the empty database of ``engine`` (see the module's documentation).

    ``workers``: processes that verify the versions (:func:`batteryloop.continuity.verify.verify_chains`)."""
    backup = open_backup(path, trusted_keys=trusted_keys)
    tables = registry_tables()
    by_name = {t.name: t for t in tables}
    counts: dict[str, int] = {t.name: 0 for t in tables}
    with engine.begin() as conn:
        _check_target(conn, backup, tables)
        for entry, lines in backup.members([t.name for t in tables]):
            counts[entry.name] = _load(conn, by_name[entry.name], entry, lines)
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn, tables)
            conn.exec_driver_sql("ANALYZE passports, passport_versions")
        chains = verify_chains(conn, workers=workers)
        if not chains.ok:
            raise IntegrityError(
                f"{len(chains.failures)} hash-chain check(s) fail on the restored data; nothing was restored: "
                + "; ".join(chains.failures[:5]),
                field="passport_versions",
            )
    return RestoreSummary(
        tables=counts,
        fingerprint=backup.fingerprint,
        created_at=str(backup.manifest.get("created_at")),
        chains=chains,
    )
