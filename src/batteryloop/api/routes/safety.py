"""The incident register (fires and thermal events, their corrections, and the counts for the authority's monitor),
the hazard flags of the server's telemetry store, and the passports' safety status."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from batteryloop.api.deps import ContextDep
from batteryloop.api.routes.sourcing import require_account
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
    incidents: int | None = Field(description="The count; null where it is suppressed (see shown).")
    shown: str = Field(description="The count as published: the number, or '<3' below the disclosure threshold.")
    suppressed: bool


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
    """Current incidents per month or year, battery category and location type (public). Counts below the threshold
    of safety/disclosure_rules.csv (3, the threshold rule of statistical disclosure control) are shown as '<3' with
    ``incidents`` null, so that a single incident cannot be identified; authorities and the fire service, who read
    every incident, get the exact counts."""

    def work(service: PassportService, viewer: Viewer) -> list[dict[str, Any]]:
        found = _register(service).published_counts(viewer, per=per, year=year, category=category)
        return [r.as_dict() for r in found]

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


# ---------------------------------------------------------------------------------------------------------------------
# hazard flags and the safety status


BatteryId = Annotated[str, Path(min_length=1, max_length=200, description="The battery id in the telemetry store.")]
PassportId = Annotated[str, Path(min_length=1, max_length=200)]


def _store(service: PassportService) -> FilePath:
    """The server's telemetry store: ``telemetry`` in the data directory (as ``batteryloop safety flags``)."""
    return service.settings.data_dir / "telemetry"


@router.get("/flags", responses=ERRORS)
async def hazard_flags(
    ctx: ContextDep,
    battery_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Hazard flags (abnormal self-discharge, resistance jump, capacity drop, over-temperature, deep discharge) of
    the batteries in the server's telemetry store, each with its evidence; only of batteries whose individual data
    (Annex XIII 4) the caller may read: the passport's responsible operator and accounts it granted access. Naming
    another battery is refused (403)."""
    from batteryloop.safety.flags import flags_for

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        found = flags_for(
            service, viewer, _store(service), battery_id=battery_id, limit=limit, offset=offset, route=ctx.route
        )
        return found.as_dict()

    return await ctx.run(work)


@router.post("/flags/{battery_id}/mark", responses=ERRORS)
async def mark_flags(battery_id: BatteryId, ctx: ContextDep) -> Any:
    """Confirm a battery's flags onto its passport: ``safety_status`` (the most severe of the flags and the status
    it had) and one ``negative_events`` entry per flag with its evidence, in one signed version (none when recorded
    already). Only the passport's responsible economic operator."""
    from batteryloop.safety.flags import mark_from_store

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        return mark_from_store(service, viewer, _store(service), battery_id, route=ctx.route)

    return await ctx.run(work)


class SafetyStatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["intact", "damaged", "defective", "critically_defective"] = Field(
        description="ADR SP 376 terms (safety/safety_status.csv): critically_defective is P911/LP906."
    )
    evidence: str = Field(min_length=1, max_length=2000, description="What was found, and how (an inspection).")
    measured_at: AwareDatetime | None = Field(default=None, description="When it was found (default now).")


@router.post("/passports/{passport_id}/safety-status", responses=ERRORS)
async def set_safety_status(passport_id: PassportId, body: SafetyStatusUpdate, ctx: ContextDep) -> Any:
    """Mark a battery's safety status after an inspection, with the evidence (a negative_events entry, except for
    intact); only the passport's responsible economic operator. A new signed version, none when unchanged."""
    from batteryloop.safety.status import set_status

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        when = body.measured_at or datetime.now(UTC)
        result = set_status(
            service,
            viewer,
            passport_id,
            body.status,
            evidence=body.evidence,
            measured_at=when,
            method=f"inspection recorded by {viewer.account} (POST safety-status)",
        )
        view = service.view(viewer, passport_id, route=ctx.route)
        return {
            "passport_id": passport_id,
            "result": result,
            "safety_status": view.data.get("safety_status"),
            "version": view.version,
        }

    return await ctx.run(work)
