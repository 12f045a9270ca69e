"""Day-ahead prices and profiles: read, check (gaps and duplicates named by timestamp), resample only when asked.

Time is UTC throughout; each timestamp is the start of its interval. Accepted price files (CSV, header row):

- the merged NL hourly file: ``datetime_utc`` (ISO, with offset), ``price_eur_per_mwh`` [EUR/MWh], ``source``;
- the NL 15-minute sample: ``start_utc``, ``end_utc``, ``base_eur_per_kwh_excl_vat`` [EUR/kWh, converted x1000];
- any CSV with one time column (``datetime_utc``, ``timestamp_utc``, ``start_utc`` or ``time``) and one price column
  ``price_eur_per_mwh`` [EUR/MWh] or ``price_eur_per_kwh`` [EUR/kWh].

A time without an offset is read as UTC (the column names say so). Missing intervals are listed in
:attr:`PriceSeries.gaps` and never filled; duplicate timestamps and unreadable times or prices are errors naming the
file line; a row whose time is off the step grid (e.g. ``2025-10-26 01:00:01+00:00`` in the merged NL file, an artefact
of the clock change) is left out and listed in :attr:`PriceSeries.rejected` with its line, so its interval is a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
from numpy.typing import NDArray

from batteryloop.errors import ImportFormatError, Problem, ValidationError, collect

LOCAL_TZ = "Europe/Amsterdam"
TIME_COLUMNS = ("datetime_utc", "timestamp_utc", "start_utc", "time")
PRICE_COLUMNS_MWH = ("price_eur_per_mwh",)
PRICE_COLUMNS_KWH = ("price_eur_per_kwh", "base_eur_per_kwh_excl_vat")
MAX_LISTED = 10


@dataclass(frozen=True)
class Gap:
    """A run of missing intervals: ``first`` and ``last`` are the starts of the first and last missing interval."""

    first: datetime
    last: datetime
    intervals: int

    def __str__(self) -> str:
        return f"{self.first:%Y-%m-%d %H:%M} .. {self.last:%Y-%m-%d %H:%M} UTC ({self.intervals} missing)"


@dataclass(frozen=True)
class PriceSeries:
    """A regular series of interval values (prices in EUR/MWh, or a profile in kW) with its gaps.

    ``timestamps`` holds only the intervals that have a value (UTC, interval start, ascending); ``gaps`` lists what
    is missing between them.
    """

    timestamps: NDArray[np.datetime64]
    values: NDArray[np.float64]
    step_minutes: int
    source: str
    unit: str = "EUR/MWh"
    gaps: list[Gap] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    resampled_from_minutes: int | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def missing_intervals(self) -> int:
        return sum(g.intervals for g in self.gaps)

    def between(self, start: datetime | None, end: datetime | None) -> PriceSeries:
        """The intervals starting in ``[start, end)`` (UTC), with the gaps inside that range."""
        ts = self.timestamps
        lo = 0 if start is None else int(np.searchsorted(ts, _np_utc(start), side="left"))
        hi = len(ts) if end is None else int(np.searchsorted(ts, _np_utc(end), side="left"))
        sub_ts = ts[lo:hi]
        gaps = _gaps(sub_ts, self.step_minutes)
        return replace(self, timestamps=sub_ts, values=self.values[lo:hi], gaps=gaps)

    def resample(self, step_minutes: int) -> PriceSeries:
        """Change the step: a coarser value is repeated over the finer intervals (e.g. 60 -> 15 minutes); finer
        values are averaged over a coarser interval where all of them are present (an incomplete one is a gap)."""
        if step_minutes == self.step_minutes:
            return self
        if step_minutes <= 0:
            raise ValidationError("step must be positive", field="resolution", expected="15min or 60min")
        if self.step_minutes % step_minutes == 0:
            k = self.step_minutes // step_minutes
            offsets = np.arange(k, dtype=np.int64) * np.int64(step_minutes * 60_000_000)
            ts = (
                self.timestamps.astype("datetime64[us]")[:, None] + offsets.astype("timedelta64[us]")[None, :]
            ).ravel()
            values = np.repeat(self.values, k)
        elif step_minutes % self.step_minutes == 0:
            k = step_minutes // self.step_minutes
            us = self.timestamps.astype("datetime64[us]").astype(np.int64)
            bucket = us - us % np.int64(step_minutes * 60_000_000)
            frame = (
                pl.DataFrame({"b": bucket, "v": self.values})
                .group_by("b")
                .agg(pl.col("v").mean(), pl.len().alias("n"))
                .filter(pl.col("n") == k)
                .sort("b")
            )
            ts = frame["b"].to_numpy().astype("datetime64[us]")
            values = frame["v"].to_numpy().astype(np.float64)
        else:
            raise ValidationError(
                f"cannot resample {self.step_minutes}-minute values to {step_minutes} minutes",
                field="resolution",
                expected=f"a multiple or divisor of {self.step_minutes} minutes",
            )
        return replace(
            self,
            timestamps=ts,
            values=values,
            step_minutes=step_minutes,
            gaps=_gaps(ts, step_minutes),
            resampled_from_minutes=self.step_minutes,
        )

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"timestamp_utc": pl.Series(self.timestamps).dt.replace_time_zone("UTC"), "value": self.values}
        )


def _np_utc(moment: datetime) -> np.datetime64:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "us")


def _gaps(ts: NDArray[np.datetime64], step_minutes: int) -> list[Gap]:
    if len(ts) < 2:
        return []
    step = np.timedelta64(step_minutes, "m")
    diffs = np.diff(ts)
    where = np.flatnonzero(diffs > step)
    gaps: list[Gap] = []
    for i in where:
        first = ts[i] + step
        last = ts[i + 1] - step
        n = int((ts[i + 1] - ts[i]) // step) - 1
        gaps.append(Gap(_py(first), _py(last), n))
    return gaps


def _py(value: np.datetime64) -> datetime:
    seconds = value.astype("datetime64[us]").astype(np.int64) / 1e6
    return datetime.fromtimestamp(float(seconds), tz=UTC)


def read_series(
    path: Path,
    *,
    time_columns: tuple[str, ...] = TIME_COLUMNS,
    value_columns: dict[str, float] | None = None,
    unit: str = "EUR/MWh",
    step_minutes: int | None = None,
) -> PriceSeries:
    """Read a time series CSV: one time column, one value column (name -> factor to ``unit``).

    Errors name the file line (the header is line 1). The step is the most common difference between consecutive
    timestamps unless given.
    """
    if value_columns is None:
        value_columns = {name: 1.0 for name in PRICE_COLUMNS_MWH} | {name: 1000.0 for name in PRICE_COLUMNS_KWH}
    if not path.is_file():
        raise ImportFormatError(f"{path} does not exist", field=str(path), expected="a CSV file")
    try:
        frame = pl.read_csv(path, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise ImportFormatError(
            f"{path}: not a readable CSV ({type(exc).__name__})", field=str(path), expected="CSV with a header row"
        ) from exc
    time_col = next((c for c in time_columns if c in frame.columns), None)
    value_col = next((c for c in value_columns if c in frame.columns), None)
    if time_col is None or value_col is None:
        missing = "time" if time_col is None else "value"
        names = time_columns if time_col is None else tuple(value_columns)
        raise ImportFormatError(
            f"{path}: no {missing} column (columns: {', '.join(frame.columns)})",
            field=f"{path.name}:header",
            expected="one of " + ", ".join(names),
        )
    text = frame[time_col].str.strip_chars()
    normalised = text.str.replace("T", " ").str.replace(r"Z$", "+00:00")
    with_offset = normalised.str.contains(r"[+-]\d\d:?\d\d$")
    parsed_off = normalised.str.to_datetime("%Y-%m-%d %H:%M:%S%z", strict=False, time_unit="us")
    parsed_naive = normalised.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us").fill_null(
        normalised.str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us")
    )
    times = (
        pl.DataFrame({"off": parsed_off.dt.convert_time_zone("UTC").dt.replace_time_zone(None), "naive": parsed_naive})
        .select(pl.when(with_offset).then(pl.col("off")).otherwise(pl.col("naive")).alias("t"))
        .to_series()
    )
    values = frame[value_col].str.strip_chars().cast(pl.Float64, strict=False) * value_columns[value_col]
    problems: list[Problem] = []
    bad_time = np.flatnonzero(times.is_null().to_numpy())
    for i in bad_time[:MAX_LISTED]:
        problems.append(
            Problem(
                f"{path.name}:line {i + 2}:{time_col}",
                f"{text[int(i)]!r} is not a timestamp",
                "YYYY-MM-DD HH:MM[:SS][+00:00|Z] (UTC)",
            )
        )
    bad_value = np.flatnonzero((values.is_null() | values.is_nan().fill_null(True)).to_numpy())
    for i in bad_value[:MAX_LISTED]:
        problems.append(
            Problem(f"{path.name}:line {i + 2}:{value_col}", f"{frame[value_col][int(i)]!r} is not a number", unit)
        )
    extra = len(bad_time) + len(bad_value) - min(len(bad_time), MAX_LISTED) - min(len(bad_value), MAX_LISTED)
    if extra > 0:
        problems.append(Problem(path.name, f"{extra} more unreadable row(s)", None))
    collect(problems, f"{path}: unreadable rows", ImportFormatError)
    if frame.height == 0:
        raise ImportFormatError(f"{path}: no rows", field=path.name, expected="at least one row")
    ts = times.to_numpy().astype("datetime64[us]")
    vals = values.to_numpy().astype(np.float64)
    order = np.argsort(ts, kind="stable")
    ts_sorted = ts[order]
    dup = np.flatnonzero(ts_sorted[1:] == ts_sorted[:-1])
    if len(dup):
        for k in dup[:MAX_LISTED]:
            problems.append(
                Problem(
                    f"{path.name}:line {int(order[k + 1]) + 2}:{time_col}",
                    f"{_py(ts_sorted[k + 1]):%Y-%m-%d %H:%M} UTC also on line {int(order[k]) + 2}",
                    "one row per interval",
                )
            )
        if len(dup) > MAX_LISTED:
            problems.append(Problem(path.name, f"{len(dup) - MAX_LISTED} more duplicate timestamp(s)", None))
        collect(problems, f"{path}: duplicate timestamps", ImportFormatError)
    if step_minutes is None:
        if len(ts_sorted) < 2:
            raise ImportFormatError(
                f"{path}: one row gives no step", field=path.name, expected="at least two rows, or a given step"
            )
        diffs = np.diff(ts_sorted).astype("timedelta64[s]").astype(np.int64)
        diffs = diffs[diffs % 60 == 0]
        if len(diffs) == 0:
            raise ImportFormatError(
                f"{path}: no two timestamps lie whole minutes apart", field=path.name, expected="a regular series"
            )
        uniq, counts = np.unique(diffs, return_counts=True)
        step_s = int(uniq[np.argmax(counts)])
        step_minutes = step_s // 60
    step_us = np.int64(step_minutes * 60_000_000)
    off_grid = np.flatnonzero(ts_sorted.astype(np.int64) % step_us != 0)
    rejected = [
        Problem(
            f"{path.name}:line {int(order[k]) + 2}:{time_col}",
            f"{_py(ts_sorted[k]):%Y-%m-%d %H:%M:%S} UTC is not on the {step_minutes}-minute grid; row left out",
            f"a multiple of {step_minutes} minutes",
            code="rejected",
        )
        for k in off_grid
    ]
    keep = np.ones(len(ts_sorted), dtype=bool)
    keep[off_grid] = False
    if not keep.any():
        raise ImportFormatError(
            f"{path}: no timestamp lies on the {step_minutes}-minute grid",
            field=path.name,
            expected=f"interval starts at multiples of {step_minutes} minutes",
        )
    ts_kept = ts_sorted[keep]
    return PriceSeries(
        timestamps=ts_kept,
        values=vals[order][keep],
        step_minutes=step_minutes,
        source=str(path),
        unit=unit,
        gaps=_gaps(ts_kept, step_minutes),
        rejected=rejected,
    )


def load_prices(path: Path) -> PriceSeries:
    """Day-ahead prices [EUR/MWh] from one of the accepted CSV formats (see the module text)."""
    return read_series(path)


def local_day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC instants of 00:00 Europe/Amsterdam on ``start`` and on ``end`` (the end day is excluded)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(LOCAL_TZ)

    def at(day: date | None) -> datetime | None:
        if day is None:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)

    return at(start), at(end)


def step_hours(series: PriceSeries) -> float:
    return series.step_minutes / 60.0


def regular_grid(series: PriceSeries) -> NDArray[np.datetime64]:
    """Every interval start from the first to the last timestamp, gaps included."""
    if len(series) == 0:
        return series.timestamps
    step = np.timedelta64(series.step_minutes * 60_000_000, "us")
    first = series.timestamps[0].astype("datetime64[us]")
    n = int((series.timestamps[-1].astype("datetime64[us]") - first) // step) + 1
    grid: NDArray[np.datetime64] = first + np.arange(n) * step
    return grid


def align(series: PriceSeries, grid: NDArray[np.datetime64], *, name: str) -> NDArray[np.float64]:
    """Values of ``series`` on ``grid`` (NaN where ``series`` has no value)."""
    out = np.full(len(grid), np.nan)
    idx = np.searchsorted(grid, series.timestamps.astype("datetime64[us]"))
    inside = (idx < len(grid)) & (grid[np.minimum(idx, len(grid) - 1)] == series.timestamps.astype("datetime64[us]"))
    out[idx[inside]] = series.values[inside]
    return out
