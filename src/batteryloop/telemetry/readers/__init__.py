"""Readers turn a file into the canonical frame of :mod:`batteryloop.telemetry.schema`.

Each format is a module of this package with a function ``read(path: Path, options: ReadOptions) -> pl.DataFrame``
that returns a frame with the canonical columns (in canonical units and sign: amperes, volts, degrees Celsius, current
positive while charging, UTC) or raises :class:`~batteryloop.errors.ImportFormatError` /
:class:`~batteryloop.errors.ValidationError` naming the file, row or column and what was expected. Readers convert
and rename; they do not judge values (that is :mod:`batteryloop.telemetry.quality`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, cast

import polars as pl

from batteryloop.errors import ImportFormatError, ValidationError

# format name -> module in this package; "auto" picks by suffix
FORMATS: dict[str, str] = {
    "canonical": "canonical",
    "arbin-xlsx": "arbin",
    "biologic-mpr": "biologic",
}
SUFFIXES: dict[str, str] = {
    ".csv": "canonical",
    ".parquet": "canonical",
    ".xlsx": "arbin-xlsx",
    ".mpr": "biologic-mpr",
}


@dataclass(frozen=True)
class ReadOptions:
    """How a file deviates from the canonical conventions (the common deviations of BMS exports)."""

    battery_id: str | None = None  # for files without a battery_id column
    current_sign: Literal["charge-positive", "discharge-positive"] = "charge-positive"
    current_unit: Literal["A", "mA"] = "A"
    voltage_unit: Literal["V", "mV"] = "V"
    temperature_unit: Literal["C", "K"] = "C"
    timezone: str | None = None  # IANA zone of timestamps written without an offset (local time)


class Reader(Protocol):
    def __call__(self, path: Path, options: ReadOptions) -> pl.DataFrame: ...


def format_for(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            raise ValidationError(f"unknown format {fmt!r}", field="format", expected="auto, " + ", ".join(FORMATS))
        return fmt
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ImportFormatError(
            f"{path}: cannot tell the format from the suffix {suffix!r}",
            field=str(path),
            expected="--format " + " | ".join(FORMATS),
        )
    return SUFFIXES[suffix]


def read(path: Path, fmt: str = "auto", options: ReadOptions | None = None) -> pl.DataFrame:
    """Read ``path`` in format ``fmt`` ("auto": by suffix) into the canonical frame."""
    name = format_for(path, fmt)
    if not path.exists():
        raise ImportFormatError(f"{path} does not exist", field=str(path), expected="an existing file")
    module = importlib.import_module(f"{__name__}.{FORMATS[name]}")
    reader = cast(Reader, module.read)
    return reader(path, options or ReadOptions())
