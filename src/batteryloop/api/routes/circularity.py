"""The producer-responsibility register: memberships, yearly reports, collection rates, aggregates, compliance."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from batteryloop.api.deps import ContextDep
from batteryloop.circularity import recycled_content as rc
from batteryloop.circularity.collection import Method
from batteryloop.circularity.epr import EprService, national_report
from batteryloop.circularity.quality import quality_check
from batteryloop.passport import schemas
from batteryloop.passport.access import Viewer
from batteryloop.passport.service import PassportService

router = APIRouter(prefix="/api/v1/circularity", tags=["circularity"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse} for code in (400, 401, 403, 404, 409, 422)
}


class MembershipCreate(BaseModel):
    producer: str = Field(min_length=1, max_length=200, description="Name or identifier of the producer.")
    pro: str = Field(min_length=1, max_length=200, description="Name or identifier of the PRO.")
    category: str = Field(min_length=1, max_length=20)
    since_year: int = Field(ge=1990, le=2100)


class MembershipPublic(BaseModel):
    id: int
    producer_id: int
    pro_id: int
    category: str
    since_year: int


class ReportCreate(BaseModel):
    kind: Literal["market", "process", "collection"] = Field(
        description="market (a producer's or PRO's placed on the market and collected), process (a recycler's) or "
        "collection (a waste operator's collected batteries outside the PROs)."
    )
    organisation: str = Field(min_length=1, max_length=200, description="Name or identifier of the reporter.")
    year: int = Field(ge=1990, le=2100)
    data: dict[str, Any] = Field(
        description="market: {lines: [...]}; collection: {lines: [...]}; process: {inputs: [...], outputs: [...]}"
    )
    correction: bool = Field(default=False, description="Replace this year's report as a new version.")
    reason: str | None = Field(default=None, max_length=500)


class ReportPublic(BaseModel):
    id: int
    kind: str
    organisation: str | None
    organisation_id: int
    year: int
    version: int
    current: bool
    submitted_by: str | None
    submitted_at: str
    replaced_at: str | None
    reason: str | None
    data: dict[str, Any]
    figures: dict[str, Any] | None = None


class AggregatePublic(BaseModel):
    year: int
    category: str
    chemistry: str
    placed_on_market_t: float
    collected_t: float
    collected_by_producers_t: float
    collected_by_other_operators_t: float
    reports: int


def _epr(service: PassportService) -> EprService:
    return EprService(service.session)


@router.post("/memberships", status_code=201, response_model=MembershipPublic, responses=ERRORS)
async def add_membership(body: MembershipCreate, ctx: ContextDep) -> Any:
    """Register a producer as a member of a PRO for one category (the PRO's accounts or an authority)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        m = _epr(service).add_member(viewer, body.producer, body.pro, body.category, body.since_year)
        return {
            "id": m.id,
            "producer_id": m.producer_id,
            "pro_id": m.pro_id,
            "category": m.category,
            "since_year": m.since_year,
        }

    return await ctx.run(work)


@router.post("/reports", status_code=201, response_model=ReportPublic, responses=ERRORS)
async def submit_report(body: ReportCreate, ctx: ContextDep) -> Any:
    """Submit a yearly report: ``market`` (placed on the market and collected) or ``process`` (a recycler's)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        epr = _epr(service)
        report = epr.submit(
            viewer, body.kind, body.organisation, body.year, body.data, correction=body.correction, reason=body.reason
        )
        return epr.report_dict(report)

    return await ctx.run(work)


@router.get("/reports", response_model=list[ReportPublic], responses=ERRORS)
async def list_reports(
    ctx: ContextDep,
    kind: Literal["market", "process", "collection"] | None = None,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    organisation: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    history: bool = False,
) -> Any:
    """The reports the caller may read: authorities all, a PRO its members' and its own, others their own."""

    def work(service: PassportService, viewer: Viewer) -> list[dict[str, Any]]:
        epr = _epr(service)
        found = epr.reports(viewer, kind=kind, year=year, organisation=organisation, history=history)
        return [epr.report_dict(r) for r in found]

    return await ctx.run(work)


@router.get("/reports/{report_id}", response_model=ReportPublic, responses=ERRORS)
async def get_report(report_id: Annotated[int, Path(ge=1, le=2**31 - 1)], ctx: ContextDep) -> Any:
    """One report version, with recycling efficiency and material recovery for a process report."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        epr = _epr(service)
        return epr.report_dict(epr.report(viewer, report_id))

    return await ctx.run(work)


@router.get("/aggregates", response_model=list[AggregatePublic], responses=ERRORS)
async def aggregates(ctx: ContextDep, year: Annotated[int | None, Query(ge=1990, le=2100)] = None) -> Any:
    """National totals per year, category and chemistry over all current market reports (public)."""
    return await ctx.run(lambda service, _viewer: _epr(service).aggregates(year))


@router.get("/collection-rate", responses=ERRORS)
async def collection_rate(
    ctx: ContextDep,
    category: Annotated[str, Query(min_length=1, max_length=20)],
    year: Annotated[int, Query(ge=1990, le=2100)],
    method: Method = Method.REGULATION,
    organisation: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> Any:
    """Collected in year X over the average placed on the market in X, X-1, X-2: of one organisation (with its
    members; who may read its reports) or of all reports together (public)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        return _epr(service).collection_rate(viewer, category, year, method, organisation).as_dict()

    return await ctx.run(work)


@router.get("/compliance", responses=ERRORS)
async def compliance(
    ctx: ContextDep,
    organisation: Annotated[str, Query(min_length=1, max_length=200)],
    year: Annotated[int, Query(ge=1990, le=2100)],
) -> Any:
    """Each applicable target for the organisation's figures of the year: met, margin [pp], missing [t]."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        return _epr(service).compliance(viewer, organisation, year).as_dict()

    return await ctx.run(work)


class RecycledContentRequest(BaseModel):
    model: str = Field(min_length=1, max_length=200, description="battery_model_identifier of the passports.")
    inputs: dict[str, Any] = Field(
        description='{"category": "EV", "elements": {"Co": {"total_kg": ..., "pre_consumer_kg": ..., '
        '"post_consumer_kg": ...}, ...}}'
    )
    on_date: date | None = Field(
        default=None, description="Check the minimums applicable on this date (default today)."
    )
    apply: bool = Field(default=True, description="Write recycled_content into the passports (false: a dry run).")


@router.post("/recycled-content", responses=ERRORS)
async def recycled_content(body: RecycledContentRequest, ctx: ContextDep) -> Any:
    """Recycled share of Co, Li, Ni, Pb of a battery model (Art. 8), checked against the minimums, and written into
    every passport of the model (a new version where it changes); the model's responsible operator only."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        passports = rc.model_passports(service.session, viewer, body.model)
        category = body.inputs.get("category") or passports[0].category
        on = body.on_date or date.today()
        result = rc.recycled_content(body.inputs, on, category)
        rows = rc.apply(service, viewer, body.model, result, dry_run=not body.apply)
        return {**result.as_dict(), "model": body.model, "passports": rows}

    return await ctx.run(work)


@router.get("/national-report", responses=ERRORS)
async def national_report_route(ctx: ContextDep, year: Annotated[int, Query(ge=1990, le=2100)]) -> Any:
    """The year's figures a Member State reports: placed on the market and collected per category and chemistry,
    collection rates with their method, recycling efficiency and material recovery (authorities only)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        return national_report(_epr(service), viewer, year).as_dict()

    return await ctx.run(work)


@router.get("/national-report/quality", responses=ERRORS)
async def quality_check_route(ctx: ContextDep, year: Annotated[int, Query(ge=1990, le=2100)]) -> Any:
    """The quality check report that accompanies the national report (Art. 76(3)): per figure its sources,
    completeness, plausibility checks, timeliness and method (authorities only)."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        return quality_check(_epr(service), viewer, year).as_dict()

    return await ctx.run(work)
