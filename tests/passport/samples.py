"""A valid sample value for any attribute of the table, derived from its type, unit and range.

Used where a test needs every attribute filled (the role x attribute matrix) without depending on which attributes
the table holds today; tests/passport/fixtures.py holds realistic passports for the format tests.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from batteryloop.passport.attributes import Attribute, attributes
from batteryloop.passport.structures import STRUCTURES

STRUCTURE_SAMPLES: dict[str, dict[str, Any]] = {
    "HazardousSubstance": {"name": "Lithium hexafluorophosphate", "identifier": "21324-40-3", "concentration_pct": 1.0},
    "Material": {"name": "Graphite", "identifier": "7782-42-5", "component": "anode", "mass_kg": 60.0},
    "RecycledContent": {"material": "cobalt", "pre_consumer_pct": 5.0, "post_consumer_pct": 10.0},
    "CarbonFootprintStage": {"stage": "main_product_production", "kgCO2e_per_kWh": 20.0},
    "PowerCapability": {"soc_pct": 80.0, "power_W": 150000.0},
    "RemainingPowerCapability": {"soc_pct": 80.0, "power_W": 140000.0},
    "Classification": {"standard": "UNSPSC", "identifier": "26111701", "description": "Rechargeable batteries"},
    "Document": {"url": "https://example.com/doc.pdf", "title": "Document"},
    "LabelSymbol": {"subject": "separate collection", "meaning": "Separate collection"},
    "Component": {"part_name": "Module", "part_number": "M-1"},
    "SparePartSource": {"supplier_name": "Spares B.V.", "components": [{"part_name": "Module", "part_number": "M-1"}]},
    "NegativeEvent": {"event": "deep discharge", "time": "2026-01-01T10:00:00Z"},
}


def sample_value(attr: Attribute) -> Any:
    if attr.key == "battery_category":
        return "ev"
    if attr.key == "battery_status":
        return "original"
    if attr.key == "serial_number":
        return "SN-000001"
    if attr.type.startswith("enum:"):
        return attr.type[5:].split("|")[0]
    if attr.structure == "string":
        return ["sample"]
    if attr.structure:
        return [STRUCTURE_SAMPLES.get(attr.structure) or structure_sample(STRUCTURES[attr.structure])]
    low, high = attr.range
    if attr.type == "decimal":
        if low is not None and high is not None:
            return (low + high) / 2
        return (low or 0.0) + 12.5
    if attr.type == "integer":
        return int(low or 0) + 10
    return {
        "boolean": True,
        "date": "2026-03-01",
        "datetime": "2026-03-01T12:00:00Z",
        "duration": "P8Y",
        "uri": "https://example.com/" + attr.key,
        "email": "info@example.com",
        "gtin": "08712345678906",
        "string": "sample " + attr.key,
    }[attr.type]


def every_attribute(category: str = "ev", *, writable_only: bool = True) -> dict[str, Any]:
    """A value for every attribute that applies to ``category`` (and that users write, by default)."""
    out = {}
    for key, attr in attributes().items():
        if writable_only and attr.writable != "user":
            continue
        if not attr.applies_to(category):
            continue
        out[key] = sample_value(attr)
    out["battery_category"] = category
    return out


def _sample_for(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _sample_for(args[0])
    if origin in (typing.Union, types.UnionType):
        return _sample_for(next(a for a in args if a is not type(None)))
    if origin is Literal:
        return args[0]
    if origin is list:
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return structure_sample(annotation)
    if annotation is bool:
        return True
    if annotation in (int, float):
        return 1
    if annotation is datetime:
        return "2026-01-01T00:00:00Z"
    return "https://example.com/sample"


def structure_sample(model: type[BaseModel]) -> dict[str, Any]:
    """A value of ``model`` with every required field filled from its type."""
    return {name: _sample_for(f.annotation) for name, f in model.model_fields.items() if f.is_required()}
