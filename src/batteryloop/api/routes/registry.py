"""The registry's reference data and the caller's own facts: attributes, access rules, keys, the access log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from batteryloop.api.deps import ContextDep
from batteryloop.errors import ValidationError
from batteryloop.passport import schemas
from batteryloop.passport.access import rules
from batteryloop.passport.attributes import attributes

router = APIRouter(prefix="/api/v1", tags=["registry"])


class AttributePublic(BaseModel):
    key: str
    label_en: str
    label_nl: str
    annex_xiii: str
    annex_vii: str
    access_group: str
    dynamics: str
    level: str
    type: str
    unit: str
    categories: list[str]
    obligation: str
    writable: str
    citation: str
    paths: dict[str, str]
    description: str


class AccessRulePublic(BaseModel):
    role: str
    access_groups: list[str]
    condition: str
    citation: str
    note: str


class Me(BaseModel):
    role: str
    account: str | None
    organisation_id: int | None


class OrganisationKey(BaseModel):
    organisation: str
    identifier: str | None
    kind: str
    public_key: str
    algorithm: str
    fingerprint: str


@router.get("/attributes", response_model=list[AttributePublic])
def list_attributes() -> Any:
    """The passport data model: every attribute with its Annex XIII point, access group, unit and mappings."""
    return [
        {
            "key": a.key,
            "label_en": a.label_en,
            "label_nl": a.label_nl,
            "annex_xiii": a.annex_xiii,
            "annex_vii": a.annex_vii,
            "access_group": a.access_group.value,
            "dynamics": a.dynamics,
            "level": a.level,
            "type": a.type,
            "unit": a.unit,
            "categories": sorted(a.categories),
            "obligation": a.obligation,
            "writable": a.writable,
            "citation": a.citation,
            "paths": dict(a.paths),
            "description": a.description,
        }
        for a in attributes().values()
    ]


@router.get("/access-rules", response_model=list[AccessRulePublic])
def list_access_rules() -> Any:
    """Who reads which access group, under which condition, and the article that says so."""
    return [
        {
            "role": r.role,
            "access_groups": sorted(g.value for g in r.groups),
            "condition": r.condition,
            "citation": r.citation,
            "note": r.note,
        }
        for r in rules()
    ]


@router.get("/me", response_model=Me, responses={401: {"model": schemas.ErrorResponse}})
async def me(ctx: ContextDep) -> Any:
    """The caller as the registry knows it."""
    viewer = await ctx.run(lambda _service, viewer: viewer)
    return {"role": viewer.role.value, "account": viewer.account, "organisation_id": viewer.organisation_id}


@router.get(
    "/organisations/{name}/key", response_model=OrganisationKey, responses={404: {"model": schemas.ErrorResponse}}
)
async def organisation_key(name: Annotated[str, Path(min_length=1, max_length=200)], ctx: ContextDep) -> Any:
    """The Ed25519 public key an organisation signs passport versions with (to verify exports offline)."""
    return await ctx.run(lambda service, _viewer: service.public_key(name))


@router.get(
    "/access-log",
    response_model=list[schemas.AccessLogItem],
    responses={code: {"model": schemas.ErrorResponse} for code in (400, 401, 403, 404, 422)},
)
async def access_log(
    ctx: ContextDep,
    passport_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=40,
            description="ISO 8601 date-time; entries at or after it",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """Reads of non-public data. The responsible operator sees its passports' entries; market surveillance
    authorities and the Commission see all."""
    since_at = None
    if since is not None:
        try:
            since_at = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{since!r} is not a date-time", field="since", expected="ISO 8601, e.g. 2026-01-31T00:00:00Z"
            ) from None
        if since_at.tzinfo is None:
            since_at = since_at.replace(tzinfo=UTC)
    return await ctx.run(
        lambda service, viewer: service.access_log(
            viewer, passport_id=passport_id, since=since_at, limit=limit, offset=offset
        )
    )
