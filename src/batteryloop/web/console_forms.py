"""Passport forms generated from the data model (``passport/attributes.csv``), and the way back from form text.

A field per user-written attribute of a category, typed by the attribute's type: a number with its unit, a choice
for an enumeration, a date, a text, a line per item for a list of texts or documents, JSON for the other structured
lists. :func:`parse_form` turns the submitted text into the JSON values the
:class:`~batteryloop.passport.service.PassportService` validates; what cannot even be read as such (``"12,3,4"`` for a
number, broken JSON) is reported as a :class:`~batteryloop.errors.Problem` on that field, in the user's language. The
service's own problems are mapped back onto the fields by :func:`errors_by_field`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from batteryloop.errors import Problem
from batteryloop.passport.attributes import Attribute, attributes
from batteryloop.passport.structures import STRUCTURES

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

Kind = Literal[
    "number",
    "integer",
    "select",
    "boolean",
    "date",
    "datetime",
    "duration",
    "uri",
    "email",
    "gtin",
    "text",
    "lines",
    "documents",
    "json",
]
Section = Literal["mandatory", "conditional", "voluntary"]

_UNIT_SYMBOLS: dict[str, dict[str, str]] = {
    "degC": {"en": "°C", "nl": "°C"},
    "kgCO2e/kWh": {"en": "kg CO₂e/kWh", "nl": "kg CO₂e/kWh"},
    "kgCO2e": {"en": "kg CO₂e", "nl": "kg CO₂e"},
    "%/month": {"en": "% per month", "nl": "% per maand"},
    "1/h": {"en": "C-rate (1/h)", "nl": "C-rate (1/h)"},
    "W/Wh": {"en": "W/Wh", "nl": "W/Wh"},
    "mOhm": {"en": "mΩ", "nl": "mΩ"},
}


def unit_symbol(unit: str, lang: str) -> str:
    """The unit as a person reads it; "" for a pure number."""
    if unit in ("", "1"):
        return ""
    return _UNIT_SYMBOLS.get(unit, {}).get(lang, unit)


def kind_of(attr: Attribute) -> Kind:
    if attr.type.startswith("enum:"):
        return "select"
    if attr.structure == "string":
        return "lines"
    if attr.structure == "Document":
        return "documents"
    if attr.structure is not None:
        return "json"
    mapping: dict[str, Kind] = {
        "decimal": "number",
        "integer": "integer",
        "boolean": "boolean",
        "date": "date",
        "datetime": "datetime",
        "duration": "duration",
        "uri": "uri",
        "email": "email",
        "gtin": "gtin",
    }
    return mapping.get(attr.type, "text")


def section_of(attr: Attribute, category: str) -> Section:
    """Mandatory for this category first, then conditional, then voluntary (Annex XIII and Art. 77(1))."""
    if category in attr.categories and attr.obligation == "mandatory":
        return "mandatory"
    if category in attr.categories and attr.obligation == "conditional":
        return "conditional"
    return "voluntary"


PROMOTED = frozenset({"gtin"})
"""Voluntary attributes shown with the mandatory ones: the GTIN identifies the battery model and, with the serial
number, gives the passport its identifier (GS1), so an operator looks for it next to the serial number."""


def display_section(attr: Attribute, category: str) -> Section:
    """The section a field is shown in: its obligation's, except the :data:`PROMOTED` identifiers."""
    return "mandatory" if attr.key in PROMOTED else section_of(attr, category)


def form_attributes(category: str, *, dynamic: bool) -> list[Attribute]:
    """The user-written attributes of ``category`` (static or dynamic), mandatory first, each section in table order."""
    order = {"mandatory": 0, "conditional": 1, "voluntary": 2}
    chosen = [
        a
        for a in attributes().values()
        if a.writable == "user" and a.is_dynamic == dynamic and a.applies_to(category) and a.key != "battery_category"
    ]
    return sorted(chosen, key=lambda a: order[display_section(a, category)])


@dataclass
class FormField:
    """One input of a generated form, ready for the template."""

    key: str
    label: str
    kind: Kind
    section: Section
    """Where the field is shown (:func:`display_section`)."""
    required: bool
    """Mandatory for the category (Annex XIII with Art. 77(1)); the registry still issues an incomplete passport and
    lists what it lacks."""
    point: str
    unit: str = ""
    hint: str = ""
    options: list[str] = field(default_factory=list)
    value: str = ""
    errors: list[str] = field(default_factory=list)
    current: str = ""
    readonly: bool = False
    rows: int = 3

    @property
    def input_id(self) -> str:
        return f"f-{self.key}"


def _structure_fields(name: str) -> str:
    model = STRUCTURES[name]
    required = [k for k, f in model.model_fields.items() if f.is_required()]
    optional = [k for k, f in model.model_fields.items() if not f.is_required()]
    return ", ".join([*(f"{k}*" for k in required), *optional])


def hint_for(attr: Attribute, t: Mapping[str, str]) -> str:
    kind = kind_of(attr)
    if kind == "json":
        return t["console_hint_json"].format(fields=_structure_fields(attr.structure or ""))
    simple = {
        "number": "console_hint_number",
        "integer": "console_hint_integer",
        "date": "console_hint_date",
        "datetime": "console_hint_datetime",
        "duration": "console_hint_duration",
        "lines": "console_hint_lines",
        "documents": "console_hint_documents",
        "gtin": "console_hint_gtin",
    }
    text = t[simple[kind]] if kind in simple else ""
    low, high = attr.range
    if kind in ("number", "integer"):
        if low is not None and high is not None:
            text += f", {low:g} – {high:g}"
        elif low is not None:
            text += f" ≥ {low:g}"
        elif high is not None:
            text += f" ≤ {high:g}"
    return text


# ---------------------------------------------------------------------------------------------------------------------
# Stored value -> form text


def number_text(value: float | int, lang: str) -> str:
    """A number as it is typed: no thousands separator, the language's decimal sign, no needless ``.0``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        text = str(int(value))
    else:
        text = repr(float(value))
    return text.replace(".", ",") if lang == "nl" else text


def value_text(attr: Attribute, value: Any, lang: str) -> str:
    """The text a form field shows for a stored value (the inverse of :func:`parse_value`)."""
    if value is None:
        return ""
    kind = kind_of(attr)
    if kind in ("number", "integer") and isinstance(value, int | float):
        return number_text(value, lang)
    if kind == "boolean":
        return "true" if value is True else "false" if value is False else str(value)
    if kind == "lines" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if kind == "documents" and isinstance(value, list) and all(isinstance(d, dict) for d in value):
        return "\n".join(
            f"{d['title']} | {d.get('url', '')}" if d.get("title") else str(d.get("url", "")) for d in value
        )
    if kind in ("json", "documents"):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return str(value)


# ---------------------------------------------------------------------------------------------------------------------
# Form text -> value


class _Empty:
    pass


EMPTY = _Empty()
"""The field was left empty."""

_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def _number(text: str) -> float | None:
    compact = text.replace(" ", "").replace("\u00a0", "")
    if not _NUMBER.match(compact):
        return None
    number = float(compact.replace(",", "."))
    return number if math.isfinite(number) else None


def parse_value(attr: Attribute, text: str, t: Mapping[str, str], *, current: Any = None) -> tuple[Any, Problem | None]:
    """The JSON value a form text stands for, :data:`EMPTY`, or a problem naming the field.

    ``current`` is the stored value: a document line that names a stored document (same address and title) keeps that
    document's other fields (its MIME type, its document type), so that an unchanged form changes nothing.
    """
    where = f"data.{attr.key}"
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return EMPTY, None
    kind = kind_of(attr)
    if kind == "number":
        number = _number(text)
        if number is None:
            return EMPTY, Problem(where, t["console_bad_number"].format(text=repr(text)), t["console_hint_number"])
        return number, None
    if kind == "integer":
        number = _number(text)
        if number is None or not number.is_integer():
            return EMPTY, Problem(where, t["console_bad_integer"].format(text=repr(text)), t["console_hint_integer"])
        return int(number), None
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text), None
    if kind == "lines":
        return [line.strip() for line in text.split("\n") if line.strip()], None
    if kind == "documents":
        return _documents(text, where, t, current)
    if kind == "json":
        try:
            return json.loads(text), None
        except json.JSONDecodeError as exc:
            message = t["console_bad_json"].format(error=exc.msg, line=exc.lineno, column=exc.colno)
            return EMPTY, Problem(
                where, message, t["console_hint_json"].format(fields=_structure_fields(attr.structure or ""))
            )
    return text, None


def _documents(text: str, where: str, t: Mapping[str, str], current: Any) -> tuple[Any, Problem | None]:
    if text.startswith("["):
        try:
            return json.loads(text), None
        except json.JSONDecodeError as exc:
            message = t["console_bad_json"].format(error=exc.msg, line=exc.lineno, column=exc.colno)
            return EMPTY, Problem(where, message, t["console_hint_documents"])
    stored = [d for d in current if isinstance(d, dict)] if isinstance(current, list) else []
    out: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.rsplit("|", 1)]
        if len(parts) == 2:
            title, url = parts
            if not url:
                return EMPTY, Problem(where, t["console_bad_document"].format(line=number), t["console_hint_documents"])
        else:
            title, url = "", parts[0]
        match = next(
            (d for d in stored if d.get("url") == url and (d.get("title") or "") == title),
            None,
        )
        if match is not None:
            out.append(dict(match))
        else:
            out.append({"url": url, "title": title} if title else {"url": url})
    return out, None


def parse_local_datetime(text: str, where: str, t: Mapping[str, str]) -> tuple[datetime | None, Problem | None]:
    """A ``datetime-local`` input (Amsterdam time) as an aware date-time; ISO 8601 with an offset is taken as is."""
    text = text.strip()
    if not text:
        return None, None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, Problem(where, t["console_bad_datetime"].format(text=repr(text)), "YYYY-MM-DDTHH:MM")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=AMSTERDAM)
    return parsed, None


@dataclass
class ParsedForm:
    values: dict[str, Any]
    """Key -> value of every non-empty field."""
    empty: list[str]
    """Keys of the fields left empty."""
    problems: list[Problem]
    texts: dict[str, str]
    """What the user typed, to show again."""


def parse_form(
    attrs: Iterable[Attribute],
    form: Mapping[str, Any],
    t: Mapping[str, str],
    *,
    current: Mapping[str, Any] | None = None,
) -> ParsedForm:
    values: dict[str, Any] = {}
    empty: list[str] = []
    problems: list[Problem] = []
    texts: dict[str, str] = {}
    for attr in attrs:
        raw = form.get(attr.key)
        if raw is None:
            continue
        text = str(raw)
        texts[attr.key] = text
        value, problem = parse_value(attr, text, t, current=(current or {}).get(attr.key))
        if problem is not None:
            problems.append(problem)
        elif isinstance(value, _Empty):
            empty.append(attr.key)
        else:
            values[attr.key] = value
    return ParsedForm(values, empty, problems, texts)


# ---------------------------------------------------------------------------------------------------------------------
# Problems -> fields

_PREFIXES = ("data.", "values.")


def field_key(problem_field: str) -> str:
    """The form field a problem's dotted path points at: ``data.hazardous_substances.0.name`` -> the attribute."""
    path = problem_field
    for prefix in _PREFIXES:
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    return path.split(".")[0].split("[")[0]


_EXPECTATION = re.compile(r"^(a |an |one of |at least |at most |true or false|the same )|, not ")


def problem_text(problem: Problem, t: Mapping[str, str]) -> str:
    """A problem as a sentence. The data model's checks say what they expected ("at least 0 kg, not -450"): those
    read "Expected at least 0 kg, not -450"; other problems are followed by what was expected, where known."""
    text = problem.message
    if _EXPECTATION.search(text):
        return t["console_expected_lead"].format(text=text)
    if problem.expected and problem.expected not in text:
        text += f" ({t['console_expected']}: {problem.expected})"
    return text


def errors_by_field(
    problems: Sequence[Problem], known: Iterable[str], t: Mapping[str, str]
) -> tuple[dict[str, list[str]], list[str]]:
    """Problems per form field, and those that belong to no field of the form (shown above it)."""
    fields = set(known)
    per_field: dict[str, list[str]] = {}
    general: list[str] = []
    for problem in problems:
        key = field_key(problem.field)
        if key in fields:
            detail = problem.field.split(".", 2)[2] if problem.field.count(".") >= 2 else ""
            text = problem_text(problem, t)
            per_field.setdefault(key, []).append(f"{detail}: {text}" if detail and detail not in text else text)
        else:
            general.append(
                f"{problem.field}: {problem_text(problem, t)}" if problem.field else problem_text(problem, t)
            )
    return per_field, general


def build_fields(
    attrs: Iterable[Attribute],
    category: str,
    lang: str,
    t: Mapping[str, str],
    *,
    texts: Mapping[str, str],
    errors: Mapping[str, list[str]],
    current: Mapping[str, Any] | None = None,
    readonly: Iterable[str] = (),
) -> list[FormField]:
    fixed = set(readonly)
    out = []
    for attr in attrs:
        kind = kind_of(attr)
        text = texts.get(attr.key, "")
        rows = 3
        if kind in ("json", "documents", "lines"):
            rows = max(3, min(14, text.count("\n") + 2))
        out.append(
            FormField(
                key=attr.key,
                label=attr.label(lang),
                kind=kind,
                section=display_section(attr, category),
                required=section_of(attr, category) == "mandatory",
                point=attr.annex_xiii,
                unit=unit_symbol(attr.unit, lang),
                hint=hint_for(attr, t),
                options=attr.type[5:].split("|") if kind == "select" else [],
                value=text,
                errors=list(errors.get(attr.key, [])),
                current=value_text(attr, current[attr.key], lang) if current and attr.key in current else "",
                readonly=attr.key in fixed,
                rows=rows,
            )
        )
    return out
