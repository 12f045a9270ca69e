"""The canonical BMS format: CSV or Parquet with the columns of :mod:`batteryloop.telemetry.schema`.

A file holds one sample per row. Column names are matched exactly (``current_A``, not ``Current_A`` or ``current``);
a required column that is missing is an error that names the near misses it found. Columns the format does not know
are kept, unchanged and with their own names, after the canonical columns, so that
:func:`batteryloop.telemetry.quality.check` can set them aside and name them in its report: nothing is dropped
silently.

Timestamps are ISO 8601 text with a UTC offset (``2024-05-01T12:00:00+02:00``, ``...Z``), epoch seconds (integer or
decimal), or, in Parquet, a timestamp type with a time zone. Local time without an offset needs
:attr:`ReadOptions.timezone` (an IANA zone); the hour that occurs twice when the clocks go back is resolved by the
order of the rows (the first pass is summer time, the samples after the clock steps back are winter time), and a time
that does not exist (the hour skipped when the clocks go forward) is a problem of that row.

The reader converts and renames; it does not judge values. A value it cannot read at all (``abc`` in ``current_A``,
a timestamp it cannot parse, a local time that does not exist) becomes null, and the row's column
:data:`READ_PROBLEM` says what was wrong, so that the quality check rejects that row with the reason instead of the
whole file failing. The column is present only when some row has a problem.

Deviations from the canonical conventions are stated with :class:`~batteryloop.telemetry.readers.ReadOptions`:
discharge-positive current, mA, mV, Kelvin (for ``temperature_C`` and ``temperature_max_C``), local time in a zone,
and the battery id of a file without a ``battery_id`` column.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from batteryloop.errors import ImportFormatError, ValidationError
from batteryloop.telemetry.readers import ReadOptions
from batteryloop.telemetry.schema import BY_NAME, COLUMNS, REQUIRED

READ_PROBLEM = "read_problem"
"""Name of the column in which a reader says why a row could not be read (null for rows without a problem)."""

US_PER_S = 1_000_000
FLOAT_COLUMNS = tuple(c.name for c in COLUMNS if c.dtype == pl.Float64())
INT_COLUMNS = tuple(c.name for c in COLUMNS if c.dtype == pl.Int64())
CURRENT_COLUMNS = ("current_A",)
VOLTAGE_COLUMNS = ("voltage_V", "cell_voltage_min_V", "cell_voltage_max_V")
TEMPERATURE_COLUMNS = ("temperature_C", "temperature_max_C")
MILLI = 1000.0  # the SI prefix milli-: 1 A = 1000 mA, 1 V = 1000 mV
KELVIN_AT_0_C = 273.15  # 0 °C in kelvin, by the definition of the Celsius scale (SI Brochure, 9th ed., 2.3.1)

# names that users write for a canonical column, with the option that makes them canonical
UNIT_VARIANTS: dict[str, str] = {
    "current_mA": "current_A with --current-unit mA",
    "voltage_mV": "voltage_V with --voltage-unit mV",
    "temperature_K": "temperature_C with --temperature-unit K",
    "temperature_max_K": "temperature_max_C with --temperature-unit K",
    "cell_voltage_min_mV": "cell_voltage_min_V with --voltage-unit mV",
    "cell_voltage_max_mV": "cell_voltage_max_V with --voltage-unit mV",
}
ISO_WITH_OFFSET = "%Y-%m-%dT%H:%M:%S%.f%z"
ISO_LOCAL = "%Y-%m-%dT%H:%M:%S%.f"
OFFSET_SUFFIX = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def read(path: Path, options: ReadOptions) -> pl.DataFrame:
    """Read a canonical CSV or Parquet file into the canonical frame.

    Parameters
    ----------
    path : Path
        A ``.csv`` or ``.parquet`` file (other suffixes: Parquet if the file starts with ``PAR1``, else CSV).
    options : ReadOptions
        How the file deviates from the canonical conventions.

    Returns
    -------
    pl.DataFrame
        The canonical columns present in the file, in canonical units, sign and order; then the file's unknown columns
        unchanged; then :data:`READ_PROBLEM` if some row could not be read.
    """
    _check_options(options)
    raw = _read_parquet(path) if _is_parquet(path) else _read_csv(path)
    return to_canonical(raw, options, source=str(path))


def to_canonical(raw: pl.DataFrame, options: ReadOptions, *, source: str = "<frame>") -> pl.DataFrame:
    """Convert a frame with canonical column names (as read from a file) to the canonical frame; see :func:`read`."""
    _check_options(options)
    _check_columns(raw, options, source)
    problems: list[pl.Series] = []
    out: dict[str, pl.Series] = {}

    timestamps, problem = _timestamps(raw["timestamp"], options, source)
    out["timestamp"] = timestamps
    if problem is not None:
        problems.append(problem)

    for name in FLOAT_COLUMNS + INT_COLUMNS:
        if name not in raw.columns:
            continue
        values, problem = _numbers(raw[name], BY_NAME[name].dtype, source)
        out[name] = _to_canonical_unit(values, name, options)
        if problem is not None:
            problems.append(problem)

    frame = pl.DataFrame(list(out.values()))
    if "battery_id" in raw.columns:
        frame = frame.with_columns(_battery_ids(raw["battery_id"], options, source))
    else:  # one value for every row: a constant column, not a copy per row
        frame = frame.with_columns(pl.lit(options.battery_id, pl.String()).alias("battery_id"))
    frame = frame.select([c.name for c in COLUMNS if c.name in frame.columns])
    extras = [c for c in raw.columns if c not in BY_NAME]
    if extras:
        frame = frame.hstack(raw.select(extras))
    if problems:
        frame = frame.with_columns(_first_of(problems))
    return frame


# ----------------------------------------------------------------------------------------------------------------------
# files


def _is_parquet(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return True
    if suffix == ".csv":
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read ({exc})", field=str(path), expected="a readable file") from None


def _read_parquet(path: Path) -> pl.DataFrame:
    # A damaged file can make the Rust reader panic (PanicException, a BaseException): a refusal like any other.
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise ImportFormatError(
            f"{path}: not a readable Parquet file ({_first_line(exc)})", field=str(path), expected="a Parquet file"
        ) from None


def _read_csv(path: Path) -> pl.DataFrame:
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise ImportFormatError(
            f"{path}: not a readable CSV file ({_first_line(exc)})",
            field=str(path),
            expected="a CSV file with a header",
        ) from None
    if len(header) == 1 and ";" in header[0]:
        raise ImportFormatError(
            f"{path}: the header is separated by ';'",
            field=f"{path}:header",
            expected="a comma-separated header (timestamp,current_A,voltage_V,temperature_C,...)",
        )
    # the canonical numbers as numbers (fast); everything else as text, so nothing is guessed or lost
    numeric = {c: BY_NAME[c].dtype for c in header if c in FLOAT_COLUMNS + INT_COLUMNS}
    overrides: dict[str, pl.DataType] = {c: pl.String() for c in header}
    try:
        return pl.read_csv(path, schema_overrides={**overrides, **numeric}, infer_schema=False)
    except pl.exceptions.ComputeError:
        pass  # a value that is not a number: read as text and let _numbers say which rows
    try:
        return pl.read_csv(path, schema_overrides=overrides, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise ImportFormatError(
            f"{path}: not a readable CSV file ({_first_line(exc)})",
            field=str(path),
            expected="a CSV file with a header",
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------------------------------------------------
# columns


def _check_options(options: ReadOptions) -> None:
    allowed = {
        "current_sign": ("charge-positive", "discharge-positive"),
        "current_unit": ("A", "mA"),
        "voltage_unit": ("V", "mV"),
        "temperature_unit": ("C", "K"),
    }
    for name, values in allowed.items():
        if getattr(options, name) not in values:
            raise ValidationError(
                f"{name} {getattr(options, name)!r} is not known", field=name, expected=" or ".join(values)
            )
    if options.timezone is not None:
        try:
            ZoneInfo(options.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                f"unknown time zone {options.timezone!r}",
                field="timezone",
                expected="an IANA zone such as Europe/Amsterdam",
            ) from None
    if options.battery_id is not None and not options.battery_id.strip():
        raise ValidationError("the battery id is empty", field="battery_id", expected="a non-empty battery id")


def _check_columns(raw: pl.DataFrame, options: ReadOptions, source: str) -> None:
    if READ_PROBLEM in raw.columns:
        raise ImportFormatError(
            f"{source}: the column name {READ_PROBLEM!r} is reserved",
            field=f"{source}:{READ_PROBLEM}",
            expected="another name for that column",
        )
    needed = [c for c in REQUIRED if c != "battery_id"]
    missing = [c for c in needed if c not in raw.columns]
    if "battery_id" not in raw.columns and options.battery_id is None:
        missing.append("battery_id")
    if not missing:
        return
    hints = []
    for name in missing:
        near = [c for c in raw.columns if c.lower() == name.lower() and c != name]
        near += [c for c in raw.columns if c in UNIT_VARIANTS and UNIT_VARIANTS[c].startswith(name + " ")]
        for c in near:
            hints.append(f"{c!r} is not {name!r}" + (f" (write {UNIT_VARIANTS[c]})" if c in UNIT_VARIANTS else ""))
    message = f"{source}: missing column(s) " + ", ".join(missing)
    if "battery_id" in missing:
        message += "; a file without a battery_id column needs the battery id (--battery-id)"
    if hints:
        message += "; " + "; ".join(hints) + " (column names are matched exactly)"
    raise ImportFormatError(
        message,
        field=f"{source}:{missing[0]}",
        expected="columns " + ", ".join(REQUIRED) + " (battery_id may come from --battery-id)",
    )


def _battery_ids(ids: pl.Series, options: ReadOptions, source: str) -> pl.Series:
    try:
        ids = ids.cast(pl.String())
    except pl.exceptions.PolarsError:  # a list, struct or binary column: no text to take the id from
        raise ImportFormatError(
            f"{source}: column battery_id holds {ids.dtype}, not text", field=f"{source}:battery_id", expected="text"
        ) from None
    first = ids[0] if ids.len() > 1 else None
    if first is not None and ids.null_count() == 0 and bool((ids == first).all()):
        # one battery (the usual file): clean its id once, not once per row; keep the column if it is clean
        cleaned = _battery_ids(pl.Series(ids.name, [first], dtype=pl.String()), options, source)[0]
        if cleaned == first:
            return ids
        return pl.repeat(cleaned, ids.len(), dtype=pl.String(), eager=True).alias(ids.name)
    ids = _blank_to_null(ids.str.strip_chars())
    if options.battery_id is None:
        return ids
    others = ids.filter(ids.is_not_null() & (ids != options.battery_id)).unique().sort().head(3).to_list()
    if others:
        raise ImportFormatError(
            f"{source}: the battery_id column holds {', '.join(map(repr, others))} but the battery id given is "
            f"{options.battery_id!r}",
            field=f"{source}:battery_id",
            expected="no --battery-id, or a file of that battery only",
        )
    return ids.fill_null(options.battery_id)


def _numbers(values: pl.Series, dtype: pl.DataType, source: str) -> tuple[pl.Series, pl.Series | None]:
    name = values.name
    if values.dtype == pl.String():
        text = _blank_to_null(values.str.strip_chars())
        numbers = text.cast(pl.Float64(), strict=False)
        bad = text.is_not_null() & numbers.is_null()
        problem = _problem(bad, pl.format(f"{name}: '{{}}' is not a number", pl.lit(text)))
        values = numbers
    elif values.dtype.is_numeric():
        problem = None
    elif values.dtype == pl.Null():
        values = values.cast(pl.Float64())
        problem = None
    else:
        raise ImportFormatError(
            f"{source}: column {name} holds {values.dtype}, not numbers", field=f"{source}:{name}", expected="numbers"
        )
    if dtype == pl.Int64() and values.dtype.is_float():
        whole = values.is_null() | (values.is_finite() & (values == values.floor()))
        if not whole.all():
            extra = _problem(~whole, pl.format(f"{name}: {{}} is not a whole number", pl.lit(values)))
            problem = extra if problem is None or extra is None else _first_of([problem, extra])
            values = values.to_frame().select(pl.when(whole).then(pl.col(name)))[name]
    return values.cast(dtype, strict=False).alias(name), problem


def _to_canonical_unit(values: pl.Series, name: str, options: ReadOptions) -> pl.Series:
    if name in CURRENT_COLUMNS:
        if options.current_unit == "mA":
            values = values / MILLI
        if options.current_sign == "discharge-positive":
            values = -values
    elif name in VOLTAGE_COLUMNS and options.voltage_unit == "mV":
        values = values / MILLI
    elif name in TEMPERATURE_COLUMNS and options.temperature_unit == "K":
        values = values - KELVIN_AT_0_C
    return values.alias(name)


def _problem(mask: pl.Series, text: pl.Expr) -> pl.Series | None:
    if not mask.any():
        return None
    return mask.to_frame("m").select(pl.when(pl.col("m")).then(text).alias(READ_PROBLEM))[READ_PROBLEM]


def _blank_to_null(text: pl.Series) -> pl.Series:
    name = text.name
    return text.to_frame().select(pl.when(pl.col(name) != "").then(pl.col(name)))[name]


def _first_of(problems: list[pl.Series]) -> pl.Series:
    """Per row, the first problem that is not null."""
    if len(problems) == 1:
        return problems[0].alias(READ_PROBLEM)
    frame = pl.DataFrame([p.alias(f"p{i}") for i, p in enumerate(problems)])
    return frame.select(pl.coalesce(pl.all()).alias(READ_PROBLEM))[READ_PROBLEM]


# ----------------------------------------------------------------------------------------------------------------------
# time


def _timestamps(values: pl.Series, options: ReadOptions, source: str) -> tuple[pl.Series, pl.Series | None]:
    """UTC timestamps (Datetime us, UTC) and the problems of the rows that could not be read."""
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return values.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias("timestamp"), None
        if options.timezone is None:
            raise ImportFormatError(
                f"{source}: the timestamp column has no time zone",
                field=f"{source}:timestamp",
                expected="a timestamp type with a time zone, or the zone of the local times (--timezone; UTC if UTC)",
            )
        return _localize(values.dt.cast_time_unit("us"), options.timezone)
    if dtype.is_numeric():
        return _from_epoch(values.cast(pl.Float64())), None
    if dtype == pl.String():
        return _parse_text(values, options, source)
    raise ImportFormatError(
        f"{source}: the timestamp column holds {dtype}",
        field=f"{source}:timestamp",
        expected="ISO 8601 text with a UTC offset, epoch seconds, or a timestamp type",
    )


def _from_epoch(seconds: pl.Series) -> pl.Series:
    micros = (seconds * US_PER_S).round().cast(pl.Int64(), strict=False)
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("timestamp")


def _parse_text(values: pl.Series, options: ReadOptions, source: str) -> tuple[pl.Series, pl.Series | None]:
    present = values.drop_nulls()
    if present.len() == 0:
        return pl.Series("timestamp", [None] * values.len(), dtype=pl.Datetime("us", "UTC")), _problem(
            pl.Series([True] * values.len(), dtype=pl.Boolean()), pl.lit("timestamp: empty")
        )
    first = present[0].strip()
    if _is_number(first):
        numbers = values.str.strip_chars().cast(pl.Float64(), strict=False)
        bad = values.is_not_null() & numbers.is_null()
        problem = _problem(bad, pl.format("timestamp: '{}' is not epoch seconds", pl.lit(values)))
        return _from_epoch(numbers), problem
    # fast path: every value ISO 8601 with an offset (Arrow's parser, which converts offsets to UTC)
    arrow = values.to_arrow().cast(pa.large_string())
    try:
        parsed = pc.cast(arrow, pa.timestamp("us", tz="UTC"))
        return pl.Series("timestamp", parsed), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        naive = pl.Series("timestamp", pc.cast(arrow, pa.timestamp("us")))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        naive = None
    if naive is not None:  # every value local time without an offset
        if options.timezone is None:
            raise ImportFormatError(
                f"{source}: timestamps without a UTC offset, e.g. {first!r}",
                field=f"{source}:timestamp",
                expected="ISO 8601 with an offset (2024-05-01T12:00:00+02:00 or ...Z), or the zone of the local "
                "times (--timezone Europe/Amsterdam)",
            )
        return _localize(naive, options.timezone)
    return _parse_text_per_row(values, options)


def _parse_text_per_row(values: pl.Series, options: ReadOptions) -> tuple[pl.Series, pl.Series | None]:
    """The slow path for a column that mixes forms or holds values that are not timestamps."""
    text = values.str.strip_chars().str.replace(" ", "T", literal=True).str.replace(r"Z$", "+00:00")
    has_offset = text.str.contains(OFFSET_SUFFIX)
    aware = text.str.to_datetime(ISO_WITH_OFFSET, time_unit="us", time_zone="UTC", strict=False)
    # an offset without minutes (+01) is valid ISO 8601; give it minutes for the parser
    short = text.str.replace(r"([+-]\d{2})$", "${1}:00")
    aware = aware.fill_null(short.str.to_datetime(ISO_WITH_OFFSET, time_unit="us", time_zone="UTC", strict=False))
    aware = pl.DataFrame([aware, has_offset.alias("o")]).select(pl.when("o").then("timestamp"))["timestamp"]
    local_text = pl.DataFrame([text.alias("t"), has_offset.alias("o")]).select(pl.when(~pl.col("o")).then("t"))["t"]
    local = local_text.str.to_datetime(ISO_LOCAL, time_unit="us", strict=False)
    frame = pl.DataFrame([values.alias("raw"), has_offset.alias("o"), aware.alias("aware"), local.alias("local")])
    problems: list[pl.Series] = []
    if options.timezone is not None and local.is_not_null().any():
        localized, problem = _localize(local, options.timezone)
        frame = frame.with_columns(localized.alias("localized"))
        if problem is not None:
            problems.append(problem)
    else:
        frame = frame.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("localized"))
    stamps = frame.select(pl.coalesce("aware", "localized").alias("timestamp"))["timestamp"]
    unread = frame.select(
        pl.when(pl.col("raw").is_null() | (pl.col("raw").str.strip_chars() == ""))
        .then(pl.lit("timestamp: empty"))
        .when(~pl.col("o") & pl.col("local").is_not_null() & pl.lit(options.timezone is None))
        .then(pl.format("timestamp: '{}' has no UTC offset and no time zone was given (--timezone)", "raw"))
        .when(pl.col("aware").is_null() & pl.col("local").is_null())
        .then(pl.format("timestamp: '{}' is not ISO 8601", "raw"))
        .alias(READ_PROBLEM)
    )[READ_PROBLEM]
    problem = _first_of([unread, *problems])
    return stamps, (problem if problem.is_not_null().any() else None)


def _localize(naive: pl.Series, timezone: str) -> tuple[pl.Series, pl.Series | None]:
    """Local wall-clock times in ``timezone`` to UTC; nonexistent times become null with a problem."""
    frame = naive.alias("n").to_frame()
    frame = frame.with_columns(
        pl.col("n").dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").alias("e"),
        pl.col("n").dt.replace_time_zone(timezone, ambiguous="latest", non_existent="null").alias("l"),
    )
    ambiguous = frame.select((pl.col("e") != pl.col("l")).fill_null(False).alias("a"))["a"]
    if ambiguous.any():
        # within a run of ambiguous rows, those after the clock stepped back are the second (standard-time) pass
        frame = frame.with_columns(ambiguous.alias("a")).with_columns(
            (pl.col("a") != pl.col("a").shift(1)).fill_null(True).cum_sum().alias("run"),
            (pl.col("n").diff() < pl.duration(microseconds=0)).fill_null(False).cast(pl.UInt32()).alias("back"),
        )
        frame = frame.with_columns(
            (pl.col("back").cum_sum().over("run") > 0).alias("second"),
        ).with_columns(pl.when(pl.col("a") & pl.col("second")).then("l").otherwise("e").alias("e"))
    utc = frame["e"].dt.convert_time_zone("UTC").alias("timestamp")
    nonexistent = frame["n"].is_not_null() & frame["e"].is_null()
    problem = _problem(
        nonexistent,
        pl.format(f"timestamp: local time {{}} does not exist in {timezone} (the clocks went forward)", pl.lit(naive)),
    )
    return utc, problem


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
