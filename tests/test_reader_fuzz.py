"""Fuzzing of the file readers with hypothesis, bounded in time: every input is accepted or refused with
batteryloop's own error naming what is wrong, never another exception and never a hang.

Each reader starts from a small valid sample made here (the canonical CSV and Parquet, an Arbin workbook and a BioLogic
file as tests/telemetry/test_cyclers.py writes them, the complete passport exported in IDTA-02035, Battery Pass 1.2 and
Catena-X 6.1, a signed batteryloop bundle) and gets it mutated: cut off, bytes flipped, JSON values swapped for other
types, columns dropped or added, huge numbers, NaN, infinities and unusual unicode. Examples are derandomised, so a run
is repeatable; ``READER_FUZZ_EXAMPLES`` raises the number of examples per test for a longer hunt.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.errors import BatteryloopError
from batteryloop.migrate import upgrade
from batteryloop.passport import bundle as bundle_mod
from batteryloop.passport import transfer
from batteryloop.passport.attributes import validate_values
from batteryloop.passport.interop import FORMATS, ExportMeta
from batteryloop.passport.service import PassportService
from batteryloop.telemetry import readers
from batteryloop.telemetry.readers import ReadOptions
from tests.passport.fixtures import REGISTRY_VALUES, full_passport_data
from tests.telemetry.test_cyclers import GCPL_COLUMNS, gcpl_records, write_arbin, write_mpr, write_xlsx

EXAMPLES = int(os.environ.get("READER_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
TIMEOUT_S = 10.0  # one example that takes longer is a hang

# ---------------------------------------------------------------------------------------------------------------------
# the rule every example is held to


def accepted_or_refused(call: Callable[[], object]) -> BatteryloopError | None:
    """Run ``call`` in a thread with a time limit; None if it returned, the error if it refused the input with a
    :class:`BatteryloopError` that says what is wrong. Any other exception, or running past the limit, fails."""
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            call()
            outcome["error"] = None
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(TIMEOUT_S)
    if worker.is_alive():
        pytest.fail(f"the reader did not finish within {TIMEOUT_S} s (a hang)")
    error = outcome["error"]
    if error is None:
        return None
    if not isinstance(error, BatteryloopError):
        raise AssertionError(f"crash instead of a batteryloop error: {type(error).__name__}: {error}") from error
    assert str(error).strip(), "the error must say what is wrong"
    assert error.problems or error.field or ":" in error.message, f"the error names no field, file or row: {error}"
    return error


def _tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="batteryloop-reader-fuzz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------------
# mutations of bytes and of JSON

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "1e400",
        "-1e400",
        "9" * 40,
        "0x1F",
        "1,5",
        "null",
        "true",
        "\u00e9\u00e8",
        "\u202e\u0000",
        "\ud7ff",
        "2024-13-45T25:61:61",
        "1970-01-01",
        '"',
        "a,b",
        "\n",
        "\U0001f50b",
        "0" * 300,
    ]
)
ODD_NUMBERS = st.sampled_from(
    [math.nan, math.inf, -math.inf, 1e308, -1e308, 10**30, -(10**30), 10**400, 0, -0.0, 5e-324, 2**63, -(2**63) - 1]
)
JSON_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    ODD_NUMBERS,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD_TEXT,
    st.text(max_size=20),
    st.builds(list),
    st.builds(dict),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def mutated_bytes(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` cut off, with bytes flipped, inserted or removed, or replaced by random bytes."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "random", "flip+truncate"]))
    data = bytearray(valid)
    if kind == "random":
        prefix = draw(st.sampled_from([b"", valid[:4], valid[:64]]))
        return prefix + draw(st.binary(max_size=512))
    if kind in ("flip", "flip+truncate"):
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    if kind == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=32))
    if kind == "delete":
        i = draw(st.integers(0, len(data) - 1))
        del data[i : i + draw(st.integers(1, 64))]
    if kind in ("truncate", "flip+truncate"):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _paths(doc: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [loc]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*loc, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(_paths(value, (*loc, i)))
    return out


def _replace(doc: Any, loc: tuple[Any, ...], make: Callable[[Any], Any]) -> Any:
    if not loc:
        return make(doc)
    parent = doc
    for step in loc[:-1]:
        parent = parent[step]
    parent[loc[-1]] = make(parent[loc[-1]])
    return doc


_DELETE = object()


@st.composite
def mutated_json(draw: st.DrawFn, valid: Any) -> Any:
    """``valid`` with 1-4 of its values deleted, swapped for another JSON type, wrapped in a list, or given an extra
    key."""
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        loc = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["swap", "swap", "delete", "wrap", "extra", "stringify"]))
        if kind == "delete" and loc:
            parent = doc
            for step in loc[:-1]:
                parent = parent[step]
            del parent[loc[-1]]
        elif kind == "wrap":
            doc = _replace(doc, loc, lambda v: [v])
        elif kind == "extra":
            target = doc
            for step in loc:
                target = target[step]
            if isinstance(target, dict):
                target[draw(st.text(min_size=1, max_size=12))] = draw(JSON_VALUES)
            elif isinstance(target, list):
                target.append(draw(JSON_VALUES))
        elif kind == "stringify":
            doc = _replace(doc, loc, lambda v: json.dumps(v) if not isinstance(v, str) else v + "\u00a0")
        else:
            value: Any = draw(JSON_VALUES)

            def swap(_old: Any, new: Any = value) -> Any:
                return new

            doc = _replace(doc, loc, swap)
    return doc


# ---------------------------------------------------------------------------------------------------------------------
# telemetry: the canonical CSV and Parquet

CSV_HEADER = ["battery_id", "timestamp", "current_A", "voltage_V", "temperature_C"]
CSV_ROWS = [
    ["PACK-1", "2024-05-01T12:00:00Z", "1.5", "3.71", "25.0"],
    ["PACK-1", "2024-05-01T12:00:01+02:00", "-2.0", "3.69", ""],
    ["PACK-1", "1714565002", "0", "3.7", "24.5"],
]
OPTIONS = st.builds(
    ReadOptions,
    battery_id=st.sampled_from([None, "PACK-9", "", " ", "\u00e9" * 3]),
    current_sign=st.sampled_from(["charge-positive", "discharge-positive"]),
    current_unit=st.sampled_from(["A", "mA"]),
    voltage_unit=st.sampled_from(["V", "mV"]),
    temperature_unit=st.sampled_from(["C", "K"]),
    timezone=st.sampled_from([None, "Europe/Amsterdam", "UTC", "Mars/Olympus", "", "../../etc/passwd"]),
)


def _csv(rows: list[list[str]]) -> bytes:
    return ("\n".join(",".join(r) for r in rows) + "\n").encode("utf-8")


@st.composite
def csv_tables(draw: st.DrawFn) -> bytes:
    """The valid sample with columns dropped, added, renamed or reordered and cells replaced by odd values."""
    rows = [list(CSV_HEADER), *[list(r) for r in CSV_ROWS]]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["cell", "cell", "drop", "add", "rename", "row"]))
        width = len(rows[0])
        if kind == "cell" and width:
            r, c = draw(st.integers(1, len(rows) - 1)), draw(st.integers(0, width - 1))
            if len(rows) > 1 and c < len(rows[r]):
                rows[r][c] = draw(st.one_of(ODD_TEXT, st.text(max_size=12).map(lambda t: t.replace("\r", ""))))
        elif kind == "drop" and width:
            c = draw(st.integers(0, width - 1))
            rows = [[v for i, v in enumerate(row) if i != c] for row in rows]
        elif kind == "add":
            name = draw(st.sampled_from(["soc_pct", "current_A", "extra", "", "timestamp", "cell_voltage_min_V"]))
            rows = [[*row, name if i == 0 else draw(ODD_TEXT)] for i, row in enumerate(rows)]
        elif kind == "rename" and width:
            c = draw(st.integers(0, width - 1))
            rows[0][c] = draw(st.sampled_from(["Timestamp", "current_mA", " voltage_V", "temperature_C;x", "\ufeff"]))
        elif kind == "row":
            rows.append(draw(st.lists(ODD_TEXT, max_size=7)))
    return _csv(rows)


@pytest.fixture(scope="module")
def tmp() -> Iterator[Path]:
    yield from _tmp()


def _read_file(tmp: Path, name: str, data: bytes, options: ReadOptions, fmt: str = "auto") -> None:
    path = tmp / name
    path.write_bytes(data)
    accepted_or_refused(lambda: readers.read(path, fmt, options))


@given(data=st.one_of(csv_tables(), mutated_bytes(_csv([CSV_HEADER, *CSV_ROWS]))), options=OPTIONS)
@FUZZ
def test_canonical_csv(tmp: Path, data: bytes, options: ReadOptions) -> None:
    _read_file(tmp, "bms.csv", data, options)


def _parquet(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


VALID_PARQUET = _parquet(
    pl.DataFrame(
        {
            "battery_id": ["PACK-1"] * 3,
            "timestamp": [datetime(2024, 5, 1, 12, 0, s, tzinfo=UTC) for s in range(3)],
            "current_A": [1.5, -2.0, 0.0],
            "voltage_V": [3.71, 3.69, 3.7],
            "temperature_C": [25.0, None, 24.5],
        }
    )
)
PARQUET_COLUMNS = st.sampled_from(
    [
        pl.Series([1, 2, 3]),
        pl.Series([math.nan, math.inf, -1e308]),
        pl.Series(["a", "\U0001f50b", None]),
        pl.Series(["2024-05-01T12:00:00Z", "not a time", ""]),
        pl.Series([True, False, None]),
        pl.Series([datetime(1, 1, 1), datetime(9999, 12, 31), None]),
        pl.Series([10**18, -(10**18), 0]),
        pl.Series([[1.0], [], None]),
        pl.Series([None, None, None]),
    ]
)


@st.composite
def parquet_tables(draw: st.DrawFn) -> bytes:
    """The valid sample with columns dropped, or replaced or added with other types."""
    frame = pl.read_parquet(io.BytesIO(VALID_PARQUET))
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from([*CSV_HEADER, "soc_pct", "cycle_index", "extra"]))
        if draw(st.booleans()) and name in frame.columns and frame.width > 1:
            frame = frame.drop(name)
        else:
            frame = frame.with_columns(draw(PARQUET_COLUMNS).alias(name))
    return _parquet(frame)


@given(data=st.one_of(parquet_tables(), mutated_bytes(VALID_PARQUET)), options=OPTIONS)
@FUZZ
def test_canonical_parquet(tmp: Path, data: bytes, options: ReadOptions) -> None:
    _read_file(tmp, "bms.parquet", data, options)


# ---------------------------------------------------------------------------------------------------------------------
# cycler exports: Arbin workbooks, BioLogic files


@pytest.fixture(scope="module")
def arbin_sample(tmp: Path) -> bytes:
    return write_arbin(tmp / "sample-arbin.xlsx", datetime(2024, 5, 6, 9, 0, 0), cycles=1).read_bytes()


@pytest.fixture(scope="module")
def mpr_sample(tmp: Path) -> bytes:
    return write_mpr(tmp / "sample.mpr", gcpl_records(cycles=1), GCPL_COLUMNS, datetime(2024, 5, 6, 9, 0)).read_bytes()


@given(data=st.data(), options=OPTIONS)
@FUZZ
def test_arbin_workbook_bytes(tmp: Path, arbin_sample: bytes, data: st.DataObject, options: ReadOptions) -> None:
    _read_file(tmp, "fuzz-arbin.xlsx", data.draw(mutated_bytes(arbin_sample)), options)


CELLS = st.one_of(
    st.none(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e30, -0.0, 5e-324]), st.floats(), st.integers(-(10**15), 10**15), ODD_TEXT,
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
)  # fmt: skip


@given(data=st.data(), options=OPTIONS)
@FUZZ
def test_arbin_workbook_cells(tmp: Path, data: st.DataObject, options: ReadOptions) -> None:
    """A well-formed workbook whose cells, header and sheets are changed: odd values in any cell, a header cell
    renamed or dropped, the data sheet renamed, rows cut short."""
    from tests.telemetry.test_cyclers import HEADER, INFO, arbin_rows

    rows: list[list[Any]] = [list(HEADER), *[list(r) for r in arbin_rows(datetime(2024, 5, 6, 9, 0), 1)[:6]]]
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["cell", "cell", "header", "short"]))
        r = data.draw(st.integers(0 if kind == "header" else 1, len(rows) - 1))
        if kind == "short":
            rows[r] = rows[r][: data.draw(st.integers(0, len(rows[r])))]
        elif rows[r]:
            c = data.draw(st.integers(0, len(rows[r]) - 1))
            rows[r][c] = data.draw(ODD_TEXT if kind == "header" else CELLS)
    sheet = data.draw(st.sampled_from(["Channel_1-008", "Channel_2-001", "Sheet1", "Channel_1-008 "]))
    path = write_xlsx(tmp / "fuzz-cells.xlsx", {"Info": INFO, sheet: rows})
    accepted_or_refused(lambda: readers.read(path, "arbin-xlsx", options))


@given(data=st.data(), options=OPTIONS)
@FUZZ
def test_biologic_file_bytes(tmp: Path, mpr_sample: bytes, data: st.DataObject, options: ReadOptions) -> None:
    _read_file(tmp, "fuzz.mpr", data.draw(mutated_bytes(mpr_sample)), options)


# ---------------------------------------------------------------------------------------------------------------------
# passport imports: IDTA-02035, Battery Pass 1.2, Catena-X 6.1

PASSPORT_IDS = {
    "catenax-6.1": "urn:uuid:3f2c6a8e-5b1d-4c7e-9a42-0d6e1f8b7c21",
    "idta-02035": "urn:uuid:3f2c6a8e-5b1d-4c7e-9a42-0d6e1f8b7c21",
    "batterypass-1.2": "urn:lbs:ev75000123",
}
INTEROP = sorted(PASSPORT_IDS)


def _exported(fmt: str) -> Any:
    """The complete passport exported in ``fmt``: one document, or file name -> document for a multi-part model."""
    data = {**validate_values(full_passport_data(), "ev"), **REGISTRY_VALUES}
    meta = ExportMeta(PASSPORT_IDS[fmt], 4, "2026-02-01T09:00:00+00:00", "active", "https://passport.example.nl/p/1")
    result = FORMATS[fmt].export(data, {}, meta)
    if FORMATS[fmt].parts == (None,):  # type: ignore[attr-defined]
        (doc,) = result.documents.values()
        return doc
    return result.documents


SAMPLES = {fmt: _exported(fmt) for fmt in INTEROP}


def _import(fmt: str, document: Any) -> None:
    """What the registry does with a parsed document before it writes: map it, then validate every value."""
    result = FORMATS[fmt].import_document(document, source="fuzz.json")
    transfer._validate_each(result)


def test_the_samples_import_cleanly() -> None:
    """Control: the unmutated samples import without a refused value (so a mutation is what a refusal is about)."""
    for fmt in INTEROP:
        result = FORMATS[fmt].import_document(copy.deepcopy(SAMPLES[fmt]), source="sample")
        clean, rejected = transfer._validate_each(result)
        assert result.skipped == [] and rejected == [], (fmt, result.skipped, rejected)
        assert len(clean) > 50


@pytest.mark.parametrize("fmt", INTEROP)
@given(data=st.data())
@FUZZ
def test_passport_documents(fmt: str, data: st.DataObject) -> None:
    document = data.draw(mutated_json(SAMPLES[fmt]))
    accepted_or_refused(lambda: _import(fmt, document))


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("fmt", INTEROP)
@given(data=st.data())
@FUZZ
def test_passport_files(tmp: Path, fmt: str, data: st.DataObject) -> None:
    """Files cut off, with bytes flipped, NaN/Infinity literals or another encoding, read and then imported."""
    sample = SAMPLES[fmt]
    multi = FORMATS[fmt].parts != (None,)  # type: ignore[attr-defined]
    docs: dict[str, Any] = sample if multi else {"BatteryPass.json": sample}
    target = tmp / f"files-{fmt}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    victim = data.draw(st.sampled_from(sorted(docs)))
    for name, doc in docs.items():
        raw = _json_bytes(doc)
        if name == victim:
            raw = data.draw(
                st.one_of(
                    mutated_bytes(raw),
                    st.just(raw.replace(b"4", b"NaN", 1)),
                    st.just(raw.replace(b"4", b"Infinity", 1)),
                    st.just(json.dumps(doc).encode("utf-16")),
                    st.just(b"\xef\xbb\xbf" + raw),
                )
            )
        (target / name).write_bytes(raw)
    path = target if multi else target / victim

    def read_and_import() -> None:
        _import(fmt, transfer.read_document(path, fmt))

    accepted_or_refused(read_and_import)


# ---------------------------------------------------------------------------------------------------------------------
# the signed batteryloop bundle


@pytest.fixture(scope="module")
def registry(tmp: Path) -> Iterator[tuple[Callable[[], PassportService], dict[str, Any]]]:
    """A SQLite registry holding one passport with three versions, and that passport's signed bundle."""
    engine = make_engine(f"sqlite:///{tmp / 'bundle.db'}")
    upgrade(engine)
    settings_ = Settings(data_dir=tmp, public_base_url="https://passport.example.nl")
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        svc = PassportService(session, settings_)
        svc.create_organisation("Maker B.V.")
        svc.create_account("maker", "economic_operator", "Maker B.V.")
        svc.create_organisation("Importer B.V.")
        svc.create_account("importer", "economic_operator", "Importer B.V.")
        viewer = svc.viewer_for("maker")
        passport = svc.create(viewer, {"battery_category": "ev", "serial_number": "FZ-1", "gtin": "6291041500213"})
        svc.update_static(viewer, passport.id, {"rated_capacity_Ah": 150.0})
        svc.update_static(viewer, passport.id, {"nominal_voltage_V": 400.0})
        bundle = bundle_mod.export_bundle(session, passport.id)
    assert bundle_mod.verify_bundle(bundle).ok

    session = factory()

    def service() -> PassportService:
        return PassportService(session, settings_)

    yield service, bundle
    session.close()
    engine.dispose()


@given(data=st.data())
@FUZZ
def test_bundles(registry: tuple[Callable[[], PassportService], dict[str, Any]], data: st.DataObject) -> None:
    """A mutated bundle is verified and, if it still verifies, imported (then rolled back): a refusal is a
    batteryloop error; ``verify_bundle`` itself reports failures rather than raising."""
    service, bundle = registry
    document = data.draw(st.one_of(mutated_json(bundle), JSON_VALUES))

    def verify_and_import() -> None:
        report = bundle_mod.verify_bundle(copy.deepcopy(document))
        assert isinstance(report.ok, bool)
        svc = service()
        try:
            transfer.import_document(svc, svc.viewer_for("importer"), "batteryloop", document, source="fuzz.json")
        finally:
            svc.session.rollback()

    accepted_or_refused(verify_and_import)


# ---------------------------------------------------------------------------------------------------------------------
# the crashes the fuzzing found, each pinned by one example (fixed in the module named)


def test_arbin_test_time_or_index_that_is_not_a_number(tmp: Path) -> None:
    """arbin.py: a NaN Test_Time(s) or Step_Index crashed the cast to whole microseconds / Int64 (polars
    InvalidOperationError), a Date_Time serial past year 9999 raised OverflowError; now each is refused naming it."""
    from tests.telemetry.test_cyclers import HEADER, INFO, arbin_rows

    for column in ("Test_Time(s)", "Step_Index"):
        rows: list[list[Any]] = [list(HEADER), *[list(r) for r in arbin_rows(datetime(2024, 5, 6, 9, 0), 1)[:4]]]
        rows[2][HEADER.index(column)] = "NaN"
        path = write_xlsx(tmp / "nan.xlsx", {"Info": INFO, "Channel_1-008": rows})
        error = accepted_or_refused(functools.partial(readers.read, path, "arbin-xlsx", ReadOptions()))
        assert error is not None and "row 3" in str(error), error
    rows = [list(HEADER), *[list(r) for r in arbin_rows(datetime(2024, 5, 6, 9, 0), 1)[:4]]]
    rows[1][HEADER.index("Date_Time")] = 1e308  # an Excel date serial past year 9999
    path = write_xlsx(tmp / "far.xlsx", {"Info": INFO, "Channel_1-008": rows})
    error = accepted_or_refused(lambda: readers.read(path, "arbin-xlsx", ReadOptions()))
    assert error is not None and "Date_Time" in str(error), error


def test_parquet_battery_id_that_is_a_list(tmp: Path) -> None:
    """canonical.py: a list-typed battery_id column crashed the cast to text; now refused naming the column."""
    frame = pl.read_parquet(io.BytesIO(VALID_PARQUET)).with_columns(pl.Series("battery_id", [[1.0], [], None]))
    path = tmp / "list-id.parquet"
    path.write_bytes(_parquet(frame))
    error = accepted_or_refused(lambda: readers.read(path))
    assert error is not None and "battery_id" in str(error)


def test_integer_too_large_for_a_float() -> None:
    """values.py: a JSON integer beyond a float (10**400) raised OverflowError in every import and API write."""
    error = accepted_or_refused(lambda: validate_values({"rated_capacity_Ah": 10**400}, "ev"))
    assert error is not None and "rated_capacity_Ah" in str(error)


def test_bundle_with_parts_of_the_wrong_type(
    registry: tuple[Callable[[], PassportService], dict[str, Any]],
) -> None:
    """bundle.py: a signer, responsible party or newest data that is a list, or predecessors that are not bundles,
    raised AttributeError/TypeError in ``verify_bundle``; now each is a failed check."""
    _, bundle = registry
    changes: list[Callable[[dict[str, Any]], object]] = [
        lambda b: b["versions"][0]["content"].__setitem__("signer", []),
        lambda b: b["versions"][0]["content"].__setitem__("responsible", ["x"]),
        lambda b: b["versions"][-1]["content"].__setitem__("data", None),
        lambda b: b.__setitem__("predecessors", [["not", "a", "bundle"]]),
        lambda b: b.__setitem__("predecessors", "x"),
    ]
    for change in changes:
        broken = copy.deepcopy(bundle)
        change(broken)
        report = bundle_mod.verify_bundle(broken)
        assert not report.ok and report.failures
