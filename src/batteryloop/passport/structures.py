"""Structured attribute values: the element types that ``list[...]`` types in ``attributes.csv`` name.

Field names carry their unit like the attributes do. Every structure forbids unknown fields, so a typo is an error
that names the field rather than a value that silently disappears. Every field is strict about its JSON type, as a
client of a JSON API expects: a number is not accepted as text or as a flag, a text not as a number (``"1.5"``), ``0``
not as ``false``, and a time is an ISO 8601 text with its UTC offset (not a Unix timestamp).

Documents (title, link, MIME type, document type) are :class:`Document` wherever a passport value is a document,
also inside the material and substance structures (their documentation and the documents on their impact).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)
from pydantic import Strict as StrictType

NonEmpty = Annotated[str, StrictType(), Field(min_length=1, max_length=1000)]
Percent = Annotated[float, StrictType(), Field(ge=0.0, le=100.0, allow_inf_nan=False)]
NonNegative = Annotated[float, StrictType(), Field(ge=0.0, allow_inf_nan=False)]
Number = Annotated[float, StrictType(), Field(allow_inf_nan=False)]
Flag = StrictBool


def _uri(value: str) -> str:
    from batteryloop.passport.values import check_uri

    return check_uri(value)


def _time_text(value: Any) -> Any:
    """A time must come as ISO 8601 text (a JSON client's form); a number (a Unix timestamp) is refused."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 date-time with a UTC offset, e.g. 2026-03-01T12:00:00+01:00")
    return value


def _in_utc(value: datetime) -> datetime:
    """Times are kept in UTC, as the scalar date-times are (values.check_datetime)."""
    return value.astimezone(UTC)


Uri = Annotated[str, StrictType(), Field(min_length=3, max_length=2000), AfterValidator(_uri)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_time_text), AfterValidator(_in_utc)]

# Schemes of substance identifiers: CAS registry numbers, EC (EINECS/ELINCS/NLP) numbers, IUPAC names
IdentifierScheme = Literal["CAS", "EC", "IUPAC"]
CAS_NUMBER = re.compile(r"^\d{2,7}-\d{2}-\d$")
EC_NUMBER = re.compile(r"^\d{3}-\d{3}-\d$")
# Art. 8 recycled content is declared for these four materials (RecycledContent.material)
ART_8_MATERIALS = ("cobalt", "lithium", "nickel", "lead")


def scheme_of(identifier: str) -> str | None:
    """The scheme an identifier's form gives: CAS (``7439-93-2``), EC (``231-096-4``), else None."""
    text = identifier.strip()
    if CAS_NUMBER.match(text):
        return "CAS"
    if EC_NUMBER.match(text):
        return "EC"
    return None


class Structure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Identified(Structure):
    """A structure with a substance identifier and its scheme.

    A CAS or EC number given without its scheme gets the scheme its form gives; a scheme without an identifier is
    refused. An identifier of another form keeps no scheme unless one is given (e.g. IUPAC for a name).
    """

    @model_validator(mode="before")
    @classmethod
    def _scheme(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        identifier, scheme = data.get("identifier"), data.get("identifier_scheme")
        if scheme is not None and identifier is None:
            raise ValueError("identifier_scheme names the scheme of identifier: give the identifier too")
        if scheme is None and isinstance(identifier, str):
            inferred = scheme_of(identifier)
            if inferred is not None:
                return {**data, "identifier_scheme": inferred}
        return data


class Document(Structure):
    """A document referred to by the passport: its link, title, MIME type and (free) document type."""

    url: Uri
    title: NonEmpty | None = None
    document_type: NonEmpty | None = None
    mime_type: NonEmpty | None = None


class HazardousSubstance(_Identified):
    """A hazardous substance other than mercury, cadmium or lead (Annex VI Part A(8))."""

    name: NonEmpty
    identifier: NonEmpty | None = Field(default=None, description="CAS or EC number, or another identifier")
    identifier_scheme: IdentifierScheme | None = Field(
        default=None, description="Scheme of the identifier: CAS, EC or IUPAC (filled from a CAS or EC number's form)"
    )
    hazard_class: NonEmpty | None = Field(default=None, description="Hazard class under Regulation (EC) 1272/2008")
    concentration_pct: Percent | None = Field(default=None, description="Concentration, weight by weight [%]")
    location: NonEmpty | None = Field(default=None, description="Component the substance is in")
    location_id: NonEmpty | None = Field(default=None, description="Identifier of that component")
    critical_raw_material: Flag | None = Field(
        default=None, description="Whether the substance is a critical raw material (Regulation (EU) 2024/1252)"
    )
    impact: list[NonEmpty] = Field(default_factory=list, description="Impact on human health and environment")
    impact_documents: list[Document] = Field(
        default_factory=list, description="Documents on the impact on human health and environment (Art. 74(1)(f))"
    )
    documents: list[Document] = Field(default_factory=list, description="Documentation of the substance")


class Material(_Identified):
    """A material of the battery with its location (Annex XIII 2(a))."""

    name: NonEmpty
    identifier: NonEmpty | None = Field(default=None, description="CAS or EC number, or another identifier")
    identifier_scheme: IdentifierScheme | None = Field(
        default=None, description="Scheme of the identifier: CAS, EC or IUPAC (filled from a CAS or EC number's form)"
    )
    component: NonEmpty | None = Field(default=None, description="Cathode, anode, electrolyte, housing, ...")
    component_id: NonEmpty | None = None
    mass_kg: NonNegative | None = None
    concentration_pct: Percent | None = None
    critical_raw_material: Flag | None = None
    recycled_pct: Percent | None = None
    renewable_pct: Percent | None = None
    documents: list[Document] = Field(default_factory=list, description="Documentation of the material")


class RecycledContent(Structure):
    """Recycled share of one material (Art. 8): pre- and post-consumer, and their total.

    Where both shares are given the total is their sum (filled in, or checked when given); a total alone states the
    recycled share where the split is not declared (Catena-X gives one share per material).
    """

    material: Literal["cobalt", "lithium", "nickel", "lead"]
    pre_consumer_pct: Percent | None = Field(default=None, description="From manufacturing waste [%]")
    post_consumer_pct: Percent | None = Field(default=None, description="From post-consumer waste [%]")
    total_pct: Percent | None = Field(default=None, description="Pre- and post-consumer together [%]")

    @model_validator(mode="before")
    @classmethod
    def _total(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        pre, post, total = data.get("pre_consumer_pct"), data.get("post_consumer_pct"), data.get("total_pct")
        numbers = [v for v in (pre, post) if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == 2 and all(math.isfinite(v) for v in numbers):
            both = round(float(numbers[0]) + float(numbers[1]), 9)
            if both > 100.0:
                raise ValueError(f"pre- and post-consumer shares add up to {both:g} %, more than 100 %")
            if total is None:
                return {**data, "total_pct": both}
            if isinstance(total, int | float) and not isinstance(total, bool) and abs(total - both) > 1e-6:
                raise ValueError(f"total_pct {total:g} is not the sum of the pre- and post-consumer shares ({both:g})")
        elif (
            len(numbers) == 1
            and isinstance(total, int | float)
            and not isinstance(total, bool)
            and total < numbers[0] - 1e-9
        ):
            raise ValueError(f"total_pct {total:g} is less than the share it includes ({numbers[0]:g})")
        return data


class CarbonFootprintStage(Structure):
    """Carbon footprint of one life-cycle stage (Art. 7(1)(d), Annex II)."""

    stage: Literal[
        "raw_material_acquisition",
        "main_product_production",
        "distribution",
        "end_of_life_and_recycling",
        "use",
    ]
    kgCO2e_per_kWh: Number


class PowerCapability(Structure):
    """Power capability at a state of charge (Annex IV Part B(4))."""

    soc_pct: Percent
    power_W: NonNegative
    measured_at: Timestamp | None = None


class RemainingPowerCapability(PowerCapability):
    """Remaining power capability (Annex VII Part A(2)), at a state of charge where the source gives one.

    Catena-X battery pass 6.1.0 gives the remaining power without its state of charge, so ``soc_pct`` may be absent.
    """

    soc_pct: Percent | None = None  # type: ignore[assignment]


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


class MaterialContent(_Identified):
    """One element or substance with its place in the battery, its concentration and its recycled share.

    The element-wise records of Catena-X battery pass 6.1.0 ``materials.active`` (cobalt, lithium, nickel, lead and
    other active materials) and ``materials.hazardous`` (mercury, cadmium, lead: Art. 6 and Annex I). The recycled
    share of cobalt, lithium, nickel and lead is the Art. 8 recycled content: it is given in ``recycled_content``,
    not here, so that it has one place.
    """

    substance: NonEmpty = Field(description="Element or substance, e.g. cobalt, lead")
    identifier: NonEmpty | None = Field(default=None, description="CAS or EC number, or another identifier")
    identifier_scheme: IdentifierScheme | None = Field(
        default=None, description="Scheme of the identifier: CAS, EC or IUPAC (filled from a CAS or EC number's form)"
    )
    location: NonEmpty | None = Field(default=None, description="Component the substance is in")
    concentration_pct: Percent | None = Field(default=None, description="Concentration, weight by weight [%]")
    recycled_pct: Percent | None = Field(
        default=None,
        description="Share recovered from waste, pre- and post-consumer together [%]; for cobalt, lithium, nickel "
        "and lead see recycled_content",
    )
    critical_raw_material: Flag | None = None
    impact: list[NonEmpty] = Field(default_factory=list, description="Impact on human health and environment")
    impact_documents: list[Document] = Field(
        default_factory=list, description="Documents on the impact on human health and environment (Art. 74(1)(f))"
    )
    documents: list[Document] = Field(default_factory=list, description="Documentation of the material")

    @model_validator(mode="after")
    def _art_8(self) -> MaterialContent:
        if self.recycled_pct is not None and self.substance.strip().lower() in ART_8_MATERIALS:
            raise ValueError(
                f"the recycled share of {self.substance.strip().lower()} is its Art. 8 recycled content: "
                "give it in recycled_content (total_pct, or the pre- and post-consumer shares)"
            )
        return self


class NegativeEvent(Structure):
    """A negative event in the use of the battery (Annex XIII 4(d))."""

    event: NonEmpty
    time: Timestamp | None = None


class Classification(Structure):
    """A classification of the product in a classification standard (e.g. ECLASS, GIN 20510-21513)."""

    standard: NonEmpty = Field(description="The classification standard")
    identifier: NonEmpty = Field(description="The class in that standard")
    description: NonEmpty | None = Field(default=None, description="What the class or the standard is")


STRUCTURES: dict[str, type[Structure]] = {
    cls.__name__: cls
    for cls in (
        HazardousSubstance,
        Material,
        RecycledContent,
        CarbonFootprintStage,
        PowerCapability,
        RemainingPowerCapability,
        Document,
        LabelSymbol,
        Component,
        SparePartSource,
        MaterialContent,
        NegativeEvent,
        Classification,
    )
}
