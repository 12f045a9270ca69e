"""``/api/v1/escrow``: this registry as backup service provider of another registry's passports (Art. 78).

The origin deposits signed bundles (``PUT /passports/{id}``) with the token of the account its escrow agreement
names, and asks what is held (``GET /passports``). The mirrored passports are served to everyone on the same paths
as the registry's own: ``GET /api/v1/passports/{id}`` (with ``/versions``, ``/versions/{n}``, ``/history/{key}`` and
``/qr.{svg,png}``), ``/p/{id}`` and the GS1 Digital Link ``/01/{gtin}/21/{serial}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from batteryloop.api.deps import ContextDep
from batteryloop.api.routes.passports import ERRORS, PassportIdPath
from batteryloop.escrow.rules import rules
from batteryloop.escrow.service import EscrowService
from batteryloop.passport.access import Viewer
from batteryloop.passport.service import PassportService

router = APIRouter(prefix="/api/v1/escrow", tags=["escrow"])


class DepositPublic(BaseModel):
    passport_id: str
    outcome: str
    version: int
    head_hash: str
    previous_version: int | None


class Holding(BaseModel):
    passport_id: str
    version: int
    head_hash: str


class EscrowRulePublic(BaseModel):
    key: str
    value: str
    citation: str
    note: str


@router.put("/passports/{passport_id}", response_model=DepositPublic, responses={200: {}, 201: {}, **ERRORS})
async def deposit(
    passport_id: PassportIdPath,
    bundle: Annotated[dict[str, Any], Body(description="The passport's signed bundle (batteryloop export format)")],
    ctx: ContextDep,
) -> JSONResponse:
    """Keep a passport's signed bundle (201 the first time, 200 when it extends or equals what is held). Refused
    unless the caller is the account an escrow agreement names, the bundle verifies with that agreement's keys and
    it extends the chain held; every reason is named and nothing of a refused deposit is stored."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        return EscrowService(service.session, service.settings).deposit(viewer, passport_id, bundle).as_dict()

    result = await ctx.run(work)
    return JSONResponse(result, status_code=201 if result["outcome"] == "created" else 200)


@router.get("/passports", response_model=list[Holding], responses=ERRORS)
async def list_holdings(ctx: ContextDep) -> Any:
    """What this registry holds under the caller's escrow agreement: identifier, newest version and its hash."""
    return await ctx.run(lambda service, viewer: EscrowService(service.session, service.settings).holdings(viewer))


@router.get("/passports/{passport_id}/bundle", responses=ERRORS)
async def mirrored_bundle(passport_id: PassportIdPath, ctx: ContextDep) -> Any:
    """The mirrored signed bundle, verifiable offline (``batteryloop passport verify``); for the depositing account
    and the supervising authorities, as it holds every attribute."""
    return await ctx.run(
        lambda service, viewer: EscrowService(service.session, service.settings).bundle(viewer, passport_id)
    )


@router.get("/rules", response_model=list[EscrowRulePublic])
def list_rules() -> Any:
    """The mirror's rules with their citations (``escrow/escrow_rules.csv``)."""
    return [{"key": r.key, "value": r.value, "citation": r.citation, "note": r.note} for r in rules().rows]
