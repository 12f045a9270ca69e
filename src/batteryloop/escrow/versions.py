"""The versions, dynamic-value histories and QR code of a mirrored passport, read from its signed bundle.

A registry answers ``/versions``, ``/versions/{n}``, ``/history/{key}`` and ``/qr.{svg,png}`` for its own passports
from its tables (:meth:`~batteryloop.passport.service.PassportService.versions`, ``version_view``, ``history`` and
the QR route). For a passport it keeps as backup service provider (Art. 78) the same answers come from the bundle the
origin signed: each version's ``content``, ``hash`` and signature. They are filtered with the same functions as the
registry's own (:func:`~batteryloop.passport.access.visible_groups`, :func:`~batteryloop.passport.access.filter_data`)
for a caller who is neither the responsible operator nor a grantee (as :meth:`EscrowService.view` does: nobody on the
mirror is responsible, and the origin's grants do not travel). Reads of restricted attributes are written to this
registry's access log.

Every function answers ``None`` when the mirror holds no such passport, so that a route can fall back on it after
its own tables answered "not found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from batteryloop.config import Settings
from batteryloop.errors import IntegrityError, NotFoundError, PermissionDeniedError, ValidationError
from batteryloop.escrow.models import EscrowAgreement, MirroredPassport
from batteryloop.escrow.service import DEFAULT_PROVIDER, EscrowService
from batteryloop.passport import signing
from batteryloop.passport.access import Viewer, closed_to, filter_data, restricted_keys, visible_groups
from batteryloop.passport.attributes import AccessGroup, attributes
from batteryloop.passport.qr import resolver_url
from batteryloop.passport.service import PassportService


def bundle_address(passport_id: str) -> str:
    """Where the mirrored signed bundle of ``passport_id`` is served."""
    return f"/api/v1/escrow/passports/{passport_id}/bundle"


def _utc(value: Any, field: str) -> datetime:
    """An ISO 8601 time of a signed version, in UTC (as the registry's own tables return it)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise IntegrityError(f"the mirrored bundle records {value!r} as a time", field=field)
    return parsed.astimezone(UTC)


def _content(entry: Any) -> Mapping[str, Any]:
    content = entry.get("content") if isinstance(entry, Mapping) else None
    return content if isinstance(content, Mapping) else {}


def _kind(content: Mapping[str, Any]) -> str:
    change = content.get("change")
    return str(change.get("kind", "update")) if isinstance(change, Mapping) else "update"


def _signer(content: Mapping[str, Any]) -> str:
    signer = content.get("signer")
    return str(signer.get("organisation", "")) if isinstance(signer, Mapping) else ""


def recorded_dynamic_keys(content: Mapping[str, Any]) -> list[str]:
    """The dynamic attributes of which a signed version records a measured value: the rows the registry writes to
    its ``dynamic_values`` table when it signs that version (:meth:`PassportService._append_version`).

    The issuing version records the dynamic values declared with the battery (each has its observation); a
    ``dynamic`` change records the attributes it names as changed; declaring the battery waste records its status.
    Static corrections, closing and superseding record no measured value."""
    data = content.get("data")
    if not isinstance(data, Mapping):
        return []
    change = content.get("change")
    change = change if isinstance(change, Mapping) else {}
    keys: list[str]
    if content.get("version") == 1:
        observations = content.get("observations")
        keys = [str(k) for k in observations if k != "battery_status"] if isinstance(observations, Mapping) else []
    elif change.get("kind") == "dynamic":
        changed = change.get("changed")
        keys = [str(k) for k in changed] if isinstance(changed, list) else []
    elif change.get("kind") == "status" and change.get("status") == "waste":
        keys = ["battery_status"]
    else:
        keys = []
    return [k for k in keys if k in data]


def history_points(versions: Sequence[Any], key: str) -> list[dict[str, Any]]:
    """Every value of dynamic attribute ``key`` the signed versions record, in time order of measurement (then of
    version), with its measurement time, method and uncertainty: the answer of the registry's history route."""
    points: list[tuple[datetime, int, dict[str, Any]]] = []
    for entry in versions:
        content = _content(entry)
        if key not in recorded_dynamic_keys(content):
            continue
        observations = content.get("observations")
        obs = observations.get(key) if isinstance(observations, Mapping) else None
        obs = obs if isinstance(obs, Mapping) else {}
        number = int(content.get("version", 0))
        measured = _utc(
            obs.get("measured_at") or content.get("recorded_at"), f"versions[{number - 1}].observations.{key}"
        )
        points.append(
            (
                measured,
                number,
                {
                    "version": number,
                    "value": content["data"][key],
                    "measured_at": measured.isoformat(),
                    "method": obs.get("method"),
                    "uncertainty": obs.get("uncertainty"),
                },
            )
        )
    points.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in points]


class MirroredVersions:
    """The per-version reads of the mirrored passports; one instance per unit of work, never commits."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.escrow = EscrowService(session, settings)

    def _groups(self, viewer: Viewer) -> frozenset[AccessGroup]:
        return visible_groups(viewer, responsible=False, granted=False)

    def _log(self, viewer: Viewer, passport_id: str, keys: Sequence[str], action: str, route: str | None) -> None:
        PassportService(self.session, self.settings).log_access(viewer, passport_id, keys, action=action, route=route)

    def versions(self, passport_id: str) -> list[dict[str, Any]] | None:
        """Every signed version: number, kind, time, hash, previous hash, signer, key fingerprint, signature."""
        row = self.escrow.mirrored(passport_id)
        if row is None:
            return None
        out = []
        for index, entry in enumerate(row.bundle["versions"]):
            content = _content(entry)
            out.append(
                {
                    "version": int(content["version"]),
                    "kind": _kind(content),
                    "recorded_at": _utc(content.get("recorded_at"), f"versions[{index}].recorded_at").isoformat(),
                    "hash": str(entry["hash"]),
                    "previous_hash": str(content["previous_hash"]),
                    "signed_by": _signer(content),
                    "key_fingerprint": signing.fingerprint(str(entry["public_key"])),
                    "signature": str(entry["signature"]),
                }
            )
        return out

    def version(
        self, viewer: Viewer, passport_id: str, number: int, *, route: str | None = None
    ) -> dict[str, Any] | None:
        """One version's data as ``viewer`` may see it, with who signed it and where the copy comes from."""
        row = self.escrow.mirrored(passport_id)
        if row is None:
            return None
        versions = row.bundle["versions"]
        if not 1 <= number <= len(versions):
            raise NotFoundError(f"passport {passport_id!r} has no version {number}", field="version")
        entry = versions[number - 1]
        content = _content(entry)
        state = str(_content(versions[-1]).get("state", "active"))
        closed = closed_to(viewer, state=state, responsible=False)
        data = {} if closed else filter_data(content.get("data") or {}, self._groups(viewer))
        self._log(viewer, passport_id, restricted_keys(data), "version", route)
        return {
            "version": int(content["version"]),
            "kind": _kind(content),
            "recorded_at": _utc(content.get("recorded_at"), f"versions[{number - 1}].recorded_at").isoformat(),
            "hash": str(entry["hash"]),
            "previous_hash": str(content["previous_hash"]),
            "data": data,
            "mirror": self._mirror_info(row, entry),
        }

    def history(
        self, viewer: Viewer, passport_id: str, key: str, *, route: str | None = None
    ) -> list[dict[str, Any]] | None:
        """Every recorded value of dynamic attribute ``key``, under the rules of the registry's own history route."""
        row = self.escrow.mirrored(passport_id)
        if row is None:
            return None
        attr = attributes().get(key)
        if attr is None or not attr.is_dynamic:
            raise ValidationError(f"{key!r} is not a dynamic attribute", field="key", expected="a dynamic attribute")
        if attr.access_group not in self._groups(viewer):
            raise PermissionDeniedError(
                f"your role ({viewer.role.value}) may not read {key} of this battery", field="key"
            )
        points = history_points(row.bundle["versions"], key)
        self._log(viewer, passport_id, [key] if points else [], "history", route)
        return points

    def qr_url(self, viewer: Viewer, passport_id: str, *, route: str | None = None) -> str | None:
        """The address the QR code carries: the GS1 Digital Link under this registry's ``public_base_url`` (the
        origin's, when its domain was re-pointed to the mirror), built as the registry builds it for its own."""
        mirror = self.escrow.view(viewer, passport_id, route=route, action="qr")
        if mirror is None:
            return None
        data = mirror.view.data
        return resolver_url(self.settings.public_base_url, passport_id, data.get("gtin"), data.get("serial_number"))

    def _mirror_info(self, row: MirroredPassport, entry: Mapping[str, Any]) -> dict[str, Any]:
        agreement = self.session.get(EscrowAgreement, row.agreement_id)
        content = _content(entry)
        return {
            "served_by": agreement.provider if agreement else DEFAULT_PROVIDER,
            "origin": agreement.origin if agreement else row.responsible,
            "version": int(content["version"]),
            "newest_version": row.version,
            "signed_by": _signer(content),
            "signer_key_fingerprint": signing.fingerprint(str(entry["public_key"])),
            "first_deposited_at": row.received_at.isoformat(),
            "deposited_at": row.updated_at.isoformat(),
            "bundle": bundle_address(row.passport_id),
        }
