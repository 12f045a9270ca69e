"""The mirror's side of escrow: agreements, deposits of signed bundles, and serving a mirrored passport.

A deposit (:meth:`EscrowService.deposit`) is accepted only when

1. the caller is the account an active escrow agreement names (Art. 77(4): the responsible operator authorises
   another operator to act on its behalf; the agreement is that authorisation as this registry records it);
2. the bundle verifies offline with :func:`batteryloop.passport.bundle.verify_bundle` (hash chain, signatures,
   signers, version numbers, schema, predecessors), with the agreement's public keys as the only trusted keys;
3. the identifier is not one this registry issued itself, and no other passport holds its GTIN and serial;
4. it extends what the mirror holds: the same versions as before (by hash) plus new ones. The same bundle twice is
   answered "unchanged".

Every refusal raises a :class:`~batteryloop.errors.BatteryloopError` that names the reason; the request's transaction
is rolled back, so nothing of a refused deposit is stored.

Serving (:meth:`EscrowService.view`) builds the same :class:`~batteryloop.passport.service.PassportView` the
registry builds for its own passports, from the newest signed version, filtered with the same access rules
(:func:`batteryloop.passport.access.visible_groups`). Nobody is the responsible operator on the mirror and the origin's
grants do not travel, so a caller sees what its role sees without responsibility or grant.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from batteryloop.config import Settings, get_settings
from batteryloop.errors import (
    AuthenticationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ValidationError,
)
from batteryloop.escrow.models import EscrowAgreement, MirroredPassport
from batteryloop.escrow.rules import rules
from batteryloop.passport import signing
from batteryloop.passport.access import (
    SUPERVISORY_ROLES,
    Role,
    Viewer,
    citations_for,
    closed_to,
    filter_data,
    restricted_keys,
    visible_groups,
)
from batteryloop.passport.bundle import verify_bundle
from batteryloop.passport.identifiers import check_passport_id, gs1_digital_link
from batteryloop.passport.models import Account, Passport, utcnow
from batteryloop.passport.service import PassportService, PassportView
from batteryloop.passport.transfer import check_whole_bundle

DEFAULT_PROVIDER = "the backup service provider"


def check_public_key(value: str, *, field: str = "public_key") -> str:
    """A base64 Ed25519 public key (32 bytes), or a ValidationError naming ``field``."""
    text = value.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValidationError(
            f"{value!r} is not an Ed25519 public key", field=field, expected="the base64 of 32 bytes (44 characters)"
        )
    return text


@dataclass(frozen=True)
class DepositOutcome:
    passport_id: str
    outcome: Literal["created", "extended", "unchanged"]
    version: int
    head_hash: str
    previous_version: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "passport_id": self.passport_id,
            "outcome": self.outcome,
            "version": self.version,
            "head_hash": self.head_hash,
            "previous_version": self.previous_version,
        }


@dataclass(frozen=True)
class MirrorView:
    """A mirrored passport as one caller may see it, and where the copy comes from."""

    view: PassportView
    category: str
    status: str
    origin: str
    provider: str
    signer: str
    signer_fingerprint: str
    received_at: datetime
    updated_at: datetime

    def mirror_info(self) -> dict[str, Any]:
        return {
            "served_by": self.provider,
            "origin": self.origin,
            "version": self.view.version,
            "signed_by": self.signer,
            "signer_key_fingerprint": self.signer_fingerprint,
            "first_deposited_at": self.received_at.isoformat(),
            "deposited_at": self.updated_at.isoformat(),
            "bundle": f"/api/v1/escrow/passports/{self.view.passport_id}/bundle",
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.view.as_dict(), "mirror": self.mirror_info()}

    def notice_fields(self) -> dict[str, Any]:
        """The facts a page states about the copy (the web texts' ``mirror_notice`` takes them)."""
        return {
            "provider": self.provider,
            "version": self.view.version,
            "signer": self.signer,
            "fingerprint": self.signer_fingerprint,
            "origin": self.origin,
            "date": self.updated_at.date().isoformat(),
        }


def _hashes(bundle: Mapping[str, Any]) -> list[str]:
    return [str(v.get("hash")) for v in bundle.get("versions", []) if isinstance(v, Mapping)]


def _time(value: Any, fallback: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return parsed.astimezone(UTC) if parsed.tzinfo else fallback


class EscrowService:
    """The mirror. One instance per unit of work; never commits (the API and the CLI wrap each call)."""

    def __init__(self, session: Session, settings: Settings | None = None) -> None:
        self.session = session
        self.settings = settings or get_settings()

    # -----------------------------------------------------------------------------------------------------------------
    # Agreements

    def agree(
        self,
        origin: str,
        public_keys: Sequence[str],
        account: str,
        *,
        origin_identifier: str | None = None,
        origin_url: str | None = None,
        provider: str | None = None,
        note: str | None = None,
    ) -> EscrowAgreement:
        """Record (or widen) the agreement to keep the passports of ``origin``, deposited by ``account``.

        Run again with further keys (a successor operator's, a renewed key), it adds them to the agreement."""
        origin = origin.strip()
        if not origin:
            raise ValidationError("an escrow agreement needs the origin operator's name", field="origin")
        if not public_keys:
            raise ValidationError(
                "an escrow agreement needs at least one public key of the origin",
                field="public_key",
                expected="the base64 Ed25519 key from GET /api/v1/organisations/{name}/key on the origin",
            )
        keys = [check_public_key(k) for k in public_keys]
        acc = PassportService(self.session, self.settings).account(account)
        existing = self.session.scalar(select(EscrowAgreement).where(EscrowAgreement.origin == origin))
        by_account = self.session.scalar(select(EscrowAgreement).where(EscrowAgreement.account_id == acc.id))
        if by_account is not None and (existing is None or by_account.id != existing.id):
            raise ConflictError(
                f"account {account!r} deposits for {by_account.origin!r} already; "
                f"give {origin!r} an account of its own",
                field="account",
            )
        if existing is not None:
            if existing.account_id != acc.id:
                raise ConflictError(f"the agreement with {origin!r} names another depositing account", field="account")
            existing.public_keys = list(dict.fromkeys([*existing.public_keys, *keys]))
            existing.ended_at = None
            for name, value in (
                ("origin_identifier", origin_identifier),
                ("origin_url", origin_url),
                ("provider", provider),
                ("note", note),
            ):
                if value is not None:
                    setattr(existing, name, value)
            self.session.flush()
            return existing
        agreement = EscrowAgreement(
            origin=origin,
            origin_identifier=origin_identifier,
            origin_url=origin_url,
            public_keys=list(dict.fromkeys(keys)),
            account_id=acc.id,
            provider=provider or DEFAULT_PROVIDER,
            note=note,
        )
        self.session.add(agreement)
        self.session.flush()
        return agreement

    def end(self, origin: str) -> EscrowAgreement:
        """End an agreement: no further deposits; what the mirror holds stays served."""
        agreement = self.session.scalar(select(EscrowAgreement).where(EscrowAgreement.origin == origin))
        if agreement is None:
            raise NotFoundError(f"no escrow agreement with {origin!r}", field="origin")
        agreement.ended_at = utcnow()
        return agreement

    def agreements(self) -> list[dict[str, Any]]:
        rows = self.session.execute(
            select(EscrowAgreement, Account.name).join(Account, Account.id == EscrowAgreement.account_id)
        ).all()
        out = []
        for agreement, account in rows:
            held = self.session.scalars(
                select(MirroredPassport.passport_id).where(MirroredPassport.agreement_id == agreement.id)
            ).all()
            out.append(
                {
                    "origin": agreement.origin,
                    "account": account,
                    "keys": [signing.fingerprint(k) for k in agreement.public_keys],
                    "passports": len(held),
                    "active": agreement.ended_at is None,
                }
            )
        return out

    def agreement_for(self, viewer: Viewer) -> EscrowAgreement:
        """The active agreement under which ``viewer`` deposits; 401 for the public, 403 for any other account."""
        if viewer.role is Role.ANONYMOUS or viewer.account_id is None:
            raise AuthenticationError(
                "a deposit needs the bearer token of the account the escrow agreement names", field="authorization"
            )
        agreement = self.session.scalar(select(EscrowAgreement).where(EscrowAgreement.account_id == viewer.account_id))
        if agreement is None:
            raise PermissionDeniedError(
                f"account {viewer.account!r} is not named by any escrow agreement of this registry",
                field="authorization",
            )
        if agreement.ended_at is not None:
            raise PermissionDeniedError(
                f"the escrow agreement with {agreement.origin!r} ended on {agreement.ended_at.date().isoformat()}",
                field="authorization",
            )
        return agreement

    # -----------------------------------------------------------------------------------------------------------------
    # Deposits

    def holdings(self, viewer: Viewer) -> list[dict[str, Any]]:
        """What the mirror holds under the caller's agreement: identifier, newest version and its hash."""
        agreement = self.agreement_for(viewer)
        rows = self.session.execute(
            select(MirroredPassport.passport_id, MirroredPassport.version, MirroredPassport.head_hash)
            .where(MirroredPassport.agreement_id == agreement.id)
            .order_by(MirroredPassport.passport_id)
        ).all()
        return [{"passport_id": r.passport_id, "version": r.version, "head_hash": r.head_hash} for r in rows]

    def deposit(self, viewer: Viewer, passport_id: str, bundle: Any) -> DepositOutcome:
        """Keep the signed bundle of ``passport_id``; see the module documentation for what is refused."""
        agreement = self.agreement_for(viewer)
        policy = rules()
        passport_id = check_passport_id(passport_id)
        if not isinstance(bundle, Mapping):
            raise ValidationError("the deposit is not a JSON object", field="body", expected="a passport bundle")
        if bundle.get("passport_id") != passport_id:
            raise ValidationError(
                f"the bundle is of passport {bundle.get('passport_id')!r}, the address names {passport_id!r}",
                field="passport_id",
            )
        versions = bundle.get("versions")
        if isinstance(versions, list) and len(versions) > policy.max_versions:
            raise ValidationError(
                f"the bundle holds {len(versions)} versions",
                field="versions",
                expected=f"at most {policy.max_versions}",
            )
        if policy.refuse_local_ids and self.session.get(Passport, passport_id) is not None:
            raise ConflictError(
                f"passport {passport_id} was issued on this registry; a mirrored copy under its identifier is refused",
                field="passport_id",
            )
        report = verify_bundle(bundle, trusted_keys=agreement.public_keys)
        if not report.ok:
            raise IntegrityError(
                f"the bundle of {passport_id} does not verify with the keys of the agreement with "
                f"{agreement.origin!r}; nothing was stored",
                problems=[Problem(c.name, c.detail or "failed", None, "integrity") for c in report.failures],
            )
        hashes = _hashes(bundle)
        existing = self.session.get(MirroredPassport, passport_id, with_for_update=True)
        previous: int | None = None
        outcome: Literal["created", "extended", "unchanged"] = "created"
        if existing is not None:
            if existing.agreement_id != agreement.id:
                raise PermissionDeniedError(
                    f"passport {passport_id} is mirrored here under another escrow agreement", field="passport_id"
                )
            held = _hashes(existing.bundle)
            previous = existing.version
            if hashes == held:
                return DepositOutcome(passport_id, "unchanged", existing.version, existing.head_hash, previous)
            if policy.extend_only:
                self._check_extends(passport_id, held, hashes)
            outcome = "extended"
        last = bundle["versions"][-1]["content"]
        data = last.get("data") or {}
        gtin = data.get("gtin") if isinstance(data.get("gtin"), str) else None
        serial = data.get("serial_number") if isinstance(data.get("serial_number"), str) else None
        if gtin and serial:
            clash = self.session.scalar(
                select(Passport.id).where(Passport.gtin == gtin, Passport.serial_number == serial)
            ) or self.session.scalar(
                select(MirroredPassport.passport_id).where(
                    MirroredPassport.gtin == gtin,
                    MirroredPassport.serial_number == serial,
                    MirroredPassport.passport_id != passport_id,
                )
            )
            if clash:
                raise ConflictError(
                    f"GTIN {gtin} with serial {serial} is passport {clash} on this registry already",
                    field="data.serial_number",
                )
        stored = dict(bundle)
        if not policy.keep_predecessors:
            stored.pop("predecessors", None)
        signer = last.get("signer") or {}
        responsible = last.get("responsible") or {}
        now = utcnow()
        values = {
            "category": str(last.get("category", "")),
            "gtin": gtin,
            "serial_number": serial,
            "version": len(hashes),
            "head_hash": hashes[-1],
            "responsible": str(responsible.get("organisation", "")),
            "signer": str(signer.get("organisation", "")),
            "signer_key": str(signer.get("public_key", "")),
            "bundle": stored,
            "received_from": viewer.account or "",
            "updated_at": now,
        }
        if existing is None:
            self.session.add(
                MirroredPassport(passport_id=passport_id, agreement_id=agreement.id, received_at=now, **values)
            )
        else:
            for name, value in values.items():
                setattr(existing, name, value)
        try:
            self.session.flush()
        except SAIntegrityError:
            raise ConflictError(
                f"passport {passport_id} was deposited by another request at the same time; send it again",
                field="passport_id",
            ) from None
        return DepositOutcome(passport_id, outcome, len(hashes), hashes[-1], previous)

    @staticmethod
    def _check_extends(passport_id: str, held: list[str], hashes: list[str]) -> None:
        if len(hashes) < len(held):
            raise ConflictError(
                f"the bundle of {passport_id} holds {len(hashes)} version(s), the mirror holds {len(held)}: "
                "a deposit must extend the mirrored chain, not shorten it; nothing was stored",
                field="versions",
                expected=f"versions 1..{len(held)} as held, then new ones",
            )
        for number, (mine, theirs) in enumerate(zip(held, hashes, strict=False), start=1):
            if mine != theirs:
                raise ConflictError(
                    f"version {number} of {passport_id} differs from the mirrored one (held {mine[:16]}..., "
                    f"sent {theirs[:16]}...): the bundle does not extend the mirrored chain; nothing was stored",
                    field=f"versions[{number - 1}].hash",
                    expected=f"versions 1..{len(held)} as held, then new ones",
                )

    # -----------------------------------------------------------------------------------------------------------------
    # Serving

    def mirrored(self, passport_id: str) -> MirroredPassport | None:
        return self.session.get(MirroredPassport, passport_id)

    def resolve(self, gtin: str, serial: str) -> str | None:
        """The identifier of the mirrored passport of a GTIN and serial (GS1 Digital Link), if any."""
        return self.session.scalar(
            select(MirroredPassport.passport_id).where(
                MirroredPassport.gtin == gtin, MirroredPassport.serial_number == serial
            )
        )

    def view(
        self, viewer: Viewer, passport_id: str, *, route: str | None = None, action: str = "read"
    ) -> MirrorView | None:
        """What ``viewer`` may see of a mirrored passport; ``None`` when the mirror holds no such passport."""
        row = self.mirrored(passport_id)
        if row is None:
            return None
        agreement = self.session.get(EscrowAgreement, row.agreement_id)
        versions = row.bundle["versions"]
        last = versions[-1]["content"]
        groups = visible_groups(viewer, responsible=False, granted=False)
        state = str(last.get("state", "active"))
        full = last.get("data") or {}
        closed_for_public = closed_to(viewer, state=state, responsible=False)
        data = {} if closed_for_public else filter_data(full, groups)
        observations = {k: v for k, v in (last.get("observations") or {}).items() if k in data}
        PassportService(self.session, self.settings).log_access(
            viewer, passport_id, restricted_keys(data), action=action, route=route
        )
        first = versions[0]["content"]
        predecessors = [str(p.get("passport_id")) for p in first.get("predecessors") or [] if isinstance(p, Mapping)]
        successors: list[str] = []
        closed_at = None
        for entry in versions:
            content = entry["content"]
            successors += [
                str(s.get("passport_id"))
                for s in content.get("successors") or []
                if isinstance(s, Mapping) and str(s.get("passport_id")) not in successors
            ]
            if closed_at is None and content.get("state") == "closed":
                closed_at = _time(content.get("recorded_at"), row.updated_at)
        digital_link = None
        if row.gtin and row.serial_number:
            try:
                digital_link = gs1_digital_link(self.settings.public_base_url, row.gtin, row.serial_number)
            except ValidationError:
                digital_link = None
        view = PassportView(
            passport_id=passport_id,
            state=state,
            version=row.version,
            updated_at=_time(last.get("recorded_at"), row.updated_at),
            closed_at=closed_at,
            data=data,
            observations=observations,
            groups=groups,
            basis=citations_for(viewer, responsible=False, granted=False),
            predecessors=predecessors,
            successors=successors,
            digital_link=digital_link,
            responsible=False,
            withheld=len(full) - len(data),
        )
        return MirrorView(
            view=view,
            category=row.category,
            status=str(last.get("status", "original")),
            origin=agreement.origin if agreement else row.responsible,
            provider=agreement.provider if agreement else DEFAULT_PROVIDER,
            signer=row.signer,
            signer_fingerprint=signing.fingerprint(row.signer_key) if row.signer_key else "",
            received_at=row.received_at,
            updated_at=row.updated_at,
        )

    def bundle(self, viewer: Viewer, passport_id: str) -> dict[str, Any]:
        """The mirrored signed bundle, for offline verification. It holds every attribute, so only the supervising
        authorities and the depositing account may have it (as on the origin, Art. 77(2))."""
        row = self.mirrored(passport_id)
        if row is None:
            raise NotFoundError(f"no mirrored passport {passport_id!r}", field="passport_id")
        depositor = False
        if viewer.account_id is not None:
            agreement = self.session.get(EscrowAgreement, row.agreement_id)
            depositor = agreement is not None and agreement.account_id == viewer.account_id
        if not depositor and viewer.role not in SUPERVISORY_ROLES:
            raise PermissionDeniedError(
                "the signed bundle holds every attribute: only the depositing account and authorities may have it"
            )
        if not depositor:
            check_whole_bundle(row.bundle, visible_groups(viewer, responsible=False, granted=False))
        PassportService(self.session, self.settings).log_access(
            viewer,
            passport_id,
            restricted_keys(row.bundle["versions"][-1]["content"].get("data") or {}),
            action="export",
            route=None,
        )
        return dict(row.bundle)


def mirrored_view(
    session: Session, settings: Settings, viewer: Viewer, passport_id: str, *, route: str | None = None
) -> MirrorView | None:
    """The mirrored passport as ``viewer`` may see it, or ``None`` (for the read routes' fallback)."""
    return EscrowService(session, settings).view(viewer, passport_id, route=route)
