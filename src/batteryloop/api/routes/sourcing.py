"""Sourcing: OECD step-2 screening of a supply graph (Art. 48-52), the carbon footprint (Art. 7), the Art. 52(3)
due-diligence report (HTML or PDF) and its publication into the passports of the model.

The checks and the report answer any authenticated account and store nothing; publishing writes the passports of the
caller's organisation only. A bad input is a 422 naming every field at fault.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

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


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[dict[str, Any]] = Field(
        max_length=1000,
        description="The supply-chain document's models, as for /screen (the report's model among them).",
    )
    policy: dict[str, Any] = Field(
        description="The operator's part: operator, management_system, measures, verification (docs/due-diligence.md)."
    )
    as_of: date | None = Field(default=None, description="Screening date (default today).")

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("expected a date YYYY-MM-DD")
        return value


class PublishRequest(ReportRequest):
    report_urls: list[str] = Field(
        min_length=1,
        max_length=10,
        description="Where the operator publishes the report's files (e.g. its HTML and its PDF); the passports "
        "link to them.",
    )


def _build(body: ReportRequest, model_id: str) -> tuple[str, dict[str, Any], Any]:
    from batteryloop.errors import ValidationError
    from batteryloop.sourcing import dd_report
    from batteryloop.sourcing import due_diligence as dd

    chain = dd.parse_graph({"models": body.models})
    try:
        policy = dd_report.parse_policy(body.policy)
    except ValidationError as exc:
        exc.problems = [dataclasses.replace(p, field=f"policy.{p.field}") for p in exc.problems]
        raise
    when = body.as_of or datetime.now(UTC).date()
    page, screening = dd_report.build_parsed(chain, policy, model_id, as_of=when)
    return page, screening, policy


ModelId = Annotated[str, FastApiPath(min_length=1, max_length=200, description="The battery model identifier.")]


@router.post(
    "/report/{model_id}",
    responses=ERRORS | {200: {"content": {"text/html": {}, "application/pdf": {}}}},
    response_class=Response,
)
async def report(
    model_id: ModelId, body: ReportRequest, ctx: ContextDep, format: Literal["html", "pdf"] = "html"
) -> Any:
    """The Art. 52(3) due-diligence report of one battery model (management system, risks identified, measures,
    third-party verification) as HTML or PDF; any authenticated account, nothing stored."""
    from batteryloop.sourcing import dd_report

    def work(_service: PassportService, viewer: Viewer) -> tuple[str, dict[str, Any], Any]:
        require_account(viewer)
        return _build(body, model_id)

    page, _screening, _policy = await ctx.run(work)
    name = dd_report.file_name(model_id, format)
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    if format == "pdf":
        pdf = await run_in_threadpool(dd_report.to_pdf, page)
        return Response(pdf, media_type="application/pdf", headers=headers)
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


@router.post("/report/{model_id}/publish", responses=ERRORS)
async def publish_report(model_id: ModelId, body: PublishRequest, ctx: ContextDep) -> Any:
    """Fill the due-diligence section (Annex XIII 1(d): due_diligence_report, third_party_assurance) of every active
    passport of the model that the caller's organisation is responsible for, from the report built from this body;
    a new signed version per passport, none where it carries the values already. Another operator is refused (403)."""
    from batteryloop.sourcing.dd_publish import passport_values, publish

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        _page, screening, policy = _build(body, model_id)
        values, unset = passport_values(model_id, screening, policy, body.report_urls)
        return publish(service, viewer, model_id, values, unset=unset).as_dict()

    return await ctx.run(work)
