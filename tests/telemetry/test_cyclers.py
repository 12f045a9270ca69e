"""Cycler readers: Arbin .xlsx exports (python-calamine) and BioLogic .mpr files (galvani).

The files are made here: Arbin workbooks by a minimal SpreadsheetML writer, BioLogic files by a writer that lays out
the modules and records exactly as galvani's parser reads them (no real EC-Lab file with a licence that allows it
could be obtained here; galvani's own test files are Git-LFS objects outside the package). Their samples follow a
protocol whose integrals are known in closed form, so the tester columns and the timestamps can be checked exactly.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import polars as pl
import pytest
from galvani.BioLogic import MPR_MAGIC, VMPdata_dtype_from_colIDs, VMPmodule_hdr_v1

from batteryloop.errors import ImportFormatError, ValidationError
from batteryloop.telemetry import readers
from batteryloop.telemetry.readers import ReadOptions, arbin, biologic
from batteryloop.telemetry.schema import SCHEMA

# --- a cycling protocol with closed-form integrals ------------------------------------------------------------------

CHARGE_A = 0.55
CV_TAU_S = 600.0
CV_S = 1800.0
DISCHARGE_A = -1.1
DISCHARGE_S = 1620.0
RESISTANCE_OHM = 0.1
CHARGE_AH = CHARGE_A * 3600 / 3600 + CHARGE_A * CV_TAU_S * (1 - math.exp(-CV_S / CV_TAU_S)) / 3600
DISCHARGE_AH = -DISCHARGE_A * DISCHARGE_S / 3600


@dataclass(frozen=True)
class Step:
    index: int
    duration_s: float
    voltage_V: float
    current_A: float = 0.0
    cv: bool = False  # current = current_A * exp(-t / CV_TAU_S)
    log_s: float = 30.0
    first_s: float | None = None  # an extra point this long after the start (Arbin logs CV starts at once)
    first_voltage_V: float | None = None  # the voltage at that point

    def current(self, t: float) -> float:
        return self.current_A * math.exp(-t / CV_TAU_S) if self.cv else self.current_A

    def charge_Ah(self, t: float) -> float:
        """Charge moved from the step's start to ``t`` (signed)."""
        if self.cv:
            return self.current_A * CV_TAU_S * (1 - math.exp(-t / CV_TAU_S)) / 3600
        return self.current_A * t / 3600


PROTOCOL = (
    Step(1, 60.0, 3.60),
    Step(2, 3600.0, 4.00, CHARGE_A),
    Step(4, CV_S, 4.20, CHARGE_A, cv=True, log_s=300.0, first_s=0.001, first_voltage_V=4.20),
    Step(5, 120.0, 4.10),
    # the ohmic drop shows at once: 0.005 s into the discharge the voltage is 4.10 V - 0.1 Ohm * 1.1 A
    Step(7, DISCHARGE_S, 3.60, DISCHARGE_A, first_s=0.005, first_voltage_V=4.10 + RESISTANCE_OHM * DISCHARGE_A),
    Step(8, 60.0, 3.40),
)
HEADER = [
    "Data_Point",
    "Test_Time(s)",
    "Date_Time",
    "Step_Time(s)",
    "Step_Index",
    "Cycle_Index",
    "Current(A)",
    "Voltage(V)",
    "Charge_Capacity(Ah)",
    "Discharge_Capacity(Ah)",
    "Charge_Energy(Wh)",
    "Discharge_Energy(Wh)",
    "dV/dt(V/s)",
    "Internal_Resistance(Ohm)",
]


def arbin_rows(start: datetime, cycles: int) -> list[list[Any]]:
    """Rows of an Arbin export of ``cycles`` cycles of PROTOCOL started at ``start`` (wall clock)."""
    rows: list[list[Any]] = []
    test_time = 0.0
    charge = discharge = charge_energy = discharge_energy = 0.0
    for cycle in range(1, cycles + 1):
        for step in PROTOCOL:
            times = [step.first_s] if step.first_s else []
            times += [*np.arange(step.log_s, step.duration_s, step.log_s), step.duration_s]
            moved_before = 0.0
            for t in times:
                moved = step.charge_Ah(t)
                voltage = step.first_voltage_V if step.first_s and t == step.first_s else step.voltage_V
                delta = moved - moved_before
                moved_before = moved
                if delta >= 0:
                    charge += delta
                    charge_energy += delta * step.voltage_V
                else:
                    discharge -= delta
                    discharge_energy -= delta * step.voltage_V
                now = test_time + t
                rows.append(
                    [
                        len(rows) + 1,
                        now,
                        (start + timedelta(seconds=now)).replace(microsecond=0),
                        t,
                        step.index,
                        cycle,
                        step.current(t),
                        voltage,
                        charge,
                        discharge,
                        charge_energy,
                        discharge_energy,
                        0.0,
                        RESISTANCE_OHM if step.index >= 5 else 0.0,
                    ]
                )
            test_time += step.duration_s
    return rows


# --- a minimal .xlsx writer (SpreadsheetML), enough for calamine ---------------------------------------------------

_EXCEL_EPOCH = datetime(1899, 12, 30)


def _cell(ref: str, value: Any) -> str:
    if isinstance(value, datetime):
        serial = (value - _EXCEL_EPOCH) / timedelta(days=1)
        return f'<c r="{ref}" s="1"><v>{serial!r}</v></c>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{float(value)!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _sheet_xml(rows: list[list[Any]]) -> str:
    body = "".join(
        f'<row r="{r + 1}">' + "".join(_cell(f"{_column(c)}{r + 1}", v) for c, v in enumerate(row)) + "</row>"
        for r, row in enumerate(rows)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{body}</sheetData></worksheet>"
    )


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """Write ``sheets`` (name -> rows) as an .xlsx workbook; datetimes get a date format, as Arbin writes them."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    names = list(sheets)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(len(names))
            )
            + "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            + "".join(f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(names))
            + "</sheets></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i + 1}" Type="{rel}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                for i in range(len(names))
            )
            + f'<Relationship Id="rId{len(names) + 1}" Type="{rel}/styles" Target="styles.xml"/></Relationships>',
        )
        z.writestr(
            "xl/styles.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{main}">'
            '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders>'
            '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="22" applyNumberFormat="1"/></cellXfs>'
            "</styleSheet>",
        )
        for i, name in enumerate(names):
            z.writestr(f"xl/worksheets/sheet{i + 1}.xml", _sheet_xml(sheets[name]))
    return path


INFO = [["", "TEST REPORT"], ["Channel", "Start_DateTime"], ["1-008", "made by the test"]]


def write_arbin(path: Path, start: datetime, cycles: int = 2, header: list[str] | None = None) -> Path:
    rows = [header or HEADER, *arbin_rows(start, cycles)]
    return write_xlsx(path, {"Info": INFO, "Channel_1-008": rows})


@pytest.fixture
def cell_dir(tmp_path: Path) -> Path:
    """Three weekly exports of cell CELL7 (each restarting Cycle_Index at 1) and a copy of the last one."""
    folder = tmp_path / "CELL7"
    folder.mkdir()
    write_arbin(folder / "CELL7_5_14_24.xlsx", datetime(2024, 5, 13, 9, 0, 0), cycles=2)
    write_arbin(folder / "CELL7_5_7_24.xlsx", datetime(2024, 5, 6, 9, 0, 0), cycles=3)
    write_arbin(folder / "CELL7_5_21_24.xlsx", datetime(2024, 5, 20, 9, 0, 0), cycles=1)
    (folder / "CELL7_5_21_24_copy.xlsx").write_bytes((folder / "CELL7_5_21_24.xlsx").read_bytes())
    return folder


# --- Arbin ------------------------------------------------------------------------------------------------------------


def test_arbin_file_maps_to_the_canonical_columns(tmp_path: Path) -> None:
    path = write_arbin(tmp_path / "CS9_1.xlsx", datetime(2024, 5, 6, 9, 0, 0), cycles=2)
    frame = readers.read(path)  # the format from the suffix
    rows = arbin_rows(datetime(2024, 5, 6, 9, 0, 0), cycles=2)
    assert frame.height == len(rows)
    for name, dtype in SCHEMA.items():
        if name in frame.columns:
            assert frame.schema[name] == dtype, name
    canonical = ["battery_id", "timestamp", "current_A", "voltage_V", "temperature_C", "cycle_index", "step_index"]
    assert frame.columns[:7] == canonical
    assert set(frame["battery_id"]) == {"CS9_1"}
    assert frame["temperature_C"].null_count() == frame.height  # no temperature logged
    # timestamps: first Date_Time (read as UTC by default) plus the elapsed Test_Time, to the microsecond
    first = datetime(2024, 5, 6, 9, 0, 30, tzinfo=UTC)
    assert frame["timestamp"][0] == first
    expected = [first + timedelta(seconds=r[1] - rows[0][1]) for r in rows]
    got = frame["timestamp"].to_list()
    assert max(abs((g - e).total_seconds()) for g, e in zip(got, expected, strict=True)) <= 1e-6
    assert frame["current_A"].to_list() == pytest.approx([r[6] for r in rows])
    assert frame["voltage_V"].to_list() == pytest.approx([r[7] for r in rows])
    assert frame["cycle_index"].to_list() == [r[5] for r in rows]
    assert frame["step_index"].to_list() == [r[4] for r in rows]
    # the tester's cumulative counters and resistance are kept for validation
    last = frame.tail(1).to_dicts()[0]
    assert last["cycler_charge_capacity_Ah"] == pytest.approx(2 * CHARGE_AH, rel=1e-12)
    assert last["cycler_discharge_capacity_Ah"] == pytest.approx(2 * DISCHARGE_AH, rel=1e-12)
    assert last["cycler_discharge_energy_Wh"] == pytest.approx(2 * DISCHARGE_AH * 3.6, rel=1e-12)
    assert last["cycler_internal_resistance_Ohm"] == pytest.approx(RESISTANCE_OHM)


def test_arbin_local_time_zone_and_current_sign(tmp_path: Path) -> None:
    path = write_arbin(tmp_path / "CS9_1.xlsx", datetime(2024, 5, 6, 9, 0, 0), cycles=1)
    local = readers.read(path, "arbin-xlsx", ReadOptions(timezone="Europe/Amsterdam", battery_id="cell-9"))
    assert local["timestamp"][0] == datetime(2024, 5, 6, 7, 0, 30, tzinfo=UTC)  # CEST = UTC+2
    assert set(local["battery_id"]) == {"cell-9"}
    flipped = readers.read(path, "arbin-xlsx", ReadOptions(current_sign="discharge-positive"))
    assert flipped["current_A"].to_list() == pytest.approx((-local["current_A"]).to_list())
    with pytest.raises(ValidationError, match="unknown time zone"):
        readers.read(path, "arbin-xlsx", ReadOptions(timezone="Mars/Olympus"))


def test_arbin_refuses_a_local_time_that_daylight_saving_repeats(tmp_path: Path) -> None:
    path = write_arbin(tmp_path / "CS9_1.xlsx", datetime(2024, 10, 27, 2, 29, 30), cycles=1)
    with pytest.raises(ImportFormatError, match="ambiguous or does not exist") as info:
        readers.read(path, "arbin-xlsx", ReadOptions(timezone="Europe/Amsterdam"))
    assert "CS9_1.xlsx" in str(info.value)


def test_arbin_headers_with_spaces_and_milli_units(tmp_path: Path) -> None:
    header = [h.replace("_", " ").replace("(", " (") for h in HEADER]
    header[6], header[8] = "Current (mA)", "Charge Capacity (mAh)"
    rows = arbin_rows(datetime(2024, 5, 6, 9, 0, 0), cycles=1)
    for row in rows:
        row[6] *= 1000.0
        row[8] *= 1000.0
    rows[0][2] = "2024-05-06 09:00:30"  # Date_Time written as text
    path = write_xlsx(tmp_path / "b.xlsx", {"Channel_1-001": [header, *rows], "Temperature": [["x"]]})
    frame = readers.read(path)
    assert frame["current_A"].max() == pytest.approx(CHARGE_A)
    assert frame["cycler_charge_capacity_Ah"].max() == pytest.approx(CHARGE_AH)
    assert frame["timestamp"][0] == datetime(2024, 5, 6, 9, 0, 30, tzinfo=UTC)


def test_arbin_errors_name_the_file_sheet_and_column(tmp_path: Path) -> None:
    no_current = [h for h in HEADER if h != "Current(A)"]
    rows = [r[:6] + r[7:] for r in arbin_rows(datetime(2024, 5, 6), cycles=1)]
    path = write_xlsx(tmp_path / "a.xlsx", {"Channel_1-008": [no_current, *rows]})
    with pytest.raises(ImportFormatError) as info:
        readers.read(path)
    assert "a.xlsx: Channel_1-008" in str(info.value)
    assert "Current(A)" in str(info.value)

    no_channel = write_xlsx(tmp_path / "b.xlsx", {"Info": INFO})
    with pytest.raises(ImportFormatError, match=r"no Arbin data sheet \(sheets: Info\)"):
        readers.read(no_channel)

    odd_unit = write_arbin(tmp_path / "c.xlsx", datetime(2024, 5, 6), header=[*HEADER[:6], "Current(kA)", *HEADER[7:]])
    with pytest.raises(ImportFormatError, match="unit 'kA'"):
        readers.read(odd_unit)

    not_excel = tmp_path / "d.xlsx"
    not_excel.write_text("Data_Point,Current(A)\n1,0.5\n")
    with pytest.raises(ImportFormatError, match="not a readable Excel workbook"):
        readers.read(not_excel)


def test_arbin_files_of_one_cell_in_time_order_with_continuous_cycles(cell_dir: Path) -> None:
    files = sorted(cell_dir.iterdir(), reverse=True)  # any order
    result = arbin.read_files(files)
    frame = result.frame
    assert set(frame["battery_id"]) == {"CELL7"}  # the name the files share
    assert [f.path.name for f in result.files] == [
        "CELL7_5_7_24.xlsx",
        "CELL7_5_14_24.xlsx",
        "CELL7_5_21_24.xlsx",
        "CELL7_5_21_24_copy.xlsx",
    ]
    assert [f.cycle_offset for f in result.files[:3]] == [0, 3, 5]
    # the copy is skipped and said so; nothing else is
    assert [(f.path.name, f.duplicate_of.name) for f in result.skipped if f.duplicate_of] == [
        ("CELL7_5_21_24_copy.xlsx", "CELL7_5_21_24.xlsx")
    ]
    assert frame.height == sum(f.rows for f in result.files if f.duplicate_of is None)
    assert frame["timestamp"].is_sorted()
    assert frame["cycle_index"].unique().sort().to_list() == [1, 2, 3, 4, 5, 6]
    assert frame["cycle_index"].is_sorted()
    # each file's cumulative counters restart with the file
    for item, cycles in zip(result.files[:3], (3, 2, 1), strict=True):
        part = frame.filter(pl.col("timestamp").is_between(item.first_timestamp, item.last_timestamp))
        assert part.height == item.rows
        assert part["cycler_discharge_capacity_Ah"][-1] == pytest.approx(cycles * DISCHARGE_AH)


def test_arbin_directory_through_the_format_registry(cell_dir: Path) -> None:
    frame = readers.read(cell_dir, "arbin-xlsx")
    assert set(frame["battery_id"]) == {"CELL7"}
    assert frame["cycle_index"].max() == 6


def test_arbin_refuses_files_that_overlap_with_other_samples(tmp_path: Path) -> None:
    write_arbin(tmp_path / "X_1.xlsx", datetime(2024, 5, 6, 9, 0, 0), cycles=2)
    write_arbin(tmp_path / "X_2.xlsx", datetime(2024, 5, 6, 10, 0, 0), cycles=1)  # starts inside X_1
    with pytest.raises(ImportFormatError, match="overlaps") as info:
        arbin.read_files([tmp_path])
    assert "X_2.xlsx" in str(info.value)
    assert "X_1.xlsx" in str(info.value)


def test_arbin_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match=r"holds no \.xlsx file"):
        arbin.read_files([tmp_path])


# --- BioLogic -------------------------------------------------------------------------------------------------------

# galvani column IDs: 1 mode (flag), 2 ox/red (flag), 4 time/s, 5 control/V/mA, 6 Ewe/V, 8 I/mA, 24 cycle number,
# 131 Ns, 498 Q charge/mA.h, 499 Q discharge/mA.h, 123 Energy charge/W.h, 124 Energy discharge/W.h, 462 Temperature/°C
GCPL_COLUMNS = (1, 2, 4, 5, 6, 8, 24, 131, 498, 499, 123, 124, 462)


def _module(short: bytes, long: bytes, data: bytes, version: int, day: date) -> bytes:
    header = np.zeros(1, dtype=VMPmodule_hdr_v1)
    header["shortname"] = short.ljust(10)
    header["longname"] = long.ljust(25)
    header["length"] = len(data)
    header["version"] = version
    header["date"] = day.strftime("%m/%d/%y").encode()
    return b"MODULE" + header.tobytes() + data


def write_mpr(path: Path, records: np.ndarray, column_ids: tuple[int, ...], start: datetime | None) -> Path:
    """An EC-Lab .mpr file as galvani parses it: settings, data (version 2) and, with ``start``, LOG module."""
    day = (start or datetime(2024, 5, 6)).date()
    ids = np.asarray(column_ids, dtype="<u2").tobytes()
    head = np.asarray([len(records)], dtype="<u4").tobytes() + bytes([len(column_ids)]) + ids
    data = head.ljust(405, b"\x00") + records.tobytes()
    content = MPR_MAGIC + _module(b"VMP Set", b"VMP settings", b"\x00" * 64, 0, day)
    content += _module(b"VMP data", b"VMP data", data, 2, day)
    if start is not None:
        ole = (start - datetime(1899, 12, 30)) / timedelta(days=1)
        log = bytearray(600)
        log[465:473] = np.asarray([ole], dtype="<f8").tobytes()
        content += _module(b"VMP LOG", b"VMP LOG", bytes(log), 0, day)
    path.write_bytes(content)
    return path


def gcpl_records(cycles: int = 2, step_s: float = 10.0) -> np.ndarray:
    """Galvanostatic cycling: per cycle 1 h charge at +500 mA (Ns 0), 1 h discharge at -500 mA (Ns 1)."""
    dtype, _ = VMPdata_dtype_from_colIDs(GCPL_COLUMNS)
    per_half = int(3600 / step_s)
    n = cycles * 2 * per_half
    rec = np.zeros(n, dtype=dtype)
    k = np.arange(n)
    half = k // per_half
    charging = half % 2 == 0
    t_in_half = (k % per_half + 1) * step_s
    rec["time/s"] = (k + 1) * step_s
    rec["I/mA"] = np.where(charging, 500.0, -500.0)
    rec["control/V/mA"] = rec["I/mA"]
    rec["Ewe/V"] = np.where(charging, 3.9, 3.5)
    rec["cycle number"] = half // 2
    rec["Ns"] = half % 2
    moved = 500.0 * t_in_half / 3600  # mA.h within the half cycle (EC-Lab restarts the counters per half cycle)
    rec["Q charge/mA.h"] = np.where(charging, moved, 0.0)
    rec["Q discharge/mA.h"] = np.where(charging, 0.0, moved)
    rec["Energy charge/W.h"] = np.where(charging, moved / 1000 * 3.9, 0.0)
    rec["Energy discharge/W.h"] = np.where(charging, 0.0, moved / 1000 * 3.5)
    rec["Temperature/°C"] = 25.0
    rec["flags"] = np.where(charging, 0x01 | 0x04, 0x01)  # mode 1 (galvanostatic); ox/red set while charging
    return rec


def test_biologic_mpr_through_galvani(tmp_path: Path) -> None:
    start = datetime(2024, 5, 6, 14, 30, 0)
    path = write_mpr(tmp_path / "cellB_GCPL_C01.mpr", gcpl_records(), GCPL_COLUMNS, start)
    frame = readers.read(path, options=ReadOptions(timezone="Europe/Amsterdam"))  # .mpr -> biologic by suffix
    assert frame.height == 4 * 360
    assert set(frame["battery_id"]) == {"cellB_GCPL_C01"}
    assert frame["timestamp"][0] == datetime(2024, 5, 6, 12, 30, 10, tzinfo=UTC)
    assert frame["timestamp"][-1] == datetime(2024, 5, 6, 16, 30, 0, tzinfo=UTC)
    assert frame["current_A"].unique().sort().to_list() == pytest.approx([-0.5, 0.5])  # mA -> A, charge positive
    assert frame["voltage_V"].unique().sort().to_list() == pytest.approx([3.5, 3.9])
    assert frame["temperature_C"].unique().to_list() == [25.0]
    assert frame["cycle_index"].unique().sort().to_list() == [1, 2]  # EC-Lab's 0-based cycle number + 1
    assert frame["step_index"].unique().sort().to_list() == [0, 1]
    assert frame["cycler_charge_capacity_Ah"].max() == pytest.approx(0.5)
    assert frame["cycler_discharge_energy_Wh"].max() == pytest.approx(0.5 * 3.5)
    for name, dtype in SCHEMA.items():
        if name in frame.columns:
            assert frame.schema[name] == dtype, name


def test_biologic_sign_option_and_missing_log_module(tmp_path: Path) -> None:
    path = write_mpr(tmp_path / "c.mpr", gcpl_records(cycles=1), GCPL_COLUMNS, start=None)
    with pytest.warns(UserWarning, match="no LOG module"):
        frame = biologic.read_files([path], ReadOptions(current_sign="discharge-positive")).frame
    assert frame["timestamp"][0] == datetime(2024, 5, 6, 0, 0, 10, tzinfo=UTC)  # from midnight of the start date
    assert frame["current_A"][0] == pytest.approx(-0.5)


def test_biologic_files_of_one_cell_in_time_order(tmp_path: Path) -> None:
    write_mpr(tmp_path / "cellB_02_GCPL_C01.mpr", gcpl_records(cycles=2), GCPL_COLUMNS, datetime(2024, 5, 7, 8, 0))
    write_mpr(tmp_path / "cellB_01_GCPL_C01.mpr", gcpl_records(cycles=1), GCPL_COLUMNS, datetime(2024, 5, 6, 8, 0))
    result = biologic.read_files([tmp_path])
    assert [f.path.name for f in result.files] == ["cellB_01_GCPL_C01.mpr", "cellB_02_GCPL_C01.mpr"]
    assert result.frame["cycle_index"].unique().sort().to_list() == [1, 2, 3]
    assert set(result.frame["battery_id"]) == {tmp_path.name}


def test_biologic_errors_name_the_file(tmp_path: Path) -> None:
    not_mpr = tmp_path / "x.mpr"
    not_mpr.write_bytes(b"BIO-LOGIC but not really")
    with pytest.raises(ImportFormatError, match="galvani cannot read") as info:
        readers.read(not_mpr)
    assert "x.mpr" in str(info.value)
    # the mapping layer on galvani's record structure: a technique without current (open-circuit voltage)
    ocv_dtype, _ = VMPdata_dtype_from_colIDs((1, 4, 6))
    records = np.zeros(3, dtype=ocv_dtype)
    records["time/s"] = [1.0, 2.0, 3.0]
    with pytest.raises(ImportFormatError, match="lack I/mA") as info:
        biologic.frame_from_records(records, datetime(2024, 5, 6), tmp_path / "ocv.mpr", ReadOptions())
    assert "flags, time/s, Ewe/V" in str(info.value)


def test_biologic_mapping_prefers_the_cell_voltage_of_three_electrode_files(tmp_path: Path) -> None:
    dtype, _ = VMPdata_dtype_from_colIDs((4, 6, 8, 27))  # time/s, Ewe/V, I/mA, Ewe-Ece/V
    records = np.zeros(2, dtype=dtype)
    records["time/s"] = [0.0, 1.0]
    records["Ewe/V"] = [4.0, 4.0]  # positive electrode against the reference
    records["Ewe-Ece/V"] = [3.7, 3.7]  # the cell
    records["I/mA"] = [100.0, 100.0]
    frame = biologic.frame_from_records(records, datetime(2024, 5, 6), tmp_path / "3e.mpr", ReadOptions())
    assert frame["voltage_V"].to_list() == pytest.approx([3.7, 3.7])
    assert frame["current_A"].to_list() == pytest.approx([0.1, 0.1])
    assert "cycle_index" not in frame.columns
