"""Carbon footprint of a battery per functional unit (Reg. (EU) 2023/1542 Art. 7, Annex II).

The functional unit is one kWh of the total energy the battery delivers over its service life::

    E_total [kWh]   = energy_kWh x cycles_per_year x service_life_years
    CF [kgCO2e/kWh] = (sum of the life-cycle stage emissions [kgCO2e]) / E_total

``energy_kWh`` is the battery's total energy as declared; no depth-of-discharge, capacity-fade or efficiency factor is
applied (the cycles are full equivalent cycles, which already count the energy throughput against the full energy).
Cycles per year and service life come from ``carbon_parameters.csv`` by vehicle type, or explicitly from the input.
The performance class is computed only from a class table the user supplies: no class table is fixed yet (the
delegated act under Art. 7(2) is pending).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from batteryloop.errors import NotFoundError, PermissionDeniedError, Problem, ValidationError
from batteryloop.passport.access import Viewer
from batteryloop.passport.attributes import validate_values
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService

STAGES: tuple[str, ...] = (
    "raw_material_acquisition",
    "main_product_production",
    "distribution",
    "end_of_life_and_recycling",
)
NO_CLASS_NOTE = (
    "no performance class computed: no class table was given (the classes of Art. 7(2) await a delegated act)"
)


@dataclass(frozen=True)
class VehicleParameters:
    vehicle_type: str
    description: str
    fec_per_year: float
    service_life_years: float
    source: str
    confidence: str
    rationale: str


@cache
def load_parameters() -> dict[str, VehicleParameters]:
    """Full equivalent cycles per year and service life by vehicle type, with their source."""
    text = resources.files("batteryloop.sourcing").joinpath("carbon_parameters.csv").read_text(encoding="utf-8")
    out: dict[str, VehicleParameters] = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["vehicle_type"]] = VehicleParameters(
            vehicle_type=row["vehicle_type"],
            description=row["description"],
            fec_per_year=float(row["fec_per_year"]),
            service_life_years=float(row["service_life_years"]),
            source=row["source"],
            confidence=row["confidence"],
            rationale=row["rationale"],
        )
    return out


@dataclass(frozen=True)
class PerformanceClass:
    name: str
    max_kgCO2e_per_kWh: float


@dataclass(frozen=True)
class StageResult:
    stage: str
    kgCO2e: float
    kgCO2e_per_kWh: float
    share_pct: float


@dataclass
class CarbonFootprint:
    energy_kWh: float
    cycles_per_year: float
    service_life_years: float
    cycles_source: str
    total_energy_kWh: float
    total_kgCO2e: float
    kgCO2e_per_kWh: float
    stages: list[StageResult]
    performance_class: str | None
    class_note: str
    study: list[dict[str, Any]] = field(default_factory=list)
    vehicle_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "formula": "kgCO2e_per_kWh = total_kgCO2e / (energy_kWh x cycles_per_year x service_life_years)",
            "energy_kWh": self.energy_kWh,
            "vehicle_type": self.vehicle_type,
            "cycles_per_year": self.cycles_per_year,
            "service_life_years": self.service_life_years,
            "cycles_source": self.cycles_source,
            "total_energy_kWh": self.total_energy_kWh,
            "total_kgCO2e": self.total_kgCO2e,
            "kgCO2e_per_kWh": self.kgCO2e_per_kWh,
            "stages": [vars(s) for s in self.stages],
            "performance_class": self.performance_class,
            "class_note": self.class_note,
            "study": self.study,
        }

    def passport_values(self) -> dict[str, Any]:
        """The values of the passport's carbon-footprint section (class and study only where known)."""
        values: dict[str, Any] = {
            "carbon_footprint_kgCO2e_per_kWh": self.kgCO2e_per_kWh,
            "absolute_carbon_footprint_kgCO2e": self.total_kgCO2e,
            "carbon_footprint_per_lifecycle_stage": [
                {"stage": s.stage, "kgCO2e_per_kWh": s.kgCO2e_per_kWh} for s in self.stages
            ],
        }
        if self.performance_class is not None:
            values["carbon_footprint_performance_class"] = self.performance_class
        if self.study:
            values["carbon_footprint_study"] = self.study
        return values


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _positive(data: Mapping[str, Any], key: str, problems: list[Problem], unit: str) -> float | None:
    number = _number(data.get(key))
    if number is None or number <= 0:
        problems.append(Problem(key, f"{data.get(key)!r} is not a positive number", f"a number > 0, in {unit}"))
        return None
    return number


def _classes(raw: Any, problems: list[Problem]) -> list[PerformanceClass]:
    expected = 'a list of {"class": "A", "max_kgCO2e_per_kWh": number}, bounds strictly increasing'
    if not isinstance(raw, list) or not raw:
        problems.append(Problem("performance_classes", "not a non-empty list", expected))
        return []
    out: list[PerformanceClass] = []
    for i, row in enumerate(raw):
        where = f"performance_classes[{i}]"
        if not isinstance(row, Mapping):
            problems.append(Problem(where, "not an object", expected))
            continue
        name = row.get("class")
        bound = _number(row.get("max_kgCO2e_per_kWh"))
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem(f"{where}.class", "missing class name", "a non-empty string"))
            continue
        if bound is None or bound <= 0:
            problems.append(Problem(f"{where}.max_kgCO2e_per_kWh", f"{row.get('max_kgCO2e_per_kWh')!r}", "> 0"))
            continue
        if out and bound <= out[-1].max_kgCO2e_per_kWh:
            problems.append(
                Problem(f"{where}.max_kgCO2e_per_kWh", f"{bound:g} is not above the previous bound", expected)
            )
            continue
        out.append(PerformanceClass(name.strip(), bound))
    return out


def _study(raw: Any, problems: list[Problem]) -> list[dict[str, Any]]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
            problems.append(Problem(f"study[{i}]", "not a document", '{"url": "https://...", "title": "..."}'))
            continue
        out.append(dict(item))
    return out


def carbon_footprint(data: Any) -> CarbonFootprint:
    """The carbon footprint per functional unit from the inputs (see the module doc); every bad field is reported."""
    if not isinstance(data, Mapping):
        raise ValidationError("the inputs are not a JSON object", field="inputs", expected="a JSON object")
    problems: list[Problem] = []
    raw_stages = data.get("stages_kgCO2e")
    emissions: dict[str, float] = {}
    if not isinstance(raw_stages, Mapping):
        problems.append(
            Problem("stages_kgCO2e", "missing or not an object", "{stage: kgCO2e} for " + ", ".join(STAGES))
        )
    else:
        for key in raw_stages:
            if key not in STAGES:
                problems.append(Problem(f"stages_kgCO2e.{key}", "unknown life-cycle stage", ", ".join(STAGES)))
        for stage in STAGES:
            value = _number(raw_stages.get(stage))
            if value is None or value < 0:
                given = raw_stages.get(stage)
                message = "missing" if given is None else f"{given!r} is not a number >= 0"
                problems.append(Problem(f"stages_kgCO2e.{stage}", message, "kgCO2e >= 0"))
            else:
                emissions[stage] = value
    energy = _positive(data, "energy_kWh", problems, "kWh")

    vehicle_type = data.get("vehicle_type")
    explicit = "cycles_per_year" in data or "service_life_years" in data
    cycles = years = None
    source = ""
    if explicit:
        cycles = _positive(data, "cycles_per_year", problems, "full equivalent cycles a year")
        years = _positive(data, "service_life_years", problems, "years")
        source = "given in the input"
    elif vehicle_type is not None:
        params = load_parameters()
        found = params.get(vehicle_type) if isinstance(vehicle_type, str) else None
        if found is None:
            problems.append(Problem("vehicle_type", f"unknown vehicle type {vehicle_type!r}", ", ".join(params)))
        else:
            cycles, years = found.fec_per_year, found.service_life_years
            source = f"carbon_parameters.csv {found.vehicle_type} ({found.source}; confidence {found.confidence})"
    else:
        problems.append(
            Problem("vehicle_type", "neither a vehicle type nor cycles_per_year and service_life_years", "one of them")
        )

    classes = _classes(data["performance_classes"], problems) if "performance_classes" in data else None
    study = _study(data["study"], problems) if "study" in data else []
    if problems:
        raise ValidationError("the carbon-footprint inputs are not valid", problems=problems)
    assert energy is not None
    assert cycles is not None
    assert years is not None

    total_energy = energy * cycles * years
    total = math.fsum(emissions.values())
    per_kwh = total / total_energy
    stages = [
        StageResult(
            stage=s,
            kgCO2e=emissions[s],
            kgCO2e_per_kWh=emissions[s] / total_energy,
            share_pct=100.0 * emissions[s] / total if total > 0 else 0.0,
        )
        for s in STAGES
    ]
    performance_class: str | None = None
    if classes is None:
        note = NO_CLASS_NOTE
    else:
        hit = next((c for c in classes if per_kwh <= c.max_kgCO2e_per_kWh), None)
        if hit is None:
            note = f"above the highest bound of the given class table ({classes[-1].max_kgCO2e_per_kWh:g})"
        else:
            performance_class = hit.name
            note = f"class {hit.name}: up to {hit.max_kgCO2e_per_kWh:g} kgCO2e/kWh in the given class table"
    return CarbonFootprint(
        energy_kWh=energy,
        cycles_per_year=cycles,
        service_life_years=years,
        cycles_source=source,
        total_energy_kWh=total_energy,
        total_kgCO2e=total,
        kgCO2e_per_kWh=per_kwh,
        stages=stages,
        performance_class=performance_class,
        class_note=note,
        study=study,
        vehicle_type=vehicle_type if isinstance(vehicle_type, str) and not explicit else None,
    )


def apply(service: PassportService, viewer: Viewer, passport_id: str, result: CarbonFootprint) -> dict[str, Any]:
    """Write the result into the passport's carbon-footprint section as its responsible operator.

    Returns ``passport_id``, ``action`` (``updated`` or ``unchanged``) and the passport's ``version``: a new version
    only where a value changes.
    """
    passport = service.session.get(Passport, passport_id)
    if passport is None:
        raise NotFoundError(f"no passport {passport_id!r}", field="passport")
    if viewer.organisation_id is None or viewer.organisation_id != passport.operator_id:
        raise PermissionDeniedError(f"only the economic operator responsible for passport {passport_id} may change it")
    clean = validate_values(result.passport_values(), passport.category, only_static=True)
    changed = {k: v for k, v in clean.items() if passport.data.get(k) != v}
    if not changed:
        return {"passport_id": passport_id, "action": "unchanged", "version": passport.version}
    updated = service.update_static(viewer, passport_id, changed, note="carbon footprint (Art. 7)")
    return {"passport_id": passport_id, "action": "updated", "version": updated.version}
