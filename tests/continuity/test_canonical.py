"""The fast RFC 8785 encoder gives the bytes of the reference implementation (``rfc8785``, through
``signing.canonical``): on the edge cases it must hand over, on the registry's own data as the databases give it back,
and on random JSON values and random JSON texts."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Text, cast, select
from sqlalchemy.engine import Engine

from batteryloop.config import Settings
from batteryloop.continuity import archive, canonical
from batteryloop.db import make_session_factory, transaction
from batteryloop.errors import IntegrityError
from batteryloop.passport import signing
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.models import Passport, PassportVersion
from batteryloop.passport.service import PassportService
from tests.passport.samples import every_attribute


def reference(value: Any) -> bytes | type[Exception]:
    try:
        return signing.canonical(value)
    except Exception as exc:  # the class of the refusal is compared
        return type(exc)


def fast(value: Any) -> bytes | type[Exception]:
    try:
        return canonical.dumps(value)
    except Exception as exc:
        return type(exc)


def via_text(text: str) -> bytes | type[Exception]:
    """What the backup and the verifier do with JSON text from a database: the fast path, else the reference."""
    try:
        encoded = canonical.encode_safe(canonical.loads(text))
    except canonical.UnsafeValueError:
        encoded = None
    return encoded if encoded is not None else reference(json.loads(text))


EDGES: list[Any] = [
    59.0,
    -0.0,
    0.0,
    [1.5, 2.0, -3.0, 100.0],
    {"mass_kg": 478.0, "pct": 70.5},
    [1e-4, 9.99e-5, 1e-7, 1.5e-7, 1e16, 1.5e16, 1e21, 1e22, 123456789012345.6, 9007199254740991.0],
    [2**53 - 1, -(2**53) + 1, 2**53, -(2**53), 10**20],
    [0.1, 0.2 + 0.1, 1 / 3, 5e-324, 1.7976931348623157e308],
    ["\u2028\u2029", "\x7f", "\x00\x01\x1f", 'quote " backslash \\ tab \t nl \n cr \r bs \b ff \f', "é ü ø 中"],
    {"\ue000": 1, "\U0001f600": 2, "a": 3},  # UTF-16 order puts the emoji (surrogates D83D...) first
    {"\uffff": [], "\U00010000": {}},
    {"é": 1, "e": 2, "z": 3, "ä": {"ö": None, "a": True, "b": False}},
    {"nested": [[[{"x": [1.0, {"y": 2.25}]}]]]},
    "\ud800",  # a lone surrogate: refused by both
    math.nan,
    math.inf,
    [-math.inf],
    {1: "int key"},
    (1, 2.0, "tuple"),
    [],
    {},
    "",
    None,
    True,
]


@pytest.mark.parametrize("value", EDGES, ids=range(len(EDGES)))
def test_edge_cases_give_the_reference_bytes(value: Any) -> None:
    assert fast(value) == reference(value)


def test_the_registry_s_numbers_take_the_fast_path() -> None:
    """Integral floats, the common case in passport data, need no fallback once decoded by ``loads``."""
    text = '{"mass_kg": 478.0, "pct": 70.5, "n": 3, "small": 0.0001, "keys": ["é", "ü"]}'
    assert canonical.encode_safe(canonical.loads(text)) == signing.canonical(json.loads(text))
    for unsafe in ("1e-05", "1e16", "9007199254740992", "NaN", "-Infinity", "2.5e300"):
        with pytest.raises(canonical.UnsafeValueError):
            canonical.loads(f"[{unsafe}]")
        assert via_text(f"[{unsafe}]") == reference(json.loads(f"[{unsafe}]"))


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-1e6, max_value=1e6).map(lambda f: float(round(f)))
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_values_give_the_reference_bytes(value: Any) -> None:
    assert fast(value) == reference(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from([None, 0, 2]), st.booleans())
def test_random_json_texts_give_the_reference_bytes(value: Any, indent: int | None, ascii_only: bool) -> None:
    """Any spacing, escaping and key order a database may render the text in."""
    try:
        text = json.dumps(value, indent=indent, ensure_ascii=ascii_only, allow_nan=False)
    except ValueError:
        return  # NaN and infinities are not JSON text
    assert via_text(text) == reference(json.loads(text))


def test_passport_versions_as_the_database_returns_them(engine: Engine, settings: Settings) -> None:
    """Every category of the attribute table, stored and read back as text (``jsonb`` on PostgreSQL, which renders
    numbers as stored and keys in its own order): the fast bytes hash to the stored version hash."""
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        org = svc.create_organisation("Maker B.V.", kind="manufacturer")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker", organisation_id=org.id)
        for i, category in enumerate(("ev", "lmt", "industrial")):
            data = every_attribute(category)
            data["serial_number"] = f"SN-{i}"
            svc.create(viewer, data)
    with engine.connect() as conn:
        rows = conn.execute(select(cast(PassportVersion.content, Text), PassportVersion.hash)).all()
        passport_data = conn.execute(select(cast(Passport.data, Text))).scalars().all()
    assert len(rows) == 3
    for text, stored_hash in rows:
        encoded = canonical.encode_safe(canonical.loads(text))  # no fallback on the registry's data
        assert encoded is not None and encoded == signing.canonical(json.loads(text))
        assert hashlib.sha256(encoded).hexdigest() == stored_hash
    for text in passport_data:
        assert canonical.encode_safe(canonical.loads(text)) == signing.canonical(json.loads(text))


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=6), st.data())
def test_a_backup_line_splits_into_its_values_with_json_columns_as_text(row: list[Any], data: st.DataObject) -> None:
    """What the PostgreSQL restore hands to ``COPY``: the values of the line, the JSON columns' text as in the line."""
    line = fast(row)
    if not isinstance(line, bytes):
        return  # not writable as RFC 8785 (NaN, a lone surrogate, ...): never in a backup
    entry = archive.TableEntry("t", [f"c{i}" for i in range(len(row))], 1, "", "tables/t.jsonl")
    raw_at = frozenset(data.draw(st.sets(st.integers(0, len(row) - 1))))
    values = archive.split_line(line + b"\n", entry, 1, raw_at)
    expected = json.loads(line)
    assert len(values) == len(row) == len(expected)
    for i, value in enumerate(values):
        if i in raw_at:
            assert fast(json.loads(value)) == fast(expected[i]) and value.encode() in line
        else:
            assert value == expected[i]
    spaced = json.dumps(json.loads(line), indent=1).replace("\n", " ").encode()  # not canonical: the slow way
    assert archive.split_line(spaced, entry, 1, raw_at) == [
        json.dumps(v) if i in raw_at else v for i, v in enumerate(json.loads(line))
    ]
    with pytest.raises(IntegrityError, match="line 7: expected an array of"):
        archive.split_line(fast([*row, 1]) + b"\n", entry, 7, raw_at)  # type: ignore[operator]
