"""The ``batteryloop`` export format: a passport with every signed version, verifiable offline.

::

    {
      "format": "batteryloop.passport-bundle",
      "format_version": 1,
      "passport_id": "...",
      "exported_at": "...",
      "versions": [{"content": {...}, "hash": "...", "signature": "...", "public_key": "..."}, ...],
      "predecessors": [<bundles of the original passports, for a repurposed battery>]
    }

:func:`verify_bundle` recomputes each hash from the canonical JSON of the content (RFC 8785), checks each signature
with the key it names, checks that each version points at the hash of the one before, that each version was signed by
the operator responsible before it (or, on a transfer of responsibility, by the one taking over), that version numbers
run 1, 2, 3, ... and that the newest data is valid against ``attributes.csv``. With ``trusted_keys`` it also checks
that every signing key is one the verifier trusts. It names every check that fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from batteryloop.errors import BatteryloopError, NotFoundError
from batteryloop.passport import signing
from batteryloop.passport.attributes import validate_values
from batteryloop.passport.models import Passport, PassportLink, PassportVersion

FORMAT = "batteryloop.passport-bundle"
FORMAT_VERSION = 1


def export_bundle(session: Session, passport_id: str, *, with_predecessors: bool = True) -> dict[str, Any]:
    passport = session.get(Passport, passport_id)
    if passport is None:
        raise NotFoundError(f"no passport {passport_id!r}", field="passport_id")
    versions = session.scalars(
        select(PassportVersion).where(PassportVersion.passport_id == passport_id).order_by(PassportVersion.number)
    ).all()
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "passport_id": passport_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "versions": [
            {"content": v.content, "hash": v.hash, "signature": v.signature, "public_key": v.public_key}
            for v in versions
        ],
    }
    if with_predecessors:
        preds = session.scalars(
            select(PassportLink.predecessor_id).where(PassportLink.successor_id == passport_id)
        ).all()
        if preds:
            bundle["predecessors"] = [export_bundle(session, p, with_predecessors=True) for p in preds]
    return bundle


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}{': ' + self.detail if self.detail else ''}"


@dataclass
class VerifyReport:
    passport_id: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def as_dict(self) -> dict[str, Any]:
        return {
            "passport_id": self.passport_id,
            "ok": self.ok,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


def _public_key(party: Any) -> Any:
    """The ``public_key`` of a signer or responsible-operator object; None when the bundle holds something else."""
    return party.get("public_key") if isinstance(party, Mapping) else None


def _hashes(entries: Any) -> set[str]:
    """The ``hash`` texts of a list of versions or predecessor links; nothing for anything else."""
    if not isinstance(entries, list):
        return set()
    return {e["hash"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("hash"), str)}


def verify_bundle(bundle: Any, *, trusted_keys: Iterable[str] | None = None, _depth: int = 0) -> VerifyReport:
    """Check a bundle offline; every failing check is named in the report."""
    report = VerifyReport(passport_id=bundle.get("passport_id") if isinstance(bundle, Mapping) else None)
    if not isinstance(bundle, Mapping):
        report.add("format", False, "the file is not a JSON object")
        return report
    if bundle.get("format") != FORMAT:
        report.add("format", False, f"format is {bundle.get('format')!r}, expected {FORMAT!r}")
        return report
    if bundle.get("format_version") != FORMAT_VERSION:
        report.add("format", False, f"format_version {bundle.get('format_version')!r} is not {FORMAT_VERSION}")
        return report
    versions = bundle.get("versions")
    if not isinstance(versions, list) or not versions:
        report.add("versions", False, "the bundle holds no versions")
        return report
    report.add("format", True, f"{FORMAT} v{FORMAT_VERSION}, {len(versions)} version(s)")
    trusted = set(trusted_keys) if trusted_keys is not None else None
    previous_hash = signing.GENESIS
    previous_responsible: str | None = None
    pid = bundle.get("passport_id")
    for i, entry in enumerate(versions, start=1):
        where = f"version {i}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("content"), Mapping):
            report.add(f"{where} structure", False, "entry lacks its content")
            return report
        content = entry["content"]
        try:
            recomputed = signing.content_hash(content)
        except Exception as exc:
            report.add(f"{where} hash", False, f"content cannot be canonicalised: {exc}")
            return report
        report.add(
            f"{where} hash",
            recomputed == entry.get("hash"),
            ""
            if recomputed == entry.get("hash")
            else f"content hashes to {recomputed[:16]}..., bundle says {str(entry.get('hash'))[:16]}...",
        )
        report.add(
            f"{where} number",
            content.get("version") == i,
            "" if content.get("version") == i else f"content says version {content.get('version')}",
        )
        report.add(
            f"{where} passport",
            content.get("passport_id") == pid,
            "" if content.get("passport_id") == pid else f"belongs to {content.get('passport_id')!r}",
        )
        link_ok = content.get("previous_hash") == previous_hash
        report.add(
            f"{where} chain",
            link_ok,
            ""
            if link_ok
            else f"points at {str(content.get('previous_hash'))[:16]}..., previous is {previous_hash[:16]}...",
        )
        key = entry.get("public_key")
        signer_key = _public_key(content.get("signer"))
        sig_ok = (
            isinstance(key, str)
            and key == signer_key
            and signing.verify_signature(key, str(entry.get("hash")), str(entry.get("signature")))
        )
        report.add(
            f"{where} signature",
            sig_ok,
            f"Ed25519 key {signing.fingerprint(key)}"
            if sig_ok and isinstance(key, str)
            else "signature does not verify with the signer's key",
        )
        responsible_key = _public_key(content.get("responsible"))
        if previous_responsible is None:
            authorised = signer_key == responsible_key
        else:
            authorised = signer_key == previous_responsible or (
                responsible_key != previous_responsible and signer_key == responsible_key
            )
        report.add(
            f"{where} signer",
            authorised,
            "" if authorised else "signed by an operator that was not responsible for the passport",
        )
        if trusted is not None and isinstance(key, str):
            report.add(
                f"{where} trusted key",
                key in trusted or signing.fingerprint(key) in trusted,
                f"key {signing.fingerprint(key)} {'is' if key in trusted else 'is not'} trusted",
            )
        previous_hash = recomputed
        previous_responsible = responsible_key
    last = versions[-1]["content"]
    newest = last.get("data", {})
    if not isinstance(newest, Mapping):
        report.add("schema", False, f"the newest data is {type(newest).__name__}, not an object of attributes")
    else:
        try:
            validate_values(newest, str(last.get("category", "")), allow_registry=True)
            report.add("schema", True, "the newest data is valid against attributes.csv")
        except BatteryloopError as exc:
            report.add("schema", False, "; ".join(str(p) for p in exc.problems) or exc.message)
    predecessors = bundle.get("predecessors") or []
    if not isinstance(predecessors, list):
        report.add("predecessors", False, "predecessors is not a list of bundles")
        predecessors = []
    for pred in predecessors:
        if _depth > 20:
            report.add("predecessors", False, "lineage deeper than 20 passports")
            break
        sub = verify_bundle(pred, trusted_keys=trusted, _depth=_depth + 1)
        listed = _hashes(versions[0]["content"].get("predecessors"))
        pred_hashes = _hashes(pred.get("versions")) if isinstance(pred, Mapping) else set()
        report.add(
            f"predecessor {sub.passport_id}",
            sub.ok and bool(listed & pred_hashes),
            "verified and linked"
            if sub.ok and listed & pred_hashes
            else "; ".join(str(c) for c in sub.failures) or "not linked from the first version",
        )
    return report
