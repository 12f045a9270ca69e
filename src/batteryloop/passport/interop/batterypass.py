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
Substance and material identifiers are CAS numbers, as in IDTA-02035. The structures the models share with IDTA-02035
(battery materials, hazardous substances, recycled content, original and remaining power capability, negative events)
are mapped by :mod:`.samm`, with the spelling and models of Battery Pass (:data:`BP`).

What the models cannot hold, whatever the data: ``warrentyPeriod`` is typed ``xsd:gMonth`` (pattern ``--MM``: a month
of the year), so commercial_warranty_period has no place and an import reports the field; the e-mail pattern of
GeneralProductInformation (``^[w.-]+@[w.-]+.[A-Za-z]{2,}$``, a backslash short of ``\\w``) admits only addresses made
of the letter w, dots and hyphens, so an e-mail is written only where it fits that pattern. ``cRate`` ("ratio
between nominal battery power and energy", the same description as ``powerCapabilityRatio``) is reported on import.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from batteryloop.passport.attributes import Attribute
from batteryloop.passport.interop import samm
from batteryloop.passport.interop.engine import (
    SKIP,
    ExportContext,
    ImportContext,
    Transform,
    convert,
    documented,
    is_number,
    join_address,
    short,
    split_address,
)
from batteryloop.passport.interop.paths import MISSING, FieldPath, Loc, render
from batteryloop.passport.interop.samm import SammFormat

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
_STAGES = {
    "raw_material_acquisition": "RawMaterialExtraction",
    "main_product_production": "MainProduction",
    "distribution": "Distribution",
    "end_of_life_and_recycling": "Recycling",
}
_COMPONENTS = {"pack": "pack", "module": "module", "cell": "cell"}
# what the mappings shared with IDTA-02035 (samm.py) need to know of this model
BP = samm.Model(label="Battery Pass", component=("componentName", "componentId"), name_type=False)


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).lower()


def _canonical(value: str | None, options: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    return next((o for o in options if _norm(o) == _norm(value)), None)


# ---------------------------------------------------------------------------------------------------------------------
# General product information


def _address_out(text: str) -> dict[str, str]:
    """An address {streetAddress, postalCode, addressCountry}; postalCode holds postcode and place."""
    a = split_address(text)
    return {"streetAddress": a.street, "postalCode": a.postcode_place, "addressCountry": a.country}


def _address_in(ctx: ImportContext, part: str, loc: Loc) -> str:
    """The address object at ``loc`` (consumed) as one line (see :func:`_address_out`)."""
    parts = [ctx.read(part, (*loc, n), "text") for n in ("streetAddress", "postalCode", "addressCountry")]
    ctx.consume(part, loc)
    return join_address(*(str(p) if p is not None else "" for p in parts))


def _address(key: str, part: str, loc: Loc) -> Transform:
    doc = (
        f'{key} ("street, postcode place, country") <-> {part}:{render(None, loc)} {{streetAddress, '
        "postalCode (postcode and place: the model has no place field), addressCountry}."
    )

    def export(ctx: ExportContext) -> None:
        if ctx.has(key):
            ctx.put(part, loc, _address_out(str(ctx.value(key))))

    def import_(ctx: ImportContext) -> None:
        if not isinstance(ctx.get(part, loc), Mapping):
            return
        text = _address_in(ctx, part, loc)
        if text:
            ctx.set(key, text)

    return documented((key,), export, import_, doc)


def _email(key: str, part: str, loc: Loc) -> Transform:
    doc = f"{key} <-> {part}:{render(None, loc)}, where the address fits the model's pattern."

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

    return documented((key,), export, import_, doc)


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


def _per_component(
    ctx: ImportContext, loc: Loc, keys: Mapping[str, str], name: str, *, unknown: str, noun: str
) -> Iterator[tuple[Loc, str, Any]]:
    """The entries {``name``, batteryComponent} of the PerformanceAndDurability array at ``loc``, each with its
    location, the attribute of its component (``keys``) and its value (a defect when it is not a number). An entry of
    another component or without a value is reported (``unknown``, with the component), so is a second entry for a
    component (``noun``: what the entry holds)."""
    for item_loc, item in ctx.array(PD, loc):
        component = item.get("batteryComponent") if isinstance(item, Mapping) else None
        key = keys.get(str(component))
        value = item.get(name) if isinstance(item, Mapping) else None
        if key is None or value is None:
            ctx.skip(PD, item_loc, unknown.format(short(component)))
            continue
        if key in ctx.result.data:
            ctx.skip(PD, item_loc, f"a further {noun} of the {component}: {key} holds one")
            continue
        if not is_number(value):
            ctx.defect(PD, (*item_loc, name), f"{short(value)} is not a number", "a number")
        yield item_loc, key, value


def _import_resistance(ctx: ImportContext) -> None:
    """See the export; a second value for one component is reported."""
    for loc, key, value in _per_component(
        ctx,
        (*_TP, "initialInternalResistance"),
        _RESISTANCE,
        "ohmicResistance",
        unknown="a resistance of component {}: pack, module or cell with a value",
        noun="resistance",
    ):
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
    for loc, key, value in _per_component(
        ctx,
        (*_BC, "internalResistanceIncrease"),
        _INCREASE,
        "internalResistanceIncreaseValue",
        unknown="a resistance increase of component {}: pack, module or cell",
        noun="increase",
    ):
        ctx.consume(PD, (*loc, "internalResistanceIncreaseValue"))
        ctx.consume(PD, (*loc, "batteryComponent"))
        ctx.set(key, value)
        ctx.observe(key, PD, (*loc, "lastUpdate"))


_ORIGINAL_POWER = samm.original_power(BP, PD, (*_TP, "originalPowerCapability"))
_NEGATIVE_EVENTS = samm.negative_events(
    BP, PD, (*_BC, "negativeEvents"), event="negativeEvent", time="lastUpdate", required=True
)
# remainingPowerCapabilityValue: what each property holds of an entry, in the model's order
_RPC_FIELDS = {"soc_pct": "atSoC", "power_W": "powerCapabilityAt", "measured_at": "rPCLastUpdated"}


def _import_remaining_power(ctx: ImportContext) -> None:
    """remaining_power_capability <- ``PerformanceAndDurability:batteryCondition.remainingPowerCapability``: one
    object (1.2.1) or an array of them (1.2.0), each giving one entry, its time from rPCLastUpdated; lastUpdate is
    the attribute's measurement time (see the export)."""
    loc0: Loc = (*_BC, "remainingPowerCapability")
    raw = ctx.get(PD, loc0)
    if raw is MISSING:
        return
    items = [(loc0, raw)] if isinstance(raw, Mapping) else ctx.array(PD, loc0)
    out = []
    for loc, item in items:
        value = item.get("remainingPowerCapabilityValue") if isinstance(item, Mapping) else None
        vloc: Loc = (*loc, "remainingPowerCapabilityValue")
        entry = samm.remaining_power_entry(ctx, PD, vloc, value, _RPC_FIELDS, report_at=loc)
        if entry is None:
            continue
        out.append(entry)
        ctx.observe("remaining_power_capability", PD, (*loc, "lastUpdate"))
    if out:
        ctx.set("remaining_power_capability", out)


_REMAINING_POWER = Transform(
    ("remaining_power_capability",),
    samm.remaining_power_export(
        BP,
        PD,
        (*_BC, "remainingPowerCapability"),
        value="remainingPowerCapabilityValue",
        fields=_RPC_FIELDS,
        time="lastUpdate",
        label="Battery Pass 1.2.1",
    ),
    _import_remaining_power,
)


# ---------------------------------------------------------------------------------------------------------------------
# Material composition and carbon footprint

_BATTERY_MATERIALS = samm.materials(
    BP,
    MC,
    ("batteryMaterials",),
    location="batteryMaterialLocation",
    name="batteryMaterialName",
    identifier="batteryMaterialIdentifier",
    mass="batteryMaterialMass",
    critical="isCriticalRawMaterial",
    mass_unit="g",
)


def _export_hazardous(ctx: ExportContext) -> None:
    """hazardous_substances <-> ``hazardousSubstances[]``: class (one of the model's three CLP classes), name,
    concentration [%], impact statements, location (componentName, componentId), CAS number."""
    out = []
    for s in ctx.value("hazardous_substances") or []:
        item: dict[str, Any] = {
            "hazardousSubstanceName": s["name"],
            "hazardousSubstanceImpact": list(s.get("impact", [])),
        }
        cls = _canonical(s.get("hazard_class"), samm.HAZARD_CLASSES)
        if cls is not None:
            item["hazardousSubstanceClass"] = cls
        elif s.get("hazard_class") is not None:
            ctx.lose(
                "hazardous_substances",
                f"hazard class {s['hazard_class']!r} is none of {', '.join(samm.HAZARD_CLASSES)}",
            )
        if s.get("concentration_pct") is not None:
            item["hazardousSubstanceConcentration"] = s["concentration_pct"]
        cas = samm.cas_out(ctx, "hazardous_substances", s)
        if cas is not None:
            item["hazardousSubstanceIdentifier"] = cas
        samm.lose_substance_extras(ctx, BP, "hazardous_substances", s)
        item["hazardousSubstanceLocation"] = samm.location_out(BP, s.get("location"), s.get("location_id"))
        out.append(item)
    ctx.put(MC, ("hazardousSubstances",), out)


_HAZARDOUS_SUBSTANCES = Transform(
    ("hazardous_substances",),
    _export_hazardous,
    samm.hazardous_import(
        BP,
        MC,
        ("hazardousSubstances",),
        name="hazardousSubstanceName",
        identifier="hazardousSubstanceIdentifier",
        hazard_class="hazardousSubstanceClass",
        concentration="hazardousSubstanceConcentration",
        impact="hazardousSubstanceImpact",
        location="hazardousSubstanceLocation",
    ),
)


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
    for loc, item in ctx.array(CF, ("carbonFootprintPerLifecycleStage",)):
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
    for loc, item in ctx.array(CI, ("dismantlingAndRemovalInformation",)):
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
    doc = f"{key} (list of Document) <-> {part}:{render(None, loc)}, one link (the first document's)."

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

    return documented((key,), export, import_, doc)


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
            item["addressOfSupplier"] = _address_out(s["postal_address"])
        if s.get("email"):
            item["emailAddressOfSupplier"] = s["email"]
        if s.get("web_address"):
            item["supplierWebAddress"] = s["web_address"]
        out.append(item)
    ctx.put(CI, ("sparePartSources",), out)


def _import_spare_parts(ctx: ImportContext) -> None:
    """See the export."""
    out = []
    for loc, item in ctx.array(CI, ("sparePartSources",)):
        if not isinstance(item, Mapping) or not isinstance(item.get("nameOfSupplier"), str):
            ctx.skip(CI, loc, "a spare-part source without a supplier name")
            continue
        src: dict[str, Any] = {"supplier_name": ctx.take(CI, (*loc, "nameOfSupplier"))}
        address = item.get("addressOfSupplier")
        if isinstance(address, Mapping):
            text = _address_in(ctx, CI, (*loc, "addressOfSupplier"))
            if text:
                src["postal_address"] = text
        for theirs, ours in (("emailAddressOfSupplier", "email"), ("supplierWebAddress", "web_address")):
            value = ctx.read(CI, (*loc, theirs), "text")
            if value is not None:
                src[ours] = value
        comps = []
        for cloc, comp in ctx.array(CI, (*loc, "components")):
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


_RECYCLED_CONTENT = samm.recycled(
    BP, CI, ("recycledContent",), material="recycledMaterial", pre="preConsumerShare", post="postConsumerShare"
)


def _export_labels(ctx: ExportContext) -> None:
    """labels <-> ``labels[]`` {labelingSubject (SeparateCollection, HazardousMaterial, CarbonFootPrint,
    ExtinguishingAgent), labelingSymbol, labelingMeaning ({language: text})}; a label of another subject, or
    without a symbol, has no place."""
    language = samm.language(ctx)
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
    language = samm.language(ctx)
    out = []
    for loc, item in ctx.array(LB, ("labels",)):
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


class BatteryPassFormat(SammFormat):
    """Battery Pass 1.2: seven models, one JSON document each."""

    name = "batterypass-1.2"
    label = BP.label
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
        _HAZARDOUS_SUBSTANCES,
        Transform(("carbon_footprint_per_lifecycle_stage",), _export_stages, _import_stages),
        _RECYCLED_CONTENT,
        _ORIGINAL_POWER,
        Transform(tuple(_RESISTANCE.values()), _export_resistance, _import_resistance),
        Transform(("labels",), _export_labels, _import_labels),
        _BATTERY_MATERIALS,
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
        _REMAINING_POWER,
        _NEGATIVE_EVENTS,
        _address("economic_operator_postal_address", GPI, ("operatorInformation", "postalAddress")),
        _email("economic_operator_email", GPI, ("operatorInformation", "emailAddress")),
    )

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
