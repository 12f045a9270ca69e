"""Stateless sourcing checks: OECD step-2 screening of a supply graph (Art. 48-52) and the carbon footprint (Art. 7).

Both answer any authenticated account and store nothing; a bad input is a 422 naming every field at fault.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, field_validator

from batteryloop.api.deps import ContextDep
from batteryloop.errors import AuthenticationError
from batteryloop.passport import schemas
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService

router = APIRouter(prefix="/api/v1/sourcing", tags=["sourcing"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": schemas.ErrorResponse} for code in (400, 401, 403, 404, 422)}


def require_account(viewer: Viewer) -> None:
    """The checks are for accounts: the public is asked to authenticate."""
    if viewer.role is Role.ANONYMOUS:
        raise AuthenticationError(
            "this check needs an account: send 'Authorization: Bearer <token>'", field="authorization"
        )


class ScreenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[dict[str, Any]] = Field(
        max_length=1000,
        description='Per battery model its raw-material supply graphs: [{"model": ..., "materials": {"cobalt": '
        '{"nodes": [...], "edges": [...]}}}], as for `batteryloop sourcing screen`.',
    )
    as_of: date | None = Field(default=None, description="Screening date (default today).")
    audit_max_age_months: int | None = Field(
        default=None,
        ge=1,
        le=1200,
        strict=True,
        description="Audits older than this are stale (default from dd_rules.csv).",
    )
    turnover_eur: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        strict=True,
        description="The operator's net turnover [EUR], for the scope check.",
    )
    turnover_threshold_eur: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        strict=True,
        description="Scope turnover threshold [EUR] (default dd_rules.csv).",
    )

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        """A date is written YYYY-MM-DD (not a number of seconds, which the schema does not offer)."""
        if value is not None and not isinstance(value, str):
            raise ValueError("expected a date YYYY-MM-DD")
        return value


def screen_document(body: ScreenRequest) -> dict[str, Any]:
    """The screening result for a request (the shipped CAHRA list)."""
    from batteryloop.sourcing import due_diligence as dd

    when = body.as_of or datetime.now(UTC).date()
    entries = dd.load_cahra()
    chain = dd.parse_graph({"models": body.models})
    findings = dd.screen(chain, as_of=when, cahra=entries, audit_max_age_months=body.audit_max_age_months)
    scope = dd.in_scope(body.turnover_eur, when, body.turnover_threshold_eur)
    return dd.report(chain, findings, as_of=when, cahra=entries, scope=scope)


@router.post("/screen", responses=ERRORS)
async def screen(body: ScreenRequest, ctx: ContextDep) -> Any:
    """Screen every node of every supply graph against the CAHRA list, the Annex X risk categories and audits, and
    list missing links; findings most severe first, each with its rule and citation."""

    def work(_service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        return screen_document(body)

    return await ctx.run(work)


CarbonBody = Annotated[
    dict[str, Any],
    Body(
        description="stages_kgCO2e, energy_kWh, vehicle_type (or cycles_per_year and service_life_years), optional "
        "performance_classes and study, as for `batteryloop sourcing carbon`."
    ),
]


@router.post("/carbon", responses=ERRORS)
async def carbon(body: CarbonBody, ctx: ContextDep) -> Any:
    """Carbon footprint in kgCO2e per kWh of energy delivered over the service life, per life-cycle stage, with a
    performance class where a class table is given. Nothing is written into a passport."""
    from batteryloop.sourcing.carbon_footprint import carbon_footprint

    def work(_service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        return carbon_footprint(body).as_dict()

    return await ctx.run(work)
