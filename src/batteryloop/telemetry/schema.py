"""The canonical telemetry frame: what every reader produces and every health function reads.

One row per sample of one battery, as a Polars DataFrame with these columns (units in the names; current is positive
while charging; time is UTC):

==========================  ====================  ========  ================================================
column                      dtype                 required  meaning
==========================  ====================  ========  ================================================
``battery_id``              String                yes       the battery (a passport id, a VIN, a cell name)
``timestamp``               Datetime(us, UTC)     yes       time of the sample
``current_A``               Float64               yes       current, positive while charging [A]
``voltage_V``               Float64               yes       pack or cell terminal voltage [V]
``temperature_C``           Float64               yes       temperature [°C] (null where not measured)
``soc_pct``                 Float64               no        state of charge reported by the BMS, sparse [%]
``cell_voltage_min_V``      Float64               no        lowest cell voltage [V]
``cell_voltage_max_V``      Float64               no        highest cell voltage [V]
``temperature_max_C``       Float64               no        highest temperature [°C]
``cycle_index``             Int64                 no        cycler cycle number, continuous over files
``step_index``              Int64                 no        cycler step number
==========================  ====================  ========  ================================================

Rows are sorted by ``battery_id`` and ``timestamp`` with no duplicate timestamps per battery once quality checks
have run (:mod:`batteryloop.telemetry.quality`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    required: bool
    unit: str
    description: str


COLUMNS: tuple[Column, ...] = (
    Column("battery_id", pl.String(), True, "", "the battery"),
    Column("timestamp", pl.Datetime("us", "UTC"), True, "", "time of the sample, UTC"),
    Column("current_A", pl.Float64(), True, "A", "current, positive while charging"),
    Column("voltage_V", pl.Float64(), True, "V", "pack or cell terminal voltage"),
    Column("temperature_C", pl.Float64(), True, "degC", "temperature"),
    Column("soc_pct", pl.Float64(), False, "%", "state of charge reported by the BMS (sparse)"),
    Column("cell_voltage_min_V", pl.Float64(), False, "V", "lowest cell voltage"),
    Column("cell_voltage_max_V", pl.Float64(), False, "V", "highest cell voltage"),
    Column("temperature_max_C", pl.Float64(), False, "degC", "highest temperature"),
    Column("cycle_index", pl.Int64(), False, "", "cycler cycle number, continuous over files"),
    Column("step_index", pl.Int64(), False, "", "cycler step number"),
)
BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
SCHEMA = pl.Schema({c.name: c.dtype for c in COLUMNS})


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the canonical columns in canonical order and dtypes; optional columns it lacks are left out."""
    return frame.select([pl.col(c.name).cast(c.dtype) for c in COLUMNS if c.name in frame.columns])
