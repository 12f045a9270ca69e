"""RFC 8785 canonical JSON at the speed of the standard library's C encoder.

:func:`batteryloop.passport.signing.canonical` (the ``rfc8785`` package, pure Python) defines the canonical bytes of
the registry: passport versions are hashed over them and backup files hold them. It costs about 1.5 ms for a passport
version of 5 KB; a registry of millions of versions cannot be written or verified through it in reasonable time.

The standard library's C encoder with sorted keys, no spaces and no ASCII escaping (``_encode``) writes the same
bytes as RFC 8785 for JSON values built only of ``dict`` (``str`` keys), ``list``, ``str``, ``bool``, ``None`` and
*safe* numbers, provided no object key holds a character from U+E000 up:

- a safe integer lies within +-(2**53 - 1), the range RFC 8785 accepts; both write it in decimal;
- a safe float is not integral and 1e-4 <= abs(f) < 1e16: there ``repr`` (Python) and the ECMAScript
  Number-to-String of RFC 8785 both give the shortest round-trip digits without an exponent. Integral floats are
  written as integers by RFC 8785 (``59.0`` -> ``59``), so :func:`loads` turns them into ``int`` (same bytes); other
  floats (exponent notation differs: Python ``1e-05``, RFC 8785 ``0.00001``), NaN and infinities are not safe;
- strings are escaped alike (``\\"``, ``\\\\``, ``\\b``, ``\\f``, ``\\n``, ``\\r``, ``\\t``, other control characters
  as ``\\u00xx`` in lower case, everything else as it is); a lone surrogate fails the UTF-8 encoding in both;
- RFC 8785 orders object keys by their UTF-16 code units, Python by code points: the orders differ only between
  characters of U+E000-U+FFFF and those beyond U+FFFF, so an output holding no character from U+E000 up is ordered
  alike (checked on the output, strings included: conservative).

:func:`loads` decodes JSON text (any spacing, any key order: a PostgreSQL ``jsonb`` rendered as text, a SQLite JSON
column, a line of a backup) into such a value, or raises :class:`UnsafeValueError` when the text holds a number that
is not safe; :func:`encode_safe` then writes it, or returns ``None`` where the key check fails. :func:`dumps` does
both for an arbitrary value and falls back to the reference implementation whenever the fast path does not apply, so
its result is always :func:`signing.canonical`'s. ``tests/continuity/test_canonical.py`` compares the two on the
registry's data and on random JSON values.
"""

from __future__ import annotations

import json
from typing import Any

from batteryloop.passport import signing

SAFE_INT = 2**53 - 1

_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode
# characters whose order differs between UTF-16 code units and code points (U+E000 and up) begin in UTF-8 with one of
# these bytes (U+E000-U+FFFF: 0xEE, 0xEF; beyond: 0xF0-0xF4); each test is a memchr
_HIGH_LEADS = tuple(bytes([b]) for b in range(0xEE, 0xF5))


class UnsafeValueError(ValueError):
    """A number the fast path cannot write as RFC 8785 does (see the module's documentation)."""


def safe_float(f: float) -> int | float:
    """``f`` as a safe number: an ``int`` when integral, else ``f``; :class:`UnsafeValueError` when it is neither."""
    if f.is_integer():
        if -SAFE_INT <= f <= SAFE_INT:
            return int(f)
    elif 1e-4 <= abs(f) < 1e16:
        return f
    raise UnsafeValueError(repr(f))


def _parse_float(text: str) -> int | float:
    f = float(text)  # safe_float inlined: this runs for every number with a fraction or exponent in the text
    if f.is_integer():
        if -SAFE_INT <= f <= SAFE_INT:
            return int(f)
    elif 1e-4 <= abs(f) < 1e16:
        return f
    raise UnsafeValueError(text)


def _parse_int(text: str) -> int:
    n = int(text)
    if -SAFE_INT <= n <= SAFE_INT:
        return n
    raise UnsafeValueError(text)


def _parse_constant(text: str) -> Any:
    raise UnsafeValueError(text)


_decode = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant).decode


def loads(text: str | bytes) -> Any:
    """JSON text decoded for :func:`encode_safe`: integral floats as ``int``; :class:`UnsafeValueError` for any number
    that is not safe (the caller decodes with :func:`json.loads` and writes with :func:`signing.canonical` instead)."""
    return _decode(text.decode("utf-8") if isinstance(text, bytes) else text)


def encode_safe(value: Any) -> bytes | None:
    """RFC 8785 bytes of ``value``, which must hold only safe numbers (as :func:`loads` gives); ``None`` when the key
    order or the UTF-8 encoding needs the reference implementation."""
    text = _encode(value)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if not text.isascii() and any(lead in encoded for lead in _HIGH_LEADS):
        return None
    return encoded


def _safe(value: Any) -> Any:
    """``value`` with integral floats as ints; :class:`UnsafeValueError` for anything the fast path cannot write."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -SAFE_INT <= value <= SAFE_INT:
            return value
        raise UnsafeValueError(str(value))
    if kind is float:
        return safe_float(value)
    if kind is list or kind is tuple:
        return [_safe(v) for v in value]
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise UnsafeValueError(f"key {k!r}")
            out[k] = _safe(v)
        return out
    raise UnsafeValueError(kind.__name__)


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of any ``value``: always the bytes of :func:`signing.canonical`, faster where the
    value is plain JSON with safe numbers."""
    try:
        fast = encode_safe(_safe(value))
    except (UnsafeValueError, RecursionError):
        fast = None
    return fast if fast is not None else signing.canonical(value)
