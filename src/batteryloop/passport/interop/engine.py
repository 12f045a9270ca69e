"""The machinery the three formats share: the table-driven mapping, the import and export contexts, reading files.

:class:`DocumentFormat` turns the path column of ``attributes.csv`` for a format into the mapping. Every attribute
whose cell holds plain paths (no ``[]``, not an object) is mapped here, generically: the value is converted between
the attribute's unit and the model's unit of the path, written to every mirror path, and for dynamic attributes the
measurement time goes to the ``@timekey`` sibling. The attributes that need code (lists of structures, identifiers
picked by a key, referenced documents, ...) are handled by the format's :class:`Transform` objects; each attribute
with a path is either plain or has a transform (``tests/passport/test_interop_table.py`` checks that).

Import never drops a value silently. Every leaf of the source is either read into an attribute, understood as
structure that the import reproduces (a unit, a type tag, a derived classification), understood as registry metadata
of the source (its version, issue date, status: the registry keeps its own), or reported in ``skipped`` with the
reason and a code: ``not_mapped`` (no attribute holds the field), ``not_imported`` (the attribute cannot hold this
value, e.g. a second link where it keeps one), ``invalid_value`` (the value is not of the model's type, or not a
calendar date) or ``unreadable`` (the structure around it is not the model's). Values that violate the source's own
schema are reported in ``defects`` (code ``source_schema``) and, where they can still be read, imported raw: the
registry's validation (``attributes.validate_values``) then rejects an out-of-range number with the attribute named.
With ``schema_dir`` the whole source is also validated against the official schema and every further violation is
reported. Only a malformed input (not JSON, not an object, a part missing) raises :class:`ImportFormatError`.

Export first validates the values against ``attributes.csv`` (:class:`ValidationError` names every invalid one), then
lists in ``not_representable`` (with the reason in ``reasons``) every attribute of the data that the format cannot
hold, or can hold only in part.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from batteryloop import units
from batteryloop.errors import ImportFormatError, Problem, ValidationError
from batteryloop.passport.attributes import FORMAT_COLUMNS, Attribute, attributes, validate_value
from batteryloop.passport.interop import schema as schema_mod
from batteryloop.passport.interop.base import ExportMeta, ExportResult, ImportResult
from batteryloop.passport.interop.paths import MISSING, FieldPath, Loc, get, leaves, parse_cell, put, render

SOURCE_SCHEMA = "source_schema"
NOT_IMPORTED = "not_imported"
NOT_MAPPED = "not_mapped"


class NotRepresentable(Exception):  # noqa: N818 - a signal, not an error of the caller
    """Raised by an encoder: the value cannot be written in this format (the message says why)."""


class _Skip:
    def __repr__(self) -> str:
        return "SKIP"


SKIP: Any = _Skip()


@dataclass
class FormatImport(ImportResult):
    """An :class:`ImportResult` that also carries the registry-set attributes of the source and the model version.

    ``data`` holds only user-writable attributes (so that ``validate_values(data, category)`` applies); the
    attributes the registry sets through its lifecycle operations (``battery_status``, the passport and operator
    identifiers) are in ``registry_values``.
    """

    registry_values: dict[str, Any] = field(default_factory=dict)
    version: str = ""


@dataclass
class FormatExport(ExportResult):
    """An :class:`ExportResult` with the reason for each key of ``not_representable``."""

    reasons: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------------
# Values


def utc_text(value: str | datetime) -> str:
    """An ISO 8601 time in UTC with ``Z``; a time without an offset is read as UTC."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same(a: Any, b: Any) -> bool:
    """Equal, with numbers compared to 1e-9 relative."""
    if is_number(a) and is_number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_MONTH_ONLY = re.compile(r"^\d{4}-\d{2}$")
CAS = re.compile(r"^\d{2,7}-\d{2}-\d{1}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def looks_like_uri(text: str) -> bool:
    """``scheme:rest`` without white space: a link rather than an identifier or a text."""
    return bool(_URI.match(text))


def full_date(value: str) -> str:
    """``value`` as yyyy-mm-dd, or :class:`NotRepresentable` for a month-only date."""
    if _MONTH_ONLY.match(value):
        raise NotRepresentable(f"the model wants a full date (yyyy-mm-dd); the passport gives the month {value}")
    return value


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` in ``to_unit``. A value whose conversion leaves the range of a float (the official Battery Pass
    examples carry numbers like -1.79e308 kW) becomes an infinity of its sign, which the registry's validation then
    rejects with the attribute named; nothing is clamped."""
    if not from_unit or not to_unit or from_unit == to_unit or "1" in (from_unit, to_unit):
        return value
    try:
        return units.convert(value, from_unit, to_unit)
    except OverflowError:
        return math.copysign(math.inf, value)


# Addresses: attributes hold one line "street, postcode place, country"; the models split it.
_NL_POSTCODE = re.compile(r"^(\d{4}\s?[A-Z]{2})\s+(.+)$")
_POSTCODE = re.compile(r"^(\S*\d\S*)\s+(.+)$")


@dataclass(frozen=True)
class Address:
    street: str
    postcode: str
    place: str
    country: str

    @property
    def postcode_place(self) -> str:
        return " ".join(p for p in (self.postcode, self.place) if p)


def split_address(text: str) -> Address:
    """Split ``"Street 1, 1234 AB Place, NL"`` into its parts.

    The last comma-separated part is the country, the one before it the postcode and place (a Dutch postcode
    ``1234 AB`` or a first word with a digit is the postcode), everything before that the street. An address with
    fewer than three parts goes whole into the street. :func:`join_address` reverses the split exactly.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) < 3 or not all(parts):
        return Address(text.strip(), "", "", "")
    street, middle, country = ", ".join(parts[:-2]), parts[-2], parts[-1]
    m = _NL_POSTCODE.match(middle) or _POSTCODE.match(middle)
    if m:
        return Address(street, m.group(1), m.group(2), country)
    return Address(street, "", middle, country)


def join_address(street: str, postcode_place: str, country: str) -> str:
    return ", ".join(p.strip() for p in (street, postcode_place, country) if p and p.strip())


# ---------------------------------------------------------------------------------------------------------------------
# Reading files


def read_json(path: Path) -> Any:
    """Parse a JSON file (UTF-8, or UTF-16 with a byte-order mark as the Battery Pass originals are)."""
    if not path.exists():
        raise ImportFormatError(f"{path} does not exist", field=str(path), expected="an existing JSON file")
    if path.is_dir():
        raise ImportFormatError(f"{path} is a directory", field=str(path), expected="a JSON file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            f"{path}: not text in UTF-8 or UTF-16 ({exc.reason} at byte {exc.start})",
            field=str(path),
            expected="a JSON document",
        ) from None

    def _reject(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=_reject)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            field=str(path),
            expected="a JSON document",
        ) from None
    except ValueError as exc:
        raise ImportFormatError(f"{path}: not JSON ({exc})", field=str(path), expected="a JSON document") from None


# ---------------------------------------------------------------------------------------------------------------------
# Contexts


class ExportContext:
    """What a transform needs to write: the data, the documents, and a way to say what cannot be written."""

    def __init__(
        self,
        fmt: DocumentFormat,
        data: Mapping[str, Any],
        observations: Mapping[str, Any],
        meta: ExportMeta,
    ) -> None:
        self.fmt = fmt
        self.data = data
        self.observations = observations
        self.meta = meta
        self.docs: dict[str | None, dict[str, Any]] = {p: {} for p in fmt.parts}
        self.lost: dict[str, str] = {}
        self.state: dict[str, Any] = {}  # scratch space of the format's transforms

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def value(self, key: str) -> Any:
        return self.data.get(key)

    def paths(self, key: str) -> list[FieldPath]:
        return self.fmt.paths(key)

    def put(self, part: str | None, loc: Loc, value: Any) -> None:
        put(self.docs.setdefault(part, {}), loc, value)

    def get(self, part: str | None, loc: Loc) -> Any:
        return get(self.docs.get(part, {}), loc)

    def lose(self, key: str, reason: str) -> None:
        """Record that ``key`` cannot be held (in part) by this format."""
        if key in self.lost:
            if reason not in self.lost[key]:
                self.lost[key] += "; " + reason
        else:
            self.lost[key] = reason

    def time_of(self, key: str) -> str:
        """The measurement time of ``key`` in UTC, or the passport's last update when none is recorded."""
        obs = self.observations.get(key)
        if isinstance(obs, Mapping) and obs.get("measured_at"):
            try:
                return utc_text(str(obs["measured_at"]))
            except ValueError:
                pass
        return utc_text(self.meta.updated_at)

    def put_time(self, part: str | None, loc: Loc, when: str) -> None:
        """Write a measurement time; where several values share one time field, the latest time stays."""
        current = self.get(part, loc)
        if isinstance(current, str):
            try:
                if datetime.fromisoformat(current.replace("Z", "+00:00")) >= datetime.fromisoformat(
                    when.replace("Z", "+00:00")
                ):
                    return
            except ValueError:
                pass
        self.put(part, loc, when)


class ImportContext:
    """What a transform needs to read: the documents, what has been consumed, and the result to fill."""

    def __init__(self, fmt: DocumentFormat, docs: dict[str | None, Any], source: str, result: FormatImport) -> None:
        self.fmt = fmt
        self.docs = docs
        self.source = source
        self.result = result
        self.state: dict[str, Any] = {}  # scratch space of the format's transforms
        self._consumed: set[tuple[str | None, Loc]] = set()

    # reading and consumption

    def get(self, part: str | None, loc: Loc) -> Any:
        return get(self.docs.get(part), loc)

    def take(self, part: str | None, loc: Loc) -> Any:
        value = self.get(part, loc)
        if value is not MISSING:
            self.consume(part, loc)
        return value

    def consume(self, part: str | None, loc: Loc) -> None:
        self._consumed.add((part, tuple(loc)))

    def consumed(self, part: str | None, loc: Loc) -> bool:
        return any((part, loc[:i]) in self._consumed for i in range(len(loc) + 1))

    def where(self, part: str | None, loc: Loc) -> str:
        return render(part, loc)

    def read(self, part: str | None, loc: Loc, kind: str) -> Any:
        """The value at ``loc`` when it has the JSON type the model gives it: ``text``, ``number``, ``boolean`` or
        ``texts`` (an array of texts; a single text is read as one, and reported). A value of another type is a
        defect of the source and is not imported (reported in ``skipped``); an absent one gives None."""
        raw = self.take(part, loc)
        if raw is MISSING:
            return None
        if kind == "texts" and isinstance(raw, str):
            self.defect(part, loc, f"a single value {short(raw)} where the schema wants an array", "an array")
            return [raw]
        ok = {
            "text": isinstance(raw, str),
            "number": is_number(raw),
            "boolean": isinstance(raw, bool),
            "texts": isinstance(raw, list) and all(isinstance(x, str) for x in raw),
        }[kind]
        if ok:
            return raw
        wanted = {"text": "a text", "number": "a number", "boolean": "true or false", "texts": "an array of texts"}[
            kind
        ]
        self.defect(part, loc, f"{short(raw)} is {schema_mod.json_type(raw)}, not {wanted}", wanted)
        self.skip(part, loc, f"{short(raw)} is not imported: the model wants {wanted}", code="invalid_value")
        return None

    def understood(self, part: str | None, loc: Loc, kind: str) -> None:
        """A field that is understood but not imported (registry metadata): consumed; a value of another type than
        the model gives it is reported as a defect of the source."""
        raw = self.take(part, loc)
        if raw is MISSING:
            return
        ok = {
            "text": isinstance(raw, str),
            "texts": isinstance(raw, list) and all(isinstance(x, str) for x in raw),
            "boolean": isinstance(raw, bool),
            "mlt": isinstance(raw, list)
            and all(isinstance(x, Mapping) and all(isinstance(t, str) for t in x.values()) for x in raw),
        }
        if not ok[kind]:
            wanted = {
                "text": "a text",
                "texts": "an array of texts",
                "boolean": "true or false",
                "mlt": "an array of {language: text} objects (SAMM MultiLanguageTexts)",
            }[kind]
            self.defect(part, loc, f"{short(raw)} is {schema_mod.json_type(raw)}, not {wanted}", wanted)

    def cas_number(self, part: str | None, loc: Loc) -> str | None:
        """A CAS registry number (the pattern ``^\\d{2,7}-\\d{2}-\\d{1}$`` of IDTA-02035 and Battery Pass); one
        that does not match is reported and imported as given."""
        raw: str | None = self.read(part, loc, "text")
        if raw is not None and not CAS.match(raw):
            hint = " (it has leading or trailing whitespace)" if raw != raw.strip() else ""
            self.defect(
                part,
                loc,
                f"{short(raw)} does not match the schema pattern {CAS.pattern}{hint}",
                f"text matching {CAS.pattern} (a CAS number)",
            )
        return raw

    def items(self, part: str | None, loc: Loc) -> list[tuple[int, Any]]:
        """The items of the array at ``loc`` with their indices; anything else than an array is reported, naming
        its JSON type."""
        return list(enumerate(self._list(part, loc, name_type=True)))

    def array(self, part: str | None, loc: Loc, *, name_type: bool = False) -> list[tuple[Loc, Any]]:
        """The items of the array at ``loc``, each with its location; anything else than an array is reported (with
        ``name_type`` as :meth:`items` reports it)."""
        return [((*loc, i), item) for i, item in enumerate(self._list(part, loc, name_type=name_type))]

    def _list(self, part: str | None, loc: Loc, *, name_type: bool) -> list[Any]:
        """The array at ``loc`` (consumed when empty); nothing when it is absent, or not an array (reported: with
        ``name_type`` the defect names what it is instead, the wording of :meth:`items`)."""
        raw = self.get(part, loc)
        if raw is MISSING:
            return []
        if not isinstance(raw, list):
            what = f"{schema_mod.json_type(raw)}, not an array" if name_type else "not an array"
            self.defect(part, loc, f"{short(raw)} is {what}", "an array")
            self.skip(part, loc, "not an array: cannot be read" if name_type else "not an array")
            return []
        if not raw:
            self.consume(part, loc)
        return raw

    # outcomes

    def set(self, key: str, value: Any) -> None:
        """Store an imported value: user attributes in ``data``, registry-set ones in ``registry_values``."""
        attr = attributes()[key]
        if attr.writable == "registry":
            self.result.registry_values[key] = value
            if key == "passport_identifier" and isinstance(value, str):
                self.result.passport_id = value
            if key == "economic_operator_identifier" and isinstance(value, str):
                self.result.operator_identifier = value
        else:
            self.result.data[key] = value

    def observe(self, key: str, part: str | None, loc: Loc | None) -> None:
        """Record the measurement time found at ``loc`` for the dynamic attribute ``key``."""
        if loc is None:
            return
        raw = self.take(part, loc)
        if raw is MISSING:
            return
        where = self.where(part, loc)
        if not isinstance(raw, str):
            self.defect(part, loc, f"{short(raw)} is not a date-time", "an ISO 8601 date-time")
            return
        try:
            when = utc_text(raw)
        except ValueError:
            self.defect(part, loc, f"{raw!r} is not a date-time", "an ISO 8601 date-time")
            return
        note = "" if re.search(r"([Zz]|[+-]\d{2}:?\d{2})$", raw.strip()) else " (no UTC offset given: read as UTC)"
        self.result.observations[key] = {
            "measured_at": when,
            "method": f"imported from {self.fmt.label}{self.result.version and ' ' + self.result.version}: "
            f"{where}{note}",
        }

    def defect(self, part: str | None, loc: Loc, message: str, expected: str) -> None:
        """The source violates its own schema at ``loc``."""
        where = self.where(part, loc)
        if any(p.field == where for p in self.result.defects):
            return
        self.result.defects.append(Problem(where, message, expected, SOURCE_SCHEMA))

    def skip(self, part: str | None, loc: Loc, message: str, *, code: str = NOT_IMPORTED) -> None:
        """A source value that is not imported, with the reason; the location counts as consumed."""
        self.result.skipped.append(Problem(self.where(part, loc), message, None, code))
        self.consume(part, loc)

    def unconsumed(self) -> list[tuple[str | None, Loc, Any]]:
        out = []
        for part, doc in self.docs.items():
            for loc, value in leaves(doc):
                if not self.consumed(part, loc):
                    out.append((part, loc, value))
        return out


def keep_first(
    ctx: ImportContext, part: str | None, loc: Loc, key: str, value: Any, shared: dict[str, tuple[Loc, Any]]
) -> None:
    """A value that several records of the source repeat (``value``, read at ``loc``): the first one read is
    ``key``'s (kept in ``shared`` with its location); a later one that is the same is consumed, one that differs
    is reported."""
    if key not in shared:
        shared[key] = (loc, value)
        ctx.consume(part, loc)
    elif same(shared[key][1], value):
        ctx.consume(part, loc)
    else:
        ctx.skip(
            part, loc, f"{short(value)} differs from {ctx.where(part, shared[key][0])}, from which {key} is imported"
        )


@dataclass(frozen=True)
class Transform:
    """Code for attributes whose path needs more than a value copy; the functions' docstrings say what they do."""

    keys: tuple[str, ...]
    export: Callable[[ExportContext], None]
    import_: Callable[[ImportContext], None]


def documented(
    keys: tuple[str, ...],
    export: Callable[[ExportContext], None],
    import_: Callable[[ImportContext], None],
    doc: str,
) -> Transform:
    """The :class:`Transform` of a factory's two functions, both with the docstring ``doc`` (the mapping they
    serve, with the model's path)."""
    export.__doc__ = doc
    import_.__doc__ = doc
    return Transform(keys, export, import_)


# ---------------------------------------------------------------------------------------------------------------------
# The format


class DocumentFormat:
    """A passport data model: the generic table-driven mapping, with hooks the format modules fill in."""

    name: str
    label: str
    parts: ClassVar[tuple[str | None, ...]]  # (None,) for a single-document model
    transforms: ClassVar[tuple[Transform, ...]] = ()
    # arrays the model requires: written empty when the data gives nothing for them
    required_arrays: ClassVar[tuple[tuple[str | None, Loc], ...]] = ()
    # attribute key -> {value in attributes.csv: value in the model}
    enums: ClassVar[Mapping[str, Mapping[str, str]]] = {}

    def __init__(self, schema_dir: Path | None = None) -> None:
        self.schema_dir = schema_dir
        self._by_key: dict[str, Transform] = {}
        for t in self.transforms:
            for key in t.keys:
                self._by_key[key] = t

    # the table

    @property
    def column(self) -> str:
        return FORMAT_COLUMNS[self.name]

    def paths(self, key: str) -> list[FieldPath]:
        attr = attributes().get(key)
        return parse_cell(attr.paths[self.name]) if attr else []

    def mapped(self) -> list[Attribute]:
        return [a for a in attributes().values() if a.paths[self.name].strip()]

    def transform_for(self, key: str) -> Transform | None:
        return self._by_key.get(key)

    def plan(self) -> list[tuple[Attribute, Transform | None]]:
        """The mapping in the order of the table: each plain attribute (without a transform), and each transform
        once, at its first attribute."""
        out: list[tuple[Attribute, Transform | None]] = []
        done: set[int] = set()
        for attr in self.mapped():
            transform = self.transform_for(attr.key)
            if transform is None:
                out.append((attr, None))
            elif id(transform) not in done:
                done.add(id(transform))
                out.append((attr, transform))
        return out

    # hooks for the format modules

    def file_name(self, part: str | None) -> str:
        raise NotImplementedError

    def part_of_file(self, file_name: str) -> str | None:
        """The part an exported file name holds (None for a single-document model)."""
        return None

    def schema_file(self, part: str | None, document: Any) -> str:
        raise NotImplementedError

    def export_meta(self, ctx: ExportContext) -> None:
        """Write the registry facts (identifier, version, status, dates) the model carries."""

    def import_meta(self, ctx: ImportContext) -> None:
        """Read the registry facts of the source, and consume the fields that are registry metadata."""

    def prepare(self, ctx: ImportContext) -> None:
        """Before mapping: detect the model version, report what the source gets wrong in its structure."""

    def finish(self, ctx: ImportContext) -> None:
        """After mapping: consume fields that carry nothing beyond what was imported, skip known unmappables."""

    def alternatives(self, ctx: ImportContext, path: FieldPath) -> list[tuple[Loc, Loc | None]]:
        """Where to look for the value of ``path`` (and its time), first match wins; other model versions."""
        return [(path.loc, path.time_loc)]

    def documents(self, document: Any, source: str) -> dict[str | None, Any]:
        """The parsed documents by part; raises :class:`ImportFormatError` for a malformed input."""
        if not isinstance(document, Mapping):
            raise ImportFormatError(
                f"{source}: the document is {schema_mod.json_type(document)}, not a JSON object",
                field=source,
                expected=f"a JSON object ({self.label})",
            )
        return {None: document}

    # encoding of plain values

    def encode(self, ctx: ExportContext, attr: Attribute, path: FieldPath, value: Any) -> Any:
        """The model's JSON for ``value`` at ``path``; raises :class:`NotRepresentable`."""
        enum = self.enums.get(attr.key)
        if enum is not None:
            if value not in enum:
                raise NotRepresentable(
                    f"{value!r} has no counterpart in the model (it knows {', '.join(enum.values())})"
                )
            return enum[value]
        if attr.type in ("decimal", "integer"):
            if not is_number(value):
                raise NotRepresentable(f"{short(value)} is not a number")
            number = convert(value, attr.unit, path.unit) if path.unit else value
            if path.quantity and path.unit:
                return {"value": number, "unit": self.unit_name(path.unit)}
            return number
        if attr.type == "date":
            return full_date(str(value))
        return value

    def unit_name(self, symbol: str) -> str:
        """How the model spells a unit in a value+unit object."""
        return symbol

    def decode(self, ctx: ImportContext, attr: Attribute, path: FieldPath, part: str | None, loc: Loc, raw: Any) -> Any:
        """The attribute value for the model's JSON ``raw`` at ``loc``, or :data:`SKIP` after saying why."""
        enum = self.enums.get(attr.key)
        if enum is not None:
            reverse = {v.lower(): k for k, v in enum.items()}
            reverse.update(self.enum_aliases(attr.key))
            if isinstance(raw, str) and raw.strip().lower() in reverse:
                return reverse[raw.strip().lower()]
            ctx.skip(part, loc, f"{short(raw)} has no counterpart among the values of {attr.key} ({attr.type[5:]})")
            return SKIP
        if attr.type in ("decimal", "integer"):
            if path.quantity:
                return self._decode_quantity(ctx, attr, part, loc, raw)
            if not is_number(raw):
                ctx.defect(part, loc, f"{short(raw)} is {schema_mod.json_type(raw)}, not a number", "a number")
                return raw
            return convert(raw, path.unit, attr.unit) if path.unit else raw
        if attr.type == "boolean":
            if not isinstance(raw, bool):
                ctx.defect(part, loc, f"{short(raw)} is {schema_mod.json_type(raw)}, not a boolean", "true or false")
            return raw
        if attr.type == "date":
            return self.decode_date(ctx, part, loc, raw)
        if attr.type == "list[string]":
            if isinstance(raw, str):
                ctx.defect(part, loc, f"a single value {short(raw)} where the schema wants an array", "an array")
                return [raw]
            if not isinstance(raw, list):
                ctx.defect(part, loc, f"{short(raw)} is {schema_mod.json_type(raw)}, not an array", "an array")
            else:
                for i, item in enumerate(raw):
                    if not isinstance(item, str):
                        ctx.defect(
                            part, (*loc, i), f"{short(item)} is {schema_mod.json_type(item)}, not a text", "a text"
                        )
            return raw
        if not isinstance(raw, str):
            ctx.defect(part, loc, f"{short(raw)} is {schema_mod.json_type(raw)}, not a text", "a text")
        return raw

    def enum_aliases(self, key: str) -> dict[str, str]:
        """Further model values that mean one of ours (lower case -> our value)."""
        return {}

    def decode_date(self, ctx: ImportContext, part: str | None, loc: Loc, raw: Any) -> Any:
        if not isinstance(raw, str):
            ctx.defect(part, loc, f"{short(raw)} is {schema_mod.json_type(raw)}, not a date", "a date yyyy-mm-dd")
            return raw
        problem = schema_mod.date_problem(raw)
        if problem:
            ctx.defect(part, loc, problem, "a calendar date yyyy-mm-dd")
            ctx.skip(part, loc, f"{raw!r} cannot be imported: {problem.split(': ', 1)[-1]}", code="invalid_value")
            return SKIP
        return raw

    def _decode_quantity(self, ctx: ImportContext, attr: Attribute, part: str | None, loc: Loc, raw: Any) -> Any:
        if not isinstance(raw, Mapping) or "value" not in raw or "unit" not in raw:
            ctx.defect(
                part, loc, f"{short(raw)} is not a value with a unit", 'an object {"value": number, "unit": text}'
            )
            ctx.skip(part, loc, "cannot be read as a quantity")
            return SKIP
        ctx.consume(part, loc)
        number, unit = raw["value"], raw["unit"]
        if not is_number(number):
            ctx.defect(part, (*loc, "value"), f"{short(number)} is not a number", "a number")
            return SKIP if not isinstance(number, str) else number
        try:
            return units.convert(number, str(unit), attr.unit, field=render(part, (*loc, "unit")))
        except ValidationError as exc:
            ctx.skip(part, (*loc, "unit"), f"the unit {unit!r} cannot be converted to {attr.unit}: {exc.message}")
            return SKIP

    # export

    def export(self, data: Mapping[str, Any], observations: Mapping[str, Any], meta: ExportMeta) -> FormatExport:
        """Map attribute values onto this model's documents (see the format module for the mapping)."""
        table = attributes()
        data = self._checked(data)
        ctx = ExportContext(self, data, observations, meta)
        for attr, transform in self.plan():
            if transform is not None:
                transform.export(ctx)
                continue
            value = self.export_value(ctx, attr)
            if value is None:
                continue
            for path in self.paths(attr.key):
                try:
                    encoded = self.encode(ctx, attr, path, value)
                except NotRepresentable as exc:
                    ctx.lose(attr.key, str(exc))
                    continue
                ctx.put(path.part, path.loc, encoded)
                if attr.is_dynamic and path.time_loc is not None:
                    ctx.put_time(path.part, path.time_loc, ctx.time_of(attr.key))
        self.export_meta(ctx)
        for part, loc in self.required_arrays:
            if ctx.get(part, loc) is MISSING:
                ctx.put(part, loc, [])
        for key in data:
            known = table.get(key)
            if known is None:
                ctx.lose(key, "not an attribute of attributes.csv")
            elif not known.paths[self.name].strip():
                ctx.lose(key, f"{self.label} has no place for {known.key} ({known.label_en})")
        lost = [k for k in data if k in ctx.lost]
        return FormatExport(
            format=self.name,
            documents={self.file_name(part): doc for part, doc in ctx.docs.items()},
            not_representable=lost,
            reasons={k: ctx.lost[k] for k in lost},
        )

    @staticmethod
    def _checked(data: Mapping[str, Any]) -> dict[str, Any]:
        """The values normalised as the registry stores them; :class:`ValidationError` names every invalid one."""
        table = attributes()
        clean: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, raw in data.items():
            attr = table.get(key)
            if attr is None or raw is None:
                clean[key] = raw
                continue
            try:
                clean[key] = validate_value(attr, raw, field=f"data.{key}")
            except ValidationError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ValidationError(f"{len(problems)} invalid attribute value(s) to export", problems=problems)
        return clean

    def export_value(self, ctx: ExportContext, attr: Attribute) -> Any:
        """The value to write for ``attr``: from the data, or for the passport identifier from the registry."""
        if ctx.has(attr.key):
            return ctx.value(attr.key)
        if attr.key == "passport_identifier":
            return ctx.meta.passport_id
        return None

    # import

    def import_document(self, document: Any, *, source: str) -> FormatImport:
        """Map a parsed document (or a mapping file name -> part document) onto attribute values."""
        docs = self.documents(document, source)
        result = FormatImport(format=self.name)
        ctx = ImportContext(self, docs, source, result)
        self._guarded(ctx, (), partial(self.prepare, ctx))
        self._guarded(ctx, (), partial(self.import_meta, ctx))
        for attr, transform in self.plan():
            if transform is not None:
                self._guarded(ctx, transform.keys, partial(transform.import_, ctx))
            else:
                self._guarded(ctx, (attr.key,), partial(self._import_plain, ctx, attr))
        self._guarded(ctx, (), partial(self.finish, ctx))
        for part, loc, value in ctx.unconsumed():
            if value == [] or value == {}:
                ctx.consume(part, loc)  # an empty array or object carries no value
                continue
            ctx.skip(
                part,
                loc,
                f"not imported: no attribute of attributes.csv holds this {self.label} field (value {short(value)})",
                code=NOT_MAPPED,
            )
        if self.schema_dir is not None:
            self._check_source(ctx)
        return result

    def _guarded(self, ctx: ImportContext, keys: tuple[str, ...], run: Callable[[], None]) -> None:
        """Run one step of the import; a source whose structure the step cannot read (an object where the model has
        an array, a number where it has an object, ...) does not stop the import: what the step set is taken back,
        and the places it reads are reported in ``skipped`` with the reason."""
        try:
            run()
        except (TypeError, AttributeError, KeyError, IndexError, ValueError, ArithmeticError) as exc:
            for key in keys:
                for store in (ctx.result.data, ctx.result.registry_values, ctx.result.observations):
                    store.pop(key, None)
            reason = f"cannot be read ({type(exc).__name__}: {exc}): its structure is not the one {self.label} defines"
            roots: dict[tuple[str | None, Loc], None] = {}
            for key in keys:
                for path in self.paths(key):
                    depth = min(path.lists) + 1 if path.lists else len(path.steps)
                    roots[(path.part, path.loc[:depth])] = None
            if not roots:
                roots[(None, ())] = None
            for part, loc in roots:
                if ctx.get(part, loc) is not MISSING and not ctx.consumed(part, loc):
                    suffix = f"; {', '.join(keys)} not imported" if keys else ""
                    ctx.skip(part, loc, reason + suffix, code="unreadable")

    def _import_plain(self, ctx: ImportContext, attr: Attribute) -> None:
        paths = self.paths(attr.key)
        found: tuple[FieldPath, Loc, Any] | None = None
        value: Any = SKIP
        for path in paths:
            for loc, time_loc in self.alternatives(ctx, path):
                raw = ctx.get(path.part, loc)
                if raw is MISSING or ctx.consumed(path.part, loc):
                    continue  # absent, or already understood (as registry metadata, or by a check of the format)
                if found is None:
                    ctx.consume(path.part, loc)
                    value = self.decode(ctx, attr, path, path.part, loc, raw)
                    found = (path, loc, value)
                    if value is not SKIP:
                        ctx.set(attr.key, value)
                        if attr.is_dynamic:
                            ctx.observe(attr.key, path.part, time_loc)
                else:
                    self._compare_mirror(ctx, attr, found, path, loc, raw, time_loc)
                break

    def _compare_mirror(
        self,
        ctx: ImportContext,
        attr: Attribute,
        found: tuple[FieldPath, Loc, Any],
        path: FieldPath,
        loc: Loc,
        raw: Any,
        time_loc: Loc | None,
    ) -> None:
        first_path, first_loc, first_value = found
        probe = FormatImport(format=self.name)
        shadow = ImportContext(self, ctx.docs, ctx.source, probe)
        shadow.result.version = ctx.result.version
        mirror = self.decode(shadow, attr, path, path.part, loc, raw)
        ctx.result.defects.extend(p for p in probe.defects if p not in ctx.result.defects)
        if time_loc is not None:
            ctx.consume(path.part, time_loc)
        if mirror is not SKIP and first_value is not SKIP and same(mirror, first_value):
            ctx.consume(path.part, loc)
            return
        ctx.skip(
            path.part,
            loc,
            f"{short(raw)} differs from {ctx.where(first_path.part, first_loc)}, "
            f"from which {attr.key} is imported ({short(first_value)})",
        )

    def _check_source(self, ctx: ImportContext) -> None:
        assert self.schema_dir is not None
        for part, doc in ctx.docs.items():
            path = self.schema_dir / self.schema_file(part, doc)
            if not path.exists():
                raise ValidationError(
                    f"no schema to check {ctx.source} against: {path} is missing",
                    field="schema_dir",
                    expected=f"the folder of the official {self.label} schemas",
                )
            for problem in schema_mod.problems(doc, schema_mod.load_schema(path), part=part, code=SOURCE_SCHEMA):
                if not any(p.field == problem.field for p in ctx.result.defects):
                    ctx.result.defects.append(problem)

    # reading

    def read(self, path: Path) -> Any:
        """Parse the JSON file at ``path``."""
        document = read_json(path)
        self.documents(document, str(path))
        return document


class MultiDocumentFormat(DocumentFormat):
    """A model made of one JSON document per part, read from and written to a directory."""

    # part -> pattern that the file names of that part match (our exports and the official examples)
    part_files: ClassVar[Mapping[str, str]]

    def file_name(self, part: str | None) -> str:
        return f"{part}.json"

    def part_of_file(self, file_name: str) -> str | None:
        return self.part_for_name(file_name)

    def part_for_name(self, name: str) -> str | None:
        stem = Path(name).name
        for part, pattern in self.part_files.items():
            if re.search(pattern, stem, re.IGNORECASE):
                return part
        return None

    def documents(self, document: Any, source: str) -> dict[str | None, Any]:
        """The parts of ``document``: a mapping from file (or part) name to the part's JSON object."""
        if not isinstance(document, Mapping):
            raise ImportFormatError(
                f"{source}: expected the {self.label} parts as an object file name -> document, "
                f"got {schema_mod.json_type(document)}",
                field=source,
                expected="an object mapping part file names to JSON objects",
            )
        docs: dict[str | None, Any] = {}
        names: dict[str, str] = {}
        for name, doc in document.items():
            part = self.part_for_name(str(name))
            if part is None:
                raise ImportFormatError(
                    f"{source}: {name} is not a part of {self.label}",
                    field=str(name),
                    expected="one of " + ", ".join(self.file_name(p) for p in self.parts),
                )
            if part in names:
                raise ImportFormatError(
                    f"{source}: both {names[part]} and {name} hold the {part} part",
                    field=str(name),
                    expected=f"one document for {part}",
                )
            if not isinstance(doc, Mapping):
                raise ImportFormatError(
                    f"{source}: {name} is {schema_mod.json_type(doc)}, not a JSON object",
                    field=str(name),
                    expected=f"a JSON object ({self.label} {part})",
                )
            names[part] = str(name)
            docs[part] = doc
        missing = [p for p in self.parts if p not in docs]
        if missing:
            raise ImportFormatError(
                f"{source}: {self.label} part(s) missing: {', '.join(str(p) for p in missing)}",
                field=self.file_name(missing[0]),
                expected="one JSON file per part: " + ", ".join(self.file_name(p) for p in self.parts),
            )
        return {p: docs[p] for p in self.parts}

    def read(self, path: Path) -> dict[str, Any]:
        """Read the part files in the directory ``path``: ``{file name: document}``.

        JSON files whose name marks them as schemas or JSON-LD (``-schema.json``, ``.schema``, ``-ld.json``) are
        not parts and are left alone.
        """
        if not path.exists():
            raise ImportFormatError(
                f"{path} does not exist", field=str(path), expected=f"a directory of {self.label} parts"
            )
        if not path.is_dir():
            raise ImportFormatError(
                f"{path} is not a directory",
                field=str(path),
                expected=f"a directory with one JSON file per {self.label} part",
            )
        out: dict[str, Any] = {}
        for file in sorted(path.glob("*.json")):
            if file.name.endswith(("-schema.json", "-ld.json")):
                continue
            out[file.name] = read_json(file)
        self.documents(out, str(path))
        return out
