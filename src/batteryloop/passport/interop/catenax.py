"""Catena-X / Eclipse Tractus-X battery pass 6.1.0 (``urn:samm:io.catenax.battery.battery_pass:6.1.0``): one JSON.

The paths are in the ``catenax_6_1_path`` column of ``attributes.csv``; plain values are mapped by
:class:`~batteryloop.passport.interop.engine.DocumentFormat`. Units follow the ``samm-c:unit`` of the aspect model
(``6.1.0_BatteryPass.ttl``): resistances in ohm (ours mOhm), power in watt, energy in kilowatt-hours, capacity in
ampere-hours, temperatures in degrees Celsius; the weight is a value+unit object, written in gram like the model's
example and read in whatever mass unit it names. Dynamic values are ``{"value", "time"}`` records.

Transforms (each function's docstring gives the detail):

* identifiers chosen by a key: ``codes[]`` (GTIN, TARIC), ``serial[]`` (partInstanceId), ``batch[]`` (batchId); the
  product classifications (``classification[]``);
* the commercial warranty: an ISO 8601 period against ``lifeValue`` + ``lifeUnit`` (day, month, year);
* the carbon footprint: one ``carbonFootprint[]`` record per figure (total and absolute over the whole life cycle,
  and one per life-cycle stage), each with the performance class, the study (``declaration``) and the rulebook;
* per-element materials: ``materials.active`` (nickel, lithium, cobalt, lead, other) and ``materials.hazardous``
  (mercury, cadmium, lead, and the other hazardous substances), ``materials.composition[]``, each with its
  identification (name, identifier and its scheme CAS, EC or IUPAC), critical-raw-material flag, documentation and
  the documents on its impact; the recycled share of nickel, lithium, cobalt and lead is the Art. 8 recycled content;
* documents: every document list is ``[{"contentType", "header", "content"}]`` and a list of Document structures of
  the passport (title as header, MIME type as content type, link as content);
* the extinguishing agents with the fire class and their documentation; the power capability at 80 % and 20 % state
  of charge; the remaining power (without a state of charge); spare parts.

Registry metadata (``metadata.version``, ``status``, ``issueDate``, ``lastModification``, ``backupReference``,
``registrationIdentifier``, ``specVersion``) describes the source's record of the passport: export writes the
registry's own (``ExportMeta``), import reads it as understood but does not import it, since the receiving registry
keeps its own record. A predecessor other than the model's dummy (all-zero UUID) is reported in ``skipped``.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from batteryloop.passport.attributes import Attribute, attributes
from batteryloop.passport.interop.engine import (
    DocumentFormat,
    ExportContext,
    FormatImport,
    ImportContext,
    NotRepresentable,
    Transform,
    documented,
    is_number,
    keep_first,
    looks_like_uri,
    same,
    short,
    utc_text,
)
from batteryloop.passport.interop.paths import MISSING, FieldPath, Loc, render
from batteryloop.passport.interop.schema import date_problem
from batteryloop.passport.structures import ART_8_MATERIALS, scheme_of

SPEC_VERSION = "urn:io.catenax.battery.battery_pass:6.1.0"
DUMMY_PREDECESSOR = "urn:uuid:00000000-0000-0000-0000-000000000000"
STATE_STATUS = {"active": "approved", "closed": "expired", "superseded": "invalid"}

SAMM_UNITS = {
    "g": "unit:gram",
    "kg": "unit:kilogram",
    "t": "unit:tonneMetricTon",
    "mm": "unit:millimetre",
    "cm": "unit:centimetre",
    "m": "unit:metre",
}
# Catena-X materialUnit -> factor to percent (mass fraction); unit:percentVolume is a volume fraction and is refused.
CONCENTRATION_UNITS = {
    "unit:percent": 1.0,
    "unit:partPerThousand": 0.1,
    "unit:partPerMillion": 1e-4,
    "unit:partPerBillionUs": 1e-7,
    "unit:partPerTrillionUs": 1e-10,
}
_LINK_TYPES = frozenset({"url", "link", "uri"})
_SCHEMES = ("CAS", "EC", "IUPAC")
_HEADER_MAX = 100  # HeaderTrait: at most 100 characters
_PLAIN_TEXT = "text/plain"

# Annex II life-cycle stages (CarbonFootprintStage.stage) and how Catena-X names them (lifecycle, per its description)
_STAGES = {
    "raw_material_acquisition": "raw material acquisition and pre-processing",
    "main_product_production": "main product production",
    "distribution": "distribution",
    "end_of_life_and_recycling": "end of life and recycling",
    "use": "use",
}
_WHOLE_LIFE = "whole life cycle"
_WHOLE_LIFE_NAMES = frozenset(
    {_WHOLE_LIFE, "total", "all life cycle stages", "all lifecycle stages", "cradle to grave"}
)
_TOTAL_TYPE = "Climate Change Total"
_PER_KWH = "kg CO2e / kWh"
_ABSOLUTE = "kg CO2e"

_CF = ("sustainability", "carbonFootprint")
_ACTIVE = ("materials", "active")
_HAZARDOUS = ("materials", "hazardous")


# ---------------------------------------------------------------------------------------------------------------------
# Documents


def doc_out(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A Document structure as a Catena-X document: title -> header, MIME type -> contentType, url -> content."""
    return {
        "contentType": doc.get("mime_type") or "URL",
        "header": (doc.get("title") or "")[:_HEADER_MAX],
        "content": doc["url"],
    }


def docs_out(ctx: ExportContext, key: str, docs: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Documents of ``key`` as a Catena-X DocumentList; what the model cannot hold of them is recorded for ``key``."""
    out = []
    for doc in docs or []:
        if doc.get("document_type"):
            ctx.lose(key, "Catena-X documents have no document type")
        if len(doc.get("title") or "") > _HEADER_MAX:
            ctx.lose(key, f"a title longer than the model's {_HEADER_MAX} characters is cut")
        out.append(doc_out(doc))
    return out


def doc_in(ctx: ImportContext, loc: Loc, item: Any) -> dict[str, Any] | None:
    """A Catena-X document as a Document structure; ``contentType`` URL (the content is a link) is no MIME type."""
    if not isinstance(item, Mapping):
        ctx.defect(None, loc, f"{short(item)} is not a document object", "an object {contentType, header, content}")
        ctx.skip(None, loc, "not a document")
        return None
    content = ctx.get(None, (*loc, "content"))
    if not isinstance(content, str) or not content.strip():
        ctx.skip(None, loc, "a document without content (the link) cannot be imported")
        return None
    ctx.consume(None, (*loc, "content"))
    out: dict[str, Any] = {"url": content}
    header = _text(ctx, (*loc, "header"))
    if header and header.strip():
        out["title"] = header
    ctype = _text(ctx, (*loc, "contentType"))
    if ctype and ctype.strip() and ctype.strip().lower() not in _LINK_TYPES:
        out["mime_type"] = ctype
    return out


def docs_in(ctx: ImportContext, loc: Loc) -> list[dict[str, Any]]:
    """The documents of the DocumentList at ``loc`` (see :func:`doc_in`)."""
    return [d for item_loc, item in ctx.array(None, loc) if (d := doc_in(ctx, item_loc, item)) is not None]


def _documents(key: str, loc: Loc, *, required: bool = False) -> Transform:
    doc = f"{key} (list of Document) <-> {render(None, loc)}[]: title as header, MIME type as contentType."

    def export(ctx: ExportContext) -> None:
        docs = ctx.value(key) or []
        if docs or required:
            ctx.put(None, loc, docs_out(ctx, key, docs))

    def import_(ctx: ImportContext) -> None:
        docs = docs_in(ctx, loc)
        if docs:
            ctx.set(key, docs)

    return documented((key,), export, import_, doc)


def impact_out(ctx: ExportContext, key: str, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``impactOfSubstances`` of a substance: each impact statement as a plain-text document (its first 100
    characters as header), then the impact documents."""
    statements = [
        {"contentType": _PLAIN_TEXT, "header": text[:_HEADER_MAX], "content": text} for text in entry.get("impact", [])
    ]
    return statements + docs_out(ctx, key, entry.get("impact_documents"))


def impact_in(ctx: ImportContext, loc: Loc) -> tuple[list[str], list[dict[str, Any]]]:
    """The impact statements and impact documents of ``impactOfSubstances`` at ``loc``: an item whose content is a
    link is a document, any other content a statement (plain text). A statement's header that is not the statement
    (or its first 100 characters) is reported."""
    statements: list[str] = []
    documents: list[dict[str, Any]] = []
    for item_loc, item in ctx.array(None, loc):
        content = item.get("content") if isinstance(item, Mapping) else None
        if isinstance(content, str) and content.strip() and not looks_like_uri(content.strip()):
            statements.append(ctx.take(None, (*item_loc, "content")))
            ctype = ctx.get(None, (*item_loc, "contentType"))
            if ctype is MISSING or (isinstance(ctype, str) and ctype.strip().lower() == _PLAIN_TEXT):
                ctx.consume(None, (*item_loc, "contentType"))
            else:
                ctx.skip(
                    None,
                    (*item_loc, "contentType"),
                    f"the content type {short(ctype)} of an impact statement is not kept: it is written as text/plain",
                )
            header = ctx.get(None, (*item_loc, "header"))
            if header in (MISSING, "", content, content[:_HEADER_MAX]):
                ctx.consume(None, (*item_loc, "header"))
            else:
                ctx.skip(None, (*item_loc, "header"), f"the header {short(header)} of an impact statement is not kept")
            continue
        doc = doc_in(ctx, item_loc, item)
        if doc is not None:
            documents.append(doc)
    return statements, documents


def _label(key: str) -> str:
    return attributes()[key].label_en


def _ident(ctx: ExportContext, key: str, name: str, identifier: str | None, scheme: str | None) -> dict[str, str]:
    """A material's ``{type, name, id}``. Without an identifier the name serves as the IUPAC identification; an
    identifier without a scheme gets the one its form gives (CAS, EC), else is written as IUPAC, which is recorded."""
    if identifier is None:
        return {"type": "IUPAC", "name": name, "id": name}
    if scheme is None:
        scheme = scheme_of(identifier)
        if scheme is None:
            scheme = "IUPAC"
            ctx.lose(key, f"the scheme of the identifier {identifier!r} is not given; written as IUPAC")
    return {"type": scheme, "name": name, "id": identifier}


def _ident_in(ctx: ImportContext, loc: Loc) -> tuple[str | None, str | None, str | None]:
    """Name, identifier and its scheme from a ``materialIdentification`` / ``id`` array (first entry); an IUPAC
    identification that repeats the name is the name alone."""
    items = ctx.array(None, loc)
    name: str | None = None
    identifier: str | None = None
    scheme: str | None = None
    for n, (item_loc, item) in enumerate(items):
        if n > 0:
            ctx.skip(None, item_loc, "a further identification: the structure holds one name and one identifier")
            continue
        if not isinstance(item, Mapping):
            ctx.defect(None, item_loc, f"{short(item)} is not an object", "an object {id, type, name}")
            ctx.skip(None, item_loc, "not an identification")
            continue
        name = _text(ctx, (*item_loc, "name"))
        identifier = _text(ctx, (*item_loc, "id"))
        raw = ctx.get(None, (*item_loc, "type"))
        if raw is MISSING:
            continue
        if raw == "IUPAC" and identifier == name:
            identifier = None
            ctx.consume(None, (*item_loc, "type"))
        elif raw in _SCHEMES:
            scheme = str(raw) if identifier is not None else None
            ctx.consume(None, (*item_loc, "type"))
        else:
            ctx.defect(None, (*item_loc, "type"), f"{short(raw)} is none of {', '.join(_SCHEMES)}", "CAS, EC or IUPAC")
            ctx.skip(None, (*item_loc, "type"), f"the identifier scheme {short(raw)} is not kept")
    return name, identifier, scheme


def _concentration_in(ctx: ImportContext, loc: Loc, value_key: str, unit_key: str) -> float | None:
    value = ctx.get(None, (*loc, value_key))
    unit = ctx.get(None, (*loc, unit_key))
    if value is MISSING:
        if unit is not MISSING:
            ctx.consume(None, (*loc, unit_key))
        return None
    if not is_number(value):
        ctx.defect(None, (*loc, value_key), f"{short(value)} is not a number", "a number")
        ctx.skip(None, (*loc, value_key), "not a number")
        return None
    factor = CONCENTRATION_UNITS.get(str(unit)) if unit is not MISSING else 1.0
    if factor is None:
        ctx.skip(
            None, (*loc, value_key), f"a concentration in {short(unit)} cannot be converted to a mass fraction in %"
        )
        ctx.consume(None, (*loc, unit_key))
        return None
    ctx.consume(None, (*loc, value_key))
    ctx.consume(None, (*loc, unit_key))
    return float(value) * factor


def _flag(ctx: ImportContext, loc: Loc) -> bool | None:
    value: bool | None = ctx.read(None, loc, "boolean")
    return value


def _number(ctx: ImportContext, loc: Loc) -> Any:
    return ctx.read(None, loc, "number")


def _text(ctx: ImportContext, loc: Loc) -> str | None:
    value: str | None = ctx.read(None, loc, "text")
    return value


def _compact(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != []}


# ---------------------------------------------------------------------------------------------------------------------
# Identification


def _export_identification(ctx: ExportContext) -> None:
    """gtin and taric_code <-> ``identification.identification.codes[]`` with key GTIN / TARIC; serial_number <->
    ``serial[]`` with key partInstanceId; batch_number <-> ``batch[]`` with key batchId (the model's key patterns);
    classifications <-> ``classification[]`` {classificationStandard, classificationID, classificationDescription}."""
    ident = ("identification", "identification")
    codes = []
    if ctx.has("gtin"):
        codes.append({"key": "GTIN", "value": ctx.value("gtin")})
    if ctx.has("taric_code"):
        codes.append({"key": "TARIC", "value": ctx.value("taric_code")})
    ctx.put(None, (*ident, "codes"), codes)
    if ctx.has("serial_number"):
        ctx.put(None, (*ident, "serial"), [{"key": "partInstanceId", "value": ctx.value("serial_number")}])
    if ctx.has("batch_number"):
        ctx.put(None, (*ident, "batch"), [{"key": "batchId", "value": ctx.value("batch_number")}])
    classes = []
    for c in ctx.value("classifications") or []:
        item = {"classificationStandard": c["standard"], "classificationID": c["identifier"]}
        if c.get("description"):
            item["classificationDescription"] = c["description"]
        classes.append(item)
    ctx.put(None, (*ident, "classification"), classes)


def _import_identification(ctx: ImportContext) -> None:
    """The identifiers of ``codes[]``, ``serial[]`` and ``batch[]`` by their key, and the classifications (see the
    export)."""
    ident = ("identification", "identification")
    wanted = {
        "codes": {"gtin": "gtin", "taric": "taric_code"},
        "serial": {"partinstanceid": "serial_number"},
        "batch": {"batchid": "batch_number"},
    }
    for array, keys in wanted.items():
        for item_loc, item in ctx.array(None, (*ident, array)):
            if not isinstance(item, Mapping) or not isinstance(item.get("key"), str) or "value" not in item:
                ctx.defect(None, item_loc, f"{short(item)} is not a key-value pair", "an object {key, value}")
                ctx.skip(None, item_loc, "not a key-value pair")
                continue
            attr = keys.get(item["key"].strip().lower())
            if not isinstance(item["value"], str):
                ctx.defect(None, (*item_loc, "value"), f"{short(item['value'])} is not a text", "a text")
                ctx.skip(None, item_loc, f"the {item['key']} {short(item['value'])} is not a text")
            elif attr is None:
                ctx.skip(None, item_loc, f"an identifier with key {item['key']!r}: no attribute holds it")
            elif attr in ctx.result.data:
                ctx.skip(None, item_loc, f"a further {item['key']}: {attr} holds one")
            else:
                ctx.set(attr, item["value"])
                ctx.consume(None, item_loc)
    classes = []
    for item_loc, item in ctx.array(None, (*ident, "classification")):
        if not isinstance(item, Mapping):
            ctx.defect(None, item_loc, f"{short(item)} is not an object", "a classification object")
            ctx.skip(None, item_loc, "not a classification")
            continue
        standard = _text(ctx, (*item_loc, "classificationStandard"))
        class_id = _text(ctx, (*item_loc, "classificationID"))
        description = _text(ctx, (*item_loc, "classificationDescription"))
        if standard and class_id:
            classes.append(_compact(standard=standard, identifier=class_id, description=description))
        else:
            ctx.skip(None, item_loc, "a classification without its standard and class")
    if classes:
        ctx.set("classifications", classes)


# ---------------------------------------------------------------------------------------------------------------------
# Operation and characteristics


def _export_facility(ctx: ExportContext) -> None:
    """manufacturing_facility_identifier <-> ``operation.manufacturer.facility[].facility`` (a BPNA in Catena-X);
    the carbon footprint records repeat it as their ``manufacturingPlant``."""
    facility = (
        [{"facility": ctx.value("manufacturing_facility_identifier")}]
        if ctx.has("manufacturing_facility_identifier")
        else []
    )
    ctx.put(None, ("operation", "manufacturer", "facility"), facility)


def _import_facility(ctx: ImportContext) -> None:
    """The first facility of ``operation.manufacturer.facility[]``; further ones are reported."""
    for n, (item_loc, item) in enumerate(ctx.array(None, ("operation", "manufacturer", "facility"))):
        value = item.get("facility") if isinstance(item, Mapping) else None
        if n == 0 and isinstance(value, str):
            ctx.set("manufacturing_facility_identifier", value)
            ctx.consume(None, item_loc)
        else:
            ctx.skip(None, item_loc, "a further facility: manufacturing_facility_identifier holds one")


_WARRANTY_UNITS = {"unit:year": "Y", "unit:month": "M", "unit:day": "D"}


def _export_warranty(ctx: ExportContext) -> None:
    """commercial_warranty_period (ISO 8601) <-> ``characteristics.warranty`` {lifeValue, lifeUnit}.

    Whole years are written in ``unit:year``, years and months in ``unit:month``, weeks and days in ``unit:day``.
    A period mixing months and days, or with hours, has no exact counterpart and is not written.
    """
    if not ctx.has("commercial_warranty_period"):
        return
    text = str(ctx.value("commercial_warranty_period"))
    m = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?", text)
    if not m or not any(m.groups()):
        ctx.lose("commercial_warranty_period", f"{text} has no exact lifeValue/lifeUnit (day, month or year)")
        return
    years, months, weeks, days = (int(g) if g else 0 for g in m.groups(default=""))
    if (years or months) and (weeks or days):
        ctx.lose("commercial_warranty_period", f"{text} mixes months and days; lifeUnit is one of day, month, year")
        return
    if weeks or days:
        value, unit = weeks * 7 + days, "unit:day"
    elif months:
        value, unit = years * 12 + months, "unit:month"
    else:
        value, unit = years, "unit:year"
    ctx.put(None, ("characteristics", "warranty"), {"lifeValue": value, "lifeUnit": unit})


def _import_warranty(ctx: ImportContext) -> None:
    """``lifeValue`` in ``unit:year|month|day`` -> PnY / PnM / PnD; a warranty in cycles or operating hours is not a
    calendar period (Annex XIII 1(m)) and is reported."""
    loc = ("characteristics", "warranty")
    raw = ctx.get(None, loc)
    if raw is MISSING:
        return
    if not isinstance(raw, Mapping):
        ctx.defect(None, loc, f"{short(raw)} is not an object", "an object {lifeValue, lifeUnit}")
        ctx.skip(None, loc, "not a warranty record")
        return
    value: Any = raw.get("lifeValue")
    unit = raw.get("lifeUnit")
    designator = _WARRANTY_UNITS.get(str(unit))
    if designator is None:
        ctx.skip(None, loc, f"a warranty in {short(unit)} is not a calendar period; commercial_warranty_period is one")
        return
    count = float(value) if is_number(value) else -1.0
    if count < 0 or count != int(count):
        ctx.skip(None, loc, f"lifeValue {short(value)} is not a whole number of {str(unit)[5:]}s")
        return
    ctx.consume(None, loc)
    ctx.set("commercial_warranty_period", f"P{int(count)}{designator}")


# ---------------------------------------------------------------------------------------------------------------------
# Carbon footprint


def _export_carbon_footprint(ctx: ExportContext) -> None:
    """The carbon footprint attributes <-> ``sustainability.carbonFootprint[]``.

    One record per figure, all of type "Climate Change Total": the footprint per kWh (lifecycle "whole life cycle",
    unit "kg CO2e / kWh"), one per life-cycle stage (lifecycle named as in the model's description, e.g. "main
    product production"), and the absolute footprint (unit "kg CO2e"). Every record carries the performance class,
    the carbon footprint study as its ``declaration``, the rulebook, and the manufacturing facility as
    ``manufacturingPlant``. A negative stage figure cannot be written (the model's minimum is 0).
    """
    common: dict[str, Any] = {
        "rulebook": docs_out(ctx, "carbon_footprint_rulebook", ctx.value("carbon_footprint_rulebook")),
        "declaration": docs_out(ctx, "carbon_footprint_study", ctx.value("carbon_footprint_study")),
        "manufacturingPlant": [{"facility": ctx.value("manufacturing_facility_identifier")}]
        if ctx.has("manufacturing_facility_identifier")
        else [],
    }
    if ctx.has("carbon_footprint_performance_class"):
        common["performanceClass"] = ctx.value("carbon_footprint_performance_class")
    records = []
    if ctx.has("carbon_footprint_kgCO2e_per_kWh"):
        records.append(
            {
                "lifecycle": _WHOLE_LIFE,
                "unit": _PER_KWH,
                "type": _TOTAL_TYPE,
                "value": ctx.value("carbon_footprint_kgCO2e_per_kWh"),
                **copy.deepcopy(common),
            }
        )
    for stage in ctx.value("carbon_footprint_per_lifecycle_stage") or []:
        if stage["kgCO2e_per_kWh"] < 0:
            ctx.lose("carbon_footprint_per_lifecycle_stage", f"the negative figure of stage {stage['stage']}")
            continue
        records.append(
            {
                "lifecycle": _STAGES[stage["stage"]],
                "unit": _PER_KWH,
                "type": _TOTAL_TYPE,
                "value": stage["kgCO2e_per_kWh"],
                **copy.deepcopy(common),
            }
        )
    if ctx.has("absolute_carbon_footprint_kgCO2e"):
        records.append(
            {
                "lifecycle": _WHOLE_LIFE,
                "unit": _ABSOLUTE,
                "type": _TOTAL_TYPE,
                "value": ctx.value("absolute_carbon_footprint_kgCO2e"),
                **copy.deepcopy(common),
            }
        )
    if not records:
        for key in ("carbon_footprint_performance_class", "carbon_footprint_study", "carbon_footprint_rulebook"):
            if ctx.has(key):
                ctx.lose(key, "Catena-X states it with a carbon footprint figure, and the passport gives none")
    ctx.put(None, _CF, records)


def footprint_unit_kind(unit: Any) -> str | None:
    if not isinstance(unit, str):
        return None
    text = re.sub(r"\s+", "", unit).lower().replace("co2e", "co2").replace("co₂", "co2")
    if text in ("kgco2/kwh", "kgco2perkwh"):
        return "per_kwh"
    if text in ("kgco2",):
        return "absolute"
    return None


def _import_carbon_footprint(ctx: ImportContext) -> None:
    """Each "Climate Change Total" record by its unit and lifecycle (see the export); other impact categories,
    other units and unknown stages are reported. Class, study and rulebook are read from the first record that has
    them; a later record that differs is reported."""
    stages: list[dict[str, Any]] = []
    reverse = {v: k for k, v in _STAGES.items()}
    shared: dict[str, tuple[Loc, Any]] = {}
    facility = ctx.result.data.get("manufacturing_facility_identifier")
    for rec_loc, rec in ctx.array(None, _CF):
        if not isinstance(rec, Mapping):
            ctx.defect(None, rec_loc, f"{short(rec)} is not an object", "a footprint record")
            ctx.skip(None, rec_loc, "not a footprint record")
            continue
        kind = footprint_unit_kind(rec.get("unit"))
        lifecycle = str(rec.get("lifecycle", "")).strip().lower()
        value = rec.get("value")
        if rec.get("type") != _TOTAL_TYPE:
            ctx.skip(
                None,
                rec_loc,
                f"a footprint of impact category {short(rec.get('type'))}: attributes.csv holds "
                "the climate change total only",
            )
            continue
        if kind is None:
            ctx.skip(None, rec_loc, f"a footprint in {short(rec.get('unit'))}: neither kg CO2e per kWh nor kg CO2e")
            continue
        if not is_number(value):
            ctx.defect(None, (*rec_loc, "value"), f"{short(value)} is not a number", "a number")
        target: str | None
        if lifecycle in _WHOLE_LIFE_NAMES:
            target = "carbon_footprint_kgCO2e_per_kWh" if kind == "per_kwh" else "absolute_carbon_footprint_kgCO2e"
        elif lifecycle in reverse and kind == "per_kwh":
            target = None
            stages.append({"stage": reverse[lifecycle], "kgCO2e_per_kWh": value})
        else:
            ctx.skip(
                None,
                rec_loc,
                f"a footprint for the life-cycle stage {short(rec.get('lifecycle'))}"
                f" in {rec.get('unit')}: attributes.csv holds the Annex II stages per kWh",
            )
            continue
        if target is not None:
            if target in ctx.result.data:
                ctx.skip(None, rec_loc, f"a further footprint record for {target}")
                continue
            ctx.set(target, value)
        for name in ("value", "unit", "type", "lifecycle"):
            ctx.consume(None, (*rec_loc, name))
        _shared(ctx, rec_loc, "performanceClass", shared, "carbon_footprint_performance_class")
        _shared_docs(ctx, rec_loc, "rulebook", shared, "carbon_footprint_rulebook")
        _shared_docs(ctx, rec_loc, "declaration", shared, "carbon_footprint_study")
        _plants(ctx, rec_loc, facility)
    if stages:
        ctx.set("carbon_footprint_per_lifecycle_stage", stages)
    for key, (_, value) in shared.items():
        if value not in (None, [], MISSING):
            ctx.set(key, value)


def _shared(ctx: ImportContext, rec_loc: Loc, name: str, shared: dict[str, tuple[Loc, Any]], key: str) -> None:
    raw = ctx.get(None, (*rec_loc, name))
    if raw is not MISSING:
        keep_first(ctx, None, (*rec_loc, name), key, raw, shared)


def _shared_docs(ctx: ImportContext, rec_loc: Loc, name: str, shared: dict[str, tuple[Loc, Any]], key: str) -> None:
    """The documents of ``name`` in one footprint record: those of the first record that has them are ``key``; a
    later record that gives other documents is reported."""
    loc = (*rec_loc, name)
    if ctx.get(None, loc) is MISSING:
        return
    if key not in shared:
        shared[key] = (loc, docs_in(ctx, loc))
        return
    probe = ImportContext(ctx.fmt, ctx.docs, ctx.source, FormatImport(format=ctx.fmt.name))
    docs = docs_in(probe, loc)
    ctx.result.defects.extend(p for p in probe.result.defects if p not in ctx.result.defects)
    if probe.result.skipped:  # what cannot be read there is reported as it would be in the first record
        ctx.result.skipped.extend(probe.result.skipped)
        ctx.consume(None, loc)
    elif same(docs, shared[key][1]):
        ctx.consume(None, loc)
    else:
        ctx.skip(None, loc, f"differs from {ctx.where(None, shared[key][0])}, from which {key} is imported")


def _plants(ctx: ImportContext, rec_loc: Loc, facility: Any) -> None:
    for item_loc, item in ctx.array(None, (*rec_loc, "manufacturingPlant")):
        plant = item.get("facility") if isinstance(item, Mapping) else None
        if plant is not None and plant == facility:
            ctx.consume(None, item_loc)
        else:
            ctx.skip(
                None,
                item_loc,
                f"the plant {short(plant)} differs from the manufacturing facility "
                f"({short(facility)}); attributes.csv holds one facility",
            )


# ---------------------------------------------------------------------------------------------------------------------
# Materials


def _critical(entry: Mapping[str, Any], crms: set[str], name: str) -> bool:
    """The critical-raw-material flag: as the entry states it, else whether critical_raw_materials names it."""
    flag = entry.get("critical_raw_material")
    return bool(flag) if flag is not None else name.strip().lower() in crms


def _crms(ctx: ExportContext) -> set[str]:
    return {c.strip().lower() for c in ctx.value("critical_raw_materials") or []}


def _export_hazardous_other(ctx: ExportContext) -> None:
    """hazardous_substances <-> ``materials.hazardous.other[]``: name, identifier and its scheme as
    materialIdentification, concentration in unit:percent, location, the critical-raw-material flag (where the
    substance does not state it: whether critical_raw_materials names it), the documentation, and the impact
    statements (plain-text documents) and impact documents as impactOfSubstances. The hazard class and the component
    identifier have no place."""
    key = "hazardous_substances"
    subs = ctx.value(key) or []
    if not subs:
        return
    crms = _crms(ctx)
    out = []
    for s in subs:
        item: dict[str, Any] = {
            "materialIdentification": [_ident(ctx, key, s["name"], s.get("identifier"), s.get("identifier_scheme"))],
            "materialUnit": "unit:percent",
            "impactOfSubstances": impact_out(ctx, key, s),
            "documentation": docs_out(ctx, key, s.get("documents")),
            "critical": _critical(s, crms, s["name"]),
        }
        if s.get("concentration_pct") is not None:
            item["concentration"] = s["concentration_pct"]
        if s.get("location") is not None:
            item["location"] = s["location"]
        if s.get("hazard_class") or s.get("location_id"):
            ctx.lose(key, "Catena-X has no place for the hazard class or the component identifier")
        out.append(item)
    ctx.put(None, (*_HAZARDOUS, "other"), out)


def _import_hazardous_other(ctx: ImportContext) -> None:
    """See the export."""
    subs = []
    for loc, item in ctx.array(None, (*_HAZARDOUS, "other")):
        if not isinstance(item, Mapping):
            ctx.defect(None, loc, f"{short(item)} is not an object", "a hazardous substance record")
            ctx.skip(None, loc, "not a substance record")
            continue
        name, identifier, scheme = _ident_in(ctx, (*loc, "materialIdentification"))
        if not name:
            ctx.skip(None, loc, "a hazardous substance without a name")
            continue
        impact, impact_documents = impact_in(ctx, (*loc, "impactOfSubstances"))
        subs.append(
            _compact(
                name=name,
                identifier=identifier,
                identifier_scheme=scheme,
                concentration_pct=_concentration_in(ctx, loc, "concentration", "materialUnit"),
                location=_text(ctx, (*loc, "location")),
                critical_raw_material=_flag(ctx, (*loc, "critical")),
                impact=impact,
                impact_documents=impact_documents,
                documents=docs_in(ctx, (*loc, "documentation")),
            )
        )
    if subs:
        ctx.set("hazardous_substances", subs)


def _export_composition(ctx: ExportContext) -> None:
    """detailed_composition <-> ``materials.composition[]``: identification (name, identifier and its scheme),
    concentration (unit:percent), component as location, recycled and renewable shares, critical flag,
    documentation. Mass and component identifier have no place."""
    key = "detailed_composition"
    out = []
    for m in ctx.value(key) or []:
        item: dict[str, Any] = {
            "id": [_ident(ctx, key, m["name"], m.get("identifier"), m.get("identifier_scheme"))],
            "unit": "unit:percent",
            "documentation": docs_out(ctx, key, m.get("documents")),
        }
        for ours, theirs in (
            ("concentration_pct", "concentration"),
            ("component", "location"),
            ("critical_raw_material", "critical"),
            ("recycled_pct", "recycled"),
            ("renewable_pct", "renewable"),
        ):
            if m.get(ours) is not None:
                item[theirs] = m[ours]
        if m.get("mass_kg") is not None or m.get("component_id") is not None:
            ctx.lose(key, "Catena-X has no place for the mass or the component identifier")
        out.append(item)
    ctx.put(None, ("materials", "composition"), out)


def _import_composition(ctx: ImportContext) -> None:
    """See the export; concentrations in other units (ppm, per mille, ...) are converted to %."""
    mats = []
    for loc, item in ctx.array(None, ("materials", "composition")):
        if not isinstance(item, Mapping):
            ctx.defect(None, loc, f"{short(item)} is not an object", "a material record")
            ctx.skip(None, loc, "not a material record")
            continue
        name, identifier, scheme = _ident_in(ctx, (*loc, "id"))
        if not name:
            ctx.skip(None, loc, "a material without a name")
            continue
        mats.append(
            _compact(
                name=name,
                identifier=identifier,
                identifier_scheme=scheme,
                component=_text(ctx, (*loc, "location")),
                concentration_pct=_concentration_in(ctx, loc, "concentration", "unit"),
                critical_raw_material=_flag(ctx, (*loc, "critical")),
                recycled_pct=_number(ctx, (*loc, "recycled")),
                renewable_pct=_number(ctx, (*loc, "renewable")),
                documents=docs_in(ctx, (*loc, "documentation")),
            )
        )
    if mats:
        ctx.set("detailed_composition", mats)


_FIXED_ACTIVE = ("nickel", "lithium", "cobalt")
_FIXED_HAZARDOUS = ("mercury", "cadmium")
_ELEMENT_KEYS = ("active_materials", "restricted_substances", "recycled_content")


def _find(entries: list[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((e for e in entries if e["substance"].strip().lower() == name), None)


def _recycled_share(ctx: ExportContext, material: str) -> float | None:
    """The recycled share of an Art. 8 material from recycled_content: the total (pre- and post-consumer together).
    The split has no place in Catena-X; a share without a total (one of the two alone) cannot be written."""
    entry = next((r for r in ctx.value("recycled_content") or [] if r["material"] == material), None)
    if entry is None:
        return None
    if entry.get("pre_consumer_pct") is not None or entry.get("post_consumer_pct") is not None:
        ctx.lose(
            "recycled_content", "Catena-X holds one recycled share per material, not the pre- and post-consumer split"
        )
    total = entry.get("total_pct")
    if total is None:
        ctx.lose("recycled_content", f"the recycled share of {material} without its total")
    return float(total) if total is not None else None


def _element(
    ctx: ExportContext,
    key: str,
    name: str,
    entry: Mapping[str, Any] | None,
    *,
    kind: str,
    recycled: float | None,
) -> dict[str, Any]:
    """One record of ``materials.active`` or ``materials.hazardous``. ``kind`` is the model's entity: ``active``
    (MaterialActive: location, recycled, critical, documentation), ``hazardous`` (HazardousCharacteristic: no
    recycled share), ``lead`` (LeadCharacteristic: all of them) or ``other`` (OtherActiveMaterialsEntity: with the
    identification, without concentration or impact)."""
    entry = entry or {}
    out: dict[str, Any] = {"documentation": docs_out(ctx, key, entry.get("documents"))}
    if entry.get("location") is not None:
        out["location"] = entry["location"]
    if entry.get("critical_raw_material") is not None:
        out["critical"] = entry["critical_raw_material"]
    if kind in ("active", "lead", "other") and recycled is not None:
        out["recycled"] = recycled
    if kind in ("hazardous", "lead"):
        out["impactOfSubstances"] = impact_out(ctx, key, entry)
        out["materialUnit"] = "unit:percent"
        if entry.get("concentration_pct") is not None:
            out["concentration"] = entry["concentration_pct"]
    else:
        if entry.get("concentration_pct") is not None or entry.get("impact") or entry.get("impact_documents"):
            ctx.lose(key, f"Catena-X active.{name} has no concentration or impact")
    if kind == "other":
        out["materialIdentification"] = [
            _ident(ctx, key, entry["substance"], entry.get("identifier"), entry.get("identifier_scheme"))
        ]
    elif entry.get("identifier"):
        ctx.lose(key, f"Catena-X {name} has no identifier")
    if kind == "hazardous" and entry.get("recycled_pct") is not None:
        ctx.lose(key, f"Catena-X hazardous.{name} has no recycled share")
    return out


def _export_elements(ctx: ExportContext) -> None:
    """active_materials <-> ``materials.active`` (nickel, lithium, cobalt, lead, other[]), restricted_substances
    <-> ``materials.hazardous`` (mercury, cadmium, lead), and recycled_content <-> the ``recycled`` share of nickel,
    lithium, cobalt and lead (the Art. 8 recycled content, pre- and post-consumer together: ``total_pct``).

    Lead is both an active and a hazardous material in the model: ``active.lead`` is written from the lead entry of
    active_materials (else of restricted_substances), ``hazardous.lead`` from restricted_substances (else
    active_materials), each with the recycled share of lead. The fixed elements have no identifier; cadmium and
    mercury no recycled share; nickel, lithium, cobalt and the other active materials no concentration or impact.
    """
    active = list(ctx.value("active_materials") or [])
    restricted = list(ctx.value("restricted_substances") or [])
    shares = {m: _recycled_share(ctx, m) for m in ART_8_MATERIALS}
    lead_active = _find(active, "lead") or _find(restricted, "lead")
    lead_hazardous = _find(restricted, "lead") or _find(active, "lead")
    lead_share = shares["lead"]
    out: dict[str, Any] = {}
    for name in _FIXED_ACTIVE:
        entry = _find(active, name)
        if entry is not None or shares[name] is not None:
            out[name] = _element(ctx, "active_materials", name, entry, kind="active", recycled=shares[name])
    if lead_active is not None or lead_share is not None:
        key = "active_materials" if lead_active in active else "restricted_substances"
        out["lead"] = _element(ctx, key, "lead", lead_active, kind="lead", recycled=lead_share)
    others = [e for e in active if e["substance"].strip().lower() not in (*_FIXED_ACTIVE, "lead")]
    if others:
        out["other"] = [
            _element(ctx, "active_materials", e["substance"], e, kind="other", recycled=e.get("recycled_pct"))
            for e in others
        ]
    if out:
        ctx.put(None, _ACTIVE, out)
    hz: dict[str, Any] = {}
    for name in _FIXED_HAZARDOUS:
        entry = _find(restricted, name)
        if entry is not None:
            hz[name] = _element(ctx, "restricted_substances", name, entry, kind="hazardous", recycled=None)
    if lead_hazardous is not None or lead_share is not None:
        key = "restricted_substances" if lead_hazardous in restricted or lead_hazardous is None else "active_materials"
        hz["lead"] = _element(ctx, key, "lead", lead_hazardous, kind="lead", recycled=lead_share)
    for e in restricted:
        if e["substance"].strip().lower() not in (*_FIXED_HAZARDOUS, "lead"):
            ctx.lose(
                "restricted_substances", f"Catena-X has no place for {e['substance']} among mercury, cadmium, lead"
            )
    if hz:
        existing = ctx.get(None, _HAZARDOUS)
        ctx.put(None, _HAZARDOUS, {**(existing if isinstance(existing, dict) else {}), **hz})


def _element_in(
    ctx: ImportContext, loc: Loc, name: str, identifier: str | None = None, scheme: str | None = None
) -> dict[str, Any]:
    """One record of ``materials.active`` / ``materials.hazardous`` as a MaterialContent entry; its recycled share is
    read by the caller."""
    impact, impact_documents = impact_in(ctx, (*loc, "impactOfSubstances"))
    return _compact(
        substance=name,
        identifier=identifier,
        identifier_scheme=scheme,
        location=_text(ctx, (*loc, "location")),
        concentration_pct=_concentration_in(ctx, loc, "concentration", "materialUnit"),
        critical_raw_material=_flag(ctx, (*loc, "critical")),
        impact=impact,
        impact_documents=impact_documents,
        documents=docs_in(ctx, (*loc, "documentation")),
    )


def _import_elements(ctx: ImportContext) -> None:
    """See the export. ``active.lead`` equal to ``hazardous.lead`` is read once, into restricted_substances; the
    recycled share of nickel, lithium, cobalt and lead is read into recycled_content (``total_pct``), a differing
    second share of lead is reported; a record that holds nothing but the recycled share makes no entry."""
    active: list[dict[str, Any]] = []
    restricted: list[dict[str, Any]] = []
    shares: dict[str, tuple[Loc, Any]] = {}

    def share(material: str, loc: Loc) -> None:
        raw = ctx.get(None, (*loc, "recycled"))
        if raw is MISSING:
            return
        if material in shares and not same(shares[material][1], raw):
            ctx.skip(
                None,
                (*loc, "recycled"),
                f"{short(raw)} differs from {ctx.where(None, shares[material][0])}, from which the recycled "
                f"content of {material} is imported",
            )
            return
        value = _number(ctx, (*loc, "recycled"))
        if value is not None:
            shares.setdefault(material, ((*loc, "recycled"), value))

    def add(entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        if set(entry) != {"substance"}:
            entries.append(entry)

    for element in _FIXED_ACTIVE:
        loc = (*_ACTIVE, element)
        if isinstance(ctx.get(None, loc), Mapping):
            share(element, loc)
            add(active, _element_in(ctx, loc, element))
    for element in (*_FIXED_HAZARDOUS, "lead"):
        loc = (*_HAZARDOUS, element)
        if isinstance(ctx.get(None, loc), Mapping):
            entry = _element_in(ctx, loc, element)
            if element == "lead":
                share("lead", loc)
            else:
                recycled = _number(ctx, (*loc, "recycled"))
                if recycled is not None:
                    entry["recycled_pct"] = recycled
            add(restricted, entry)
    lead_loc = (*_ACTIVE, "lead")
    lead_active = ctx.get(None, lead_loc)
    if isinstance(lead_active, Mapping):
        if same(lead_active, ctx.get(None, (*_HAZARDOUS, "lead"))):
            ctx.consume(None, lead_loc)
        else:
            share("lead", lead_loc)
            add(active, _element_in(ctx, lead_loc, "lead"))
    for other_loc, item in ctx.array(None, (*_ACTIVE, "other")):
        if not isinstance(item, Mapping):
            ctx.skip(None, other_loc, "not a material record")
            continue
        name, identifier, scheme = _ident_in(ctx, (*other_loc, "materialIdentification"))
        if not name:
            ctx.skip(None, other_loc, "an active material without a name")
            continue
        entry = _element_in(ctx, other_loc, name, identifier, scheme)
        if name.strip().lower() in ART_8_MATERIALS:
            share(name.strip().lower(), other_loc)
        else:
            recycled = _number(ctx, (*other_loc, "recycled"))
            if recycled is not None:
                entry["recycled_pct"] = recycled
        active.append(entry)
    for group in (_ACTIVE, _HAZARDOUS):
        if ctx.get(None, group) == {}:
            ctx.consume(None, group)
    if active:
        ctx.set("active_materials", active)
    if restricted:
        ctx.set("restricted_substances", restricted)
    if shares:
        ctx.set(
            "recycled_content",
            [{"material": m, "total_pct": shares[m][1]} for m in ART_8_MATERIALS if m in shares],
        )


# ---------------------------------------------------------------------------------------------------------------------
# Performance, safety, handling


def _export_power(ctx: ExportContext) -> None:
    """original_power_capability <-> ``performance.rated.power.at80SoC`` / ``at20SoC`` [W]: the entries at 80 % and
    20 % state of charge (Annex IV Part B(4)); other states of charge and measurement times have no place."""
    entries = ctx.value("original_power_capability") or []
    for e in entries:
        soc = float(e["soc_pct"])
        if soc in (80.0, 20.0):
            ctx.put(None, ("performance", "rated", "power", f"at{int(soc)}SoC"), e["power_W"])
        else:
            ctx.lose("original_power_capability", f"Catena-X holds the power at 80 % and 20 % only, not at {soc:g} %")
        if e.get("measured_at"):
            ctx.lose("original_power_capability", "Catena-X has no measurement time for the rated power capability")


def _import_power(ctx: ImportContext) -> None:
    """``at80SoC`` and ``at20SoC`` -> power capability entries at 80 % and 20 %."""
    out = []
    for soc in (80, 20):
        loc = ("performance", "rated", "power", f"at{soc}SoC")
        raw = ctx.take(None, loc)
        if raw is MISSING:
            continue
        if not is_number(raw):
            ctx.defect(None, loc, f"{short(raw)} is not a number", "a number")
        out.append({"soc_pct": float(soc), "power_W": raw})
    if out:
        ctx.set("original_power_capability", out)


def _export_remaining_power(ctx: ExportContext) -> None:
    """remaining_power_capability <-> ``performance.dynamic.power.remaining`` {value [W], time}: Catena-X holds one
    remaining power without its state of charge. The entry without a state of charge (else the one at 80 %, else the
    first) is written, with its measurement time (else the attribute's); a state of charge, or further entries, have
    no place."""
    key = "remaining_power_capability"
    entries = ctx.value(key) or []
    if not entries:
        return
    entry = next(
        (e for e in entries if e.get("soc_pct") is None),
        next((e for e in entries if e.get("soc_pct") is not None and float(e["soc_pct"]) == 80.0), entries[0]),
    )
    if len(entries) > 1 or entry.get("soc_pct") is not None:
        ctx.lose(key, "Catena-X holds one remaining power without its state of charge")
    when = entry.get("measured_at") or ctx.time_of(key)
    ctx.put(
        None, ("performance", "dynamic", "power", "remaining"), {"value": entry["power_W"], "time": utc_text(str(when))}
    )


def _import_remaining_power(ctx: ImportContext) -> None:
    """See the export: one entry without a state of charge, measured at ``time``."""
    loc = ("performance", "dynamic", "power", "remaining")
    raw = ctx.get(None, loc)
    if raw is MISSING:
        return
    if not isinstance(raw, Mapping) or "value" not in raw:
        ctx.defect(None, loc, f"{short(raw)} is not a remaining power record", "an object {value, time}")
        ctx.skip(None, loc, "not a remaining power record")
        return
    power = _number(ctx, (*loc, "value"))
    if power is None:
        return
    entry: dict[str, Any] = {"power_W": power}
    when = ctx.get(None, (*loc, "time"))
    if isinstance(when, str):
        with contextlib.suppress(ValueError):  # a time that is no date-time is reported by observe
            entry["measured_at"] = utc_text(when)
    ctx.set("remaining_power_capability", [entry])
    ctx.observe("remaining_power_capability", None, (*loc, "time"))


def _export_extinguishing(ctx: ExportContext) -> None:
    """usable_extinguishing_agent, fire_class and extinguishing_agent_documents <-> ``safety.usableExtinguishAgent[]``
    {media, fireClass, document[]}: one record per agent, each with the battery's fire class (the model asks it per
    agent); the documents on the agents go with the first agent's record."""
    agents = ctx.value("usable_extinguishing_agent") or []
    documents = docs_out(ctx, "extinguishing_agent_documents", ctx.value("extinguishing_agent_documents"))
    records = []
    for n, agent in enumerate(agents):
        record: dict[str, Any] = {"media": agent}
        if ctx.has("fire_class"):
            record["fireClass"] = ctx.value("fire_class")
        if n == 0 and documents:
            record["document"] = documents
        records.append(record)
    ctx.put(None, ("safety", "usableExtinguishAgent"), records)
    if not agents:
        for key in ("fire_class", "extinguishing_agent_documents"):
            if ctx.has(key):
                ctx.lose(key, "Catena-X states it with an extinguishing agent, and the passport gives none")


def _import_extinguishing(ctx: ImportContext) -> None:
    """See the export; the fire class of the first record, a differing one of a later record is reported; the
    documents of every record, in order (the passport keeps them together, not per agent)."""
    agents = []
    documents: list[dict[str, Any]] = []
    fire: tuple[Loc, Any] | None = None
    for loc, item in ctx.array(None, ("safety", "usableExtinguishAgent")):
        if not isinstance(item, Mapping):
            ctx.skip(None, loc, "not an extinguishing agent record")
            continue
        media = _text(ctx, (*loc, "media"))
        if media:
            agents.append(media)
        cls = ctx.get(None, (*loc, "fireClass"))
        if cls is not MISSING:
            if fire is None:
                fire = ((*loc, "fireClass"), cls)
                ctx.consume(None, (*loc, "fireClass"))
            elif cls == fire[1]:
                ctx.consume(None, (*loc, "fireClass"))
            else:
                ctx.skip(
                    None,
                    (*loc, "fireClass"),
                    f"{short(cls)} differs from {ctx.where(None, fire[0])}, from which fire_class is imported",
                )
        documents.extend(docs_in(ctx, (*loc, "document")))
    if agents:
        ctx.set("usable_extinguishing_agent", agents)
    if fire is not None:
        ctx.set("fire_class", fire[1])
    if documents:
        ctx.set("extinguishing_agent_documents", documents)


def _export_labels(ctx: ExportContext) -> None:
    """labels <-> ``safety.meaningOfLabels[]``: subject as header, symbol as content; the meaning has no place."""
    labels = ctx.value("labels") or []
    out = []
    for label in labels:
        if not label.get("symbol_url"):
            ctx.lose("labels", "a label without a symbol: a Catena-X document needs its content")
            continue
        out.append({"contentType": "URL", "header": label["subject"], "content": label["symbol_url"]})
        if label.get("meaning"):
            ctx.lose("labels", "Catena-X has no place for the meaning of a label")
    ctx.put(None, ("safety", "meaningOfLabels"), out)


def _import_labels(ctx: ImportContext) -> None:
    """See the export."""
    labels = []
    for loc, item in ctx.array(None, ("safety", "meaningOfLabels")):
        doc = doc_in(ctx, loc, item)
        if doc is None:
            continue
        if "title" not in doc:
            ctx.skip(None, (*loc, "header"), "a label without a subject (header)")
            continue
        if "mime_type" in doc:
            ctx.skip(None, (*loc, "contentType"), f"the content type {doc['mime_type']!r} of a label is not kept")
        labels.append({"subject": doc["title"], "symbol_url": doc["url"]})
    if labels:
        ctx.set("labels", labels)


def _export_handling(ctx: ExportContext) -> None:
    """component_part_numbers <-> ``handling.content.sparePart[]`` {manufacturerPartId, nameAtManufacturer};
    spare_part_producers <-> ``handling.content.producer[].id``; ``applicable`` is true when either is given."""
    parts = ctx.value("component_part_numbers") or []
    producers = ctx.value("spare_part_producers") or []
    ctx.put(
        None,
        ("handling",),
        {
            "applicable": bool(parts or producers),
            "content": {
                "producer": [{"id": p} for p in producers],
                "sparePart": [
                    {"manufacturerPartId": p["part_number"], "nameAtManufacturer": p["part_name"]} for p in parts
                ],
            },
        },
    )


def _import_handling(ctx: ImportContext) -> None:
    """See the export; with ``applicable`` false the model calls the content dummy data, and it is reported."""
    applicable = _flag(ctx, ("handling", "applicable"))
    if applicable is False:
        for group in (("handling", "content", "producer"), ("handling", "content", "sparePart")):
            for item_loc, _ in ctx.array(None, group):
                ctx.skip(None, item_loc, "handling.applicable is false: Catena-X calls the content dummy data then")
        return
    parts = []
    for loc, _item in ctx.array(None, ("handling", "content", "sparePart")):
        number = _text(ctx, (*loc, "manufacturerPartId"))
        name = _text(ctx, (*loc, "nameAtManufacturer"))
        if number and name:
            parts.append({"part_name": name, "part_number": number})
        else:
            ctx.skip(None, loc, "a spare part without its number and name")
    producers = []
    for loc, _item in ctx.array(None, ("handling", "content", "producer")):
        ident = _text(ctx, (*loc, "id"))
        if ident:
            producers.append(ident)
    if parts:
        ctx.set("component_part_numbers", parts)
    if producers:
        ctx.set("spare_part_producers", producers)


def _export_sources(ctx: ExportContext) -> None:
    """additional_sources <-> ``sources[]`` {header, category, type, content}: the document type is the category
    (one of the model's 27), the MIME type the type."""
    docs = ctx.value("additional_sources") or []
    if not docs:
        return
    out = []
    for d in docs:
        category = d.get("document_type")
        if category not in _SOURCE_CATEGORIES:
            ctx.lose("additional_sources", f"{category!r} is not a Catena-X source category; written as Other")
            category = "Other"
        out.append(
            {
                "header": d.get("title") or "",
                "category": category,
                "type": d.get("mime_type") or "URL",
                "content": d["url"],
            }
        )
    ctx.put(None, ("sources",), out)


def _import_sources(ctx: ImportContext) -> None:
    """See the export."""
    docs = []
    for loc, item in ctx.array(None, ("sources",)):
        if not isinstance(item, Mapping) or not isinstance(item.get("content"), str):
            ctx.skip(None, loc, "a source without content")
            continue
        doc: dict[str, Any] = {"url": ctx.take(None, (*loc, "content"))}
        header = _text(ctx, (*loc, "header"))
        if header:
            doc["title"] = header
        category = _text(ctx, (*loc, "category"))
        if category:
            doc["document_type"] = category
        kind = _text(ctx, (*loc, "type"))
        if kind and kind.lower() not in _LINK_TYPES:
            doc["mime_type"] = kind
        docs.append(doc)
    if docs:
        ctx.set("additional_sources", docs)


_SOURCE_CATEGORIES = frozenset(
    {
        "Product Specifications",
        "Manufacturer Information",
        "User Manuals and Guides",
        "Certifications and Compliance",
        "Product Images and Videos",
        "Warranty Information",
        "Reviews and Ratings",
        "Product Variations",
        "Supply Chain Information",
        "Environmental Impact",
        "Compatibility and Accessories",
        "FAQs and Support",
        "Purchase and Retail Information",
        "Privacy and Data Handling",
        "Third-Party Integrations",
        "Legal Information",
        "Safety Information",
        "Repair and Installation",
        "Waste Generation and Prevention",
        "Specific Voluntary Labels",
        "Product Packaging",
        "Return and Disposal",
        "End of Life",
        "Material and Substance Information",
        "Technical Documentation",
        "Treatment facilities",
        "Other",
    }
)


class CatenaXFormat(DocumentFormat):
    """Catena-X battery pass 6.1.0, one document (``BatteryPass.json``)."""

    name = "catenax-6.1"
    label = "Catena-X battery pass 6.1.0"
    parts = (None,)
    required_arrays = ((None, ("commercial", "purpose")), (None, ("materials", "composition")))
    enums: ClassVar[Mapping[str, Mapping[str, str]]] = {
        "battery_category": {
            "ev": "EV",
            "lmt": "LMT",
            "industrial": "industrial",
            "sli": "SLI",
            "portable": "portable",
        },
        "battery_status": {s: s for s in ("original", "repurposed", "re-used", "remanufactured", "waste")},
    }
    transforms = (
        Transform(
            ("gtin", "taric_code", "serial_number", "batch_number", "classifications"),
            _export_identification,
            _import_identification,
        ),
        Transform(("manufacturing_facility_identifier",), _export_facility, _import_facility),
        Transform(("commercial_warranty_period",), _export_warranty, _import_warranty),
        Transform(("hazardous_substances",), _export_hazardous_other, _import_hazardous_other),
        Transform(
            ("usable_extinguishing_agent", "fire_class", "extinguishing_agent_documents"),
            _export_extinguishing,
            _import_extinguishing,
        ),
        Transform(
            (
                "carbon_footprint_kgCO2e_per_kWh",
                "absolute_carbon_footprint_kgCO2e",
                "carbon_footprint_per_lifecycle_stage",
                "carbon_footprint_performance_class",
                "carbon_footprint_study",
                "carbon_footprint_rulebook",
            ),
            _export_carbon_footprint,
            _import_carbon_footprint,
        ),
        _documents("due_diligence_report", ("conformity", "dueDiligencePolicy"), required=True),
        _documents("third_party_assurance", ("conformity", "thirdPartyAssurance"), required=True),
        _documents("eu_declaration_of_conformity", ("conformity", "declarationOfConformity"), required=True),
        _documents("waste_prevention_information", ("sustainability", "documents", "wastePrevention"), required=True),
        _documents(
            "separate_collection_information", ("sustainability", "documents", "separateCollection"), required=True
        ),
        Transform(("original_power_capability",), _export_power, _import_power),
        _documents("cycle_life_reference_test", ("performance", "rated", "lifetime", "report"), required=True),
        Transform(("labels",), _export_labels, _import_labels),
        Transform(("detailed_composition",), _export_composition, _import_composition),
        Transform(("component_part_numbers", "spare_part_producers"), _export_handling, _import_handling),
        _documents("dismantling_information", ("safety", "dismantling"), required=True),
        _documents("safety_measures", ("safety", "safetyMeasures"), required=True),
        _documents("test_report_results", ("conformity", "resultOfTestReport"), required=True),
        Transform(("remaining_power_capability",), _export_remaining_power, _import_remaining_power),
        _documents("operating_environment_reports", ("performance", "dynamic", "operatingEnvironment")),
        _documents("negative_event_reports", ("performance", "dynamic", "negativeEvents")),
        Transform(_ELEMENT_KEYS, _export_elements, _import_elements),
        _documents("sustainability_report", ("sustainability", "documents", "sustainabilityReport")),
        _documents("eu_taxonomy_disclosure", ("sustainability", "documents", "euTaxonomyDisclosureStatement")),
        Transform(("additional_sources",), _export_sources, _import_sources),
        _documents("performance_documents", ("performance", "rated", "performanceDocument")),
        _documents("performance_test_reports", ("performance", "rated", "testReport")),
        _documents("dynamic_performance_documents", ("performance", "dynamic", "performanceDocument")),
        _documents("safe_discharging_information", ("safety", "safeDischarging")),
        _documents("removal_information", ("safety", "removalFromAppliance")),
    )

    def file_name(self, part: str | None) -> str:
        return "BatteryPass.json"

    def schema_file(self, part: str | None, document: Any) -> str:
        return "6.1.0_BatteryPass-schema.json"

    def unit_name(self, symbol: str) -> str:
        try:
            return SAMM_UNITS[symbol]
        except KeyError:
            raise NotRepresentable(f"no Catena-X unit for {symbol}") from None

    def export_meta(self, ctx: ExportContext) -> None:
        """``specVersion``, ``metadata`` (version, status, dates, backup reference, predecessor) from the registry;
        the model's required arrays that the data leaves empty are written empty."""
        meta = ctx.meta
        ctx.put(None, ("specVersion",), SPEC_VERSION)
        day = meta.updated_at[:10]
        ctx.put(None, ("metadata", "version"), str(meta.version))
        ctx.put(None, ("metadata", "status"), STATE_STATUS.get(meta.state, "approved"))
        ctx.put(None, ("metadata", "issueDate"), day)
        ctx.put(None, ("metadata", "lastModification"), day)
        ctx.put(None, ("metadata", "backupReference"), meta.public_url)
        ctx.put(None, ("metadata", "predecessor"), meta.predecessors[-1] if meta.predecessors else DUMMY_PREDECESSOR)

    def import_meta(self, ctx: ImportContext) -> None:
        """Consume the registry metadata of the source (see the module docstring)."""
        spec = ctx.get(None, ("specVersion",))
        if spec is not MISSING:
            if isinstance(spec, str) and spec.startswith("urn:io.catenax.battery.battery_pass:"):
                ctx.consume(None, ("specVersion",))
            else:
                ctx.skip(None, ("specVersion",), f"{short(spec)} is not a Catena-X battery pass version")
        for name in ("version", "status", "backupReference", "registrationIdentifier"):
            ctx.understood(None, ("metadata", name), "text")
        for name in ("issueDate", "lastModification"):
            raw = ctx.get(None, ("metadata", name))
            ctx.understood(None, ("metadata", name), "text")
            if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                problem = date_problem(raw)
                if problem:
                    ctx.defect(None, ("metadata", name), problem, "a calendar date yyyy-mm-dd")
        predecessor = ctx.get(None, ("metadata", "predecessor"))
        if predecessor in (MISSING, DUMMY_PREDECESSOR, "00000000-0000-0000-0000-000000000000"):
            ctx.consume(None, ("metadata", "predecessor"))
        else:
            ctx.skip(
                None,
                ("metadata", "predecessor"),
                f"the predecessor passport {short(predecessor)} is not "
                "imported: the registry links passports through its successor operation",
            )

    def encode(self, ctx: ExportContext, attr: Attribute, path: FieldPath, value: Any) -> Any:
        if attr.key == "expected_lifetime_years" and is_number(value) and float(value) != int(value):
            raise NotRepresentable(f"{value} years: Catena-X expectedYears is a whole number")
        return super().encode(ctx, attr, path, value)


__all__ = ["CatenaXFormat", "doc_in", "doc_out"]
