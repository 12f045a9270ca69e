"""The incident register: fires and thermal events, their corrections, and the counts for the authority's monitor."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from batteryloop.api.deps import ContextDep
from batteryloop.passport import schemas
from batteryloop.passport.access import Viewer
from batteryloop.passport.service import PassportService
from batteryloop.safety.incidents import IncidentService

router = APIRouter(prefix="/api/v1/safety", tags=["safety"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse} for code in (400, 401, 403, 404, 409, 422)
}
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]


class IncidentCreate(BaseModel):
    occurred_on: date = Field(description="Date of the incident (not in the future).")
    location_type: str = Field(
        min_length=1, max_length=40, description="home, storage, transport, waste_facility, charging, vehicle, other"
    )
    category: str = Field(min_length=1, max_length=20, description="portable, LMT, SLI, EV, industrial")
    chemistry: str = Field(min_length=1, max_length=100)
    cause: str = Field(min_length=1, max_length=40, description="A cause of incident_terms.csv, or unknown.")
    consequence: str = Field(
        min_length=1, max_length=40, description="no_damage, material_damage, injury, fatality, evacuation"
    )
    description: str | None = Field(default=None, max_length=4000)
    passport_id: str | None = Field(default=None, max_length=128, description="The battery's passport, if known.")


class IncidentCorrection(BaseModel):
    occurred_on: date | None = None
    location_type: str | None = Field(default=None, min_length=1, max_length=40)
    category: str | None = Field(default=None, min_length=1, max_length=20)
    chemistry: str | None = Field(default=None, min_length=1, max_length=100)
    cause: str | None = Field(default=None, min_length=1, max_length=40)
    consequence: str | None = Field(default=None, min_length=1, max_length=40)
    description: str | None = Field(default=None, max_length=4000)
    passport_id: str | None = Field(default=None, max_length=128)
    reason: str | None = Field(default=None, max_length=500, description="Why the incident is corrected.")


class IncidentPublic(BaseModel):
    number: int
    version: int
    current: bool
    occurred_on: str
    location_type: str
    category: str
    chemistry: str
    cause: str
    consequence: str
    description: str | None
    passport_id: str | None
    recorded_by: str | None
    recorded_at: str
    replaced_at: str | None
    reason: str | None


class CountPublic(BaseModel):
    period: str
    category: str
    location_type: str
    incidents: int


def _register(service: PassportService) -> IncidentService:
    return IncidentService(service.session)


@router.post("/incidents", status_code=201, response_model=IncidentPublic, responses=ERRORS)
async def record_incident(body: IncidentCreate, ctx: ContextDep) -> Any:
    """Record a fire or thermal event: authorities and the fire service any; an operator those of its passports."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        data = body.model_dump(mode="json", exclude_none=True)
        return IncidentService.as_dict(_register(service).record(viewer, data))

    return await ctx.run(work)


@router.get("/incidents/counts", response_model=list[CountPublic], responses=ERRORS)
async def incident_counts(
    ctx: ContextDep,
    per: Literal["month", "year"] = "month",
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
) -> Any:
    """Current incidents per month or year, battery category and location type (public)."""

    def work(service: PassportService, _viewer: Viewer) -> list[dict[str, Any]]:
        return [r.as_dict() for r in _register(service).counts(per=per, year=year, category=category)]

    return await ctx.run(work)


@router.get("/incidents", response_model=list[IncidentPublic], responses=ERRORS)
async def list_incidents(
    ctx: ContextDep,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
    location_type: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    passport_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    history: bool = False,
) -> Any:
    """The incidents the caller may read: authorities and the fire service all, an operator those of its passports;
    the public is refused (it reads the counts)."""

    def work(service: PassportService, viewer: Viewer) -> list[dict[str, Any]]:
        found = _register(service).incidents(
            viewer,
            year=year,
            category=category,
            location_type=location_type,
            passport_id=passport_id,
            history=history,
        )
        return [IncidentService.as_dict(i) for i in found]

    return await ctx.run(work)


@router.get("/incidents/{number}", response_model=list[IncidentPublic], responses=ERRORS)
async def incident_history(number: Number, ctx: ContextDep) -> Any:
    """Every version of one incident, oldest first (the last is the current one)."""

    def work(service: PassportService, viewer: Viewer) -> list[dict[str, Any]]:
        return [IncidentService.as_dict(i) for i in _register(service).history(viewer, number)]

    return await ctx.run(work)


@router.post("/incidents/{number}/corrections", status_code=201, response_model=IncidentPublic, responses=ERRORS)
async def correct_incident(number: Number, body: IncidentCorrection, ctx: ContextDep) -> Any:
    """Correct an incident: a new version with the given fields changed; the old version is kept."""

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        changes = body.model_dump(mode="json", exclude_none=True, exclude={"reason"})
        return IncidentService.as_dict(_register(service).correct(viewer, number, changes, reason=body.reason))

    return await ctx.run(work)
