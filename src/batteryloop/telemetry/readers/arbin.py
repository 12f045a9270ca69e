"""Arbin Excel exports (.xlsx, MITS Pro "Channel" sheets), one file or the many files of one cell.

An Arbin export holds a sheet ``Channel_<unit>-<channel>`` (sometimes continued on further ``Channel_*`` sheets) with
one row per logged point: ``Data_Point``, ``Test_Time(s)``, ``Date_Time``, ``Step_Time(s)``, ``Step_Index``,
``Cycle_Index``, ``Current(A)`` (positive while charging), ``Voltage(V)``, the cumulative ``Charge_Capacity(Ah)``,
``Discharge_Capacity(Ah)``, ``Charge_Energy(Wh)``, ``Discharge_Energy(Wh)``, ``Internal_Resistance(Ohm)`` and, where
auxiliary channels were logged, temperatures. Headers are matched without regard to case, spaces and underscores,
and their unit in brackets is honoured (``Current (mA)``, ``Charge Capacity (mAh)``), so the unit options of
:class:`ReadOptions` do not apply; ``current_sign="discharge-positive"`` flips the current of a tester wired the
other way. Other sheets (``Info``, ``Statistics_*``) are not read.

Time. ``Date_Time`` is the tester PC's wall clock, written without an offset: it is read in
``ReadOptions.timezone`` (default UTC, so a file read without that option keeps its clock readings as UTC).
Timestamps are the first row's ``Date_Time`` plus the elapsed ``Test_Time(s)``, because ``Date_Time`` has one-second
resolution while points at a step change are milliseconds apart (in the CALCE CS2 exports the PC clock also runs
about a minute per week ahead of the test timer; the timestamps follow the test timer).

Several files. ``Cycle_Index`` and the cumulative columns restart in every file (one export per test or per week).
:func:`read_files` orders the files by their first timestamp, makes ``cycle_index`` continuous, and skips a file
whose samples are all in another one (an exact copy), saying so in :attr:`CyclerRead.files`; see
:func:`batteryloop.telemetry.readers._cycler.join_in_time_order`.

The cumulative capacities, energies and the tester's resistance are kept as the ``cycler_*`` columns of
:mod:`batteryloop.telemetry.readers._cycler`, so that per-cycle values integrated from current and voltage can be
checked against the tester's own (:func:`batteryloop.health.cycles.cycle_table`).

The workbook is parsed with ``python-calamine`` (Rust), which reads a week of 30-second data (17,000 rows) in about
a quarter of a second.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from python_calamine import CalamineError, CalamineWorkbook

from batteryloop.errors import ImportFormatError
from batteryloop.telemetry.readers import ReadOptions
from batteryloop.telemetry.readers._cycler import (
    CyclerRead,
    default_battery_id,
    read_cell,
    to_utc,
)
from batteryloop.telemetry.schema import conform

SUFFIXES = (".xlsx",)
SHEET_PREFIX = "channel_"

# header name (lower case, letters and digits only) -> (column, {unit: factor to the column's unit})
_QUANTITIES: dict[str, tuple[str, dict[str, float]]] = {
    "testtime": ("test_time_s", {"s": 1.0, "": 1.0}),
    "current": ("current_A", {"a": 1.0, "ma": 1e-3}),
    "voltage": ("voltage_V", {"v": 1.0, "mv": 1e-3}),
    "chargecapacity": ("cycler_charge_capacity_Ah", {"ah": 1.0, "mah": 1e-3}),
    "dischargecapacity": ("cycler_discharge_capacity_Ah", {"ah": 1.0, "mah": 1e-3}),
    "chargeenergy": ("cycler_charge_energy_Wh", {"wh": 1.0, "mwh": 1e-3}),
    "dischargeenergy": ("cycler_discharge_energy_Wh", {"wh": 1.0, "mwh": 1e-3}),
    "internalresistance": ("cycler_internal_resistance_Ohm", {"ohm": 1.0, "mohm": 1e-3}),
}
_INDICES = {"cycleindex": "cycle_index", "stepindex": "step_index"}
_REQUIRED = {
    "Date_Time": "date_time",
    "Test_Time(s)": "test_time_s",
    "Current(A)": "current_A",
    "Voltage(V)": "voltage_V",
}
_HEADER = re.compile(r"^(?P<name>[^(\[]*?)\s*[(\[](?P<unit>[^)\]]*)[)\]]\s*(?P<suffix>.*)$")
# |Test_Time(s)| above this (about 317 years) cannot be a test, and offsets in microseconds past it overflow
_MAX_TEST_TIME_S = 1e10
_MAX_INDEX = 2.0**53  # cycle and step indices: whole numbers a float holds exactly
_EXCEL_EPOCH = datetime(1899, 12, 30)  # day 0 of Excel's 1900 date system (serial 1 = 1900-01-01, with the 1900 bug)
_TEXT_DATES = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S")


@dataclass(frozen=True)
class _Column:
    index: int
    name: str
    factor: float = 1.0


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _parse_header(header: list[Any], where: str) -> dict[str, _Column]:
    """Map the header row to canonical and cycler columns: ``{column: _Column}``."""
    found: dict[str, _Column] = {}
    temperatures: list[_Column] = []
    for index, cell in enumerate(header):
        text = str(cell).strip()
        match = _HEADER.match(text)
        name, unit = (match["name"], match["unit"]) if match else (text, "")
        key, unit_key = _key(name), _key(unit).replace("°", "")
        if key == "datetime":
            found.setdefault("date_time", _Column(index, "date_time"))
        elif key in _INDICES:
            found.setdefault(_INDICES[key], _Column(index, _INDICES[key]))
        elif key in _QUANTITIES:
            column, units = _QUANTITIES[key]
            if unit_key not in units:
                raise ImportFormatError(
                    f"{where}: column {text!r} has the unit {unit!r}",
                    field=f"{where}: {text}",
                    expected=f"{name} in one of " + ", ".join(u for u in units if u),
                )
            found.setdefault(column, _Column(index, column, units[unit_key]))
        elif "temperature" in key and unit_key in ("c", "degc"):
            temperatures.append(_Column(index, "temperature_C"))
    if temperatures:
        found["temperature_C"] = temperatures[0]
    missing = [label for label, column in _REQUIRED.items() if column not in found]
    if missing:
        raise ImportFormatError(
            f"{where}: the data sheet lacks " + ", ".join(missing),
            field=where,
            expected="Arbin columns " + ", ".join(_REQUIRED),
        )
    return found


def _as_datetime(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _EXCEL_EPOCH + timedelta(days=float(value))
        except (OverflowError, ValueError):  # NaN, infinite, or past year 9999
            pass
    if isinstance(value, str):
        for fmt in _TEXT_DATES:
            try:
                return datetime.strptime(value.strip(), fmt)
            except ValueError:
                continue
    raise ImportFormatError(
        f"{where}: Date_Time {value!r} is not a date and time",
        field=where,
        expected="a date-time cell or text such as 2010-10-08 14:29:45",
    )


def _sheet_rows(path: Path) -> tuple[str, list[list[Any]]]:
    """The rows of the data sheet(s) of ``path``: header first; continuation sheets appended without their header."""
    try:
        with CalamineWorkbook.from_path(str(path)) as book:
            names = [n for n in book.sheet_names if n.lower().startswith(SHEET_PREFIX)]
            if not names:
                raise ImportFormatError(
                    f"{path}: no Arbin data sheet (sheets: {', '.join(book.sheet_names)})",
                    field=str(path),
                    expected="a sheet named Channel_*",
                )
            rows: list[list[Any]] = []
            header: list[Any] | None = None
            for name in names:
                sheet_rows = book.get_sheet_by_name(name).to_python()
                if not sheet_rows:
                    continue
                if header is None:
                    header = sheet_rows[0]
                elif [str(c) for c in sheet_rows[0]] != [str(c) for c in header]:
                    raise ImportFormatError(
                        f"{path}: sheet {name} has other columns than {names[0]} (several channels in one file?)",
                        field=f"{path}: {name}",
                        expected="one channel per file",
                    )
                rows.extend(sheet_rows if not rows else sheet_rows[1:])
    except CalamineError as exc:
        raise ImportFormatError(
            f"{path}: not a readable Excel workbook ({type(exc).__name__}: {exc})",
            field=str(path),
            expected="an Arbin .xlsx export",
        ) from exc
    return names[0], rows


def read_file(path: Path, options: ReadOptions) -> pl.DataFrame:
    """One Arbin export as a canonical frame, its own ``Cycle_Index`` unchanged, plus the ``cycler_*`` columns."""
    sheet, rows = _sheet_rows(path)
    where = f"{path}: {sheet}"
    if len(rows) < 2:
        raise ImportFormatError(f"{where}: the sheet holds no data rows", field=where, expected="data rows")
    columns = _parse_header(rows[0], where)
    body = rows[1:]
    data: dict[str, pl.Series] = {}
    for name, column in columns.items():
        if name == "date_time":
            continue
        values = [r[column.index] if column.index < len(r) else None for r in body]
        dtype = pl.Int64() if name in _INDICES.values() else pl.Float64()
        series = pl.Series(name, values, dtype=pl.Float64(), strict=False)
        if column.factor != 1.0:
            series = series * column.factor
        if name == "test_time_s":
            # missing, NaN, infinite or beyond what a microsecond timestamp can hold: no time for the row
            unusable = (series.is_null() | ~series.is_finite() | (series.abs() > _MAX_TEST_TIME_S)).fill_null(True)
            if unusable.any():
                row = int(unusable.arg_max() or 0) + 2
                raise ImportFormatError(
                    f"{where}: row {row} has no usable Test_Time(s) ({body[row - 2][column.index]!r})",
                    field=f"{where}: row {row}",
                    expected=f"a number of seconds, at most {_MAX_TEST_TIME_S:.0e}",
                )
        if dtype == pl.Int64():
            unusable = series.is_not_null() & (~series.is_finite() | (series.abs() > _MAX_INDEX)).fill_null(True)
            if unusable.any():
                row = int(unusable.arg_max() or 0) + 2
                raise ImportFormatError(
                    f"{where}: row {row} has no usable {name} ({body[row - 2][column.index]!r})",
                    field=f"{where}: row {row}",
                    expected="a whole number",
                )
            series = series.round(0).cast(dtype)
        data[name] = series

    first_local = _as_datetime(body[0][columns["date_time"].index], f"{where}: row 2")
    anchor = to_utc(first_local, options.timezone, f"{where}: row 2")
    elapsed = data.pop("test_time_s")
    if (elapsed.diff().drop_nulls() < 0).any():
        row = int((elapsed.diff() < 0).arg_max() or 0) + 2
        raise ImportFormatError(
            f"{where}: Test_Time(s) goes back at row {row}",
            field=f"{where}: row {row}",
            expected="one test per file, rows in logging order",
        )
    offset_us = ((elapsed - elapsed[0]) * 1e6).round(0).cast(pl.Int64())
    frame = pl.DataFrame(data).with_columns(
        pl.lit(default_battery_id([path], options.battery_id)).alias("battery_id"),
        (pl.lit(anchor).cast(pl.Datetime("us", "UTC")) + pl.duration(microseconds=pl.lit(offset_us))).alias(
            "timestamp"
        ),
    )
    if "temperature_C" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64()).alias("temperature_C"))
    if options.current_sign == "discharge-positive":
        frame = frame.with_columns(-pl.col("current_A"))
    extras = [c for c in frame.columns if c.startswith("cycler_")]
    return pl.concat([conform(frame), frame.select(extras)], how="horizontal")


def read_files(paths: Sequence[Path], options: ReadOptions | None = None) -> CyclerRead:
    """The Arbin exports of one cell (files, or directories of .xlsx files), in time order, cycles continuous.

    ``options.battery_id`` names the cell; without it, the name the files share (``CS2_35``) is used.
    """
    return read_cell(paths, options, SUFFIXES, read_file)


def read(path: Path, options: ReadOptions) -> pl.DataFrame:
    """The format registry's entry: one .xlsx export, or a directory of the exports of one cell."""
    return read_files([path], options).frame
