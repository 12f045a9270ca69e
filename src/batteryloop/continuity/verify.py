"""Check every passport's hash chain in a database: what a restore proves before it commits.

The checks are those of :func:`batteryloop.passport.bundle.verify_bundle` on each passport's bundle (hashes recomputed
from the canonical content, the chain links, the Ed25519 signatures, that each signer was responsible, version numbers
1, 2, 3, ...), without the bundle's schema check (the newest data against today's ``attributes.csv`` is not part of
the integrity verdict: a passport stays intact when the attribute table grows). The passport's current row must also
point at its newest version (``version`` and ``head_hash``), and no version may belong to no passport.

They run in two passes over the database instead of one bundle per passport, so that a registry of millions of
passports is verified in one pass over its versions:

1. every version row, in the order of its primary key (no sort), is checked on its own in worker processes
   (:func:`batteryloop.continuity.version_check.check_versions`): its content hashes to the stored ``hash``, names its
   passport, its number and the stored ``previous_hash``, and the stored signature verifies with the stored key,
   which is the content's signer;
2. the small columns of all versions (number, hash, previous hash, signing key, the responsible operator's key),
   sorted by passport and number, are walked once: numbers run 1, 2, 3, ..., each ``previous_hash`` is the hash of
   the version before (``GENESIS`` for the first), each version is signed by the operator responsible before it (or,
   on a transfer, by the one taking over), and the passport row points at the newest version.

Pass 1 ties each stored column to the signed content, pass 2 checks the chain over those columns; together they hold
exactly when :func:`~batteryloop.passport.bundle.verify_bundle` passes every integrity check of every passport and,
beyond what a bundle shows, each version's ``previous_hash`` column is the one its signed content names
(``tests/continuity/test_verify.py`` breaks chains in each way and compares the verdicts). The version texts pass
through :mod:`batteryloop.continuity.canonical`, which gives the reference RFC 8785 bytes at the speed of the C
encoder.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from batteryloop.continuity.version_check import VersionRow, check_versions
from batteryloop.passport import signing
from batteryloop.passport.models import Passport, PassportVersion

NOT_INTEGRITY = ("schema", "predecessor ")
"""Checks of a bundle that are not about the integrity of the stored chain: the schema check, and the predecessors'
checks (each predecessor is a passport of its own and verified as such)."""

BATCH = 1_000
"""Versions per task of a worker process."""
PARALLEL_FROM = 20_000
"""Below this many versions the checks run in the calling process (starting workers costs about a second)."""


@dataclass
class ChainReport:
    passports: int = 0
    versions: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def verify_chains(
    session: Session | Connection,
    *,
    limit_failures: int = 50,
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
) -> ChainReport:
    """Verify the hash chain of every passport in the database (see the module's documentation).

    ``workers`` processes check the versions (default: one per core, at most 8); with fewer than ``parallel_from``
    versions, or ``workers=1``, the calling process does.
    """
    conn = session.connection() if isinstance(session, Session) else session
    report = ChainReport()
    total = int(conn.scalar(select(func.count()).select_from(PassportVersion)) or 0)
    workers = default_workers() if workers is None else max(1, workers)
    if workers > 1 and total >= parallel_from:
        _each_version_parallel(conn, report, workers, limit_failures)
    else:
        for rows in _version_batches(conn):
            report.failures.extend(check_versions(rows))
            if len(report.failures) >= limit_failures:
                break
    if len(report.failures) < limit_failures:
        _walk_chains(conn, report, limit_failures)
    orphans = conn.scalar(
        select(func.count()).select_from(PassportVersion).where(PassportVersion.passport_id.not_in(select(Passport.id)))
    )
    if orphans:
        report.failures.append(f"{orphans} version(s) belong to no passport")
    return report


def _version_batches(conn: Connection) -> Iterator[list[VersionRow]]:
    v = PassportVersion.__table__.c
    query = select(
        v.passport_id, v.number, cast(v.content, Text), v.hash, v.previous_hash, v.signature, v.public_key
    ).order_by(v.id)
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    for rows in result.partitions():
        yield [tuple(r) for r in rows]


def _each_version_parallel(conn: Connection, report: ChainReport, workers: int, limit_failures: int) -> None:
    """Pass 1 in ``workers`` processes; the database is read here, a few batches ahead of the workers."""
    # spawn, not fork: a forked child would hold a copy of this process's database connection
    context = multiprocessing.get_context("spawn")
    pending: deque[Future[list[str]]] = deque()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            for rows in _version_batches(conn):
                pending.append(pool.submit(check_versions, rows))
                while len(pending) > 2 * workers or (pending and pending[0].done()):
                    report.failures.extend(pending.popleft().result())
                if len(report.failures) >= limit_failures:
                    break
            while pending:
                report.failures.extend(pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()


def _walk_chains(conn: Connection, report: ChainReport, limit_failures: int) -> None:
    """Pass 2: the chain of every passport over the small columns, sorted by passport and number."""
    p = Passport.__table__.c
    v = PassportVersion.__table__.c
    query = (
        select(
            p.id,
            p.version,
            p.head_hash,
            v.number,
            v.hash,
            v.previous_hash,
            v.public_key,
            PassportVersion.content[("responsible", "public_key")].as_string(),
        )
        .select_from(Passport.__table__.outerjoin(PassportVersion.__table__, v.passport_id == p.id))
        .order_by(p.id, v.number)
    )
    result = conn.execution_options(stream_results=True, yield_per=10 * BATCH).execute(query)
    current: Sequence[Any] | None = None
    failures = report.failures
    position = 0
    previous_hash = signing.GENESIS
    previous_responsible: str | None = None
    for rows in result.partitions():
        for row in rows:
            pid, _, _, number, stored_hash, claimed_previous, signer, responsible = row
            if current is None or pid != current[0]:
                if current is not None:
                    _head(current, position, previous_hash, report)
                    if len(failures) >= limit_failures:
                        return
                current, position = row, 0
                previous_hash, previous_responsible = signing.GENESIS, None
                report.passports += 1
            if number is None:
                continue  # a passport without versions (outer join)
            position += 1
            report.versions += 1
            where = f"{pid}: version {position}"
            if number != position:
                failures.append(f"{where} number: stored as version {number}")
            if claimed_previous != previous_hash:
                failures.append(
                    f"{where} chain: points at {claimed_previous[:16]}..., previous is {previous_hash[:16]}..."
                )
            if previous_responsible is None:
                authorised = signer == responsible
            else:
                authorised = signer == previous_responsible or (
                    responsible != previous_responsible and signer == responsible
                )
            if not authorised:
                failures.append(f"{where} signer: signed by an operator that was not responsible for the passport")
            previous_hash, previous_responsible = stored_hash, responsible
    if current is not None:
        _head(current, position, previous_hash, report)


def _head(passport: Sequence[Any], versions: int, newest_hash: str, report: ChainReport) -> None:
    pid, version, head_hash = passport[0], passport[1], passport[2]
    if versions == 0:
        report.failures.append(f"{pid}: versions: the passport has no stored version")
    elif version != versions or head_hash != newest_hash:
        report.failures.append(
            f"{pid}: the passport points at version {version} ({str(head_hash)[:16]}...), the newest stored is "
            f"{versions} ({newest_hash[:16]}...)"
        )
