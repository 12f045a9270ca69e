"""Paths into the documents of the passport data models, as written in the path columns of ``attributes.csv``.

The columns ``idta_02035_path``, ``batterypass_1_2_path`` and ``catenax_6_1_path`` say where each attribute lives in
IDTA-02035, Battery Pass 1.2 and Catena-X battery pass 6.1.0. An empty cell means the model has no place for it.
One cell::

    cell   = path *( ";" path )
    path   = [ part ":" ] step *( "." step ) [ "(" unit ")" | "{" unit "}" ] [ "@" timekey ]
    step   = name [ "[]" ]

``part``
    The document of a multi-document model: the IDTA-02035 part (``DigitalNameplate``, ``TechnicalData``,
    ``ProductCondition``, ``MaterialComposition``, ``CarbonFootprint``, ``Circularity``, ``HandoverDocumentation``,
    ``DppMetadata``) or the Battery Pass model (``GeneralProductInformation``, ``PerformanceAndDurability``,
    ``MaterialComposition``, ``CarbonFootprint``, ``Circularity``, ``Labels``, ``SupplyChainDueDiligence``).
    Catena-X is one document, so its paths have no part.
``step``
    A property name of the JSON payload (the SAMM ``payloadName``); ``[]`` marks that the property is a JSON array.
``(unit)``
    The value is a plain number in this unit (a symbol of :mod:`batteryloop.units`), taken from the ``samm-c:unit``
    of the aspect model (.ttl). Import converts it into the attribute's unit, export back.
``{unit}``
    The value is a ``{"value": number, "unit": "unit:..."}`` object (Catena-X ``physicalDimension``); export writes
    it in this unit, import reads whatever unit the object names.
``@timekey``
    A dynamic value whose measurement time sits in the sibling property ``timekey`` (IDTA ``LastUpdate``, Battery
    Pass ``lastUpdate``, Catena-X ``time``). Import puts it in ``observations[key]["measured_at"]``; export writes the
    observation's time there.

Several paths separated by ``;``: the first is where the value is read from and written to; the others are mirrors
that the model repeats (e.g. the manufacturer name in both the IDTA nameplate and technical data). Export writes the
value to every path; import reads the first and reports a mirror that differs in ``skipped``.

A path that contains ``[]``, or that names an object rather than a value, needs a transform: the format module
registers one for the attribute (lists of structures, per-element recycled content, identifiers chosen by a key,
documents that IDTA-02035 references by identifier, value+unit objects, ISO 8601 durations against Catena-X
``lifeValue``/``lifeUnit``). The path still names where the data lands; the transform's docstring says how.

Examples::

    TechnicalData:TechnicalPropertyAreas.CapacityEnergyVoltage.RatedCapacity(Ah)
    ProductCondition:StateOfCharge.StateOfChargeValue(%)@LastUpdate
    PerformanceAndDurability:batteryTechicalProperties.ratedMaximumPower(kW)
    characteristics.physicalDimension.weight{g}
    performance.dynamic.resistance.remaining.pack.value(Ohm)@time
    DigitalNameplate:ManufacturerName;TechnicalData:GeneralInformation.ManufacturerName

Locations inside a parsed document (for problems) are rendered the same way with list indices:
``Circularity:SparePartSources[0].NameOfSupplier``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PATH = re.compile(
    r"^(?:(?P<part>[A-Za-z][A-Za-z0-9]*):)?"
    r"(?P<steps>[A-Za-z0-9_]+(?:\[\])?(?:\.[A-Za-z0-9_]+(?:\[\])?)*)"
    r"(?:\((?P<unit>[^()]+)\)|\{(?P<qunit>[^{}]+)\})?"
    r"(?:@(?P<time>[A-Za-z][A-Za-z0-9_]*))?$"
)

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldPath:
    """One path of a cell, parsed."""

    text: str
    part: str | None
    steps: tuple[str, ...]
    lists: frozenset[int]  # indices into ``steps`` of the steps that are JSON arrays
    unit: str | None  # the model's unit of a plain number, or of a value+unit object when ``quantity``
    quantity: bool
    time_key: str | None

    @property
    def plain(self) -> bool:
        """True when the path leads to one value without crossing an array."""
        return not self.lists

    @property
    def loc(self) -> Loc:
        return tuple(self.steps)

    @property
    def time_loc(self) -> Loc | None:
        if self.time_key is None:
            return None
        return (*self.steps[:-1], self.time_key)

    def child(self, *more: str) -> Loc:
        return (*self.steps, *more)


def parse_path(text: str) -> FieldPath:
    """Parse one path (see the module docstring); raises ``ValueError`` naming what is wrong."""
    m = _PATH.match(text.strip())
    if not m:
        raise ValueError(f"not a path: {text!r}")
    raw_steps = m.group("steps").split(".")
    steps = tuple(s.removesuffix("[]") for s in raw_steps)
    lists = frozenset(i for i, s in enumerate(raw_steps) if s.endswith("[]"))
    unit = m.group("unit") or m.group("qunit")
    return FieldPath(
        text=text.strip(),
        part=m.group("part"),
        steps=steps,
        lists=lists,
        unit=unit,
        quantity=m.group("qunit") is not None,
        time_key=m.group("time"),
    )


def parse_cell(cell: str) -> list[FieldPath]:
    """The paths of one cell of a path column; an empty cell gives none."""
    return [parse_path(p) for p in cell.split(";") if p.strip()]


def render(part: str | None, loc: Loc) -> str:
    """``Part:a.b[0].c`` (or ``a.b[0].c`` without a part): where a value sits in a source or exported document."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += ("." if text else "") + step
    if part:
        return f"{part}:{text}" if text else part
    return text or "$"


class _Missing:
    """The absence of a value (falsy, so that ``get(doc, loc) or []`` reads naturally)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def get(doc: Any, loc: Loc) -> Any:
    """The value at ``loc`` in ``doc``, or :data:`MISSING`."""
    node = doc
    for step in loc:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, Mapping) or step not in node:
                return MISSING
            node = node[step]
    return node


def put(doc: dict[str, Any], loc: Loc, value: Any) -> None:
    """Set ``value`` at ``loc`` (names only), creating the objects on the way."""
    node = doc
    for step in loc[:-1]:
        assert isinstance(step, str)
        nxt = node.get(step)
        if not isinstance(nxt, dict):
            nxt = {}
            node[step] = nxt
        node = nxt
    last = loc[-1]
    assert isinstance(last, str)
    node[last] = value


def leaves(doc: Any, loc: Loc = ()) -> list[tuple[Loc, Any]]:
    """Every leaf of ``doc`` with its location: scalars, and empty objects or arrays."""
    if isinstance(doc, Mapping):
        if not doc:
            return [(loc, doc)]
        out: list[tuple[Loc, Any]] = []
        for key, value in doc.items():
            out.extend(leaves(value, (*loc, str(key))))
        return out
    if isinstance(doc, list):
        if not doc:
            return [(loc, doc)]
        out = []
        for i, value in enumerate(doc):
            out.extend(leaves(value, (*loc, i)))
        return out
    return [(loc, doc)]
