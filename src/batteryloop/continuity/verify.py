"""Check every passport's hash chain in a database: what a restore proves before it commits.

Each passport is exported as the signed bundle of :mod:`batteryloop.passport.bundle` and checked with
:func:`~batteryloop.passport.bundle.verify_bundle` (hashes recomputed from the canonical content, the chain links, the
Ed25519 signatures and that each signer was responsible). The bundle's schema check, the newest data against today's
``attributes.csv``, is not part of the integrity verdict: a passport stays intact when the attribute table grows.
The passport's current row must also point at its newest version (``version`` and ``head_hash``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from batteryloop.passport.bundle import export_bundle, verify_bundle
from batteryloop.passport.models import Passport, PassportVersion

NOT_INTEGRITY = ("schema", "predecessor ")
"""Checks of a bundle that are not about the integrity of the stored chain: the schema check, and the predecessors'
checks (each predecessor is a passport of its own and verified as such)."""


@dataclass
class ChainReport:
    passports: int = 0
    versions: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify_chains(session: Session, *, limit_failures: int = 50) -> ChainReport:
    """Verify the hash chain of every passport in the database."""
    report = ChainReport()
    ids = session.scalars(select(Passport.id).order_by(Passport.id)).all()
    for pid in ids:
        passport = session.get(Passport, pid)
        assert passport is not None
        bundle = export_bundle(session, pid, with_predecessors=False)
        result = verify_bundle(bundle)
        report.passports += 1
        report.versions += len(bundle["versions"])
        bad = [c for c in result.failures if not c.name.startswith(NOT_INTEGRITY)]
        for check in bad:
            report.failures.append(f"{pid}: {check.name}: {check.detail}")
        newest = bundle["versions"][-1]
        if passport.version != len(bundle["versions"]) or passport.head_hash != newest["hash"]:
            report.failures.append(
                f"{pid}: the passport points at version {passport.version} ({passport.head_hash[:16]}...), the newest "
                f"stored is {len(bundle['versions'])} ({str(newest['hash'])[:16]}...)"
            )
        if len(report.failures) >= limit_failures:
            break
    orphans = session.scalar(
        select(func.count()).select_from(PassportVersion).where(PassportVersion.passport_id.not_in(select(Passport.id)))
    )
    if orphans:
        report.failures.append(f"{orphans} version(s) belong to no passport")
    return report
