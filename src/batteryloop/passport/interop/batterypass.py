"""Battery Pass consortium data model 1.2 (``io.BatteryPass.*``): seven aspect models, one JSON file each.

Models: ``GeneralProductInformation`` 1.2.0, ``PerformanceAndDurability`` (export 1.2.1; import 1.2.0 and 1.2.1),
``MaterialComposition`` 1.2.0, ``CarbonFootprint`` 1.2.0, ``Circularity`` 1.2.0, ``Labels`` 1.2.0,
``SupplyChainDueDiligence`` 1.2.0. A directory holds one ``<Model>.json`` each; import also recognises the file
names of the official payloads (``GeneralProductInformation_1.2.0_GeneralProductInformation-payload.json`` ...),
in UTF-8 or UTF-16 with a byte-order mark (the originals are UTF-16).

The paths are in the ``batterypass_1_2_path`` column of ``attributes.csv`` (1.2.1 paths for PerformanceAndDurability);
plain values are mapped by :class:`~batteryloop.passport.interop.engine.DocumentFormat`. Units follow the
``samm-c:unit`` of the JSON-LD of the models: ``ratedMaximumPower`` in kilowatts (ours W), ``batteryMaterialMass``
in grams (ours kg), resistances in ohm (ours mOhm), times in extreme temperatures in minutes (ours hours). As in
IDTA-02035, ``remainingCapacityValue`` (unit kilowatt-hour) is read in Ah and ``powerCapabilityAt`` (unit percent) in
W, as their descriptions say. Dates that the models type as date-times (``manufacturingDate``, ``puttingIntoService``)
are written at midnight UTC and read as the calendar date the source gives.

PerformanceAndDurability 1.2.0 is recognised by its structure (``temperatureRangeIdleState`` a number,
``remainingPowerCapability`` an array, ``remainingEnergyalue``, ``evolutionOfSelfDischargeEntityValue``,
``currentSelfDischargingRateEntity``, ``powerFade`` and ``roundTripEfficiencyFade`` under ``batteryCondition``) and
read through :data:`V120_PATHS`. Its single number for the idle temperature range cannot say which boundary it is
and is reported.

Document attributes (lists of Document structures) are one link (``ResourcePath``) in these models, except the
dismantling and removal documents (type, MIME type, URL): a title, a MIME type or a further document has no place.
Substance and material identifiers are CAS numbers, as in IDTA-02035.

What the models cannot hold, whatever the data: ``warrentyPeriod`` is typed ``xsd:gMonth`` (pattern ``--MM``: a month
of the year), so commercial_warranty_period has no place and an import reports the field; the e-mail pattern of
GeneralProductInformation (``^[w.-]+@[w.-]+.[A-Za-z]{2,}$``, a backslash short of ``\\w``) admits only addresses made
of the letter w, dots and hyphens, so an e-mail is written only where it fits that pattern. ``cRate`` ("ratio
between nominal battery power and energy", the same description as ``powerCapabilityRatio``) is reported on import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from batteryloop.passport.attributes import Attribute
from batteryloop.passport.interop.engine import (
    SKIP,
    ExportContext,
    ImportContext,
    MultiDocumentFormat,
    Transform,
    convert,
    is_number,
    join_address,
    short,
    split_address,
    utc_text,
)
from batteryloop.passport.interop.paths import MISSING, FieldPath, Loc, render

GPI, PD, MC, CF, CI, LB, SC = (
    "GeneralProductInformation",
    "PerformanceAndDurability",
    "MaterialComposition",
    "CarbonFootprint",
    "Circularity",
    "Labels",
    "SupplyChainDueDiligence",
)
SCHEMAS = {
    GPI: "GeneralProductInformation_1.2.0_GeneralProductInformation-schema.json",
    MC: "MaterialComposition_1.2.0_MaterialComposition-schema.json",
    CF: "CarbonFootprint_1.2.0_CarbonFootprintForBatteries-schema.json",
    CI: "Circularity_1.2.0_Circularity-schema.json",
    LB: "Labels_1.2.0_Labeling-schema.json",
    SC: "SupplyChainDueDiligence_1.2.0_SupplyChainDueDiligence-schema.json",
}
PERFORMANCE_SCHEMAS = {
    "1.2.1": "Performance_1.2.1_PerformanceAndDurability.schema",
    "1.2.0": "Performance_1.2.0_PerformanceAndDurability-schema.json",
}
_TP = ("batteryTechicalProperties",)
_BC = ("batteryCondition",)
# PerformanceAndDurability 1.2.1 location -> where 1.2.0 keeps the value
V120_PATHS: dict[Loc, Loc] = {
    (*_TP, "roundTripEfficiencyat50PerCentCycleLife"): (*_BC, "roundTripEfficiencyat50PerCentCycleLife"),
    (*_TP, "roundTripEfficiencyFade"): (*_BC, "roundTripEfficiencyFade"),
    (*_TP, "powerFade"): (*_BC, "powerFade"),
    (*_BC, "energyThroughput", "energyThroughputValue"): (*_BC, "energyThroughput"),
    (*_BC, "remainingEnergy", "remainingEnergyValue"): (*_BC, "remainingEnergy", "remainingEnergyalue"),
    (*_BC, "evolutionOfSelfDischarge", "evolutionOfSelfDischargeValue"): (
        *_BC,
        "evolutionOfSelfDischarge",
        "evolutionOfSelfDischargeEntityValue",
    ),
    (*_BC, "currentSelfDischargingRate", "currentSelfDischargingRateValue"): (
        *_BC,
        "currentSelfDischargingRate",
        "currentSelfDischargingRateEntity",
    ),
}
# the e-mail pattern of GeneralProductInformation as the schema writes it (see the module docstring)
GPI_EMAIL = re.compile(r"^[w.-]+@[w.-]+.[A-Za-z]{2,}$")
SPARE_EMAIL = re.compile(r"^[\w.-]+@[\w.-]+\.[A-Za-z]{2,}$")
_DATE_TIME_PATHS = frozenset({f"{GPI}:manufacturingDate", f"{GPI}:puttingIntoService"})
_DOCUMENT_TYPES = ("BillOfMaterial", "Model3D", "DismantlingManual", "RemovalManual", "OtherManual", "Drawing")
_LABEL_SUBJECTS = ("SeparateCollection", "HazardousMaterial", "CarbonFootPrint", "ExtinguishingAgent")
_HAZARD_CLASSES = ("AcuteToxicity", "SkinCorrosionOrIrritation", "EyeDamageOrIrritation")
_MATERIALS = {"cobalt": "Cobalt", "nickel": "Nickel", "lithium": "Lithium", "lead": "Lead"}
_STAGES = {
    "raw_material_acquisition": "RawMaterialExtraction",
    "main_product_production": "MainProduction",
    "distribution": "Distribution",
    "end_of_life_and_recycling": "Recycling",
}
_CAS = re.compile(r"^\d{2,7}-\d{2}-\d{1}$")
_COMPONENTS = {"pack": "pack", "module": "module", "cell": "cell"}


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).lower()


def _canonical(value: str | None, options: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    return next((o for o in options if _norm(o) == _norm(value)), None)


def _array(ctx: ImportContext, part: str, loc: Loc) -> list[tuple[Loc, Any]]:
    raw = ctx.get(part, loc)
    if raw is MISSING:
        return []
    if not isinstance(raw, list):
        ctx.defect(part, loc, f"{short(raw)} is not an array", "an array")
        ctx.skip(part, loc, "not an array")
        return []
    if not raw:
        ctx.consume(part, loc)
    return [((*loc, i), item) for i, item in enumerate(raw)]


# ---------------------------------------------------------------------------------------------------------------------
# General product information


def _address(key: str, part: str, loc: Loc) -> Transform:
    def export(ctx: ExportContext) -> None:
        if ctx.has(key):
            a = split_address(str(ctx.value(key)))
            ctx.put(part, loc, {"streetAddress": a.street, "postalCode": a.postcode_place, "addressCountry": a.country})

    def import_(ctx: ImportContext) -> None:
        raw = ctx.get(part, loc)
        if not isinstance(raw, Mapping):
            return
        parts = [ctx.read(part, (*loc, n), "text") for n in ("streetAddress", "postalCode", "addressCountry")]
        ctx.consume(part, loc)
        text = join_address(*(str(p) if p is not None else "" for p in parts))
        if text:
            ctx.set(key, text)

    export.__doc__ = (
        f'{key} ("street, postcode place, country") <-> {part}:{render(None, loc)} {{streetAddress, '
        "postalCode (postcode and place: the model has no place field), addressCountry}."
    )
    import_.__doc__ = export.__doc__
    return Transform((key,), export, import_)


def _email(key: str, part: str, loc: Loc) -> Transform:
    def export(ctx: ExportContext) -> None:
        if not ctx.has(key):
            return
        email = str(ctx.value(key))
        if GPI_EMAIL.match(email):
            ctx.put(part, loc, email)
        else:
            ctx.lose(key, f"{email} does not fit the model's e-mail pattern {GPI_EMAIL.pattern} (see batterypass.py)")

    def import_(ctx: ImportContext) -> None:
        raw = ctx.take(part, loc)
        if raw is MISSING:
            return
        if not isinstance(raw, str) or not GPI_EMAIL.match(raw):
            ctx.defect(
                part,
                loc,
                f"{short(raw)} does not match the schema pattern {GPI_EMAIL.pattern}",
                f"text matching {GPI_EMAIL.pattern}",
            )
        ctx.set(key, raw)

    export.__doc__ = f"{key} <-> {part}:{render(None, loc)}, where the address fits the model's pattern."
    import_.__doc__ = export.__doc__
    return Transform((key,), export, import_)


# ---------------------------------------------------------------------------------------------------------------------
# Performance and durability


_RESISTANCE = {
    "pack": "initial_internal_resistance_pack_mOhm",
    "module": "initial_internal_resistance_module_mOhm",
    "cell": "initial_internal_resistance_cell_mOhm",
}
_INCREASE = {
    "pack": "internal_resistance_increase_pct",
    "module": "internal_resistance_increase_module_pct",
    "cell": "internal_resistance_increase_cell_pct",
}


def _export_resistance(ctx: ExportContext) -> None:
    """The initial internal resistances <-> ``initialInternalResistance[]`` {ohmicResistance [Ohm],
    batteryComponent pack|module|cell}."""
    out = [
        {"ohmicResistance": convert(ctx.value(key), "mOhm", "Ohm"), "batteryComponent": component}
        for component, key in _RESISTANCE.items()
        if ctx.has(key)
    ]
    ctx.put(PD, (*_TP, "initialInternalResistance"), out)


def _import_resistance(ctx: ImportContext) -> None:
    """See the export; a second value for one component is reported."""
    for loc, item in _array(ctx, PD, (*_TP, "initialInternalResistance")):
        component = item.get("batteryComponent") if isinstance(item, Mapping) else None
        key = _RESISTANCE.get(str(component))
        value = item.get("ohmicResistance") if isinstance(item, Mapping) else None
        if key is None or value is None:
            ctx.skip(PD, loc, f"a resistance of component {short(component)}: pack, module or cell with a value")
            continue
        if key in ctx.result.data:
            ctx.skip(PD, loc, f"a further resistance of the {component}: {key} holds one")
            continue
        if not is_number(value):
            ctx.defect(PD, (*loc, "ohmicResistance"), f"{short(value)} is not a number", "a number")
        ctx.consume(PD, loc)
        ctx.set(key, convert(value, "Ohm", "mOhm") if is_number(value) else value)


def _export_increase(ctx: ExportContext) -> None:
    """The internal resistance increases <-> ``batteryCondition.internalResistanceIncrease[]``
    {internalResistanceIncreaseValue [%], batteryComponent, lastUpdate}."""
    out = [
        {
            "internalResistanceIncreaseValue": ctx.value(key),
            "batteryComponent": component,
            "lastUpdate": ctx.time_of(key),
        }
        for component, key in _INCREASE.items()
        if ctx.has(key)
    ]
    ctx.put(PD, (*_BC, "internalResistanceIncrease"), out)


def _import_increase(ctx: ImportContext) -> None:
    """See the export; the lastUpdate of each entry is the measurement time of its attribute."""
    for loc, item in _array(ctx, PD, (*_BC, "internalResistanceIncrease")):
        component = item.get("batteryComponent") if isinstance(item, Mapping) else None
        key = _INCREASE.get(str(component))
        value = item.get("internalResistanceIncreaseValue") if isinstance(item, Mapping) else None
        if key is None or value is None:
            ctx.skip(PD, loc, f"a resistance increase of component {short(component)}: pack, module or cell")
            continue
        if key in ctx.result.data:
            ctx.skip(PD, loc, f"a further increase of the {component}: {key} holds one")
            continue
        if not is_number(value):
            ctx.defect(PD, (*loc, "internalResistanceIncreaseValue"), f"{short(value)} is not a number", "a number")
        ctx.consume(PD, (*loc, "internalResistanceIncreaseValue"))
        ctx.consume(PD, (*loc, "batteryComponent"))
        ctx.set(key, value)
        ctx.observe(key, PD, (*loc, "lastUpdate"))


def _export_original_power(ctx: ExportContext) -> None:
    """original_power_capability <-> ``originalPowerCapability[]`` {atSoC [%], powerCapabilityAt [W]}."""
    entries = ctx.value("original_power_capability") or []
    ctx.put(
        PD,
        (*_TP, "originalPowerCapability"),
        [{"atSoC": e["soc_pct"], "powerCapabilityAt": e["power_W"]} for e in entries],
    )
    if any(e.get("measured_at") for e in entries):
        ctx.lose("original_power_capability", "Battery Pass has no measurement time for the original power capability")


def _import_original_power(ctx: ImportContext) -> None:
    """See the export."""
    out = []
    for loc, item in _array(ctx, PD, (*_TP, "originalPowerCapability")):
        if not isinstance(item, Mapping):
            ctx.skip(PD, loc, "not a power capability record")
            continue
        soc = ctx.read(PD, (*loc, "atSoC"), "number")
        power = ctx.read(PD, (*loc, "powerCapabilityAt"), "number")
        if soc is not None and power is not None:
            out.append({"soc_pct": soc, "power_W": power})
    if out:
        ctx.set("original_power_capability", out)


def _export_remaining_power(ctx: ExportContext) -> None:
    """remaining_power_capability <-> ``batteryCondition.remainingPowerCapability`` (1.2.1: one object
    {remainingPowerCapabilityValue {atSoC, powerCapabilityAt, rPCLastUpdated}, lastUpdate}; the entry at 80 %,
    else the first, is written)."""
    entries = ctx.value("remaining_power_capability") or []
    if any(e.get("soc_pct") is None for e in entries):
        ctx.lose("remaining_power_capability", "the model holds a remaining power at a state of charge only")
    entries = [e for e in entries if e.get("soc_pct") is not None]
    if not entries:
        return
    entry = next((e for e in entries if float(e["soc_pct"]) == 80.0), entries[0])
    if len(entries) > 1:
        ctx.lose(
            "remaining_power_capability",
            "Battery Pass 1.2.1 holds the remaining power capability at one state of charge",
        )
    if not entry.get("measured_at"):
        ctx.lose("remaining_power_capability", "the model wants a time per entry; the passport's time was written")
    when = ctx.time_of("remaining_power_capability")
    ctx.put(
        PD,
        (*_BC, "remainingPowerCapability"),
        {
            "remainingPowerCapabilityValue": {
                "atSoC": entry["soc_pct"],
                "powerCapabilityAt": entry["power_W"],
                "rPCLastUpdated": utc_text(str(entry.get("measured_at") or when)),
            },
            "lastUpdate": when,
        },
    )


def _import_remaining_power(ctx: ImportContext) -> None:
    """One object (1.2.1) or an array of them (1.2.0), each giving one entry."""
    loc0: Loc = (*_BC, "remainingPowerCapability")
    raw = ctx.get(PD, loc0)
    if raw is MISSING:
        return
    items = [(loc0, raw)] if isinstance(raw, Mapping) else _array(ctx, PD, loc0)
    out = []
    for loc, item in items:
        value = item.get("remainingPowerCapabilityValue") if isinstance(item, Mapping) else None
        if not isinstance(value, Mapping) or "atSoC" not in value or "powerCapabilityAt" not in value:
            ctx.skip(PD, loc, "a remaining power capability without state of charge and power")
            continue
        vloc: Loc = (*loc, "remainingPowerCapabilityValue")
        soc = ctx.read(PD, (*vloc, "atSoC"), "number")
        power = ctx.read(PD, (*vloc, "powerCapabilityAt"), "number")
        when = ctx.read(PD, (*vloc, "rPCLastUpdated"), "text")
        if soc is None or power is None:
            continue
        entry: dict[str, Any] = {"soc_pct": soc, "power_W": power}
        if isinstance(when, str):
            try:
                entry["measured_at"] = utc_text(when)
            except ValueError:
                ctx.defect(PD, (*vloc, "rPCLastUpdated"), f"{when!r} is not a date-time", "an ISO 8601 date-time")
        out.append(entry)
        ctx.observe("remaining_power_capability", PD, (*loc, "lastUpdate"))
    if out:
        ctx.set("remaining_power_capability", out)


def _export_negative_events(ctx: ExportContext) -> None:
    """negative_events <-> ``batteryCondition.negativeEvents[]`` {negativeEvent, lastUpdate}."""
    out = []
    for e in ctx.value("negative_events") or []:
        if not e.get("time"):
            ctx.lose("negative_events", "an event without a time: the model wants one; the passport's time was written")
        out.append(
            {"negativeEvent": e["event"], "lastUpdate": utc_text(str(e.get("time") or ctx.time_of("negative_events")))}
        )
    ctx.put(PD, (*_BC, "negativeEvents"), out)


def _import_negative_events(ctx: ImportContext) -> None:
    """See the export."""
    out = []
    for loc, item in _array(ctx, PD, (*_BC, "negativeEvents")):
        if not isinstance(item, Mapping) or not isinstance(item.get("negativeEvent"), str):
            ctx.skip(PD, loc, "a negative event without its description")
            continue
        event: dict[str, Any] = {"event": ctx.take(PD, (*loc, "negativeEvent"))}
        when = ctx.read(PD, (*loc, "lastUpdate"), "text")
        if isinstance(when, str):
            try:
                event["time"] = utc_text(when)
            except ValueError:
                ctx.defect(PD, (*loc, "lastUpdate"), f"{when!r} is not a date-time", "an ISO 8601 date-time")
        out.append(event)
    if out:
        ctx.set("negative_events", out)


# ---------------------------------------------------------------------------------------------------------------------
# Material composition and carbon footprint


def _cas(ctx: ImportContext, loc: Loc) -> Any:
    return ctx.cas_number(MC, loc)


def _location(ctx: ImportContext, loc: Loc) -> tuple[Any, Any]:
    name = ctx.read(MC, (*loc, "componentName"), "text")
    ident = ctx.read(MC, (*loc, "componentId"), "text")
    ctx.consume(MC, loc)
    return name, ident


def _cas_out(ctx: ExportContext, key: str, entry: Mapping[str, Any]) -> str | None:
    """The identifier of a material or substance where it is a CAS number (the only scheme of the model)."""
    identifier, scheme = entry.get("identifier"), entry.get("identifier_scheme")
    if identifier is None:
        return None
    if scheme in (None, "CAS") and _CAS.match(identifier):
        return str(identifier)
    ctx.lose(key, f"{identifier} is not a CAS number (scheme {scheme or 'not given'})")
    return None


def _export_materials(ctx: ExportContext) -> None:
    """detailed_composition <-> ``batteryMaterials[]``: location (componentName, componentId), CAS number, name,
    mass [g], critical-raw-material flag. Concentration, recycled and renewable shares have no place."""
    out = []
    for m in ctx.value("detailed_composition") or []:
        location = {
            k: v
            for k, v in (("componentName", m.get("component")), ("componentId", m.get("component_id")))
            if v is not None
        }
        item: dict[str, Any] = {"batteryMaterialLocation": location, "batteryMaterialName": m["name"]}
        cas = _cas_out(ctx, "detailed_composition", m)
        if cas is not None:
            item["batteryMaterialIdentifier"] = cas
        if m.get("mass_kg") is not None:
            item["batteryMaterialMass"] = convert(m["mass_kg"], "kg", "g")
        if m.get("critical_raw_material") is not None:
            item["isCriticalRawMaterial"] = m["critical_raw_material"]
        if any(m.get(k) is not None for k in ("concentration_pct", "recycled_pct", "renewable_pct")):
            ctx.lose(
                "detailed_composition",
                "Battery Pass has no place for a material's concentration, recycled or renewable share",
            )
        if m.get("documents"):
            ctx.lose("detailed_composition", "Battery Pass has no place for the documentation of a material")
        out.append(item)
    ctx.put(MC, ("batteryMaterials",), out)


def _import_materials(ctx: ImportContext) -> None:
    """See the export; the mass is converted from grams."""
    out = []
    for loc, item in _array(ctx, MC, ("batteryMaterials",)):
        if not isinstance(item, Mapping) or not isinstance(item.get("batteryMaterialName"), str):
            ctx.skip(MC, loc, "a material without a name")
            continue
        component, component_id = _location(ctx, (*loc, "batteryMaterialLocation"))
        mass = ctx.read(MC, (*loc, "batteryMaterialMass"), "number")
        mat = {
            "name": ctx.take(MC, (*loc, "batteryMaterialName")),
            "identifier": _cas(ctx, (*loc, "batteryMaterialIdentifier")),
            "identifier_scheme": "CAS" if item.get("batteryMaterialIdentifier") is not None else None,
            "component": component,
            "component_id": component_id,
            "mass_kg": convert(mass, "g", "kg") if is_number(mass) else mass,
            "critical_raw_material": ctx.read(MC, (*loc, "isCriticalRawMaterial"), "boolean"),
        }
        out.append({k: v for k, v in mat.items() if v is not None})
    if out:
        ctx.set("detailed_composition", out)


def _export_hazardous(ctx: ExportContext) -> None:
    """hazardous_substances <-> ``hazardousSubstances[]``: class (one of the model's three CLP classes), name,
    concentration [%], impact statements, location (componentName, componentId), CAS number."""
    out = []
    for s in ctx.value("hazardous_substances") or []:
        item: dict[str, Any] = {
            "hazardousSubstanceName": s["name"],
            "hazardousSubstanceImpact": list(s.get("impact", [])),
        }
        cls = _canonical(s.get("hazard_class"), _HAZARD_CLASSES)
        if cls is not None:
            item["hazardousSubstanceClass"] = cls
        elif s.get("hazard_class") is not None:
            ctx.lose(
                "hazardous_substances", f"hazard class {s['hazard_class']!r} is none of {', '.join(_HAZARD_CLASSES)}"
            )
        if s.get("concentration_pct") is not None:
            item["hazardousSubstanceConcentration"] = s["concentration_pct"]
        cas = _cas_out(ctx, "hazardous_substances", s)
        if cas is not None:
            item["hazardousSubstanceIdentifier"] = cas
        if s.get("critical_raw_material") is not None:
            ctx.lose("hazardous_substances", "Battery Pass has no critical-raw-material flag for a hazardous substance")
        if s.get("documents") or s.get("impact_documents"):
            ctx.lose(
                "hazardous_substances",
                "Battery Pass has no place for the documentation or impact documents of a hazardous substance",
            )
        item["hazardousSubstanceLocation"] = {
            k: v
            for k, v in (("componentName", s.get("location")), ("componentId", s.get("location_id")))
            if v is not None
        }
        out.append(item)
    ctx.put(MC, ("hazardousSubstances",), out)


def _import_hazardous(ctx: ImportContext) -> None:
    """See the export."""
    out = []
    for loc, item in _array(ctx, MC, ("hazardousSubstances",)):
        if not isinstance(item, Mapping) or not isinstance(item.get("hazardousSubstanceName"), str):
            ctx.skip(MC, loc, "a hazardous substance without a name")
            continue
        location, location_id = (
            _location(ctx, (*loc, "hazardousSubstanceLocation"))
            if isinstance(item.get("hazardousSubstanceLocation"), Mapping)
            else (None, None)
        )
        impact = ctx.read(MC, (*loc, "hazardousSubstanceImpact"), "texts")
        sub = {
            "name": ctx.take(MC, (*loc, "hazardousSubstanceName")),
            "identifier": _cas(ctx, (*loc, "hazardousSubstanceIdentifier")),
            "identifier_scheme": "CAS" if item.get("hazardousSubstanceIdentifier") is not None else None,
            "hazard_class": ctx.read(MC, (*loc, "hazardousSubstanceClass"), "text"),
            "concentration_pct": ctx.read(MC, (*loc, "hazardousSubstanceConcentration"), "number"),
            "location": location,
            "location_id": location_id,
            "impact": impact or None,
        }
        out.append({k: v for k, v in sub.items() if v is not None})
    if out:
        ctx.set("hazardous_substances", out)


def _export_stages(ctx: ExportContext) -> None:
    """carbon_footprint_per_lifecycle_stage <-> ``carbonFootprintPerLifecycleStage[]`` {lifecycleStage
    (RawMaterialExtraction, MainProduction, Distribution, Recycling), carbonFootprint [kg CO2e/kWh]}; the use stage
    has no place."""
    out = []
    for stage in ctx.value("carbon_footprint_per_lifecycle_stage") or []:
        name = _STAGES.get(stage["stage"])
        if name is None:
            ctx.lose("carbon_footprint_per_lifecycle_stage", f"Battery Pass has no stage {stage['stage']}")
            continue
        out.append({"lifecycleStage": name, "carbonFootprint": stage["kgCO2e_per_kWh"]})
    ctx.put(CF, ("carbonFootprintPerLifecycleStage",), out)


def _import_stages(ctx: ImportContext) -> None:
    """See the export."""
    reverse = {v: k for k, v in _STAGES.items()}
    out = []
    for loc, item in _array(ctx, CF, ("carbonFootprintPerLifecycleStage",)):
        stage = item.get("lifecycleStage") if isinstance(item, Mapping) else None
        if not isinstance(stage, str) or stage not in reverse or "carbonFootprint" not in item:
            ctx.skip(CF, loc, f"a footprint of stage {short(stage)}: not one of {', '.join(reverse)}")
            continue
        ctx.consume(CF, (*loc, "lifecycleStage"))
        value = ctx.read(CF, (*loc, "carbonFootprint"), "number")
        if value is not None:
            out.append({"stage": reverse[stage], "kgCO2e_per_kWh": value})
    if out:
        ctx.set("carbon_footprint_per_lifecycle_stage", out)


# ---------------------------------------------------------------------------------------------------------------------
# Circularity and labels


def _export_dismantling(ctx: ExportContext) -> None:
    """dismantling_information <-> ``dismantlingAndRemovalInformation[]`` {documentType (BillOfMaterial, Model3D,
    DismantlingManual, RemovalManual, OtherManual, Drawing), mimeType, documentURL}; titles have no place; a
    document without a type of the list is written as OtherManual."""
    out = []
    for d in ctx.value("dismantling_information") or []:
        kind = _canonical(d.get("document_type"), _DOCUMENT_TYPES)
        if kind is None:
            ctx.lose(
                "dismantling_information",
                f"document type {d.get('document_type')!r} is none of the model's; written as OtherManual",
            )
            kind = "OtherManual"
        if d.get("title"):
            ctx.lose("dismantling_information", "Battery Pass has no place for a document title")
        if not d.get("mime_type"):
            ctx.lose("dismantling_information", "the model wants a MIME type; application/octet-stream was written")
        out.append(
            {
                "documentType": kind,
                "mimeType": d.get("mime_type") or "application/octet-stream",
                "documentURL": d["url"],
            }
        )
    ctx.put(CI, ("dismantlingAndRemovalInformation",), out)


def _import_dismantling(ctx: ImportContext) -> None:
    """See the export."""
    out = []
    for loc, item in _array(ctx, CI, ("dismantlingAndRemovalInformation",)):
        if not isinstance(item, Mapping) or not isinstance(item.get("documentURL"), str):
            ctx.skip(CI, loc, "a document without its URL")
            continue
        doc: dict[str, Any] = {"url": ctx.take(CI, (*loc, "documentURL"))}
        for theirs, ours in (("documentType", "document_type"), ("mimeType", "mime_type")):
            value = ctx.read(CI, (*loc, theirs), "text")
            if value:
                doc[ours] = value
        out.append(doc)
    if out:
        ctx.set("dismantling_information", out)


def _one_link(key: str, part: str, loc: Loc) -> Transform:
    def export(ctx: ExportContext) -> None:
        docs = ctx.value(key) or []
        if not docs:
            return
        ctx.put(part, loc, docs[0]["url"])
        if len(docs) > 1 or any(k != "url" for k in docs[0]):
            ctx.lose(key, "Battery Pass holds one link, without title, type or MIME type")

    def import_(ctx: ImportContext) -> None:
        raw = ctx.read(part, loc, "text")
        if raw is not None:
            ctx.set(key, [{"url": raw}])

    export.__doc__ = f"{key} (list of Document) <-> {part}:{render(None, loc)}, one link (the first document's)."
    import_.__doc__ = export.__doc__
    return Transform((key,), export, import_)


def _export_spare_parts(ctx: ExportContext) -> None:
    """spare_part_sources <-> ``sparePartSources[]``: nameOfSupplier, addressOfSupplier (as the manufacturer's
    address), emailAddressOfSupplier, supplierWebAddress, components (partName, partNumber)."""
    out = []
    for s in ctx.value("spare_part_sources") or []:
        item: dict[str, Any] = {
            "nameOfSupplier": s["supplier_name"],
            "components": [
                {"partName": c["part_name"], "partNumber": c["part_number"]} for c in s.get("components", [])
            ],
        }
        if s.get("postal_address"):
            a = split_address(s["postal_address"])
            item["addressOfSupplier"] = {
                "streetAddress": a.street,
                "postalCode": a.postcode_place,
                "addressCountry": a.country,
            }
        if s.get("email"):
            item["emailAddressOfSupplier"] = s["email"]
        if s.get("web_address"):
            item["supplierWebAddress"] = s["web_address"]
        out.append(item)
    ctx.put(CI, ("sparePartSources",), out)


def _import_spare_parts(ctx: ImportContext) -> None:
    """See the export."""
    out = []
    for loc, item in _array(ctx, CI, ("sparePartSources",)):
        if not isinstance(item, Mapping) or not isinstance(item.get("nameOfSupplier"), str):
            ctx.skip(CI, loc, "a spare-part source without a supplier name")
            continue
        src: dict[str, Any] = {"supplier_name": ctx.take(CI, (*loc, "nameOfSupplier"))}
        address = item.get("addressOfSupplier")
        if isinstance(address, Mapping):
            parts = [
                ctx.read(CI, (*loc, "addressOfSupplier", n), "text")
                for n in ("streetAddress", "postalCode", "addressCountry")
            ]
            ctx.consume(CI, (*loc, "addressOfSupplier"))
            text = join_address(*(str(p) if p is not None else "" for p in parts))
            if text:
                src["postal_address"] = text
        for theirs, ours in (("emailAddressOfSupplier", "email"), ("supplierWebAddress", "web_address")):
            value = ctx.read(CI, (*loc, theirs), "text")
            if value is not None:
                src[ours] = value
        comps = []
        for cloc, comp in _array(ctx, CI, (*loc, "components")):
            if (
                isinstance(comp, Mapping)
                and isinstance(comp.get("partName"), str)
                and isinstance(comp.get("partNumber"), str)
            ):
                comps.append({"part_name": comp["partName"], "part_number": comp["partNumber"]})
                ctx.consume(CI, cloc)
            else:
                ctx.skip(CI, cloc, "a component without part name and number")
        if comps:
            src["components"] = comps
        out.append(src)
    if out:
        ctx.set("spare_part_sources", out)


def _export_recycled(ctx: ExportContext) -> None:
    """recycled_content <-> ``recycledContent[]`` {recycledMaterial, preConsumerShare, postConsumerShare} [%]."""
    out = []
    for r in ctx.value("recycled_content") or []:
        item: dict[str, Any] = {"recycledMaterial": _MATERIALS[r["material"]]}
        for ours, theirs in (("pre_consumer_pct", "preConsumerShare"), ("post_consumer_pct", "postConsumerShare")):
            if r.get(ours) is not None:
                item[theirs] = r[ours]
        if r.get("total_pct") is not None and (r.get("pre_consumer_pct") is None or r.get("post_consumer_pct") is None):
            ctx.lose("recycled_content", "Battery Pass holds the pre- and post-consumer shares, not their total alone")
        out.append(item)
    ctx.put(CI, ("recycledContent",), out)


def _import_recycled(ctx: ImportContext) -> None:
    """See the export."""
    reverse = {v.lower(): k for k, v in _MATERIALS.items()}
    out = []
    for loc, item in _array(ctx, CI, ("recycledContent",)):
        material = item.get("recycledMaterial") if isinstance(item, Mapping) else None
        if not isinstance(material, str) or material.lower() not in reverse:
            ctx.skip(CI, loc, f"recycled content of {short(material)}: Art. 8 names cobalt, lithium, nickel and lead")
            continue
        ctx.consume(CI, (*loc, "recycledMaterial"))
        entry: dict[str, Any] = {"material": reverse[material.lower()]}
        for theirs, ours in (("preConsumerShare", "pre_consumer_pct"), ("postConsumerShare", "post_consumer_pct")):
            value = ctx.read(CI, (*loc, theirs), "number")
            if value is not None:
                entry[ours] = value
        out.append(entry)
    if out:
        ctx.set("recycled_content", out)


def _export_labels(ctx: ExportContext) -> None:
    """labels <-> ``labels[]`` {labelingSubject (SeparateCollection, HazardousMaterial, CarbonFootPrint,
    ExtinguishingAgent), labelingSymbol, labelingMeaning ({language: text})}; a label of another subject, or
    without a symbol, has no place."""
    language = ctx.fmt.language if isinstance(ctx.fmt, BatteryPassFormat) else "en"
    out = []
    for label in ctx.value("labels") or []:
        subject = _canonical(label["subject"], _LABEL_SUBJECTS)
        if subject is None or not label.get("symbol_url"):
            ctx.lose(
                "labels",
                f"the label {label['subject']!r}: Battery Pass knows {', '.join(_LABEL_SUBJECTS)}, each with a symbol",
            )
            continue
        if subject != label["subject"]:
            ctx.lose("labels", f"the subject {label['subject']!r} is written as {subject}")
        out.append(
            {
                "labelingSubject": subject,
                "labelingSymbol": label["symbol_url"],
                "labelingMeaning": {language: label["meaning"]} if label.get("meaning") else {},
            }
        )
    ctx.put(LB, ("labels",), out)


def _import_labels(ctx: ImportContext) -> None:
    """See the export; of a meaning in several languages the passport's is kept and the others are reported."""
    language = ctx.fmt.language if isinstance(ctx.fmt, BatteryPassFormat) else "en"
    out = []
    for loc, item in _array(ctx, LB, ("labels",)):
        if not isinstance(item, Mapping) or not isinstance(item.get("labelingSubject"), str):
            ctx.skip(LB, loc, "a label without a subject")
            continue
        label: dict[str, Any] = {"subject": ctx.take(LB, (*loc, "labelingSubject"))}
        symbol = ctx.read(LB, (*loc, "labelingSymbol"), "text")
        if symbol is not None:
            label["symbol_url"] = symbol
        meaning = ctx.get(LB, (*loc, "labelingMeaning"))
        if isinstance(meaning, Mapping) and meaning:
            chosen = next((k for k in meaning if str(k).lower().startswith(language)), next(iter(meaning)))
            label["meaning"] = meaning[chosen]
            if not isinstance(meaning[chosen], str):
                ctx.defect(
                    LB, (*loc, "labelingMeaning", str(chosen)), f"{short(meaning[chosen])} is not a text", "a text"
                )
            ctx.consume(LB, (*loc, "labelingMeaning", str(chosen)))
            for other in meaning:
                if other != chosen:
                    ctx.skip(
                        LB,
                        (*loc, "labelingMeaning", str(other)),
                        f"the meaning in {other!r} is not kept: the label holds one text (the {chosen!r} one)",
                    )
        elif meaning is not MISSING and not isinstance(meaning, Mapping):
            ctx.defect(
                LB,
                (*loc, "labelingMeaning"),
                f"{short(meaning)} is not a {{language: text}} object",
                "an object {language: text} (SAMM MultiLanguageText)",
            )
            ctx.skip(LB, (*loc, "labelingMeaning"), "not a multi-language text")
        out.append(label)
    if out:
        ctx.set("labels", out)


# ---------------------------------------------------------------------------------------------------------------------
# The format


class BatteryPassFormat(MultiDocumentFormat):
    """Battery Pass 1.2: seven models, one JSON document each."""

    name = "batterypass-1.2"
    label = "Battery Pass"
    parts = (GPI, PD, MC, CF, CI, LB, SC)
    part_files: ClassVar[Mapping[str, str]] = {
        GPI: r"general_?product_?information",
        PD: r"performance",
        MC: r"material_?composition",
        CF: r"carbon_?footprint",
        CI: r"circularity",
        LB: r"label",
        SC: r"supply_?chain|due_?diligence",
    }
    enums: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "battery_category": {"ev": "ev", "lmt": "lmt", "industrial": "industrial"},
        "battery_status": {
            "original": "Original",
            "repurposed": "Repurposed",
            "re-used": "Reused",
            "remanufactured": "Remanufactured",
            "waste": "Waste",
        },
    }
    required_arrays = (
        (PD, (*_TP, "originalPowerCapability")),
        (PD, (*_TP, "initialInternalResistance")),
        (PD, (*_BC, "negativeEvents")),
        (PD, (*_BC, "internalResistanceIncrease")),
        (MC, ("batteryMaterials",)),
        (MC, ("hazardousSubstances",)),
        (CF, ("carbonFootprintPerLifecycleStage",)),
        (CI, ("dismantlingAndRemovalInformation",)),
        (CI, ("sparePartSources",)),
        (CI, ("recycledContent",)),
        (CI, ("safetyMeasures", "extinguishingAgent")),
        (LB, ("labels",)),
    )
    transforms = (
        _address("manufacturer_postal_address", GPI, ("manufacturerInformation", "postalAddress")),
        _email("manufacturer_email", GPI, ("manufacturerInformation", "emailAddress")),
        _address("manufacturing_place", GPI, ("manufacturingPlace",)),
        Transform(("hazardous_substances",), _export_hazardous, _import_hazardous),
        Transform(("carbon_footprint_per_lifecycle_stage",), _export_stages, _import_stages),
        Transform(("recycled_content",), _export_recycled, _import_recycled),
        Transform(("original_power_capability",), _export_original_power, _import_original_power),
        Transform(tuple(_RESISTANCE.values()), _export_resistance, _import_resistance),
        Transform(("labels",), _export_labels, _import_labels),
        Transform(("detailed_composition",), _export_materials, _import_materials),
        Transform(("spare_part_sources",), _export_spare_parts, _import_spare_parts),
        Transform(("dismantling_information",), _export_dismantling, _import_dismantling),
        _one_link("safety_measures", CI, ("safetyMeasures", "safetyInstructions")),
        _one_link("test_report_results", LB, ("resultOfTestReport",)),
        _one_link("eu_declaration_of_conformity", LB, ("declarationOfConformity",)),
        _one_link("carbon_footprint_study", CF, ("carbonFootprintStudy",)),
        _one_link("due_diligence_report", SC, ("supplyChainDueDiligenceReport",)),
        _one_link("third_party_assurance", SC, ("thirdPartyAussurances",)),
        _one_link("waste_prevention_information", CI, ("endOfLifeInformation", "wastePrevention")),
        _one_link("separate_collection_information", CI, ("endOfLifeInformation", "separateCollection")),
        _one_link("collection_and_reuse_information", CI, ("endOfLifeInformation", "informationOnCollection")),
        _one_link("cycle_life_reference_test", PD, (*_TP, "lifetimeReferenceTest")),
        Transform(tuple(_INCREASE.values()), _export_increase, _import_increase),
        Transform(("remaining_power_capability",), _export_remaining_power, _import_remaining_power),
        Transform(("negative_events",), _export_negative_events, _import_negative_events),
        _address("economic_operator_postal_address", GPI, ("operatorInformation", "postalAddress")),
        _email("economic_operator_email", GPI, ("operatorInformation", "emailAddress")),
    )

    def __init__(self, schema_dir: Any = None, *, language: str = "en") -> None:
        super().__init__(schema_dir)
        self.language = language

    def schema_file(self, part: str | None, document: Any) -> str:
        if part == PD:
            return PERFORMANCE_SCHEMAS[performance_version(document)]
        return SCHEMAS[str(part)]

    def prepare(self, ctx: ImportContext) -> None:
        """Detect the PerformanceAndDurability version; report what 1.2.0 cannot say."""
        ctx.result.version = performance_version(ctx.docs.get(PD))
        if ctx.result.version == "1.2.0":
            loc = (*_TP, "temperatureRangeIdleState")
            raw = ctx.get(PD, loc)
            if raw is not MISSING and not isinstance(raw, Mapping):
                ctx.skip(
                    PD,
                    loc,
                    f"Battery Pass 1.2.0 gives the idle temperature range as one number ({short(raw)}); "
                    "it does not say which boundary it is",
                )

    def alternatives(self, ctx: ImportContext, path: FieldPath) -> list[tuple[Loc, Loc | None]]:
        if path.part == PD and ctx.result.version == "1.2.0" and path.loc in V120_PATHS:
            old = V120_PATHS[path.loc]
            time_loc = (*old[:-1], path.time_key) if path.time_key else None
            return [(old, time_loc)]
        return super().alternatives(ctx, path)

    def encode(self, ctx: ExportContext, attr: Attribute, path: FieldPath, value: Any) -> Any:
        if path.text in _DATE_TIME_PATHS:
            return f"{super().encode(ctx, attr, path, value)}T00:00:00Z"
        return super().encode(ctx, attr, path, value)

    def decode(self, ctx: ImportContext, attr: Attribute, path: FieldPath, part: str | None, loc: Loc, raw: Any) -> Any:
        if path.text in _DATE_TIME_PATHS:
            if not isinstance(raw, str):
                ctx.defect(part, loc, f"{short(raw)} is not a date-time", "an ISO 8601 date-time")
                return raw
            try:
                datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                ctx.defect(part, loc, f"{raw!r} is not a date-time", "an ISO 8601 date-time")
                ctx.skip(part, loc, f"{raw!r} cannot be imported as a date", code="invalid_value")
                return SKIP
            return raw[:10]
        return super().decode(ctx, attr, path, part, loc, raw)

    def enum_aliases(self, key: str) -> dict[str, str]:
        # a stationary battery energy storage system is an industrial battery (Art. 3(1)(13), (14))
        return {"stationary": "industrial"} if key == "battery_category" else {}

    def finish(self, ctx: ImportContext) -> None:
        """Report the fields no attribute can hold, with the reason (see the module docstring)."""
        if ctx.get(GPI, ("warrentyPeriod",)) is not MISSING:
            ctx.skip(
                GPI,
                ("warrentyPeriod",),
                f"{short(ctx.get(GPI, ('warrentyPeriod',)))} is a month of the year "
                "(the model types the warranty period xsd:gMonth), not a period: it cannot be read as "
                "commercial_warranty_period",
            )
        if ctx.get(PD, (*_TP, "cRate")) is not MISSING:
            ctx.skip(
                PD,
                (*_TP, "cRate"),
                "cRate has the description of powerCapabilityRatio (imported as "
                "power_energy_ratio_W_per_Wh); no attribute holds it",
            )


def performance_version(document: Any) -> str:
    """ "1.2.0" when the PerformanceAndDurability document has the structure of 1.2.0, else "1.2.1"."""
    if not isinstance(document, Mapping):
        return "1.2.1"
    tp = document.get("batteryTechicalProperties")
    bc = document.get("batteryCondition")
    tp = tp if isinstance(tp, Mapping) else {}
    bc = bc if isinstance(bc, Mapping) else {}
    markers = (
        is_number(tp.get("temperatureRangeIdleState")),
        isinstance(bc.get("remainingPowerCapability"), list),
        is_number(bc.get("energyThroughput")),
        any(k in bc for k in ("powerFade", "roundTripEfficiencyFade", "roundTripEfficiencyat50PerCentCycleLife")),
        isinstance(bc.get("remainingEnergy"), Mapping) and "remainingEnergyalue" in bc["remainingEnergy"],
        isinstance(bc.get("evolutionOfSelfDischarge"), Mapping)
        and "evolutionOfSelfDischargeEntityValue" in bc["evolutionOfSelfDischarge"],
        isinstance(bc.get("currentSelfDischargingRate"), Mapping)
        and "currentSelfDischargingRateEntity" in bc["currentSelfDischargingRate"],
    )
    return "1.2.0" if any(markers) else "1.2.1"


__all__ = ["BatteryPassFormat", "performance_version"]
