"""The mappings IDTA-02035 and Battery Pass 1.2 share: both descend from the SAMM aspect models of the Battery Pass
consortium, and several of their structures are the same but for the spelling of the properties (PascalCase in
IDTA-02035, camelCase in Battery Pass), the part or model that holds them, and the unit of a mass.

Each factory here builds the :class:`~.engine.Transform` (or one half of it) of one such structure from what the
model names its own way: the part, the path of the array, the property names. The docstring of every function it
builds names the model's path, as the format modules' own transforms do. A :class:`Model` says what the mappings need
to know of the model beyond that: its name in the reasons of ``not_representable``, how its imports word an array
that is not one, and how it spells a component's location. :class:`SammFormat` is the base of both format classes.

Substance and material identifiers are CAS numbers in both models (:func:`cas_out`); the hazard classes and the
recycled materials are the same enumerations (:data:`HAZARD_CLASSES`, :data:`RECYCLED_MATERIALS`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batteryloop.passport.interop.engine import (
    CAS,
    ExportContext,
    ImportContext,
    MultiDocumentFormat,
    Transform,
    convert,
    documented,
    short,
    utc_text,
)
from batteryloop.passport.interop.paths import Loc, render

# the CLP hazard classes of HazardousSubstanceClass, and the RecycledMaterial of each Art. 8 material
HAZARD_CLASSES = ("AcuteToxicity", "SkinCorrosionOrIrritation", "EyeDamageOrIrritation")
RECYCLED_MATERIALS = {"cobalt": "Cobalt", "nickel": "Nickel", "lithium": "Lithium", "lead": "Lead"}


@dataclass(frozen=True)
class Model:
    """What the shared mappings need to know of one model."""

    label: str  # the model in the reasons of not_representable: "IDTA-02035 has no place for ..."
    component: tuple[str, str]  # the properties of a location: component name and component identifier
    name_type: bool  # whether its imports name the JSON type of a value where an array should be

    def array(self, ctx: ImportContext, part: str, loc: Loc) -> list[tuple[Loc, Any]]:
        """The items of the array at ``loc``, each with its location; anything else than an array is reported."""
        return ctx.array(part, loc, name_type=self.name_type)


class SammFormat(MultiDocumentFormat):
    """A model of the Battery Pass SAMM family: multi-language texts in the passport's ``language`` (English by
    default), and a stationary battery energy storage system is an industrial battery (Art. 3(1)(13), (14))."""

    def __init__(self, schema_dir: Path | None = None, *, language: str = "en") -> None:
        super().__init__(schema_dir)
        self.language = language

    def enum_aliases(self, key: str) -> dict[str, str]:
        return {"stationary": "industrial"} if key == "battery_category" else {}


def language(ctx: ExportContext | ImportContext) -> str:
    """The language of the passport's texts (see :class:`SammFormat`)."""
    return ctx.fmt.language if isinstance(ctx.fmt, SammFormat) else "en"


def _where(part: str, loc: Loc, suffix: str = "") -> str:
    """Where a mapping's data sits, for its docstring: ``Part:a.b[]`` (with the ``suffix`` ``[]`` for an array)."""
    return f"``{part}:{render(None, loc)}{suffix}``"


# ---------------------------------------------------------------------------------------------------------------------
# Values


def cas_out(ctx: ExportContext, key: str, entry: Mapping[str, Any]) -> str | None:
    """The identifier of a material or substance where it is a CAS number (the only scheme of the models); another
    is recorded as not representable."""
    identifier, scheme = entry.get("identifier"), entry.get("identifier_scheme")
    if identifier is None:
        return None
    if scheme in (None, "CAS") and CAS.match(identifier):
        return str(identifier)
    ctx.lose(key, f"{identifier} is not a CAS number (scheme {scheme or 'not given'})")
    return None


def location_out(model: Model, component: Any, component_id: Any) -> dict[str, Any]:
    """A location {component name, component identifier}, with what the entry gives of them."""
    name, ident = model.component
    return {k: v for k, v in ((name, component), (ident, component_id)) if v is not None}


def location_in(ctx: ImportContext, model: Model, part: str, loc: Loc) -> tuple[Any, Any]:
    """The component name and identifier of the location at ``loc`` (consumed)."""
    name = ctx.read(part, (*loc, model.component[0]), "text")
    ident = ctx.read(part, (*loc, model.component[1]), "text")
    ctx.consume(part, loc)
    return name, ident


def lose_substance_extras(ctx: ExportContext, model: Model, key: str, entry: Mapping[str, Any]) -> None:
    """Record what neither model holds of a hazardous substance."""
    if entry.get("critical_raw_material") is not None:
        ctx.lose(key, f"{model.label} has no critical-raw-material flag for a hazardous substance")
    if entry.get("documents") or entry.get("impact_documents"):
        ctx.lose(key, f"{model.label} has no place for the documentation or impact documents of a hazardous substance")


def _records(
    ctx: ImportContext, model: Model, part: str, loc: Loc, text: str | None, missing: str
) -> Iterator[tuple[Loc, Mapping[str, Any]]]:
    """The objects of the array at ``loc`` (with their locations) that have the text property ``text``; any other
    item is reported, with the reason ``missing``."""
    for item_loc, item in model.array(ctx, part, loc):
        if not isinstance(item, Mapping) or (text is not None and not isinstance(item.get(text), str)):
            ctx.skip(part, item_loc, missing)
            continue
        yield item_loc, item


def time_in(ctx: ImportContext, part: str, loc: Loc, raw: Any) -> str | None:
    """``raw``, the text read at ``loc``, as a time in UTC; a text that is no date-time is a defect of the source."""
    if not isinstance(raw, str):
        return None
    try:
        return utc_text(raw)
    except ValueError:
        ctx.defect(part, loc, f"{raw!r} is not a date-time", "an ISO 8601 date-time")
        return None


# ---------------------------------------------------------------------------------------------------------------------
# Material composition


def materials(
    model: Model,
    part: str,
    loc: Loc,
    *,
    location: str,
    name: str,
    identifier: str,
    mass: str,
    critical: str,
    mass_unit: str,
) -> Transform:
    """detailed_composition <-> the array of battery materials at ``loc`` of ``part``: the keywords are the model's
    names of a material's properties, ``mass_unit`` the unit of its mass."""
    key = "detailed_composition"
    doc = (
        f"{key} <-> {_where(part, loc, '[]')}: {location} ({', '.join(model.component)}), {name}, {identifier} (a CAS "
        f"number), {mass} [{mass_unit}], {critical}. An identifier of another scheme, concentration, recycled and "
        "renewable shares and the documentation have no place."
    )

    def export(ctx: ExportContext) -> None:
        out = []
        for m in ctx.value(key) or []:
            item: dict[str, Any] = {
                location: location_out(model, m.get("component"), m.get("component_id")),
                name: m["name"],
            }
            cas = cas_out(ctx, key, m)
            if cas is not None:
                item[identifier] = cas
            if m.get("mass_kg") is not None:
                item[mass] = convert(m["mass_kg"], "kg", mass_unit)
            if m.get("critical_raw_material") is not None:
                item[critical] = m["critical_raw_material"]
            if any(m.get(k) is not None for k in ("concentration_pct", "recycled_pct", "renewable_pct")):
                ctx.lose(key, f"{model.label} has no place for a material's concentration, recycled or renewable share")
            if m.get("documents"):
                ctx.lose(key, f"{model.label} has no place for the documentation of a material")
            out.append(item)
        ctx.put(part, loc, out)

    def import_(ctx: ImportContext) -> None:
        out = []
        for item_loc, item in _records(ctx, model, part, loc, name, "a material without a name"):
            component, component_id = location_in(ctx, model, part, (*item_loc, location))
            weight = ctx.read(part, (*item_loc, mass), "number")
            mat = {
                "name": ctx.take(part, (*item_loc, name)),
                "identifier": ctx.cas_number(part, (*item_loc, identifier)),
                "identifier_scheme": "CAS" if item.get(identifier) is not None else None,
                "component": component,
                "component_id": component_id,
                "mass_kg": convert(weight, mass_unit, "kg") if weight is not None else None,
                "critical_raw_material": ctx.read(part, (*item_loc, critical), "boolean"),
            }
            out.append({k: v for k, v in mat.items() if v is not None})
        if out:
            ctx.set(key, out)

    return documented((key,), export, import_, doc)


def hazardous_import(
    model: Model,
    part: str,
    loc: Loc,
    *,
    name: str,
    identifier: str,
    hazard_class: str,
    concentration: str,
    impact: str,
    location: str,
) -> Callable[[ImportContext], None]:
    """The import of hazardous_substances from the array of hazardous substances at ``loc`` of ``part`` (the keywords
    are the model's names of a substance's properties); the models' exports differ, each format module has its own."""
    key = "hazardous_substances"

    def import_(ctx: ImportContext) -> None:
        out = []
        for item_loc, item in _records(ctx, model, part, loc, name, "a hazardous substance without a name"):
            where, where_id = (
                location_in(ctx, model, part, (*item_loc, location))
                if isinstance(item.get(location), Mapping)
                else (None, None)
            )
            impacts = ctx.read(part, (*item_loc, impact), "texts")
            sub = {
                "name": ctx.take(part, (*item_loc, name)),
                "identifier": ctx.cas_number(part, (*item_loc, identifier)),
                "identifier_scheme": "CAS" if item.get(identifier) is not None else None,
                "hazard_class": ctx.read(part, (*item_loc, hazard_class), "text"),
                "concentration_pct": ctx.read(part, (*item_loc, concentration), "number"),
                "location": where,
                "location_id": where_id,
                "impact": impacts or None,
            }
            out.append({k: v for k, v in sub.items() if v is not None})
        if out:
            ctx.set(key, out)

    import_.__doc__ = (
        f"{key} <- {_where(part, loc, '[]')}: {name}, {identifier} (a CAS number), {hazard_class}, "
        f"{concentration} [%], {impact}, {location} ({', '.join(model.component)}); see the export."
    )
    return import_


# ---------------------------------------------------------------------------------------------------------------------
# Recycled content


def recycled(model: Model, part: str, loc: Loc, *, material: str, pre: str, post: str) -> Transform:
    """recycled_content <-> the array of recycled content at ``loc`` of ``part``: the keywords are the model's names
    of the material and of the pre- and post-consumer shares."""
    key = "recycled_content"
    shares = (("pre_consumer_pct", pre), ("post_consumer_pct", post))
    doc = (
        f"{key} <-> {_where(part, loc, '[]')} {{{material} ({', '.join(RECYCLED_MATERIALS.values())}), {pre}, {post}}} "
        "[%]; the total is their sum (a total without the split has no place)."
    )

    def export(ctx: ExportContext) -> None:
        out = []
        for r in ctx.value(key) or []:
            item: dict[str, Any] = {material: RECYCLED_MATERIALS[r["material"]]}
            for ours, theirs in shares:
                if r.get(ours) is not None:
                    item[theirs] = r[ours]
            if r.get("total_pct") is not None and any(r.get(ours) is None for ours, _ in shares):
                ctx.lose(key, f"{model.label} holds the pre- and post-consumer shares, not their total alone")
            out.append(item)
        ctx.put(part, loc, out)

    def import_(ctx: ImportContext) -> None:
        reverse = {v.lower(): k for k, v in RECYCLED_MATERIALS.items()}
        out = []
        for item_loc, item in model.array(ctx, part, loc):
            value = item.get(material) if isinstance(item, Mapping) else None
            if not isinstance(value, str) or value.lower() not in reverse:
                ctx.skip(
                    part, item_loc, f"recycled content of {short(value)}: Art. 8 names cobalt, lithium, nickel and lead"
                )
                continue
            ctx.consume(part, (*item_loc, material))
            entry: dict[str, Any] = {"material": reverse[value.lower()]}
            for ours, theirs in shares:
                share = ctx.read(part, (*item_loc, theirs), "number")
                if share is not None:
                    entry[ours] = share
            out.append(entry)
        if out:
            ctx.set(key, out)

    return documented((key,), export, import_, doc)


# ---------------------------------------------------------------------------------------------------------------------
# Performance and condition


def original_power(model: Model, part: str, loc: Loc) -> Transform:
    """original_power_capability <-> the array of original power capabilities at ``loc`` (both models spell its
    properties ``atSoC`` and ``powerCapabilityAt``)."""
    key = "original_power_capability"
    doc = f"{key} <-> {_where(part, loc, '[]')} {{atSoC [%], powerCapabilityAt [W]}}; a measurement time has no place."

    def export(ctx: ExportContext) -> None:
        entries = ctx.value(key) or []
        ctx.put(part, loc, [{"atSoC": e["soc_pct"], "powerCapabilityAt": e["power_W"]} for e in entries])
        if any(e.get("measured_at") for e in entries):
            ctx.lose(key, f"{model.label} has no measurement time for the original power capability")

    def import_(ctx: ImportContext) -> None:
        out = []
        for item_loc, _item in _records(ctx, model, part, loc, None, "not a power capability record"):
            soc = ctx.read(part, (*item_loc, "atSoC"), "number")
            power = ctx.read(part, (*item_loc, "powerCapabilityAt"), "number")
            if soc is not None and power is not None:
                out.append({"soc_pct": soc, "power_W": power})
        if out:
            ctx.set(key, out)

    return documented((key,), export, import_, doc)


def remaining_power_export(
    model: Model, part: str, loc: Loc, *, value: str, fields: Mapping[str, str], time: str, label: str | None = None
) -> Callable[[ExportContext], None]:
    """The export of remaining_power_capability to the object at ``loc``: ``{value: {fields}, time: last update}``,
    where ``fields`` maps ``soc_pct``, ``power_W`` and ``measured_at`` of the entry to the model's names, in the
    model's order. ``label`` names the model in the reason for a second entry (``model.label`` by default)."""
    key = "remaining_power_capability"

    def export(ctx: ExportContext) -> None:
        entries = ctx.value(key) or []
        if any(e.get("soc_pct") is None for e in entries):
            ctx.lose(key, "the model holds a remaining power at a state of charge only")
        entries = [e for e in entries if e.get("soc_pct") is not None]
        if not entries:
            return
        entry = next((e for e in entries if float(e["soc_pct"]) == 80.0), entries[0])
        if len(entries) > 1:
            ctx.lose(key, f"{label or model.label} holds the remaining power capability at one state of charge")
        if not entry.get("measured_at"):
            ctx.lose(key, "the model wants a time per entry; the passport's time was written")
        when = ctx.time_of(key)
        values = {
            "soc_pct": entry["soc_pct"],
            "power_W": entry["power_W"],
            "measured_at": utc_text(str(entry.get("measured_at") or when)),
        }
        ctx.put(part, loc, {value: {theirs: values[ours] for ours, theirs in fields.items()}, time: when})

    units = {"soc_pct": " [%]", "power_W": " [W]"}
    properties = ", ".join(f"{theirs}{units.get(ours, '')}" for ours, theirs in fields.items())
    export.__doc__ = (
        f"{key} <-> {_where(part, loc)} {{{value} {{{properties}}}, {time}}}: the model holds one entry, at a state of "
        f"charge (the one at 80 %, else the first), with its time ({fields['measured_at']}; the passport's where the "
        "entry has none)."
    )
    return export


def remaining_power_entry(
    ctx: ImportContext, part: str, loc: Loc, raw: Any, fields: Mapping[str, str], *, report_at: Loc
) -> dict[str, Any] | None:
    """The remaining power capability entry of the value object ``raw`` at ``loc`` (``fields`` as for
    :func:`remaining_power_export`), or None; a value without state of charge and power is reported at
    ``report_at``."""
    if not isinstance(raw, Mapping) or fields["soc_pct"] not in raw or fields["power_W"] not in raw:
        ctx.skip(part, report_at, "a remaining power capability without state of charge and power")
        return None
    soc = ctx.read(part, (*loc, fields["soc_pct"]), "number")
    power = ctx.read(part, (*loc, fields["power_W"]), "number")
    when = ctx.read(part, (*loc, fields["measured_at"]), "text")
    if soc is None or power is None:
        return None
    entry: dict[str, Any] = {"soc_pct": soc, "power_W": power}
    measured = time_in(ctx, part, (*loc, fields["measured_at"]), when)
    if measured is not None:
        entry["measured_at"] = measured
    return entry


def negative_events(model: Model, part: str, loc: Loc, *, event: str, time: str, required: bool) -> Transform:
    """negative_events <-> the array of negative events at ``loc`` of ``part``: ``event`` and ``time`` are the
    model's names of the event and its time; with ``required`` the array is written (empty) when the passport has no
    events."""
    key = "negative_events"
    doc = (
        f"{key} <-> {_where(part, loc, '[]')} {{{event}, {time}}}: the event and its time (the passport's time "
        "where the event has none)."
    )

    def export(ctx: ExportContext) -> None:
        events = ctx.value(key) or []
        if not events and not required:
            return
        out = []
        for e in events:
            if not e.get("time"):
                ctx.lose(key, "an event without a time: the model wants one; the passport's time was written")
            out.append({event: e["event"], time: utc_text(str(e.get("time") or ctx.time_of(key)))})
        ctx.put(part, loc, out)

    def import_(ctx: ImportContext) -> None:
        out = []
        for item_loc, _item in _records(ctx, model, part, loc, event, "a negative event without its description"):
            entry: dict[str, Any] = {"event": ctx.take(part, (*item_loc, event))}
            when = time_in(ctx, part, (*item_loc, time), ctx.read(part, (*item_loc, time), "text"))
            if when is not None:
                entry["time"] = when
            out.append(entry)
        if out:
            ctx.set(key, out)

    return documented((key,), export, import_, doc)
