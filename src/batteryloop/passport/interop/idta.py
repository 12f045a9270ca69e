"""IDTA-02035 battery passport submodels (parts 1-7) and the DPP metadata: value-only JSON, one file per part.

Parts: ``DigitalNameplate`` (IDTA-02035-1, Digital Nameplate for batteries 1.0.0), ``TechnicalData`` (-2, 1.0.1),
``ProductCondition`` (-3, 1.0.1), ``MaterialComposition`` (-4, 1.0.1), ``CarbonFootprint`` (-5, 1.0.0),
``Circularity`` (-6, 1.0.0), ``HandoverDocumentation`` (-7, 1.0.0) and ``DppMetadata`` (EN 18223, 1.0.0). A
directory holds one ``<Part>.json`` each; import also recognises the file names of the official examples
(``digital_nameplate_1.0.0_NameplateBattery.json`` ...).

The paths are in the ``idta_02035_path`` column of ``attributes.csv``; plain values are mapped by
:class:`~batteryloop.passport.interop.engine.DocumentFormat`. Units follow the ``samm-c:unit`` of the .ttl models:
resistances in ohm (ours mOhm), times in extreme temperatures in minutes (ours hours), masses in kilograms.
Two units of the models contradict their own descriptions and are read as the descriptions say:
``RemainingCapacityValue`` (unit kilowatt-hour; "corresponding with the definition of rated capacity", which is in
ampere-hours, DIN DKE SPEC 99100 6.7.2.3) is read in Ah, and ``PowerCapabilityAt`` of the remaining power
capability (unit percent; "pre-use power capability", in watts as in TechnicalData) in W.

Multi-language texts are written as the schemas' ``MultiLanguageTexts`` want them: an array of one-key
``{language: text}`` objects, ``[{"en": "..."}]`` (the language of the passport's texts is a parameter, English by
default). Import reads that form, and also the object form ``{"de": "..."}`` of the official examples, reporting the
latter as a defect of the source; of several languages the passport's own is kept and the others are reported.

Documents: the nameplate, the technical data (the cycle-life reference test), the circularity part, the carbon
footprint and the product condition refer to documents by identifier ("Document identifiers ... that can be found in
the Handover Documentation model"). Every document attribute of the passport is a list of Document structures; export
gives each document an identifier (``<attribute key>-<n>``, in the domain of the passport identifier) and writes it
to ``HandoverDocumentation.Documents[]`` with its file (``DigitalFiles``: URL and MIME type), title, a VDI 2770
class, and the passport's document type as a second classification. The number of the EU declaration of conformity
is a second identifier of its first document. Import resolves the identifiers the same way; an identifier that is no
document of the handover part but a URI is taken as the link itself. Substance and material identifiers are CAS
numbers in this model: another scheme (EC, IUPAC) has no place.

The structures this model shares with Battery Pass 1.2 (battery materials, hazardous substances, recycled content,
original and remaining power capability, negative events) are mapped by :mod:`.samm`, with the spelling and parts of
this model (:data:`IDTA`).

The DPP metadata (granularity, schema version, status, last update, content specifications) and the nameplate's
``URIOfTheProduct`` are registry metadata: export writes the registry's, import understands and does not import them
(a granularity other than ``Item`` is reported: the registry keeps one passport per battery).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from batteryloop.passport.attributes import Attribute
from batteryloop.passport.interop import samm
from batteryloop.passport.interop.engine import (
    SKIP,
    ExportContext,
    ImportContext,
    NotRepresentable,
    Transform,
    documented,
    is_number,
    join_address,
    keep_first,
    looks_like_uri,
    short,
    split_address,
    utc_text,
)
from batteryloop.passport.interop.paths import MISSING, FieldPath, Loc, render
from batteryloop.passport.interop.samm import SammFormat
from batteryloop.passport.interop.schema import MLT_EXPECTED, multilanguage_object_message

NP, TD, PC, MC, CF, CI, HD, DM = (
    "DigitalNameplate",
    "TechnicalData",
    "ProductCondition",
    "MaterialComposition",
    "CarbonFootprint",
    "Circularity",
    "HandoverDocumentation",
    "DppMetadata",
)
SCHEMAS = {
    NP: "digital_nameplate_1.0.0_NameplateBattery-schema.json",
    TD: "technical_data_1.0.1_TechnicalDataBattery-schema.json",
    PC: "product_condition_1.0.1_ProductConditionBattery-schema.json",
    MC: "material_composition_1.0.1_MaterialCompositionBattery-schema.json",
    CF: "carbon_footprint_1.0.0_CarbonFootprintBattery-schema.json",
    CI: "circularity_1.0.0_CircularityBattery-schema.json",
    HD: "handover_documentation_1.0.0_HandoverDocumentationBattery-schema.json",
    DM: "dpp_metadata_1.0.0_DppMetadata-schema.json",
}
DPP_SCHEMA_VERSION = "IDTA-02035 1.0"
DOCUMENT_TYPE_SYSTEM = "batteryloop document type"
DOC_NUMBER_DOMAIN = "EU declaration of conformity"
VDI2770 = "VDI2770 Blatt 1:2020"
# VDI 2770 Blatt 1:2020 document class of each document attribute
_VDI_CLASS = {
    "eu_declaration_of_conformity": ("02-04", "Certificates, declarations"),
    "test_report_results": ("02-04", "Certificates, declarations"),
    "carbon_footprint_study": ("02-01", "Technical specification"),
    "cycle_life_reference_test": ("03-04", "Inspection, maintenance, testing"),
    "dismantling_information": ("03-01", "Commissioning, decommissioning"),
    "safety_measures": ("03-03", "General safety"),
    "waste_prevention_information": ("03-02", "Operation"),
    "separate_collection_information": ("03-02", "Operation"),
    "collection_and_reuse_information": ("03-02", "Operation"),
    "negative_event_reports": ("03-04", "Inspection, maintenance, testing"),
}
# Life-cycle phases of DIN DKE SPEC 99100 that the model's description names for the Annex II stages
_PHASES = {
    "raw_material_acquisition": "A1 - raw material supply (and upstream production)",
    "main_product_production": "A3 - production",
    "distribution": "A4 - transport to final destination",
    "end_of_life_and_recycling": "C3 - recycling, waste treatment",
    "use": "B1-B7",
}
_PHASE_ALIASES = {"C1-C4": "end_of_life_and_recycling", "B1 - usage phase": "use"}
_WHOLE = [
    _PHASES[s]
    for s in ("raw_material_acquisition", "main_product_production", "distribution", "end_of_life_and_recycling")
]
_MIME = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
}
_MLT_PATHS = frozenset({f"{NP}:ManufacturerName"})
# what the mappings shared with Battery Pass (samm.py) need to know of this model
IDTA = samm.Model(label="IDTA-02035", component=("ComponentName", "ComponentId"), name_type=True)


def _mime_of(url: str) -> str:
    suffix = Path(url.split("?")[0]).suffix.lower()
    return _MIME.get(suffix, "application/octet-stream")


# ---------------------------------------------------------------------------------------------------------------------
# Multi-language texts


def mlt(text: str | None, language: str) -> list[dict[str, str]]:
    """``[{language: text}]``, or ``[]`` for no text: the schemas' MultiLanguageTexts."""
    return [{language: text}] if text else []


def mlt_in(ctx: ImportContext, part: str, loc: Loc, raw: Any) -> str | None:
    """The text of a MultiLanguageTexts value in the passport's language (else the first one).

    The object form ``{"de": "text"}`` (not what the schema wants) is read too, and reported as a defect.
    """
    language = samm.language(ctx)
    if isinstance(raw, str):
        ctx.defect(part, loc, f"a plain text {short(raw)} where the schema wants multi-language text", MLT_EXPECTED)
        ctx.consume(part, loc)
        return raw
    entries: list[tuple[Loc, str, Any]] = []
    if isinstance(raw, Mapping):
        ctx.defect(part, loc, multilanguage_object_message(raw), MLT_EXPECTED)
        entries = [((*loc, str(k)), str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping) or len(item) != 1:
                ctx.defect(part, (*loc, i), f"{short(item)} is not a {{language: text}} object", MLT_EXPECTED)
                ctx.skip(part, (*loc, i), "not a language-text pair")
                continue
            ((lang, text),) = item.items()
            entries.append(((*loc, i), str(lang), text))
    else:
        ctx.defect(part, loc, f"{short(raw)} is not multi-language text", MLT_EXPECTED)
        ctx.skip(part, loc, "not a text")
        return None
    if not entries:
        ctx.consume(part, loc)
        return None
    chosen = next((e for e in entries if e[1].lower().startswith(language)), entries[0])
    for entry_loc, lang, _text in entries:
        if entry_loc is chosen[0]:
            ctx.consume(part, entry_loc)
        else:
            ctx.skip(
                part,
                entry_loc,
                f"the text in {lang!r} is not kept: the attribute holds one text (the {chosen[1]!r} one)",
            )
    text = chosen[2]
    if not isinstance(text, str):
        ctx.defect(part, chosen[0], f"{short(text)} is not a text", "a text")
    return text if isinstance(text, str) else str(text)


# ---------------------------------------------------------------------------------------------------------------------
# Handover documentation


def _handover(ctx: ExportContext) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = ctx.state.setdefault("handover", [])
    return docs


def _add_document(
    ctx: ExportContext,
    key: str,
    identifier: str,
    doc: Mapping[str, Any],
    *,
    extra_ids: tuple[tuple[str, str], ...] = (),
) -> str:
    """Write one document to the handover part; returns its identifier."""
    language = samm.language(ctx)
    vdi_id, vdi_name = _VDI_CLASS[key]
    classes = [{"ClassId": vdi_id, "ClassName": mlt(vdi_name, "en"), "ClassificationSystem": VDI2770}]
    if doc.get("document_type"):
        classes.append(
            {
                "ClassId": doc["document_type"],
                "ClassName": mlt(doc["document_type"], language),
                "ClassificationSystem": DOCUMENT_TYPE_SYSTEM,
            }
        )
    file: dict[str, Any] = {"value": doc["url"]}
    if doc.get("mime_type"):
        file["contentType"] = doc["mime_type"]
    ids: list[dict[str, Any]] = [
        {"DocumentDomainId": ctx.meta.passport_id, "DocumentIdentifier": identifier, "DocumentIsPrimary": True}
    ]
    ids += [{"DocumentDomainId": d, "DocumentIdentifier": i, "DocumentIsPrimary": False} for d, i in extra_ids]
    _handover(ctx).append(
        {
            "DocumentIds": ids,
            "DocumentClassifications": classes,
            "DocumentVersions": [
                {"Language": [language], "Title": mlt(doc.get("title"), language), "DigitalFiles": [file]}
            ],
        }
    )
    return identifier


class _Resolved:
    def __init__(self, index: int, url: str | None, doc: dict[str, Any], extra: dict[str, str]) -> None:
        self.index = index
        self.url = url
        self.doc = doc  # a Document structure (url, title, document_type, mime_type)
        self.extra = extra  # further identifiers: domain -> identifier


def _index(ctx: ImportContext) -> dict[str, int]:
    index: dict[str, int] | None = ctx.state.get("index")
    if index is None:
        index = {}
        docs = ctx.get(HD, ("Documents",))
        for n, doc in enumerate(docs if isinstance(docs, list) else []):
            ids = doc.get("DocumentIds") if isinstance(doc, Mapping) else None
            for ident in ids if isinstance(ids, list) else []:
                if isinstance(ident, Mapping) and isinstance(ident.get("DocumentIdentifier"), str):
                    index.setdefault(ident["DocumentIdentifier"], n)
        ctx.state["index"] = index
        ctx.state["used"] = set()
    return index


def _resolve(ctx: ImportContext, key: str, identifier: str) -> _Resolved | None:
    """The handover document with ``identifier``, read into a Document structure (and consumed)."""
    n = _index(ctx).get(identifier)
    if n is None:
        return None
    ctx.state["used"].add(n)
    base: Loc = ("Documents", n)
    extra: dict[str, str] = {}
    for i, ident in ctx.items(HD, (*base, "DocumentIds")):
        iloc: Loc = (*base, "DocumentIds", i)
        if not isinstance(ident, Mapping):
            ctx.defect(HD, iloc, f"{short(ident)} is not a document identifier", "an object {DocumentDomainId, ...}")
            ctx.skip(HD, iloc, "not a document identifier")
            continue
        ctx.understood(HD, (*iloc, "DocumentDomainId"), "text")
        ctx.understood(HD, (*iloc, "DocumentIdentifier"), "text")
        ctx.understood(HD, (*iloc, "DocumentIsPrimary"), "boolean")
        if ident.get("DocumentIdentifier") == identifier:
            continue
        if key == "eu_declaration_of_conformity" and ident.get("DocumentDomainId") == DOC_NUMBER_DOMAIN:
            extra[DOC_NUMBER_DOMAIN] = str(ident.get("DocumentIdentifier"))
        else:
            ctx.skip(
                HD,
                iloc,
                f"a further identifier {short(ident.get('DocumentIdentifier'))} of document {identifier} is not kept",
            )
    doc: dict[str, Any] = {}
    url: str | None = None
    for v, version in ctx.items(HD, (*base, "DocumentVersions")):
        vloc: Loc = (*base, "DocumentVersions", v)
        if v > 0:
            ctx.skip(HD, vloc, f"a further version of document {identifier}: {key} keeps one")
            continue
        ctx.understood(HD, (*vloc, "Language"), "texts")
        title = (
            mlt_in(ctx, HD, (*vloc, "Title"), ctx.get(HD, (*vloc, "Title")))
            if isinstance(version, Mapping) and "Title" in version
            else None
        )
        for f, file in ctx.items(HD, (*vloc, "DigitalFiles")):
            floc: Loc = (*vloc, "DigitalFiles", f)
            if f > 0 or not isinstance(file, Mapping) or not isinstance(file.get("value"), str):
                ctx.skip(HD, floc, f"a further file of document {identifier}: {key} keeps one link")
                continue
            url = file["value"]
            ctx.consume(HD, (*floc, "value"))
            if "contentType" in file:
                mime = ctx.read(HD, (*floc, "contentType"), "text")
                if mime:
                    doc["mime_type"] = mime
        if title:
            doc["title"] = title
    vdi = _VDI_CLASS.get(key, ("", ""))[0]
    for c, cls in ctx.items(HD, (*base, "DocumentClassifications")):
        cloc: Loc = (*base, "DocumentClassifications", c)
        system = cls.get("ClassificationSystem") if isinstance(cls, Mapping) else None
        if system == DOCUMENT_TYPE_SYSTEM and isinstance(cls.get("ClassId"), str):
            doc["document_type"] = cls["ClassId"]
            ctx.understood(HD, (*cloc, "ClassName"), "mlt")
            ctx.consume(HD, cloc)
        elif system == VDI2770 and cls.get("ClassId") == vdi:
            ctx.understood(HD, (*cloc, "ClassName"), "mlt")
            ctx.consume(HD, cloc)
        else:
            ctx.skip(
                HD,
                cloc,
                f"the classification {short(cls.get('ClassId') if isinstance(cls, Mapping) else cls)} "
                f"({short(system)}) of document {identifier} is not kept",
            )
    if url is not None:
        doc = {"url": url, **doc}
    return _Resolved(n, url, doc, extra)


def _id_list(ctx: ImportContext, part: str, loc: Loc) -> list[tuple[Loc, str]]:
    raw = ctx.get(part, loc)
    if raw is MISSING:
        return []
    if isinstance(raw, str):
        ctx.defect(part, loc, f"a single value {short(raw)} where the schema wants an array", "an array")
        ctx.consume(part, loc)
        return [(loc, raw)]
    if not isinstance(raw, list):
        ctx.defect(part, loc, f"{short(raw)} is not an array", "an array of document identifiers")
        ctx.skip(part, loc, "not an array")
        return []
    if not raw:
        ctx.consume(part, loc)
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append(((*loc, i), item))
        else:
            ctx.defect(part, (*loc, i), f"{short(item)} is not a document identifier", "a text")
            ctx.skip(part, (*loc, i), "not a document identifier")
    return out


def _documents_transform(key: str, part: str, loc: Loc) -> Transform:
    doc = (
        f"{key} (list of Document) <-> documents of HandoverDocumentation referenced from "
        f"{part}:{render(None, loc)}[] (title, file URL and MIME type, document type)."
    )

    def export(ctx: ExportContext) -> None:
        docs = ctx.value(key) or []
        ids = [_add_document(ctx, key, f"{key}-{n + 1}", d) for n, d in enumerate(docs)]
        ctx.put(part, loc, ids)

    def import_(ctx: ImportContext) -> None:
        out = []
        for item_loc, identifier in _id_list(ctx, part, loc):
            resolved = _resolve(ctx, key, identifier)
            if resolved is not None and resolved.url:
                out.append(resolved.doc)
                ctx.consume(part, item_loc)
            elif resolved is None and looks_like_uri(identifier):
                out.append({"url": identifier})
                ctx.consume(part, item_loc)
            else:
                ctx.skip(
                    part,
                    item_loc,
                    f"document {identifier!r} is not in HandoverDocumentation (or has no file), so its link is unknown",
                )
        if out:
            ctx.set(key, out)

    return documented((key,), export, import_, doc)


def _export_conformity(ctx: ExportContext) -> None:
    """eu_declaration_of_conformity and eu_declaration_of_conformity_id <-> ``DigitalNameplate.EUDeclarationOf
    Conformity[]``: each document of the declaration is a handover document (title, file URL and MIME type, document
    type); the declaration's number is a second identifier of the first (domain "EU declaration of conformity"). A
    number without a document is written as the identifier itself."""
    key, number = "eu_declaration_of_conformity", ctx.value("eu_declaration_of_conformity_id")
    ids = []
    for n, doc in enumerate(ctx.value(key) or []):
        extra = ((DOC_NUMBER_DOMAIN, str(number)),) if number and n == 0 else ()
        ids.append(_add_document(ctx, key, f"{key}-{n + 1}", doc, extra_ids=extra))
    if not ids and number:
        ids.append(str(number))
    ctx.put(NP, ("EUDeclarationOfConformity",), ids)


def _import_conformity(ctx: ImportContext) -> None:
    """See the export; an identifier that is no handover document and no URI is read as the declaration's number."""
    key = "eu_declaration_of_conformity"
    docs = []
    for item_loc, identifier in _id_list(ctx, NP, ("EUDeclarationOfConformity",)):
        resolved = _resolve(ctx, key, identifier)
        if resolved is not None and resolved.url:
            docs.append(resolved.doc)
            ctx.consume(NP, item_loc)
            number = resolved.extra.get(DOC_NUMBER_DOMAIN)
            if number is not None:
                if "eu_declaration_of_conformity_id" in ctx.result.data:
                    ctx.skip(NP, item_loc, f"a further declaration number {number!r}: one is kept")
                else:
                    ctx.set("eu_declaration_of_conformity_id", number)
        elif resolved is None and looks_like_uri(identifier):
            docs.append({"url": identifier})
            ctx.consume(NP, item_loc)
        elif resolved is None and "eu_declaration_of_conformity_id" not in ctx.result.data:
            ctx.set("eu_declaration_of_conformity_id", identifier)
            ctx.consume(NP, item_loc)
        else:
            ctx.skip(NP, item_loc, f"document {identifier!r} has no file, or is a further declaration number")
    if docs:
        ctx.set(key, docs)


# ---------------------------------------------------------------------------------------------------------------------
# Nameplate


def _export_address(ctx: ExportContext) -> None:
    """manufacturer_postal_address ("street, postcode place, country") <-> ``AddressInformation`` Street, ZipCode,
    CityTown, NationalCode (each multi-language text); see :func:`~.engine.split_address`."""
    if not ctx.has("manufacturer_postal_address"):
        return
    lang = samm.language(ctx)
    a = split_address(str(ctx.value("manufacturer_postal_address")))
    for name, text in (
        ("Street", a.street),
        ("ZipCode", a.postcode),
        ("CityTown", a.place),
        ("NationalCode", a.country),
    ):
        ctx.put(NP, ("AddressInformation", name), mlt(text, lang))


def _import_address(ctx: ImportContext) -> None:
    """See the export."""
    parts = {}
    for name in ("Street", "ZipCode", "CityTown", "NationalCode"):
        raw = ctx.get(NP, ("AddressInformation", name))
        parts[name] = mlt_in(ctx, NP, ("AddressInformation", name), raw) if raw is not MISSING else None
    text = join_address(
        parts["Street"] or "",
        " ".join(p for p in (parts["ZipCode"], parts["CityTown"]) if p),
        parts["NationalCode"] or "",
    )
    if text:
        ctx.set("manufacturer_postal_address", text)


def _export_labels(ctx: ExportContext) -> None:
    """labels <-> ``Markings[]``: subject as MarkingName, symbol as MarkingFile (MIME type from the file
    extension), meaning as MarkingAdditionalText."""
    out = []
    for label in ctx.value("labels") or []:
        item: dict[str, Any] = {"MarkingName": label["subject"]}
        if label.get("symbol_url"):
            item["MarkingFile"] = {"value": label["symbol_url"], "contentType": _mime_of(label["symbol_url"])}
        if label.get("meaning"):
            item["MarkingAdditionalText"] = label["meaning"]
        out.append(item)
    ctx.put(NP, ("Markings",), out)


def _import_labels(ctx: ImportContext) -> None:
    """See the export; a MIME type other than the one the extension gives, certificates and dates are reported."""
    labels = []
    for i, item in ctx.items(NP, ("Markings",)):
        loc: Loc = ("Markings", i)
        if not isinstance(item, Mapping) or not isinstance(item.get("MarkingName"), str):
            ctx.skip(NP, loc, "a marking without a name")
            continue
        label: dict[str, Any] = {"subject": ctx.take(NP, (*loc, "MarkingName"))}
        file = item.get("MarkingFile")
        if isinstance(file, Mapping) and isinstance(file.get("value"), str):
            label["symbol_url"] = ctx.take(NP, (*loc, "MarkingFile", "value"))
            if file.get("contentType", MISSING) == _mime_of(label["symbol_url"]):
                ctx.consume(NP, (*loc, "MarkingFile", "contentType"))
        text = ctx.read(NP, (*loc, "MarkingAdditionalText"), "text")
        if isinstance(text, str) and text:
            label["meaning"] = text
        labels.append(label)
    if labels:
        ctx.set("labels", labels)


# ---------------------------------------------------------------------------------------------------------------------
# Technical data and product condition

_ORIGINAL_POWER = samm.original_power(
    IDTA, TD, ("TechnicalPropertyAreas", "PowerCapability", "OriginalPowerCapability")
)
_NEGATIVE_EVENTS = samm.negative_events(
    IDTA, PC, ("NegativeEvents",), event="NegativeEventValue", time="LastUpdate", required=False
)
# RemainingPowerCapabilityValue: what each property holds of an entry, in the model's order
_RPC_FIELDS = {"measured_at": "RPCLastUpdated", "soc_pct": "AtSoC", "power_W": "PowerCapabilityAt"}


def _import_remaining_power(ctx: ImportContext) -> None:
    """remaining_power_capability <- ``ProductCondition:RemainingPowerCapability``: one entry, its time from
    RPCLastUpdated; LastUpdate is the attribute's measurement time (see the export)."""
    value_loc: Loc = ("RemainingPowerCapability", "RemainingPowerCapabilityValue")
    raw = ctx.get(PC, value_loc)
    if raw is MISSING:
        return
    entry = samm.remaining_power_entry(ctx, PC, value_loc, raw, _RPC_FIELDS, report_at=value_loc)
    if entry is None:
        return
    ctx.set("remaining_power_capability", [entry])
    ctx.observe("remaining_power_capability", PC, ("RemainingPowerCapability", "LastUpdate"))


_REMAINING_POWER = Transform(
    ("remaining_power_capability",),
    samm.remaining_power_export(
        IDTA,
        PC,
        ("RemainingPowerCapability",),
        value="RemainingPowerCapabilityValue",
        fields=_RPC_FIELDS,
        time="LastUpdate",
    ),
    _import_remaining_power,
)


# ---------------------------------------------------------------------------------------------------------------------
# Material composition

_BATTERY_MATERIALS = samm.materials(
    IDTA,
    MC,
    ("BatteryMaterials",),
    location="BatteryMaterialLocation",
    name="BatteryMaterialName",
    identifier="BatteryMaterialIdentifier",
    mass="BatteryMaterialMass",
    critical="IsCriticalRawMaterial",
    mass_unit="kg",
)


def _export_hazardous(ctx: ExportContext) -> None:
    """hazardous_substances <-> ``HazardousSubstances[]``: name, CAS number, hazard class (one of the model's
    three CLP classes), concentration [%], impact statements, location (component name and id). An identifier of
    another scheme, the critical-raw-material flag, the documentation and the impact documents have no place."""
    out = []
    for s in ctx.value("hazardous_substances") or []:
        item: dict[str, Any] = {"HazardousSubstanceName": s["name"]}
        cas = samm.cas_out(ctx, "hazardous_substances", s)
        if cas is not None:
            item["HazardousSubstanceIdentifier"] = cas
        cls = s.get("hazard_class")
        if cls is not None:
            if cls in samm.HAZARD_CLASSES:
                item["HazardousSubstanceClass"] = cls
            else:
                ctx.lose("hazardous_substances", f"hazard class {cls!r} is none of {', '.join(samm.HAZARD_CLASSES)}")
        if s.get("concentration_pct") is not None:
            item["HazardousSubstanceConcentration"] = s["concentration_pct"]
        if s.get("impact"):
            item["HazardousSubstanceImpact"] = list(s["impact"])
        location = samm.location_out(IDTA, s.get("location"), s.get("location_id"))
        if location:
            item["HazardousSubstanceLocation"] = location
        samm.lose_substance_extras(ctx, IDTA, "hazardous_substances", s)
        out.append(item)
    ctx.put(MC, ("HazardousSubstances",), out)


_HAZARDOUS_SUBSTANCES = Transform(
    ("hazardous_substances",),
    _export_hazardous,
    samm.hazardous_import(
        IDTA,
        MC,
        ("HazardousSubstances",),
        name="HazardousSubstanceName",
        identifier="HazardousSubstanceIdentifier",
        hazard_class="HazardousSubstanceClass",
        concentration="HazardousSubstanceConcentration",
        impact="HazardousSubstanceImpact",
        location="HazardousSubstanceLocation",
    ),
)


# ---------------------------------------------------------------------------------------------------------------------
# Carbon footprint

_CF_KEYS = (
    "carbon_footprint_kgCO2e_per_kWh",
    "absolute_carbon_footprint_kgCO2e",
    "carbon_footprint_per_lifecycle_stage",
    "carbon_footprint_performance_class",
    "carbon_footprint_study",
    "carbon_footprint_methods",
)


def _export_carbon_footprint(ctx: ExportContext) -> None:
    """The carbon footprint attributes <-> ``ProductCarbonFootprints[]``.

    The footprint per kWh is a record with ReferenceImpactUnitForCalculation "kwH", quantity 1 and the four Annex II
    stages as LifeCyclePhases (the model asks for one record "that reflects the total PCF value (including all life
    cycle phases)"); each stage is a record with its one phase (A1, A3, A4, C3 as the model's description maps them;
    B1-B7 for use); the absolute footprint is a record per "piece". PcfCo2eq is in kg CO2e (DIN DKE SPEC 99100
    6.3.2). Every record carries the calculation methods, the performance class and the study (a handover document).
    """
    methods = list(ctx.value("carbon_footprint_methods") or [])
    study = [
        _add_document(ctx, "carbon_footprint_study", f"carbon_footprint_study-{n + 1}", doc)
        for n, doc in enumerate(ctx.value("carbon_footprint_study") or [])
    ]
    common: dict[str, Any] = {"PcfCalculationMethods": methods, "WebLinkToPublicCarbonFootprintStudy": study}
    if ctx.has("carbon_footprint_performance_class"):
        common["PerformanceClass"] = ctx.value("carbon_footprint_performance_class")
    records = []
    if ctx.has("carbon_footprint_kgCO2e_per_kWh"):
        records.append(
            {
                "PcfCo2eq": ctx.value("carbon_footprint_kgCO2e_per_kWh"),
                "ReferenceImpactUnitForCalculation": "kwH",
                "QuantityOfMeasureForCalculation": 1,
                "LifeCyclePhases": list(_WHOLE),
                **copy.deepcopy(common),
            }
        )
    for stage in ctx.value("carbon_footprint_per_lifecycle_stage") or []:
        records.append(
            {
                "PcfCo2eq": stage["kgCO2e_per_kWh"],
                "ReferenceImpactUnitForCalculation": "kwH",
                "QuantityOfMeasureForCalculation": 1,
                "LifeCyclePhases": [_PHASES[stage["stage"]]],
                **copy.deepcopy(common),
            }
        )
    if ctx.has("absolute_carbon_footprint_kgCO2e"):
        records.append(
            {
                "PcfCo2eq": ctx.value("absolute_carbon_footprint_kgCO2e"),
                "ReferenceImpactUnitForCalculation": "piece",
                "QuantityOfMeasureForCalculation": 1,
                "LifeCyclePhases": list(_WHOLE),
                **copy.deepcopy(common),
            }
        )
    if not records:
        for key in ("carbon_footprint_performance_class", "carbon_footprint_study", "carbon_footprint_methods"):
            if ctx.has(key):
                ctx.lose(key, "IDTA-02035 states it with a carbon footprint figure, and the passport gives none")
    ctx.put(CF, ("ProductCarbonFootprints",), records)


def _import_carbon_footprint(ctx: ImportContext) -> None:
    """Each record by its reference unit and life-cycle phases (see the export); PcfCo2eq is divided by the quantity
    of measure. A record per piece for a single phase, or in another unit (g, kg, l, ...), has no attribute and is
    reported; class, study and methods are read from the first record that has them."""
    loc0: Loc = ("ProductCarbonFootprints",)
    reverse = {v: k for k, v in _PHASES.items()} | _PHASE_ALIASES
    stages: list[dict[str, Any]] = []
    shared: dict[str, tuple[Loc, Any]] = {}
    for i, rec in ctx.items(CF, loc0):
        loc: Loc = (*loc0, i)
        if not isinstance(rec, Mapping):
            ctx.skip(CF, loc, "not a footprint record")
            continue
        for name, key in (
            ("PerformanceClass", "carbon_footprint_performance_class"),
            ("PcfCalculationMethods", "carbon_footprint_methods"),
        ):
            raw = ctx.get(CF, (*loc, name))
            if raw is MISSING:
                continue
            if name == "PcfCalculationMethods" and isinstance(raw, str):
                ctx.defect(CF, (*loc, name), f"a single value {short(raw)} where the schema wants an array", "an array")
                raw = [raw]
            elif name == "PcfCalculationMethods" and not (
                isinstance(raw, list) and all(isinstance(x, str) for x in raw)
            ):
                ctx.defect(CF, (*loc, name), f"{short(raw)} is not an array of texts", "an array of texts")
            elif name == "PerformanceClass" and not isinstance(raw, str):
                ctx.defect(CF, (*loc, name), f"{short(raw)} is not a text", "a text")
            keep_first(ctx, CF, (*loc, name), key, raw, shared)
        study_loc: Loc = (*loc, "WebLinkToPublicCarbonFootprintStudy")
        if ctx.get(CF, study_loc) is not MISSING:
            study = []
            for id_loc, identifier in _id_list(ctx, CF, study_loc):
                resolved = _resolve(ctx, "carbon_footprint_study", identifier)
                if resolved is not None and resolved.url:
                    study.append(resolved.doc)
                elif resolved is None and looks_like_uri(identifier):
                    study.append({"url": identifier})
                else:
                    ctx.skip(
                        CF, id_loc, f"document {identifier!r} is not in HandoverDocumentation, so its link is unknown"
                    )
            keep_first(ctx, CF, study_loc, "carbon_footprint_study", study, shared)
        _import_figure(ctx, loc, rec, reverse, stages)
    for key, (_, value) in shared.items():
        if value not in ([], None, ""):
            ctx.set(key, value)
    if stages:
        ctx.set("carbon_footprint_per_lifecycle_stage", stages)


def _import_figure(
    ctx: ImportContext, loc: Loc, rec: Mapping[str, Any], reverse: Mapping[str, str], stages: list[dict[str, Any]]
) -> None:
    phases = rec.get("LifeCyclePhases", [])
    if isinstance(phases, str):
        ctx.defect(
            CF,
            (*loc, "LifeCyclePhases"),
            f"a single value {short(phases)} where the schema wants an array",
            "an array of life-cycle phases",
        )
        phases = [phases]
    if not isinstance(phases, list) or not all(isinstance(p, str) for p in phases):
        ctx.defect(CF, (*loc, "LifeCyclePhases"), f"{short(phases)} is not a list of phases", "an array of texts")
        phases = []
    unit = rec.get("ReferenceImpactUnitForCalculation")
    quantity = rec.get("QuantityOfMeasureForCalculation", 1)
    value = rec.get("PcfCo2eq")
    figure = [
        (*loc, n)
        for n in ("PcfCo2eq", "ReferenceImpactUnitForCalculation", "QuantityOfMeasureForCalculation", "LifeCyclePhases")
    ]
    if not is_number(value) or not is_number(quantity) or quantity == 0:
        for f in figure:
            if ctx.get(CF, f) is not MISSING:
                ctx.skip(CF, f, "a footprint without a number and a non-zero quantity of measure")
        return
    per_unit = value / quantity if quantity != 1 else value
    target: str | None = None
    if unit == "kwH" and len(phases) == 1 and phases[0] in reverse:
        stages.append({"stage": reverse[phases[0]], "kgCO2e_per_kWh": per_unit})
    elif unit == "kwH" and len(phases) > 1:
        target = "carbon_footprint_kgCO2e_per_kWh"
    elif unit == "piece" and len(phases) > 1:
        target = "absolute_carbon_footprint_kgCO2e"
    else:
        ctx.skip(
            CF,
            (*loc, "PcfCo2eq"),
            f"a footprint of {short(value)} kg CO2e per {quantity:g} {unit} for the "
            f"life-cycle phase(s) {', '.join(map(str, phases))}: attributes.csv holds the total per kWh and per "
            "battery and the Annex II stages per kWh",
        )
        for f in figure:
            ctx.consume(CF, f)
        return
    if target is not None:
        if target in ctx.result.data:
            ctx.skip(CF, (*loc, "PcfCo2eq"), f"a further record for {target}")
        else:
            ctx.set(target, per_unit)
    for f in figure:
        ctx.consume(CF, f)


# ---------------------------------------------------------------------------------------------------------------------
# Circularity


def _export_spare_parts(ctx: ExportContext) -> None:
    """spare_part_sources <-> ``SparePartSources[]``: supplier name (multi-language), address (Street, PostalCode =
    postcode and place, NationalCode), e-mail, web address, components (PartName, PartNumber)."""
    lang = samm.language(ctx)
    out = []
    for s in ctx.value("spare_part_sources") or []:
        item: dict[str, Any] = {
            "NameOfSupplier": mlt(s["supplier_name"], lang),
            "Components": [
                {"PartName": c["part_name"], "PartNumber": c["part_number"]} for c in s.get("components", [])
            ],
        }
        if s.get("postal_address"):
            a = split_address(s["postal_address"])
            item["AddressOfSupplier"] = {
                "Street": mlt(a.street, lang),
                "PostalCode": mlt(a.postcode_place, lang),
                "NationalCode": mlt(a.country, lang),
            }
        if s.get("email"):
            item["EmailAddressOfSupplier"] = {"EmailAddress": s["email"]}
        if s.get("web_address"):
            item["SupplierWebAddress"] = s["web_address"]
        out.append(item)
    ctx.put(CI, ("SparePartSources",), out)


def _import_spare_parts(ctx: ImportContext) -> None:
    """See the export."""
    out = []
    for i, item in ctx.items(CI, ("SparePartSources",)):
        loc: Loc = ("SparePartSources", i)
        if not isinstance(item, Mapping) or "NameOfSupplier" not in item:
            ctx.skip(CI, loc, "a spare-part source without a supplier name")
            continue
        src: dict[str, Any] = {"supplier_name": mlt_in(ctx, CI, (*loc, "NameOfSupplier"), item["NameOfSupplier"])}
        address = item.get("AddressOfSupplier")
        if isinstance(address, Mapping):
            parts = [
                mlt_in(ctx, CI, (*loc, "AddressOfSupplier", n), address[n]) if n in address else None
                for n in ("Street", "PostalCode", "NationalCode")
            ]
            text = join_address(*(p or "" for p in parts))
            if text:
                src["postal_address"] = text
        email = ctx.read(CI, (*loc, "EmailAddressOfSupplier", "EmailAddress"), "text")
        if email is not None:
            src["email"] = email
        web = ctx.read(CI, (*loc, "SupplierWebAddress"), "text")
        if web is not None:
            src["web_address"] = web
        comps = []
        for c, comp in ctx.items(CI, (*loc, "Components")):
            cloc: Loc = (*loc, "Components", c)
            if (
                isinstance(comp, Mapping)
                and isinstance(comp.get("PartName"), str)
                and isinstance(comp.get("PartNumber"), str)
            ):
                comps.append({"part_name": comp["PartName"], "part_number": comp["PartNumber"]})
                ctx.consume(CI, (*cloc, "PartName"))
                ctx.consume(CI, (*cloc, "PartNumber"))
            else:
                ctx.skip(CI, cloc, "a component without part name and number")
        if comps:
            src["components"] = comps
        out.append(src)
    if out:
        ctx.set("spare_part_sources", out)


_RECYCLED_CONTENT = samm.recycled(
    IDTA,
    CI,
    ("RecycledContentInformation",),
    material="RecycledMaterial",
    pre="PreConsumerShare",
    post="PostConsumerShare",
)


# ---------------------------------------------------------------------------------------------------------------------
# The format


class IdtaFormat(SammFormat):
    """IDTA-02035 parts 1-7 and the DPP metadata, one JSON document per part."""

    name = "idta-02035"
    label = IDTA.label
    parts = (NP, TD, PC, MC, CF, CI, HD, DM)
    part_files: ClassVar[Mapping[str, str]] = {
        NP: r"nameplate",
        TD: r"technical_?data",
        PC: r"product_?condition",
        MC: r"material_?composition",
        CF: r"carbon_?footprint",
        CI: r"circularity",
        HD: r"handover",
        DM: r"dpp_?metadata",
    }
    enums: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "battery_category": {"ev": "ev", "lmt": "lmt", "industrial": "industrial"},
        "battery_status": {s: s for s in ("original", "repurposed", "re-used", "remanufactured", "waste")},
    }
    required_arrays = (
        (NP, ("Markings",)),
        (NP, ("ResultsOfTestReportsProvingCompliance",)),
        (TD, ("TechnicalPropertyAreas", "Lifetime", "CycleLifeReferenceTest")),
        (PC, ("InformationOnAccidents",)),
        (MC, ("BatteryMaterials",)),
        (MC, ("HazardousSubstances",)),
        (CI, ("DismantlingAndRemovalInformation",)),
        (CI, ("SparePartSources",)),
        (CI, ("RecycledContentInformation",)),
        (CI, ("SafetyMeasures", "SafetyInstructions")),
        (CI, ("SafetyMeasures", "ExtinguishingAgents")),
        (CI, ("EndOfLifeInformation", "WastePrevention")),
        (CI, ("EndOfLifeInformation", "SeparateCollection")),
        (CI, ("EndOfLifeInformation", "InformationOnCollection")),
    )
    transforms = (
        Transform(("manufacturer_postal_address",), _export_address, _import_address),
        _HAZARDOUS_SUBSTANCES,
        Transform(_CF_KEYS, _export_carbon_footprint, _import_carbon_footprint),
        _RECYCLED_CONTENT,
        _ORIGINAL_POWER,
        _documents_transform(
            "cycle_life_reference_test", TD, ("TechnicalPropertyAreas", "Lifetime", "CycleLifeReferenceTest")
        ),
        Transform(("labels",), _export_labels, _import_labels),
        Transform(
            ("eu_declaration_of_conformity", "eu_declaration_of_conformity_id"), _export_conformity, _import_conformity
        ),
        _documents_transform("waste_prevention_information", CI, ("EndOfLifeInformation", "WastePrevention")),
        _documents_transform("separate_collection_information", CI, ("EndOfLifeInformation", "SeparateCollection")),
        _documents_transform(
            "collection_and_reuse_information", CI, ("EndOfLifeInformation", "InformationOnCollection")
        ),
        _BATTERY_MATERIALS,
        Transform(("spare_part_sources",), _export_spare_parts, _import_spare_parts),
        _documents_transform("dismantling_information", CI, ("DismantlingAndRemovalInformation",)),
        _documents_transform("safety_measures", CI, ("SafetyMeasures", "SafetyInstructions")),
        _documents_transform("test_report_results", NP, ("ResultsOfTestReportsProvingCompliance",)),
        _REMAINING_POWER,
        _NEGATIVE_EVENTS,
        _documents_transform("negative_event_reports", PC, ("InformationOnAccidents",)),
    )

    def schema_file(self, part: str | None, document: Any) -> str:
        return SCHEMAS[str(part)]

    def encode(self, ctx: ExportContext, attr: Attribute, path: FieldPath, value: Any) -> Any:
        if path.text in _MLT_PATHS:
            return mlt(str(value), self.language)
        if attr.key == "commercial_warranty_period":
            return _no_weeks(str(value))
        return super().encode(ctx, attr, path, value)

    def decode(self, ctx: ImportContext, attr: Attribute, path: FieldPath, part: str | None, loc: Loc, raw: Any) -> Any:
        if path.text in _MLT_PATHS and part is not None:
            text = mlt_in(ctx, part, loc, raw)
            return SKIP if text is None else text
        return super().decode(ctx, attr, path, part, loc, raw)

    def export_meta(self, ctx: ExportContext) -> None:
        """URIOfTheProduct is the passport's public link; the DPP metadata (granularity Item, schema version, status,
        last update) come from the registry; the handover part lists the documents written by the transforms."""
        meta = ctx.meta
        ctx.put(NP, ("URIOfTheProduct",), meta.public_url)
        if ctx.get(DM, ("uniqueProductIdentifier",)) is MISSING:
            ctx.put(DM, ("uniqueProductIdentifier",), meta.public_url)
        ctx.put(DM, ("granularity",), "Item")
        ctx.put(DM, ("dppSchemaVersion",), DPP_SCHEMA_VERSION)
        ctx.put(DM, ("dppStatus",), meta.state)
        ctx.put(DM, ("lastUpdate",), utc_text(meta.updated_at))
        ctx.put(HD, ("Documents",), _handover(ctx))

    def import_meta(self, ctx: ImportContext) -> None:
        """Consume the registry metadata (see the module docstring)."""
        if ctx.get(DM, ("uniqueProductIdentifier",)) == ctx.get(NP, ("URIOfTheProduct",)):
            ctx.consume(DM, ("uniqueProductIdentifier",))  # the passport's link, written for want of an identifier
        ctx.understood(NP, ("URIOfTheProduct",), "text")
        for name in ("dppSchemaVersion", "dppStatus", "lastUpdate"):
            ctx.understood(DM, (name,), "text")
        ctx.understood(DM, ("contentSpecificationIds",), "texts")
        granularity = ctx.get(DM, ("granularity",))
        if granularity in (MISSING, "Item"):
            ctx.consume(DM, ("granularity",))
        else:
            ctx.skip(
                DM,
                ("granularity",),
                f"the source passport is per {short(granularity)}; the registry keeps one passport per battery (Item)",
            )

    def finish(self, ctx: ImportContext) -> None:
        """Report the handover documents that no field refers to."""
        _index(ctx)
        used = ctx.state.get("used", set())
        docs = ctx.get(HD, ("Documents",))
        for n, _doc in enumerate(docs if isinstance(docs, list) else []):
            if n not in used:
                ctx.skip(HD, ("Documents", n), "a document that no mapped field refers to")


def _no_weeks(text: str) -> str:
    """The model's duration pattern has no weeks: PnW is written as days."""
    m = re.fullmatch(r"P(\d+)W(?:(\d+)D)?", text)
    if m:
        return f"P{int(m.group(1)) * 7 + int(m.group(2) or 0)}D"
    if "W" in text:
        raise NotRepresentable(f"{text}: the model's duration has no weeks")
    return text


__all__ = ["IdtaFormat", "mlt", "mlt_in"]
