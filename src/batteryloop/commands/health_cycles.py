"""``batteryloop health cycles``: one row per cycle from the cycler (or BMS) files of one cell."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.console import Console

from batteryloop.commands.groups import health_app
from batteryloop.errors import ImportFormatError, ValidationError
from batteryloop.health.cycles import cycle_table
from batteryloop.telemetry import readers
from batteryloop.telemetry.readers import ReadOptions
from batteryloop.telemetry.readers._cycler import CyclerRead, files_in, join_in_time_order

out = Console(soft_wrap=True, highlight=False)


def _format_of(paths: list[Path], fmt: str) -> str:
    """The one format of all inputs: ``fmt``, or (``auto``) the one their suffixes name."""
    if fmt != "auto":
        return readers.format_for(paths[0], fmt)
    names: set[str] = set()
    for path in paths:
        if path.is_dir():
            suffixes = {
                p.suffix.lower() for p in path.iterdir() if p.is_file() and p.suffix.lower() in readers.SUFFIXES
            }
            if not suffixes:
                raise ImportFormatError(
                    f"{path}: the directory holds no file of a known format",
                    field=str(path),
                    expected="files ending in " + ", ".join(readers.SUFFIXES),
                )
            names |= {readers.SUFFIXES[s] for s in suffixes}
        else:
            names.add(readers.format_for(path, "auto"))
    if len(names) > 1:
        raise ImportFormatError(
            "the inputs are of several formats: " + ", ".join(sorted(names)),
            field="FILE",
            expected="files of one cell from one cycler, or --format",
        )
    return names.pop()


def read_cell(paths: list[Path], fmt: str, options: ReadOptions) -> CyclerRead:
    """The files of one cell, read in format ``fmt`` (``auto``: by suffix), in time order with continuous cycles."""
    for path in paths:
        if not path.exists():
            raise ImportFormatError(f"{path} does not exist", field=str(path), expected="an existing file or directory")
    name = _format_of(paths, fmt)
    if name == "arbin-xlsx":
        from batteryloop.telemetry.readers import arbin

        return arbin.read_files(paths, options)
    if name == "biologic-mpr":
        from batteryloop.telemetry.readers import biologic

        return biologic.read_files(paths, options)
    suffixes = tuple(s for s, f in readers.SUFFIXES.items() if f == name)
    files = files_in(paths, suffixes)
    return join_in_time_order([(f, readers.read(f, name, options)) for f in files])


def _write_csv(table: pl.DataFrame, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file in the same directory, so no half-written file remains."""
    directory = path.resolve().parent
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory", field="--out", expected="a path in an existing folder")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    try:
        table.write_csv(temporary, datetime_format="%Y-%m-%dT%H:%M:%S%.6f%:z", float_precision=9)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@health_app.command("cycles")
def cycles(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="The files of one cell, in any order, or a directory of them."),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="CSV file to write: one row per cycle.")],
    fmt: Annotated[
        str, typer.Option("--format", help="auto (by suffix), " + ", ".join(readers.FORMATS) + ".")
    ] = "auto",
    nominal_capacity_Ah: Annotated[
        float | None,
        typer.Option("--nominal-capacity-Ah", help="Rated capacity [Ah]; adds soh_capacity_pct."),
    ] = None,
    battery_id: Annotated[
        str | None, typer.Option("--battery-id", help="The cell's id (default: the name its files share).")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="IANA zone of the cycler's clock, for files without offsets (default UTC)."),
    ] = None,
) -> None:
    """Per-cycle capacity, energy, efficiency and resistance, integrated from the cycler's current and voltage.

    The files are put in time order by their first sample; cycle numbers that restart per file are made continuous,
    and a file that repeats another is skipped (both are listed). The last line printed is the CSV written.
    """
    options = ReadOptions(battery_id=battery_id, timezone=timezone)
    result = read_cell(files, fmt, options)
    table = cycle_table(result.frame, nominal_capacity_Ah=nominal_capacity_Ah)
    _write_csv(table, out_path)
    for item in result.files:
        if item.duplicate_of is not None:
            out.print(f"skipped  {item.path}  ({item.rows} rows, the same samples as {item.duplicate_of.name})")
        else:
            out.print(
                f"read     {item.path}  ({item.rows} rows from {item.first_timestamp:%Y-%m-%d %H:%M:%S} UTC, "
                f"cycles +{item.cycle_offset})"
            )
    batteries = ", ".join(table["battery_id"].unique(maintain_order=True).to_list())
    out.print(f"{table.height} cycles of {batteries} from {result.frame.height} samples")
    out.print(str(out_path))
