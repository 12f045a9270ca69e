"""Stateless safety checks: ADR classification of a consignment and PGS 37-2 checks of a storage site.

Both answer any authenticated account and store nothing. The transport check may read chemistry, mass and energy
from a passport, as the caller may see it: an attribute withheld from the caller is a refusal naming it, never a
default or a fallback to another attribute.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, field_validator

from batteryloop.api.deps import ContextDep
from batteryloop.api.routes.sourcing import ERRORS, require_account
from batteryloop.errors import PermissionDeniedError, Problem, ValidationError
from batteryloop.passport.access import Viewer
from batteryloop.passport.attributes import AccessGroup
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService

router = APIRouter(prefix="/api/v1/safety", tags=["safety"])

PASSPORT_ATTRIBUTES = (
    "battery_chemistry",
    "battery_mass_kg",
    "rated_energy_kWh",
    "rated_capacity_Ah",
    "nominal_voltage_V",
)
"""What the classification reads from a passport (the energy from rated_energy_kWh, else capacity x voltage)."""


class TransportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Literal["intact", "damaged", "critical", "waste"] | None = Field(
        default=None,
        description="The battery's condition; with passport_id it may be left out and is then taken from the "
        "passport's safety_status (safety/safety_status.csv), which the caller must be allowed to read.",
    )
    passport_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Read chemistry, mass and energy from this passport."
    )
    chemistry: Literal["li-ion", "li-metal", "na-ion"] | None = None
    mass_kg: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, strict=True, description="Gross mass per cell or battery [kg]."
    )
    energy_Wh: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, strict=True, description="Energy per cell or battery [Wh]."
    )
    lithium_g: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        strict=True,
        description="Lithium content per cell or battery [g] (lithium metal).",
    )
    packaging: Literal["alone", "in-equipment", "with-equipment", "vehicle"] = "alone"
    cell: bool = Field(default=False, strict=True, description="The figures are per cell, not per battery.")
    purpose: Literal["disposal", "recycling"] = Field(default="recycling", description="Waste only.")
    on: date | None = Field(default=None, description="Transport date (default today).")

    @field_validator("on", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        """A date is written YYYY-MM-DD (not a number of seconds, which the schema does not offer)."""
        if value is not None and not isinstance(value, str):
            raise ValueError("expected a date YYYY-MM-DD")
        return value


STATUS_ATTRIBUTES = ("safety_status", "battery_status")
"""What the condition is read from when the request gives none (individual battery data, Annex XIII 4)."""


def _passport_data(
    service: PassportService, viewer: Viewer, passport_id: str, route: str, *, status: bool = False
) -> dict[str, Any]:
    """The passport's data as the caller sees it; refused (403, naming them) where a needed attribute is withheld.
    With ``status`` the safety status is needed too: a caller who may not read the battery's individual data is
    refused even where the passport holds no status (its absence is individual battery data as well)."""
    view = service.view(viewer, passport_id, route=route)
    stored = service.session.get(Passport, view.passport_id)
    held = set(stored.data) if stored is not None else set()
    needed = PASSPORT_ATTRIBUTES + STATUS_ATTRIBUTES if status else PASSPORT_ATTRIBUTES
    withheld = [name for name in needed if name in held and name not in view.data]
    if status and AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL not in view.groups and "safety_status" not in withheld:
        withheld.append("safety_status")
    if withheld:
        raise PermissionDeniedError(
            f"passport {passport_id}: {', '.join(withheld)} withheld from this account; the classification "
            "does not guess them",
            problems=[
                Problem(name, "withheld from this account", "an attribute the caller may read") for name in withheld
            ],
        )
    return dict(view.data)


@router.post("/transport", responses=ERRORS)
async def transport(body: TransportRequest, ctx: ContextDep) -> Any:
    """Classify a battery consignment under ADR: UN number, special provisions, packing instructions, marking and
    whether a relief takes it out of ADR, each with its citation. Give either ``passport_id`` or all of
    ``chemistry``, ``mass_kg`` and ``energy_Wh``."""
    from batteryloop.safety.status import transport_condition
    from batteryloop.safety.transport import Consignment, classify, consignment_from_passport

    given = {"chemistry": body.chemistry, "mass_kg": body.mass_kg, "energy_Wh": body.energy_Wh}
    if body.passport_id is not None:
        clash = [name for name, value in given.items() if value is not None]
        if clash:
            raise ValidationError(
                "passport_id reads chemistry, mass and energy; do not give them as well",
                problems=[
                    Problem(name, "given with passport_id", "either passport_id or this field") for name in clash
                ],
            )
    else:
        missing = [name for name, value in given.items() if value is None]
        if body.condition is None:
            missing.append("condition")
        if missing:
            raise ValidationError(
                f"missing {', '.join(missing)}",
                problems=[
                    Problem(name, "missing", "passport_id, or chemistry, mass_kg, energy_Wh and condition")
                    for name in missing
                ],
            )
    extra: dict[str, Any] = {"lithium_g": body.lithium_g, "purpose": body.purpose, "on": body.on}

    def work(service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        note: str | None = None
        if body.passport_id is not None:
            data = _passport_data(service, viewer, body.passport_id, ctx.route, status=body.condition is None)
            condition: str | None = body.condition
            if condition is None:
                condition, note = transport_condition(data)
            consignment = consignment_from_passport(
                data, condition=condition, packaging=body.packaging, cell=body.cell, **extra
            )
        else:
            assert body.chemistry is not None
            assert body.mass_kg is not None
            assert body.energy_Wh is not None
            assert body.condition is not None
            consignment = Consignment(
                body.chemistry, body.mass_kg, body.energy_Wh, body.condition, body.packaging, body.cell, **extra
            )
        result = classify(consignment).as_dict()
        result["input"] = {
            "chemistry": consignment.chemistry,
            "mass_kg": consignment.mass_kg,
            "energy_Wh": consignment.energy_Wh,
            "condition": consignment.condition,
            "packaging": consignment.packaging,
            "cell": consignment.cell,
            "passport_id": body.passport_id,
        }
        if note is not None:
            result["input"]["condition_source"] = note
        return result

    return await ctx.run(work)


SiteBody = Annotated[
    dict[str, Any],
    Body(description='A storage site as for `batteryloop safety storage`: {"site": ..., "compartments": [...]}.'),
]


@router.post("/storage", responses=ERRORS)
async def storage(body: SiteBody, ctx: ContextDep) -> Any:
    """Check a storage site's fire compartments against PGS 37-2 (2023): thresholds, damaged carriers, activities;
    every finding and measure with its rule."""
    from batteryloop.safety.storage import check_site

    def work(_service: PassportService, viewer: Viewer) -> dict[str, Any]:
        require_account(viewer)
        return check_site(body)

    return await ctx.run(work)
