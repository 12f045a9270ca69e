"""Checks for the scalar value types of ``attributes.csv``.

Each checker takes the raw JSON value and returns the normalised value that is stored, or raises ``ValueError`` with
a message that says what was expected. :mod:`batteryloop.passport.attributes` turns those into
:class:`~batteryloop.errors.Problem` objects that name the attribute.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_SPACE = re.compile(r"\s")


def check_string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValueError("a non-empty text")
    if len(text) > 4000:
        raise ValueError("a text of at most 4000 characters")
    return text


def check_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # a JSON integer beyond the range of a float
        raise ValueError("a finite number") from None
    if not math.isfinite(number):
        raise ValueError("a finite number")
    return number


def check_integer(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("a whole number, not a boolean")
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return int(value)
    if not isinstance(value, int):
        raise ValueError(f"a whole number, not {type(value).__name__}")
    if abs(value) > 2**53:
        raise ValueError("a whole number of at most 2^53 in magnitude")
    return value


def check_boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"true or false, not {type(value).__name__}")
    return value


def check_date(value: object) -> str:
    """A calendar date ``YYYY-MM-DD``, or a month ``YYYY-MM`` (Annex VI asks month and year)."""
    if not isinstance(value, str):
        raise ValueError("a date as YYYY-MM-DD or YYYY-MM")
    text = value.strip()
    month = _MONTH.match(text)
    if month:
        if not 1 <= int(month.group(2)) <= 12:
            raise ValueError(f"a valid month, not {text!r}")
        return text
    try:
        return date.fromisoformat(text[:10]).isoformat() if len(text) == 10 else _date_from_datetime(text)
    except ValueError:
        raise ValueError(f"a valid date as YYYY-MM-DD or YYYY-MM, not {text!r}") from None


def _date_from_datetime(text: str) -> str:
    return datetime.fromisoformat(text).date().isoformat()


def check_datetime(value: object) -> str:
    """An ISO 8601 date-time with a UTC offset; stored in UTC."""
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 date-time with offset, e.g. 2026-03-01T12:00:00+01:00")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"an ISO 8601 date-time with offset, not {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"a date-time with a UTC offset, not the local time {value!r}")
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_duration(value: object) -> str:
    if not isinstance(value, str) or not _DURATION.match(value.strip()):
        raise ValueError("an ISO 8601 duration such as P8Y or P96M")
    return value.strip()


def duration_months(value: str) -> float:
    """The length of an ISO 8601 duration in months (years x 12, days / 30.4375)."""
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    days = parts["w"] * 7 + parts["d"] + (parts["h"] + parts["mi"] / 60 + parts["s"] / 3600) / 24
    return parts["y"] * 12 + parts["mo"] + days / 30.4375


def check_uri(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("an absolute URI such as https://example.com/doc.pdf")
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError(f"an absolute URI, not {text!r}") from None
    if not parts.scheme or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", parts.scheme):
        raise ValueError(f"an absolute URI with a scheme (https:, urn:), not {text!r}")
    if parts.scheme in ("http", "https") and not parts.netloc:
        raise ValueError(f"an http(s) URI with a host, not {text!r}")
    if len(text) > 2000 or _SPACE.search(text):
        raise ValueError("a URI of at most 2000 characters without spaces")
    return text


def check_email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise ValueError("an e-mail address such as info@example.com")
    return value.strip()


def check_gtin(value: object) -> str:
    from batteryloop.errors import IdentifierError
    from batteryloop.passport.identifiers import normalise_gtin

    if not isinstance(value, str):
        # a number is refused: a GTIN is an identifier, and a JSON number drops the leading zeros it may have
        raise ValueError("a GTIN of 8, 12, 13 or 14 digits, given as text")
    try:
        return normalise_gtin(value)
    except IdentifierError as exc:
        raise ValueError(str(exc.problems[0].message) + f" (expected {exc.problems[0].expected})") from None
