"""The origin's side of escrow: send the mirror the signed bundles of passports whose newest version it lacks.

:func:`push` asks the mirror what it holds (``GET /api/v1/escrow/passports``: identifier and newest hash per
passport), and sends (``PUT /api/v1/escrow/passports/{id}``) the bundle of every selected passport whose newest hash
differs. Run periodically, it sends only what changed since the last run. Each passport is accepted (created or
extended), found unchanged, or refused with the mirror's reason; a refusal does not stop the others. An unreachable
mirror, or a token the mirror does not accept, stops the run with an error that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from batteryloop.errors import (
    AuthenticationError,
    BatteryloopError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from batteryloop.passport.bundle import export_bundle
from batteryloop.passport.models import Passport

ESCROW_PATH = "/api/v1/escrow/passports"


@dataclass(frozen=True)
class Refusal:
    passport_id: str
    status: int
    reason: str
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.passport_id}: refused ({self.status}) {self.reason}"]
        lines += [f"    {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass
class PushSummary:
    mirror: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mirror": self.mirror,
            "sent": self.sent,
            "unchanged": len(self.unchanged),
            "refused": [
                {"passport_id": r.passport_id, "status": r.status, "reason": r.reason, "problems": r.problems}
                for r in self.refused
            ],
        }


def _unreachable(url: str, exc: Exception, done: PushSummary | None = None) -> BatteryloopError:
    progress = ""
    if done is not None and (done.sent or done.unchanged):
        progress = f" (after {len(done.sent)} sent and {len(done.unchanged)} unchanged)"
    return BatteryloopError(
        f"the mirror at {url} is unreachable{progress}: {type(exc).__name__}: {exc}",
        field="--to",
        expected="the address of a running batteryloop registry that keeps this operator's escrow",
        code="mirror_unreachable",
    )


def _error_text(response: httpx.Response) -> tuple[str, list[str]]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase, []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:300], []
    problems = []
    for p in error.get("problems") or []:
        if isinstance(p, dict):
            problems.append(f"{p.get('field')}: {p.get('message')}")
    return str(error.get("message", "")), problems


def _check_access(response: httpx.Response, url: str) -> None:
    if response.status_code == 401:
        reason, _ = _error_text(response)
        raise AuthenticationError(f"the mirror at {url} does not accept the token: {reason}", field="--token")
    if response.status_code == 403:
        reason, _ = _error_text(response)
        raise PermissionDeniedError(f"the mirror at {url} refuses this account: {reason}", field="--token")


def holdings(client: httpx.Client) -> dict[str, str]:
    """Identifier -> newest hash of every passport the mirror holds for the caller's agreement."""
    url = str(client.base_url)
    try:
        response = client.get(ESCROW_PATH)
    except httpx.TransportError as exc:
        raise _unreachable(url, exc) from None
    _check_access(response, url)
    if response.status_code != 200:
        reason, _ = _error_text(response)
        raise BatteryloopError(
            f"the mirror at {url} answered {response.status_code} to {ESCROW_PATH}: {reason}",
            field="--to",
            expected="a batteryloop registry with escrow (GET /api/v1/escrow/passports)",
            code="mirror_error",
        )
    try:
        return {str(item["passport_id"]): str(item["head_hash"]) for item in response.json()}
    except (ValueError, KeyError, TypeError):
        raise BatteryloopError(
            f"the mirror at {url} answered {ESCROW_PATH} with something that is not a list of holdings",
            field="--to",
            code="mirror_error",
        ) from None


def select_passports(
    session: Session, *, ids: Sequence[str] = (), everything: bool = False, since: datetime | None = None
) -> list[tuple[str, str]]:
    """Identifier and newest hash of the passports to consider: the given ones, all, or those changed since."""
    chosen = sum((bool(ids), everything, since is not None))
    if chosen != 1:
        raise ValidationError(
            "say which passports to push", field="IDS", expected="passport identifiers, or --all, or --since TIME"
        )
    query = select(Passport.id, Passport.head_hash).order_by(Passport.id)
    if ids:
        rows = session.execute(query.where(Passport.id.in_(list(ids)))).all()
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise NotFoundError(f"no passport {', '.join(missing[:10])} on this registry", field="IDS")
    elif since is not None:
        if since.tzinfo is None:
            raise ValidationError("--since needs a time with its offset", field="--since", expected="2026-11-28T10:00Z")
        rows = session.execute(query.where(Passport.updated_at >= since)).all()
    else:
        rows = session.execute(query).all()
    return [(r.id, r.head_hash) for r in rows]


def push(
    session: Session,
    client: httpx.Client,
    *,
    ids: Sequence[str] = (),
    everything: bool = False,
    since: datetime | None = None,
) -> PushSummary:
    """Send the mirror behind ``client`` (its base URL and bearer token set) what it lacks of the selection."""
    url = str(client.base_url)
    selected = select_passports(session, ids=ids, everything=everything, since=since)
    held = holdings(client)
    summary = PushSummary(mirror=url)
    for passport_id, head_hash in selected:
        if held.get(passport_id) == head_hash:
            summary.unchanged.append(passport_id)
            continue
        bundle = export_bundle(session, passport_id)
        try:
            response = client.put(f"{ESCROW_PATH}/{quote(passport_id, safe=':~')}", json=bundle)
        except httpx.TransportError as exc:
            raise _unreachable(url, exc, summary) from None
        _check_access(response, url)
        if response.status_code in (200, 201):
            answer = response.json()
            if answer.get("outcome") == "unchanged":
                summary.unchanged.append(passport_id)
            else:
                summary.sent.append(
                    {"passport_id": passport_id, "outcome": answer.get("outcome"), "version": answer.get("version")}
                )
            continue
        reason, problems = _error_text(response)
        summary.refused.append(Refusal(passport_id, response.status_code, reason, problems))
    return summary
