"""BioLogic EC-Lab binary files (.mpr), through the maintained ``galvani`` package.

``galvani.BioLogic.MPRfile`` parses the file (its modules, column IDs and records); this module only maps its record
array to the canonical columns:

======================================  ===================================================================
galvani field                           canonical column
======================================  ===================================================================
``time/s``                              ``timestamp`` = acquisition start + ``time/s``
``I/mA`` or ``<I>/mA``                  ``current_A`` (/1000; EC-Lab's sign: positive = oxidation at the
                                        working electrode, i.e. charging a cell whose positive electrode is
                                        the working electrode)
``Ewe-Ece/V``, else ``Ewe/V``,          ``voltage_V`` (``Ewe-Ece`` is the cell voltage of a three-electrode
else ``<Ewe>/V``                        set-up; with two electrodes ``Ewe`` is)
``Temperature/°C``                      ``temperature_C`` (null where absent)
``cycle number``                        ``cycle_index`` (+1: EC-Lab counts from 0, the canonical frame from 1)
``Ns``                                  ``step_index`` (the sequence of the technique)
``Q charge/mA.h``, ``Q discharge/mA.h``  ``cycler_charge_capacity_Ah``, ``cycler_discharge_capacity_Ah`` (/1000;
                                        EC-Lab restarts them every half cycle)
``Energy charge/W.h``,                  ``cycler_charge_energy_Wh``, ``cycler_discharge_energy_Wh``
``Energy discharge/W.h``
``R/Ohm``                               ``cycler_internal_resistance_Ohm``
======================================  ===================================================================

Time. The acquisition start is the ``timestamp`` galvani reads from the file's LOG module: the instrument PC's wall
clock without an offset, read in ``ReadOptions.timezone`` (default UTC). A file without a LOG module carries only
the start date; its samples are then timed from midnight of that date, with a warning.

Units are galvani's (mA, V, mA.h, W.h), so the unit options of :class:`ReadOptions` do not apply; a wiring with
the opposite sign is corrected with ``ReadOptions(current_sign="discharge-positive")``. Several files
of one cell (one per technique, or a series of experiments) are joined in time order with continuous cycles by
:func:`read_files`, as for Arbin exports.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from galvani.BioLogic import MPRfile  # type: ignore[import-untyped]

from batteryloop.errors import ImportFormatError
from batteryloop.telemetry.readers import ReadOptions
from batteryloop.telemetry.readers._cycler import (
    CyclerRead,
    default_battery_id,
    read_cell,
    to_utc,
)
from batteryloop.telemetry.schema import conform

SUFFIXES = (".mpr",)

CURRENT_FIELDS = ("I/mA", "<I>/mA")
VOLTAGE_FIELDS = ("Ewe-Ece/V", "Ewe/V", "<Ewe>/V")
# galvani field -> (cycler column, factor to its unit)
CYCLER_FIELDS: dict[str, tuple[str, float]] = {
    "Q charge/mA.h": ("cycler_charge_capacity_Ah", 1e-3),
    "Q discharge/mA.h": ("cycler_discharge_capacity_Ah", 1e-3),
    "Energy charge/W.h": ("cycler_charge_energy_Wh", 1.0),
    "Energy discharge/W.h": ("cycler_discharge_energy_Wh", 1.0),
    "R/Ohm": ("cycler_internal_resistance_Ohm", 1.0),
}


def _first(names: Sequence[str], fields: Sequence[str]) -> str | None:
    return next((n for n in names if n in fields), None)


def _float(records: Any, field: str, factor: float = 1.0) -> pl.Series:
    values = np.asarray(records[field], dtype=np.float64)
    return pl.Series(values * factor if factor != 1.0 else values)


def start_time(mpr: Any, path: Path) -> datetime:
    """The acquisition start of a parsed file (local wall clock, no offset)."""
    stamp = getattr(mpr, "timestamp", None)
    if isinstance(stamp, datetime):
        return stamp
    warnings.warn(
        f"{path}: the file has no LOG module with the start time; samples are timed from midnight of "
        f"{mpr.startdate.isoformat()}",
        stacklevel=2,
    )
    return datetime.combine(mpr.startdate, time())


def frame_from_records(records: Any, start: datetime, path: Path, options: ReadOptions) -> pl.DataFrame:
    """Map galvani's record array (``MPRfile.data``) and the acquisition start to the canonical frame.

    Parameters
    ----------
    records : numpy structured array
        ``MPRfile.data``: one record per point, fields named as galvani names them (``time/s``, ``I/mA``, ...).
    start : datetime
        Acquisition start, local wall clock without offset (read in ``options.timezone``, default UTC).
    path : Path
        The file, for messages.
    options : ReadOptions
        ``battery_id``, ``timezone``, ``current_sign``.
    """
    fields = tuple(records.dtype.names or ())
    where = str(path)
    current = _first(CURRENT_FIELDS, fields)
    voltage = _first(VOLTAGE_FIELDS, fields)
    if "time/s" not in fields or current is None or voltage is None:
        missing = [
            label
            for label, found in (("time/s", "time/s" in fields), ("I/mA", current), ("Ewe/V", voltage))
            if not found
        ]
        raise ImportFormatError(
            f"{where}: the data lack {', '.join(missing)} (columns: {', '.join(fields)})",
            field=where,
            expected="a BioLogic file with time/s, I/mA and Ewe/V (a cycling technique such as GCPL)",
        )
    elapsed = _float(records, "time/s")
    if elapsed.len() and (elapsed.diff().drop_nulls() < 0).any():
        row = int((elapsed.diff() < 0).arg_max() or 0)
        raise ImportFormatError(
            f"{where}: time/s goes back at point {row}", field=f"{where}: point {row}", expected="points in time order"
        )
    anchor = to_utc(start, options.timezone, where)
    sign = -1.0 if options.current_sign == "discharge-positive" else 1.0
    columns: dict[str, pl.Series | pl.Expr] = {
        "current_A": _float(records, current, sign * 1e-3),
        "voltage_V": _float(records, voltage),
        "temperature_C": _float(records, "Temperature/°C")
        if "Temperature/°C" in fields
        else pl.Series([None] * len(records), dtype=pl.Float64()),
    }
    if "cycle number" in fields:
        columns["cycle_index"] = (
            pl.Series(np.rint(np.asarray(records["cycle number"], dtype=np.float64))).cast(pl.Int64()) + 1
        )
    if "Ns" in fields:
        columns["step_index"] = pl.Series(np.asarray(records["Ns"], dtype=np.int64))
    for field, (column, factor) in CYCLER_FIELDS.items():
        if field in fields:
            columns[column] = _float(records, field, factor)
    offset_us = (elapsed * 1e6).round(0).cast(pl.Int64())
    frame = pl.DataFrame(columns).with_columns(
        pl.lit(default_battery_id([path], options.battery_id)).alias("battery_id"),
        (pl.lit(anchor).cast(pl.Datetime("us", "UTC")) + pl.duration(microseconds=pl.lit(offset_us))).alias(
            "timestamp"
        ),
    )
    extras = [c for c in frame.columns if c.startswith("cycler_")]
    return pl.concat([conform(frame), frame.select(extras)], how="horizontal")


def read_file(path: Path, options: ReadOptions) -> pl.DataFrame:
    """One .mpr file as a canonical frame (its own cycle numbers), plus the ``cycler_*`` columns it has."""
    try:
        with path.open("rb") as handle:  # galvani leaves a file it opened itself open
            mpr = MPRfile(handle)
    except (ValueError, NotImplementedError, OSError, AssertionError) as exc:
        raise ImportFormatError(
            f"{path}: galvani cannot read the file ({type(exc).__name__}: {exc})",
            field=str(path),
            expected="a BioLogic EC-Lab .mpr file",
        ) from exc
    return frame_from_records(mpr.data, start_time(mpr, path), path, options)


def read_files(paths: Sequence[Path], options: ReadOptions | None = None) -> CyclerRead:
    """The .mpr files of one cell (files, or directories of them), in time order, cycles continuous."""
    return read_cell(paths, options, SUFFIXES, read_file)


def read(path: Path, options: ReadOptions) -> pl.DataFrame:
    """The format registry's entry: one .mpr file, or a directory of the files of one cell."""
    return read_files([path], options).frame
