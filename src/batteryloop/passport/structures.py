"""Structured attribute values: the element types that ``list[...]`` types in ``attributes.csv`` name.

Field names carry their unit like the attributes do. Every structure forbids unknown fields, so a typo is an error
that names the field rather than a value that silently disappears.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

NonEmpty = Annotated[str, Field(min_length=1, max_length=1000)]
Percent = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


def _uri(value: str) -> str:
    from batteryloop.passport.values import check_uri

    return check_uri(value)


Uri = Annotated[str, Field(min_length=3, max_length=2000), AfterValidator(_uri)]


class Structure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HazardousSubstance(Structure):
    """A hazardous substance other than mercury, cadmium or lead (Annex VI Part A(8))."""

    name: NonEmpty
    identifier: NonEmpty | None = Field(default=None, description="CAS or EC number")
    hazard_class: NonEmpty | None = Field(default=None, description="Hazard class under Regulation (EC) 1272/2008")
    concentration_pct: Percent | None = Field(default=None, description="Concentration, weight by weight [%]")
    location: NonEmpty | None = Field(default=None, description="Component the substance is in")
    location_id: NonEmpty | None = Field(default=None, description="Identifier of that component")
    impact: list[NonEmpty] = Field(default_factory=list, description="Impact on human health and environment")


class Material(Structure):
    """A material of the battery with its location (Annex XIII 2(a))."""

    name: NonEmpty
    identifier: NonEmpty | None = Field(default=None, description="CAS number")
    component: NonEmpty | None = Field(default=None, description="Cathode, anode, electrolyte, housing, ...")
    component_id: NonEmpty | None = None
    mass_kg: NonNegative | None = None
    concentration_pct: Percent | None = None
    critical_raw_material: bool | None = None
    recycled_pct: Percent | None = None
    renewable_pct: Percent | None = None


class RecycledContent(Structure):
    """Recycled share of one material (Art. 8)."""

    material: Literal["cobalt", "lithium", "nickel", "lead"]
    pre_consumer_pct: Percent | None = Field(default=None, description="From manufacturing waste [%]")
    post_consumer_pct: Percent | None = Field(default=None, description="From post-consumer waste [%]")


class CarbonFootprintStage(Structure):
    """Carbon footprint of one life-cycle stage (Art. 7(1)(d), Annex II)."""

    stage: Literal[
        "raw_material_acquisition",
        "main_product_production",
        "distribution",
        "end_of_life_and_recycling",
        "use",
    ]
    kgCO2e_per_kWh: Annotated[float, Field(allow_inf_nan=False)]


class PowerCapability(Structure):
    """Power capability at a state of charge (Annex IV Part B(4))."""

    soc_pct: Percent
    power_W: NonNegative
    measured_at: AwareDatetime | None = None


class Document(Structure):
    """A document referred to by the passport."""

    url: Uri
    title: NonEmpty | None = None
    document_type: NonEmpty | None = None
    mime_type: NonEmpty | None = None


class LabelSymbol(Structure):
    """A label or symbol on the battery and its meaning (Art. 13)."""

    subject: NonEmpty
    symbol_url: Uri | None = None
    meaning: NonEmpty | None = None


class Component(Structure):
    """A replaceable component with its part number (Annex XIII 2(b))."""

    part_name: NonEmpty
    part_number: NonEmpty


class SparePartSource(Structure):
    """A source of spare parts (Annex XIII 2(b))."""

    supplier_name: NonEmpty
    postal_address: NonEmpty | None = None
    email: NonEmpty | None = None
    web_address: Uri | None = None
    components: list[Component] = Field(default_factory=list)


class MaterialContent(Structure):
    """One element or substance with its place in the battery, its concentration and its recycled share.

    The element-wise records of Catena-X battery pass 6.1.0 ``materials.active`` (cobalt, lithium, nickel, lead and
    other active materials) and ``materials.hazardous`` (mercury, cadmium, lead: Art. 6 and Annex I).
    """

    substance: NonEmpty = Field(description="Element or substance, e.g. cobalt, lead")
    identifier: NonEmpty | None = Field(default=None, description="CAS or EC number")
    location: NonEmpty | None = Field(default=None, description="Component the substance is in")
    concentration_pct: Percent | None = Field(default=None, description="Concentration, weight by weight [%]")
    recycled_pct: Percent | None = Field(
        default=None, description="Share recovered from waste, pre- and post-consumer together [%]"
    )
    critical_raw_material: bool | None = None


class NegativeEvent(Structure):
    """A negative event in the use of the battery (Annex XIII 4(d))."""

    event: NonEmpty
    time: datetime | None = None


STRUCTURES: dict[str, type[Structure]] = {
    cls.__name__: cls
    for cls in (
        HazardousSubstance,
        Material,
        RecycledContent,
        CarbonFootprintStage,
        PowerCapability,
        Document,
        LabelSymbol,
        Component,
        SparePartSource,
        MaterialContent,
        NegativeEvent,
    )
}
