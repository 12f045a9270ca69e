"""The passport's data model, read from ``attributes.csv``.

One row per attribute: its key (snake_case, unit in the name), labels in English and Dutch, the point of Annex XIII
of Regulation (EU) 2023/1542 it implements (and the Annex VII parameter where it is a state-of-health parameter),
the access group that point implies, static or dynamic, model- or battery-level, value type, unit and allowed range,
the battery categories it applies to, obligation, who writes it (the user, or the registry through its lifecycle
operations), the citation, and its path in IDTA-02035, Battery Pass 1.2 and Catena-X 6.1.0.

Validation of passport data is built from this table: :func:`validate_values` checks a mapping of attribute keys to
values for a category, and :func:`request_model` generates the pydantic model that documents the same table in the
OpenAPI schema.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictBool, TypeAdapter, create_model
from pydantic import ValidationError as PydanticValidationError

from batteryloop import units
from batteryloop.errors import Problem, ValidationError
from batteryloop.passport import values
from batteryloop.passport.structures import STRUCTURES


class AccessGroup(StrEnum):
    """Who may read an attribute, after Art. 77(2) and the four points of Annex XIII."""

    PUBLIC = "public"  # Annex XIII point 1
    LEGITIMATE_INTEREST = (
        "legitimate_interest"  # point 2: legitimate interest, notified bodies, authorities, Commission
    )
    AUTHORITIES = "authorities"  # point 3: notified bodies, market surveillance authorities, Commission
    LEGITIMATE_INTEREST_INDIVIDUAL = "legitimate_interest_individual"  # point 4: the individual battery


class Category(StrEnum):
    EV = "ev"
    LMT = "lmt"
    INDUSTRIAL = "industrial"
    SLI = "sli"
    PORTABLE = "portable"


# Art. 77(1): a passport is mandatory for LMT batteries, industrial batteries above 2 kWh and EV batteries. Other
# categories may carry a voluntary passport; Annex XIII's category restrictions are defined over the mandatory ones.
MANDATORY_CATEGORIES = frozenset({Category.EV, Category.LMT, Category.INDUSTRIAL})

POINT_GROUP = {
    "1": AccessGroup.PUBLIC,
    "2": AccessGroup.LEGITIMATE_INTEREST,
    "3": AccessGroup.AUTHORITIES,
    "4": AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL,
}

FORMAT_COLUMNS = {
    "idta-02035": "idta_02035_path",
    "batterypass-1.2": "batterypass_1_2_path",
    "catenax-6.1": "catenax_6_1_path",
}


@dataclass(frozen=True)
class Attribute:
    key: str
    label_en: str
    label_nl: str
    annex_xiii: str
    annex_vii: str
    access_group: AccessGroup
    dynamics: Literal["static", "dynamic"]
    level: Literal["model", "battery"]
    type: str
    unit: str
    range: tuple[float | None, float | None]
    categories: frozenset[Category]
    obligation: Literal["mandatory", "conditional", "voluntary"]
    writable: Literal["user", "registry"]
    citation: str
    paths: Mapping[str, str]
    description: str

    @property
    def point(self) -> str:
        """The Annex XIII point number ("1" .. "4"), or "voluntary"."""
        return self.annex_xiii.split("(")[0] if self.annex_xiii != "voluntary" else "voluntary"

    @property
    def is_dynamic(self) -> bool:
        return self.dynamics == "dynamic"

    @cached_property
    def structure(self) -> str | None:
        m = re.fullmatch(r"list\[(\w+)\]", self.type)
        return m.group(1) if m else None

    def applies_to(self, category: str) -> bool:
        if category not in MANDATORY_CATEGORIES:
            return True
        return category in self.categories

    def label(self, language: str) -> str:
        return self.label_nl if language == "nl" else self.label_en


def _parse_range(text: str) -> tuple[float | None, float | None]:
    if not text:
        return (None, None)
    low, _, high = text.partition("..")
    return (float(low) if low else None, float(high) if high else None)


def _read_table() -> list[Attribute]:
    source = resources.files("batteryloop.passport").joinpath("attributes.csv")
    out: list[Attribute] = []
    with io.StringIO(source.read_text(encoding="utf-8"), newline="") as handle:
        for row in csv.DictReader(handle):
            out.append(
                Attribute(
                    key=row["key"],
                    label_en=row["label_en"],
                    label_nl=row["label_nl"],
                    annex_xiii=row["annex_xiii"],
                    annex_vii=row["annex_vii"],
                    access_group=AccessGroup(row["access_group"]),
                    dynamics=row["dynamics"],  # type: ignore[arg-type]
                    level=row["level"],  # type: ignore[arg-type]
                    type=row["type"],
                    unit=row["unit"],
                    range=_parse_range(row["range"]),
                    categories=frozenset(Category(c) for c in row["categories"].split(";") if c),
                    obligation=row["obligation"],  # type: ignore[arg-type]
                    writable=row["writable"],  # type: ignore[arg-type]
                    citation=row["citation"],
                    paths={fmt: row[col] for fmt, col in FORMAT_COLUMNS.items()},
                    description=row["description"],
                )
            )
    return out


@cache
def attributes() -> dict[str, Attribute]:
    """Every attribute, by key, in table order."""
    return {a.key: a for a in _read_table()}


def attribute(key: str) -> Attribute:
    return attributes()[key]


def keys_in_groups(groups: Iterable[AccessGroup]) -> frozenset[str]:
    wanted = set(groups)
    return frozenset(k for k, a in attributes().items() if a.access_group in wanted)


# ---------------------------------------------------------------------------------------------------------------------
# Validation

_SCALAR_CHECKS: dict[str, Callable[[object], Any]] = {
    "string": values.check_string,
    "decimal": values.check_number,
    "integer": values.check_integer,
    "boolean": values.check_boolean,
    "date": values.check_date,
    "datetime": values.check_datetime,
    "duration": values.check_duration,
    "uri": values.check_uri,
    "email": values.check_email,
    "gtin": values.check_gtin,
}


@cache
def _list_adapter(structure: str) -> TypeAdapter[Any]:
    if structure == "string":
        return TypeAdapter(list[Annotated[str, Strict()]])
    return TypeAdapter(list[STRUCTURES[structure]])  # type: ignore[valid-type]


def _expected(attr: Attribute) -> str:
    if attr.type.startswith("enum:"):
        return "one of " + ", ".join(attr.type[5:].split("|"))
    if attr.structure == "string":
        return "a list of texts"
    if attr.structure:
        return f"a list of {attr.structure} objects"
    text = {"decimal": "a number", "integer": "a whole number"}.get(attr.type, attr.type)
    if attr.unit and attr.unit != "1":
        text += f" in {attr.unit}"
    low, high = attr.range
    if low is not None and high is not None:
        text += f" between {low:g} and {high:g}"
    elif low is not None:
        text += f" of at least {low:g}"
    return text


def validate_value(attr: Attribute, raw: Any, *, field: str | None = None) -> Any:
    """The normalised value of ``raw`` for ``attr``, or :class:`ValidationError` naming the field."""
    where = field or attr.key
    try:
        return _validate(attr, raw, where)
    except ValueError as exc:
        raise ValidationError(
            f"{where}: expected {_expected(attr)}", problems=[Problem(where, str(exc), _expected(attr))]
        ) from None


def _validate(attr: Attribute, raw: Any, where: str) -> Any:
    if raw is None:
        raise ValueError("a value; to remove an attribute leave it out")
    if attr.type.startswith("enum:"):
        options = attr.type[5:].split("|")
        if not isinstance(raw, str) or raw.strip().lower() not in options:
            raise ValueError(f"one of {', '.join(options)}, not {raw!r}")
        return raw.strip().lower()
    if attr.structure is not None:
        if attr.structure != "string" and attr.structure not in STRUCTURES:
            raise ValueError(f"unknown structure {attr.structure}")
        if not isinstance(raw, list):
            raise ValueError(f"a list, not {type(raw).__name__}")
        if attr.structure == "string":
            return [values.check_string(item) for item in raw]
        try:
            items = _list_adapter(attr.structure).validate_python(raw)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"[{loc}]: {first['msg']}") from None
        return [item.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for item in items]
    check = _SCALAR_CHECKS.get(attr.type)
    if check is None:
        raise ValueError(f"unknown type {attr.type}")
    if attr.type in ("decimal", "integer") and isinstance(raw, dict):
        raw = _with_unit(attr, raw, where)
    value = check(raw)
    if attr.type in ("decimal", "integer"):
        low, high = attr.range
        if low is not None and value < low:
            raise ValueError(
                f"at least {low:g}{(' ' + attr.unit) if attr.unit not in ('', '1') else ''}, not {value:g}"
            )
        if high is not None and value > high:
            raise ValueError(
                f"at most {high:g}{(' ' + attr.unit) if attr.unit not in ('', '1') else ''}, not {value:g}"
            )
    return value


def _with_unit(attr: Attribute, raw: dict[str, Any], where: str) -> float:
    """``{"value": 51200, "unit": "mAh"}`` -> the value in the attribute's own unit."""
    if set(raw) != {"value", "unit"}:
        raise ValueError('a number, or an object {"value": number, "unit": text}')
    number = values.check_number(raw["value"])
    if not isinstance(raw["unit"], str):
        raise ValueError("a unit given as text")
    if not attr.unit or attr.unit == "1":
        raise ValueError(f"a plain number; {attr.key} has no unit")
    try:
        return units.convert(number, raw["unit"], attr.unit, field=where)
    except ValidationError as exc:
        raise ValueError(exc.problems[0].message if exc.problems else exc.message) from None


def validate_values(
    data: Mapping[str, Any],
    category: str,
    *,
    allow_registry: bool = False,
    only_dynamic: bool = False,
    only_static: bool = False,
    prefix: str = "data",
) -> dict[str, Any]:
    """Check every value of ``data`` for a battery of ``category``; collect all problems before raising."""
    table = attributes()
    clean: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, raw in data.items():
        where = f"{prefix}.{key}"
        attr = table.get(key)
        if attr is None:
            close = _closest(key)
            problems.append(
                Problem(where, "unknown attribute", f"an attribute of attributes.csv{close}", "unknown_attribute")
            )
            continue
        if attr.writable == "registry" and not allow_registry:
            problems.append(
                Problem(where, "is set by the registry", "the lifecycle operations (status, repurpose)", "read_only")
            )
            continue
        if only_dynamic and not attr.is_dynamic:
            problems.append(Problem(where, "is static data", "a dynamic (Annex XIII point 4) attribute", "not_dynamic"))
            continue
        if only_static and attr.is_dynamic:
            problems.append(Problem(where, "is dynamic data", "an update through the dynamic-data route", "not_static"))
            continue
        if not attr.applies_to(category):
            cats = ", ".join(sorted(attr.categories))
            problems.append(
                Problem(
                    where,
                    f"does not apply to {category} batteries ({attr.citation})",
                    f"a {cats} battery",
                    "not_applicable",
                )
            )
            continue
        try:
            clean[key] = validate_value(attr, raw, field=where)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        from batteryloop.errors import collect

        collect(problems, f"{len(problems)} invalid attribute value(s)")
    return clean


def _closest(key: str) -> str:
    import difflib

    match = difflib.get_close_matches(key, list(attributes()), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def missing_mandatory(data: Mapping[str, Any], category: str) -> list[str]:
    """Mandatory attributes of the category that ``data`` lacks (what keeps the passport incomplete)."""
    return [
        a.key
        for a in attributes().values()
        if a.obligation == "mandatory"
        and a.applies_to(category)
        and a.key not in data
        and a.writable == "user"
        and category in a.categories
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Pydantic model generated from the table (documents the attributes in the OpenAPI schema)


def _whole(value: Any) -> Any:
    """A JSON number with no fraction (``1500.0``) is the whole number it writes; other values pass unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The JSON types of the request model are strict, as a JSON client expects and as validate_values checks: a text is
# not a number ("3.5"), a number not a text or a flag (0 is not false), a flag not a number.
_STRICT_TEXT = Annotated[str, Strict()]
_SCALAR_ANNOTATIONS: dict[str, Any] = {
    "decimal": Annotated[float, Strict()] | dict[str, Any],
    "integer": Annotated[int, BeforeValidator(_whole), Strict()],
    "boolean": StrictBool,
}


def _annotation(attr: Attribute) -> Any:
    if attr.type.startswith("enum:"):
        return Literal[tuple(attr.type[5:].split("|"))]
    if attr.structure == "string":
        return list[_STRICT_TEXT]
    if attr.structure:
        model = STRUCTURES[attr.structure]
        return list[model]  # type: ignore[valid-type]
    return _SCALAR_ANNOTATIONS.get(attr.type, _STRICT_TEXT)


@cache
def request_model(*, dynamic: bool | None = None, name: str = "PassportData") -> type[BaseModel]:
    """A pydantic model with one optional field per user-writable attribute, described from the table."""
    fields: dict[str, Any] = {}
    for attr in attributes().values():
        if attr.writable != "user":
            continue
        if dynamic is not None and attr.is_dynamic != dynamic:
            continue
        unit = f" [{attr.unit}]" if attr.unit and attr.unit != "1" else ""
        description = (
            f"{attr.label_en}{unit}. Annex XIII {attr.annex_xiii}; access: {attr.access_group.value}; "
            f"{attr.citation}. {attr.description}".strip()
        )
        fields[attr.key] = (_annotation(attr) | None, Field(default=None, description=description))
    model: type[BaseModel] = create_model(name, __config__=ConfigDict(extra="forbid"), **fields)
    return model
