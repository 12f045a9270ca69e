"""What the cycler readers share: the cycler's own columns, local time, and joining the files of one cell in time order.

A cycler (Arbin, BioLogic) writes a long test as several files: one export per week, one file per technique. Each
file restarts its cycle numbering and its cumulative counters. :func:`join_in_time_order` puts such files in time
order, makes ``cycle_index`` continuous over them, and skips a file that is an exact copy of another (or contained in
it) while recording that it did; files that overlap in time any other way are refused, naming both.

Besides the canonical columns of :mod:`batteryloop.telemetry.schema`, cycler readers keep the tester's own
accumulated quantities so that integrated values can be checked against them (:mod:`batteryloop.health.cycles`):

==================================  ======================================================================
column                              meaning
==================================  ======================================================================
``cycler_charge_capacity_Ah``       charge counted by the tester, cumulative; restarts per file (Arbin) or
                                    per half cycle (BioLogic) [Ah]
``cycler_discharge_capacity_Ah``    discharge counted by the tester, as above [Ah]
``cycler_charge_energy_Wh``         charge energy counted by the tester, as above [Wh]
``cycler_discharge_energy_Wh``      discharge energy counted by the tester, as above [Wh]
``cycler_internal_resistance_Ohm``  the tester's own resistance estimate, held between its measurements [Ohm]
==================================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from batteryloop.errors import ImportFormatError, ValidationError
from batteryloop.telemetry.readers import ReadOptions

CYCLER_COLUMNS: dict[str, str] = {
    "cycler_charge_capacity_Ah": "charge counted by the tester, cumulative [Ah]",
    "cycler_discharge_capacity_Ah": "discharge counted by the tester, cumulative [Ah]",
    "cycler_charge_energy_Wh": "charge energy counted by the tester, cumulative [Wh]",
    "cycler_discharge_energy_Wh": "discharge energy counted by the tester, cumulative [Wh]",
    "cycler_internal_resistance_Ohm": "the tester's own internal-resistance estimate [Ohm]",
}

# the columns that tell whether two files hold the same samples
_IDENTITY = ("timestamp", "current_A", "voltage_V")


@dataclass(frozen=True)
class SourceFile:
    """One input file of a cycler read: where its samples went, or why they were skipped."""

    path: Path
    rows: int
    first_timestamp: datetime  # UTC
    last_timestamp: datetime  # UTC
    cycle_offset: int = 0  # added to the file's own cycle numbers to make them continuous
    duplicate_of: Path | None = None  # skipped: its samples are all in this other file

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "rows": self.rows,
            "first_timestamp": self.first_timestamp.isoformat(),
            "last_timestamp": self.last_timestamp.isoformat(),
            "cycle_offset": self.cycle_offset,
            "duplicate_of": None if self.duplicate_of is None else str(self.duplicate_of),
        }


@dataclass(frozen=True)
class CyclerRead:
    """The canonical frame of several files of one cell, and what happened to each file (in time order)."""

    frame: pl.DataFrame
    files: tuple[SourceFile, ...]

    @property
    def skipped(self) -> tuple[SourceFile, ...]:
        """Files whose samples were already in another file (exact copies, or contained in a longer export)."""
        return tuple(f for f in self.files if f.duplicate_of is not None)


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone in which a cycler's local clock is read; ``None`` means UTC."""
    if name is None:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"unknown time zone {name!r}", field="timezone", expected="an IANA zone such as Europe/Amsterdam"
        ) from exc


def to_utc(local: datetime, tz: str | None, where: str) -> datetime:
    """``local`` (a wall-clock time without offset) read in zone ``tz`` (default UTC), as an aware UTC datetime.

    A wall-clock time that the zone skips or repeats (a daylight-saving change) is refused, naming ``where``.
    """
    info = zone(tz)
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    early = local.replace(tzinfo=info, fold=0)
    late = local.replace(tzinfo=info, fold=1)
    if early.utcoffset() != late.utcoffset():
        raise ImportFormatError(
            f"{where}: the local time {local.isoformat()} is ambiguous or does not exist in {info.key} "
            "(a daylight-saving change)",
            field=where,
            expected="--timezone of the cycler's clock without daylight saving, e.g. Etc/GMT+5",
        )
    return early.astimezone(UTC)


def files_in(paths: Sequence[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """The files named, a directory standing for its files with one of ``suffixes`` (office lock files left out)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(("~$", "."))
            )
            if not found:
                raise ImportFormatError(
                    f"{path}: the directory holds no {' or '.join(suffixes)} file",
                    field=str(path),
                    expected="a directory with cycler exports of one cell",
                )
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ImportFormatError(f"{path} does not exist", field=str(path), expected="an existing file or directory")
    return out


def default_battery_id(paths: Sequence[Path], given: str | None) -> str:
    """``given``, else the name the files share (``CS2_35`` for ``CS2_35_10_15_10.xlsx`` and ``CS2_35_9_7_10.xlsx``).

    One file: its stem. Several: the name of their directory when every file name starts with it, else the longest
    common prefix of their names without trailing separators, else the name of the first file's directory.
    """
    if given:
        return given
    if len(paths) == 1:
        return paths[0].stem
    folders = {p.resolve().parent.name for p in paths}
    if len(folders) == 1:
        folder = folders.pop()
        if folder and all(p.stem.startswith(folder) for p in paths):
            return folder
    stems = [p.stem for p in paths]
    shared = 0
    for letters in zip(*stems, strict=False):
        if len(set(letters)) > 1:
            break
        shared += 1
    prefix = stems[0][:shared].rstrip("_-. ")
    return prefix or paths[0].resolve().parent.name


def read_cell(
    paths: Sequence[Path],
    options: ReadOptions | None,
    suffixes: tuple[str, ...],
    read_file: Callable[[Path, ReadOptions], pl.DataFrame],
) -> CyclerRead:
    """The files of one cell (files, or directories of them) read with ``read_file``, in time order, cycles
    continuous. ``options.battery_id`` names the cell; without it, a single directory's name or the name the files
    share (:func:`default_battery_id`)."""
    options = options or ReadOptions()
    files = files_in(paths, suffixes)
    if options.battery_id:
        battery_id = options.battery_id
    elif len(paths) == 1 and paths[0].is_dir():
        battery_id = paths[0].resolve().name
    else:
        battery_id = default_battery_id(files, None)
    named = replace(options, battery_id=battery_id)
    return join_in_time_order([(f, read_file(f, named)) for f in files])


def _same_samples(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Whether every sample of ``b`` is the same as the sample at the same position of ``a`` (``b`` a prefix of it)."""
    if b.height > a.height:
        return False
    cols = [c for c in _IDENTITY if c in a.columns and c in b.columns]
    return a.head(b.height).select(cols).equals(b.select(cols))


def join_in_time_order(parts: Sequence[tuple[Path, pl.DataFrame]]) -> CyclerRead:
    """Join the frames read from several files of one cell, in time order, with a continuous ``cycle_index``.

    Each frame is in canonical form (``timestamp`` UTC, sorted) and its ``cycle_index``, if present, counts from the
    start of its own file. Files are ordered by their first timestamp. A file whose samples are all in another file
    (an exact copy, or an earlier export of the same test) is skipped and recorded as ``duplicate_of``; any other
    overlap in time is an :class:`~batteryloop.errors.ImportFormatError` naming both files. Each file's cycles are
    shifted so that its first cycle follows the last cycle of the file before it.
    """
    items: list[tuple[Path, pl.DataFrame, datetime, datetime]] = []
    for path, frame in parts:
        if frame.height == 0:
            raise ImportFormatError(f"{path}: the file holds no samples", field=str(path), expected="data rows")
        ts = frame["timestamp"]
        items.append((path, frame, cast(datetime, ts.min()), cast(datetime, ts.max())))
    has_cycles = {"cycle_index" in frame.columns for _, frame, _, _ in items}
    if len(has_cycles) > 1:
        names = ", ".join(str(p) for p, f, _, _ in items if "cycle_index" not in f.columns)
        raise ImportFormatError(
            f"some files have a cycle index and some do not ({names} lack it)",
            field=names,
            expected="files of one cell from one cycler",
        )
    items.sort(key=lambda item: (item[2], -item[1].height, str(item[0])))

    kept: list[tuple[Path, pl.DataFrame, datetime, datetime]] = []
    records: dict[Path, SourceFile] = {}
    order: list[Path] = []
    for path, frame, first, last in items:
        order.append(path)
        records[path] = SourceFile(path, frame.height, first, last)
        if kept and first <= kept[-1][3]:
            prev_path, prev_frame, prev_first, _ = kept[-1]
            if first == prev_first and _same_samples(prev_frame, frame):
                records[path] = replace(records[path], duplicate_of=prev_path)
                continue
            raise ImportFormatError(
                f"{path} ({first.isoformat()} .. {last.isoformat()}) overlaps {prev_path} "
                f"({prev_first.isoformat()} .. {kept[-1][3].isoformat()}) and holds different samples",
                field=str(path),
                expected="files of one cell that follow each other in time",
            )
        kept.append((path, frame, first, last))

    frames: list[pl.DataFrame] = []
    last_cycle = 0
    for path, frame, _, _ in kept:
        if "cycle_index" in frame.columns and frame["cycle_index"].null_count() < frame.height:
            low = int(frame["cycle_index"].min())  # type: ignore[arg-type]
            high = int(frame["cycle_index"].max())  # type: ignore[arg-type]
            offset = last_cycle - (low - 1)
            frame = frame.with_columns(pl.col("cycle_index") + offset)
            last_cycle = high + offset
            records[path] = replace(records[path], cycle_offset=offset)
        frames.append(frame)
    joined = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    return CyclerRead(joined, tuple(records[p] for p in order))
