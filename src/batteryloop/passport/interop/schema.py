"""Validation of documents against the official JSON schemas of the passport data models.

Each model ships a JSON schema generated from its SAMM aspect model; every one of them declares JSON Schema draft 4.
:func:`problems` validates with the validator of the draft the schema declares (``validator_for``) and a
:class:`jsonschema.FormatChecker` that checks ``date``, ``date-time`` and ``uri`` (where the optional checkers of
``jsonschema[format]`` are not installed, small checkers here stand in for RFC 3339 date-times and RFC 3986 URIs).

Beyond the schema's own words, a string that a schema constrains to the pattern ``^\\d{4}-\\d{2}-\\d{2}$`` (Catena-X
``DateTrait``: "a timestamp in the format yyyy-mm-dd") or to ``format: date`` must be a calendar date: ``7172-75-08``
matches the pattern, but there is no month 75.

Each problem names the document and the JSON path (``Part:a.b[0].c``, see :mod:`.paths`), says exactly what is
wrong and what the schema wants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import FormatChecker, validators
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.protocols import Validator

from batteryloop.errors import Problem
from batteryloop.passport.interop.paths import Loc, render

DATE_PATTERNS = frozenset({r"^\d{4}-\d{2}-\d{2}$"})
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def date_problem(text: str) -> str | None:
    """Why ``text`` (shaped ``yyyy-mm-dd``) is not a calendar date, or None when it is one."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if not m:
        return f"{text!r} is not a date of the form yyyy-mm-dd"
    year, month, day = (int(g) for g in m.groups())
    if not 1 <= month <= 12:
        return f"{text!r} is not a calendar date: there is no month {month}"
    try:
        date(year, month, day)
    except ValueError:
        return f"{text!r} is not a calendar date: {year:04d}-{month:02d} has no day {day}"
    return None


def format_checker() -> FormatChecker:
    """A checker for every format the schemas use (``date``, ``date-time``, ``uri``, ``email``)."""
    checker = FormatChecker()
    if "date-time" not in checker.checkers:

        @checker.checks("date-time", raises=ValueError)
        def _date_time(instance: object) -> bool:
            if not isinstance(instance, str):
                return True
            if not _RFC3339.match(instance):
                return False
            datetime.fromisoformat(instance.replace("Z", "+00:00").replace("z", "+00:00"))
            return True

    if "uri" not in checker.checkers:

        @checker.checks("uri", raises=ValueError)
        def _uri(instance: object) -> bool:
            if not isinstance(instance, str):
                return True
            parts = urlsplit(instance)
            return bool(parts.scheme) and bool(_SCHEME.match(parts.scheme)) and not any(c.isspace() for c in instance)

    if "date" in checker.checkers:
        # date.fromisoformat also accepts 20240101 and week dates; RFC 3339 full-date is yyyy-mm-dd only
        del checker.checkers["date"]

    @checker.checks("date", raises=ValueError)
    def _date(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        problem = date_problem(instance)
        if problem:
            raise ValueError(problem)
        return True

    return checker


def _pattern_with_dates(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[SchemaError]:
    if not validator.is_type(instance, "string"):
        return
    if not re.search(pattern, instance):
        yield SchemaError(f"{instance!r} does not match {pattern!r}")
        return
    if pattern in DATE_PATTERNS:
        problem = date_problem(instance)
        if problem:
            yield SchemaError(problem, validator="calendar_date", validator_value=pattern)


@cache
def _load(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_schema(path: Path) -> dict[str, Any]:
    return _load(path.resolve())


def validator(schema: dict[str, Any]) -> Validator:
    """The validator of the draft ``schema`` declares, with format checks and calendar-date checks."""
    base = validators.validator_for(schema)
    extend: Any = validators.extend  # untyped in jsonschema's stubs
    extended = extend(base, {"pattern": _pattern_with_dates})
    checked: Validator = extended(schema, format_checker=format_checker())
    return checked


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _is_multilanguage(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    urn = str(schema.get("x-samm-aspect-model-urn", ""))
    items = schema.get("items")
    item_urn = str(items.get("x-samm-aspect-model-urn", "")) if isinstance(items, dict) else ""
    return "MultiLanguageText" in urn or "MultiLanguageText" in item_urn


MLT_EXPECTED = "an array of {language: text} objects (SAMM MultiLanguageTexts)"


def multilanguage_object_message(value: Any) -> str:
    return f"multi-language text given as an object {_short(value)}, not as an array of {{language: text}} objects"


def describe(error: SchemaError) -> tuple[Loc, str, str]:
    """The location, message and expectation of one schema error, in words."""
    loc: Loc = tuple(error.absolute_path)
    kind = error.validator
    value: Any = error.instance
    wanted: Any = error.validator_value
    if kind == "required":
        m = re.match(r"^'(.+)' is a required property$", error.message)
        name = m.group(1) if m else str(wanted)
        return (*loc, name), "is required by the schema but missing", f"a value for {name}"
    if kind == "type":
        if isinstance(value, dict) and wanted == "array" and _is_multilanguage(error.schema):
            return loc, multilanguage_object_message(value), MLT_EXPECTED
        if wanted == "array" and not isinstance(value, list | dict):
            return loc, f"a single value {_short(value)} where the schema wants an array", "an array"
        return loc, f"{_short(value)} is {json_type(value)}, not of type {wanted}", f"a value of type {wanted}"
    if kind == "pattern":
        hint = ""
        if isinstance(value, str) and value != value.strip():
            hint = " (it has leading or trailing whitespace)"
        return loc, f"{_short(value)} does not match the schema pattern {wanted}{hint}", f"text matching {wanted}"
    if kind == "calendar_date":
        return loc, error.message, "a calendar date yyyy-mm-dd"
    if kind == "enum":
        options = ", ".join(str(o) for o in dict.fromkeys(wanted))
        return loc, f"{_short(value)} is not one of the values the schema allows", f"one of {options}"
    if kind == "format":
        cause = f" ({error.cause})" if error.cause else ""
        return loc, f"{_short(value)} is not a valid {wanted}{cause}", f"a {wanted}"
    if kind == "minimum":
        return loc, f"{_short(value)} is below the schema minimum {wanted}", f"at least {wanted}"
    if kind == "maximum":
        return loc, f"{_short(value)} is above the schema maximum {wanted}", f"at most {wanted}"
    if kind == "minItems":
        return loc, f"has {len(value)} item(s), fewer than the {wanted} the schema asks", f"at least {wanted} item(s)"
    if kind == "uniqueItems":
        return loc, "has duplicate items; the schema wants them unique", "unique items"
    return loc, error.message, str(kind)


def problems(document: Any, schema: dict[str, Any], *, part: str | None, code: str) -> list[Problem]:
    """Every violation of ``schema`` in ``document``, each a :class:`Problem` named ``Part:path``."""
    out = []
    errors = sorted(validator(schema).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        loc, message, expected = describe(error)
        out.append(Problem(render(part, loc), message, expected, code))
    return out
