"""The telemetry store: Parquet files partitioned by UTC day and by a stable hash bucket of the battery id.

Layout of a store at ``ROOT``::

    ROOT/_store.json                                 format, version, bucket count and hash (written once)
    ROOT/day=YYYY-MM-DD/bucket=NN/data.parquet       one file per partition: the canonical columns of every battery
                                                     whose bucket is NN, for the UTC day, sorted by battery_id and
                                                     timestamp, one row per (battery_id, timestamp)
    ROOT/.lock                                       writers hold an exclusive lock on it (flock)
    ROOT/_staging/                                   partitions being written; what a crashed writer left is removed
                                                     by the next writer
    ROOT/_rejected/<sha256[:16]>.parquet             the rows the quality check rejected from one source file, with
                                                     their reasons (written by ``batteryloop telemetry ingest``)

**Bucket.** ``bucket = int.from_bytes(blake2b(battery_id.encode("utf-8"), digest_size=8).digest(), "big") % buckets``
(:func:`bucket_of`), with ``buckets`` from ``_store.json`` (32 unless the store was created with another count; at
most 100, so that NN is two digits). BLAKE2b is in Python's standard library and gives the same bucket on every
machine, version and process (Python's ``hash()`` and Polars' hashes do not promise that).

**Idempotent.** A write merges its rows into each partition it touches: a row whose (battery_id, timestamp) is already
stored replaces it, others are added, and a partition whose content would not change is not rewritten. Writing the same
rows again changes nothing, byte for byte.

**Files.** Parquet with zstd compression (level 1: most of the size gain of zstd at a fraction of its time),
column statistics, every canonical column in every file (optional ones null), so any Parquet reader sees one schema:
``duckdb.sql("select * from read_parquet('ROOT/day=*/bucket=*/data.parquet', hive_partitioning=true)")``.

**Atomic.** A partition is written in full to ``_staging/``, flushed to disk (fsync), and only then moved into place
with one rename (a new partition directory, or ``data.parquet`` over the old file), after which the directory is
flushed too. A reader sees the old or the new partition, never a part of one. :meth:`TelemetryStore.write` returns (the
write is acknowledged) only after every partition of the write is in place and on disk. A writer killed half-way leaves
whole partitions, some with the new rows and some without; writing the same frame again completes it.

**Disk full, read-only.** When the file system refuses a write (no space left, read-only, quota, permissions, an I/O
error), :meth:`TelemetryStore.write` raises :class:`StoreWriteError` naming the file or directory and the reason, and
returns no report: nothing of that write is acknowledged. Partitions already staged are removed (by the next writer when
the file system does not even allow that). A failure while partitions are being moved into place leaves the ones
already moved whole, the others untouched; the error says how many, and writing the same frame again completes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from hashlib import blake2b
from pathlib import Path
from typing import Any, Literal

import polars as pl

from batteryloop.errors import BatteryloopError, Problem, ValidationError
from batteryloop.telemetry.schema import COLUMNS, SCHEMA

FORMAT = "batteryloop-telemetry"
VERSION = 1
DEFAULT_BUCKETS = 32
MAX_BUCKETS = 100  # the bucket is written with two digits
DATA_FILE = "data.parquet"
META_FILE = "_store.json"
STAGING = "_staging"
LOCK_FILE = ".lock"
REJECTED = "_rejected"
US_PER_DAY = 86_400_000_000
EPOCH = date(1970, 1, 1)
Compression = Literal["zstd", "lz4", "snappy", "uncompressed"]
KEY = ["battery_id", "timestamp"]


REASONS = {
    errno.ENOSPC: ("no space left on the device", "free space on the device"),
    errno.EDQUOT: ("the disk quota is exceeded", "room within the quota"),
    errno.EROFS: ("the file system is read-only", "a writable file system"),
    errno.EACCES: ("permission denied", "write permission"),
    errno.EPERM: ("operation not permitted", "write permission"),
    errno.EIO: ("input/output error", "a working disk"),
}
"""The reasons a file system refuses a write, each with what the store needs instead."""

_OS_ERROR = re.compile(r"os error (\d+)")


@dataclass
class StoreWriteError(BatteryloopError):
    """The file system refused a write of the store; nothing of that write is acknowledged."""

    code: str = "store_write_failed"
    http_status: int = 507  # Insufficient Storage
    exit_code: int = 3


class _WriteFailureError(Exception):
    """An I/O failure on ``path`` inside a write (the cause is the OS or Parquet writer error)."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    found = _OS_ERROR.search(str(exc))  # the Parquet writer (Rust) reports "... (os error 28)"
    return int(found.group(1)) if found else None


def _is_io_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or (isinstance(exc, pl.exceptions.PolarsError) and _errno_of(exc) is not None)


def _write_error(root: Path, exc: BaseException, placed: int = 0, changed: int = 0) -> StoreWriteError:
    path = exc.path if isinstance(exc, _WriteFailureError) else Path(getattr(exc, "filename", None) or root)
    cause = exc.cause if isinstance(exc, _WriteFailureError) else exc
    code = _errno_of(cause)
    reason, expected = REASONS.get(code, (str(cause), "a writable store")) if code else (str(cause), "a writable store")
    if placed:
        outcome = (
            f"{placed} of {changed} partitions of this write were already in place (each whole, with the new rows), "
            "the others are unchanged; write the same rows again to complete it"
        )
    else:
        outcome = "no partition was changed"
    return StoreWriteError(
        f"cannot write the telemetry store {root}: {path}: {reason}; the write is not stored ({outcome})",
        problems=[Problem(str(path), reason, expected, "store_write_failed")],
    )


def bucket_of(battery_id: str, buckets: int = DEFAULT_BUCKETS) -> int:
    """The bucket of a battery: BLAKE2b-64 of its UTF-8 id, big-endian, modulo ``buckets``."""
    digest = blake2b(battery_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


@dataclass(frozen=True)
class Partition:
    day: date
    bucket: int
    path: Path  # the partition's data file

    @property
    def name(self) -> str:
        return f"day={self.day.isoformat()}/bucket={self.bucket:02d}"


@dataclass
class WriteReport:
    """What one write did. It exists only once every partition is in place and on disk (the acknowledgement)."""

    rows: int
    rows_new: int
    rows_replaced: int
    rows_unchanged: int
    partitions_written: list[str] = field(default_factory=list)
    partitions_unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "rows_new": self.rows_new,
            "rows_replaced": self.rows_replaced,
            "rows_unchanged": self.rows_unchanged,
            "partitions_written": len(self.partitions_written),
            "partitions_unchanged": len(self.partitions_unchanged),
        }


@dataclass
class _Staged:
    partition: Partition
    staged_dir: Path | None  # None: unchanged, nothing to move
    new: int
    replaced: int
    unchanged: int


class TelemetryStore:
    """A directory of partitioned telemetry; see the module text for the layout and the guarantees."""

    def __init__(
        self,
        root: Path,
        *,
        buckets: int | None = None,
        compression: Compression = "zstd",
        compression_level: int | None = 1,
    ) -> None:
        self.root = Path(root)
        self.compression: Compression = compression
        self.compression_level = compression_level
        meta = self._read_meta()
        if meta is not None:
            if buckets is not None and buckets != meta["buckets"]:
                raise ValidationError(
                    f"{self.root} has {meta['buckets']} buckets, not {buckets}",
                    field="buckets",
                    expected=str(meta["buckets"]),
                )
            self.buckets = int(meta["buckets"])
        else:
            self.buckets = DEFAULT_BUCKETS if buckets is None else buckets
            if not 1 <= self.buckets <= MAX_BUCKETS:
                raise ValidationError(
                    f"{self.buckets} buckets", field="buckets", expected=f"between 1 and {MAX_BUCKETS}"
                )

    # -- reading ---------------------------------------------------------------------------------------------------

    def partitions(self, battery_id: str | None = None) -> list[Partition]:
        """The partitions in place (a directory without its data file is not one), by day and bucket."""
        if not self.root.is_dir():
            return []
        bucket = None if battery_id is None else bucket_of(battery_id, self.buckets)
        pattern = "day=*/bucket=*/" + DATA_FILE if bucket is None else f"day=*/bucket={bucket:02d}/{DATA_FILE}"
        out = []
        for path in self.root.glob(pattern):
            day = date.fromisoformat(path.parent.parent.name.removeprefix("day="))
            out.append(Partition(day, int(path.parent.name.removeprefix("bucket=")), path))
        return sorted(out, key=lambda p: (p.day, p.bucket))

    def scan(
        self, battery_id: str | None = None, *, start: datetime | None = None, end: datetime | None = None
    ) -> pl.LazyFrame:
        """The stored rows (canonical columns), of one battery if given, with ``start <= timestamp < end``; only the
        partitions of the days that overlap ``[start, end)`` are opened."""
        parts = _days_within(self.partitions(battery_id), start, end)
        if not parts:
            return pl.LazyFrame(schema=SCHEMA)
        frame = pl.scan_parquet([p.path for p in parts], schema=SCHEMA)
        if battery_id is not None:
            frame = frame.filter(pl.col("battery_id") == battery_id)
        if start is not None:
            frame = frame.filter(pl.col("timestamp") >= _utc(start))
        if end is not None:
            frame = frame.filter(pl.col("timestamp") < _utc(end))
        return frame

    def batteries(self, *, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """Every battery id in the store, sorted; with ``start``/``end``: those with rows in ``[start, end)``."""
        parts = _days_within(self.partitions(), start, end)
        if not parts:
            return []
        frame = pl.scan_parquet([p.path for p in parts], schema=SCHEMA)
        if start is not None:
            frame = frame.filter(pl.col("timestamp") >= _utc(start))
        if end is not None:
            frame = frame.filter(pl.col("timestamp") < _utc(end))
        ids = frame.select("battery_id").unique().collect()
        return sorted(ids["battery_id"].to_list())

    # -- writing ---------------------------------------------------------------------------------------------------

    def write(self, frame: pl.DataFrame) -> WriteReport:
        """Merge ``frame`` (canonical columns, one row per battery and timestamp) into the store; see the module text.

        Returns only when every partition is in place and on disk.
        """
        frame = _prepare(frame)
        report = WriteReport(rows=frame.height, rows_new=0, rows_replaced=0, rows_unchanged=0)
        if frame.height == 0:
            return report
        placed: list[str] = []
        staged: list[_Staged] = []
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._lock():
                staging = self.root / STAGING
                try:
                    self._recover()
                    self._write_meta()
                    groups = self._split(frame)
                    staging.mkdir(exist_ok=True)
                    workers = max(1, min(len(groups), os.cpu_count() or 1))  # the Parquet writer releases the GIL
                    with ThreadPoolExecutor(max_workers=workers) as pool:
                        staged = list(pool.map(lambda kv: self._stage(kv[0], kv[1], staging), groups.items()))
                    self._commit(staged, placed)
                except BaseException as exc:
                    if _is_io_error(exc) or isinstance(exc, _WriteFailureError):
                        shutil.rmtree(staging, ignore_errors=True)  # this write's staged files; else the next writer
                    raise
        except _WriteFailureError as exc:
            raise _write_error(self.root, exc, len(placed), sum(s.staged_dir is not None for s in staged)) from exc
        except (OSError, pl.exceptions.PolarsError) as exc:
            if not _is_io_error(exc):
                raise
            raise _write_error(self.root, exc, len(placed), sum(s.staged_dir is not None for s in staged)) from exc
        for s in staged:
            report.rows_new += s.new
            report.rows_replaced += s.replaced
            report.rows_unchanged += s.unchanged
            target = report.partitions_written if s.staged_dir is not None else report.partitions_unchanged
            target.append(s.partition.name)
        return report

    def _split(self, frame: pl.DataFrame) -> dict[tuple[int, int], list[pl.DataFrame]]:
        """(day number, bucket) -> slices of ``frame`` (sorted by battery and time), in battery order."""
        groups: dict[tuple[int, int], list[pl.DataFrame]] = {}
        runs = frame.select(pl.col("battery_id").rle()).unnest("battery_id")
        offset = 0
        for length, battery in runs.iter_rows():
            rows = frame.slice(offset, length)
            offset += length
            bucket = bucket_of(battery, self.buckets)
            day_number = (pl.col("timestamp").cast(pl.Int64) // US_PER_DAY).rle()
            days = rows.select(day_number).unnest("timestamp")  # eager: Polars 2.1's lazy rle fails on chunked data
            start = 0
            for n, day in days.iter_rows():
                groups.setdefault((day, bucket), []).append(rows.slice(start, n))
                start += n
        return groups

    def _stage(self, key: tuple[int, int], slices: list[pl.DataFrame], staging: Path) -> _Staged:
        day, bucket = key
        the_day = EPOCH + timedelta(days=day)
        target = self.root / f"day={the_day.isoformat()}" / f"bucket={bucket:02d}" / DATA_FILE
        partition = Partition(the_day, bucket, target)
        new = slices[0] if len(slices) == 1 else pl.concat(slices)
        merged, added, replaced, unchanged = new, new.height, 0, 0
        if target.exists():
            old = pl.read_parquet(target, schema=SCHEMA)
            if old.height == new.height and old.equals(new):  # the same rows again: nothing to do
                return _Staged(partition, None, 0, 0, new.height)
            merged = pl.concat([old, new]).unique(subset=KEY, keep="last", maintain_order=True).sort(KEY)
            added = merged.height - old.height
            unchanged = new.join(old, on=list(SCHEMA.names()), how="semi", nulls_equal=True).height
            replaced = new.height - added - unchanged
            if added == 0 and replaced == 0:
                return _Staged(partition, None, 0, 0, unchanged)
        staged_dir = staging / uuid.uuid4().hex
        staged_file = staged_dir / DATA_FILE
        try:
            staged_dir.mkdir()
            merged.write_parquet(
                staged_file, compression=self.compression, compression_level=self.compression_level, statistics=True
            )
            _fsync_file(staged_file)
        except (OSError, pl.exceptions.PolarsError) as exc:
            if not _is_io_error(exc):
                raise
            raise _WriteFailureError(staged_file, exc) from exc
        return _Staged(partition, staged_dir, added, replaced, unchanged)

    def _commit(self, staged: list[_Staged], placed: list[str]) -> None:
        """Move every staged partition into place (one rename each), then flush the directories.

        ``placed`` receives the name of each partition once it is in place (what a failure half-way leaves).
        """
        dirty: set[Path] = set()
        for s in staged:
            if s.staged_dir is None:
                continue
            bucket_dir = s.partition.path.parent
            day_dir = bucket_dir.parent
            try:
                if bucket_dir.exists():
                    os.replace(s.staged_dir / DATA_FILE, s.partition.path)
                    placed.append(s.partition.name)
                    dirty.add(bucket_dir)
                    s.staged_dir.rmdir()
                else:
                    if not day_dir.exists():
                        day_dir.mkdir()
                        dirty.add(self.root)
                    os.rename(s.staged_dir, bucket_dir)
                    placed.append(s.partition.name)
                    dirty.add(day_dir)
            except OSError as exc:
                raise _WriteFailureError(Path(exc.filename or s.partition.path), exc) from exc
        dirty.add(self.root / STAGING)
        with ThreadPoolExecutor(max_workers=max(1, min(len(dirty), 8))) as pool:
            list(pool.map(_fsync_dir, dirty))

    def keep_rejected(self, rejected: pl.DataFrame, *, source: Path | str, digest: str) -> Path:
        """Keep the rejected rows of one source file, with their reasons, in ``_rejected/<digest[:16]>.parquet``.

        ``digest`` identifies the source's content (its SHA-256), so ingesting the same file again rewrites the same
        file with the same rows. The file is written whole or not at all.
        """
        folder = self.root / REJECTED
        path = folder / f"{digest[:16]}.parquet"
        tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            rejected.with_columns(pl.lit(str(source)).alias("source")).write_parquet(tmp, compression=self.compression)
            _fsync_file(tmp)
            os.replace(tmp, path)
            _fsync_dir(folder)
        except (OSError, pl.exceptions.PolarsError) as exc:
            if not _is_io_error(exc):
                raise
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise _write_error(self.root, _WriteFailureError(Path(getattr(exc, "filename", None) or tmp), exc)) from exc
        return path

    # -- housekeeping -----------------------------------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root / LOCK_FILE).open("a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _recover(self) -> None:
        """Remove what a crashed writer left (staged partitions, empty day directories). Called under the lock."""
        staging = self.root / STAGING
        if not staging.exists() or not any(staging.iterdir()):
            return
        shutil.rmtree(staging)
        for day_dir in self.root.glob("day=*"):
            if day_dir.is_dir() and not any(day_dir.iterdir()):
                day_dir.rmdir()
        _fsync_dir(self.root)

    def _read_meta(self) -> dict[str, Any] | None:
        path = self.root / META_FILE
        if not path.exists():
            return None
        try:
            meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValidationError(
                f"{path}: not a telemetry store description ({exc})", field=str(path), expected="JSON"
            ) from None
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValidationError(
                f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}",
                field=str(path),
                expected=f"{FORMAT} version {VERSION}",
            )
        return meta

    def _write_meta(self) -> None:
        path = self.root / META_FILE
        if path.exists():
            return
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "buckets": self.buckets,
            "bucket": "int.from_bytes(blake2b(battery_id.encode('utf-8'), digest_size=8).digest(), 'big') % buckets",
            "partition": "day=YYYY-MM-DD (UTC)/bucket=NN/data.parquet",
            "columns": {c.name: str(c.dtype) for c in COLUMNS},
        }
        tmp = self.root / f".{META_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            _fsync_file(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise _WriteFailureError(Path(exc.filename or tmp), exc) from exc
        _fsync_dir(self.root)


def _prepare(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in the full canonical schema, sorted by battery and time; refuses what the store cannot hold."""
    unknown = [c for c in frame.columns if c not in SCHEMA]
    if unknown:
        raise ValidationError(
            f"columns outside the canonical schema: {', '.join(unknown)}",
            field=unknown[0],
            expected="the canonical columns (set other columns aside before storing)",
        )
    for name in KEY:
        if name not in frame.columns:
            raise ValidationError(f"the frame has no {name} column", field=name, expected="the canonical columns")
    frame = frame.select(
        [
            pl.col(c.name).cast(c.dtype) if c.name in frame.columns else pl.lit(None, c.dtype).alias(c.name)
            for c in COLUMNS
        ]
    )
    facts = (
        frame.lazy()
        .select(
            pl.col("battery_id").null_count().alias("id_nulls"),
            pl.col("timestamp").null_count().alias("ts_nulls"),
            pl.col("battery_id").min().alias("first"),
            pl.col("battery_id").max().alias("last"),
            pl.col("timestamp").cast(pl.Int64).diff().min().alias("step"),
        )
        .collect()
        .row(0, named=True)
    )
    if facts["id_nulls"] or facts["ts_nulls"]:
        raise ValidationError(
            "rows without a battery_id or timestamp", field="battery_id/timestamp", expected="no nulls in the keys"
        )
    if facts["first"] == facts["last"] and (facts["step"] is None or facts["step"] > 0):
        return frame  # one battery, strictly increasing timestamps
    previous_id, previous_ts = pl.col("battery_id").shift(1), pl.col("timestamp").shift(1)
    increasing = (pl.col("battery_id") > previous_id) | (
        (pl.col("battery_id") == previous_id) & (pl.col("timestamp") > previous_ts)
    )
    if frame.lazy().select(increasing.fill_null(True).all()).collect().item():
        return frame  # already in key order, each key once (a bulk load): no sort needed
    frame = frame.sort(KEY, maintain_order=True)
    same = (pl.col("timestamp") == pl.col("timestamp").shift(1)) & (
        pl.col("battery_id") == pl.col("battery_id").shift(1)
    )
    if frame.lazy().select(same.fill_null(False).any()).collect().item():
        raise ValidationError(
            "the frame has rows with the same battery_id and timestamp",
            field="timestamp",
            expected="one row per battery and timestamp (run the quality check first)",
        )
    return frame


def _days_within(parts: list[Partition], start: datetime | None, end: datetime | None) -> list[Partition]:
    """The partitions whose UTC day overlaps ``[start, end)`` (an end at midnight excludes the day it begins)."""
    if start is not None:
        first = _utc(start).date()
        parts = [p for p in parts if p.day >= first]
    if end is not None:
        last = (_utc(end) - timedelta(microseconds=1)).date()
        parts = [p for p in parts if p.day <= last]
    return parts


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValidationError(f"{moment.isoformat()} has no time zone", field="time", expected="an aware datetime")
    return moment.astimezone(UTC)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
