"""Quality checks of a canonical telemetry frame: every row is accepted, repaired with a reason, or rejected with one.

:func:`check` takes what a reader returned and gives a :class:`QualityResult`:

* ``frame``: the accepted and repaired rows in the canonical columns, sorted by ``battery_id`` and ``timestamp``, with
  no duplicate timestamp per battery; ``rows`` holds the input row of each;
* ``rejected``: the rejected rows with their ``row`` (0-based position in the input frame; a CSV file's line is
  ``row + 2``), a ``reason`` (one of :class:`Reason`) and a ``detail`` where there is more to say;
* ``repairs``: one line per repair of a kept row (``row``, ``battery_id``, ``timestamp``, ``reason``);
* ``gaps``: the intervals without samples, per battery (reported, never filled);
* ``extra``: the input's columns outside the canonical schema, with ``row``, set aside;
* ``report``: the counts per class and per reason (:meth:`QualityReport.as_dict`).

``report.accepted + report.repaired + report.rejected == report.rows_in`` always: nothing is dropped silently.

The checks, in this order (a rejected row gets the first reason that applies):

1. rows that cannot be used: a reader's problem (:data:`~batteryloop.telemetry.readers.canonical.READ_PROBLEM`),
   no battery id, no timestamp, no finite current or voltage: rejected;
2. rows out of time order: moved into order (repaired, ``out_of_order``);
3. unit mistakes, told from the value distribution of each battery: voltages in millivolts and temperatures in kelvin
   (rows whose value fits the other unit and not the canonical one, where at least ``unit_mistake_min_share`` of the
   battery's values do so), currents in milliamperes (the median of the non-zero magnitudes is above the current limit
   but fits it in milliamperes; then the whole column is converted): repaired with the reason;
4. optional values that cannot be true (NaN or infinite; a temperature outside the sensors' plausible range; a state
   of charge outside 0-100 %; a cell voltage outside the chemistry's cell window): set to null, repaired;
5. a voltage outside the chemistry's window (cell window times cells in series, widened by ``cell_voltage_tolerance_V``
   per cell) or a current above the stated limit: rejected;
6. duplicate timestamps of a battery: the first row is kept, the others are rejected (``duplicate_row`` when every
   value equals the kept row's, ``duplicate_timestamp`` when they differ);
7. gaps: intervals longer than ``gap_factor`` times the battery's median sampling interval.

Every threshold comes from ``rules/chemistry.csv``, ``rules/telemetry_quality.csv`` or a parameter of
:class:`QualityLimits`; a check whose threshold is not known (no chemistry, no current limit) is skipped and the report
says so.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from batteryloop.errors import ValidationError
from batteryloop.rules import chemistry as chemistry_limits
from batteryloop.telemetry.readers.canonical import KELVIN_AT_0_C, MILLI, READ_PROBLEM, US_PER_S
from batteryloop.telemetry.schema import BY_NAME, COLUMNS

ROW = "row"
REASON = "reason"
DETAIL = "detail"
VALUE_COLUMNS = tuple(c.name for c in COLUMNS if c.name not in ("battery_id", "timestamp"))
INTERVAL_SAMPLE = 100_000  # the typical sampling interval is the median of at most about this many intervals
OPTIONAL_FLOATS = ("soc_pct", "cell_voltage_min_V", "cell_voltage_max_V", "temperature_max_C")


class Reason(StrEnum):
    """Why a row was rejected or repaired."""

    # rejected
    UNREADABLE = "unreadable"
    BATTERY_ID_MISSING = "battery_id_missing"
    TIMESTAMP_MISSING = "timestamp_missing"
    CURRENT_MISSING = "current_missing"
    VOLTAGE_MISSING = "voltage_missing"
    VOLTAGE_BELOW_WINDOW = "voltage_below_window"
    VOLTAGE_ABOVE_WINDOW = "voltage_above_window"
    CURRENT_ABOVE_LIMIT = "current_above_limit"
    DUPLICATE_ROW = "duplicate_row"
    DUPLICATE_TIMESTAMP = "duplicate_timestamp"
    # repaired
    OUT_OF_ORDER = "out_of_order"
    VOLTAGE_MILLIVOLTS = "voltage_millivolts"
    CELL_VOLTAGE_MILLIVOLTS = "cell_voltage_millivolts"
    CURRENT_MILLIAMPERES = "current_milliamperes"
    TEMPERATURE_KELVIN = "temperature_kelvin"
    NOT_FINITE_TO_NULL = "not_finite_to_null"
    TEMPERATURE_IMPLAUSIBLE = "temperature_implausible"
    SOC_OUT_OF_RANGE = "soc_out_of_range"
    CELL_VOLTAGE_OUTSIDE_WINDOW = "cell_voltage_outside_window"


DESCRIPTIONS: dict[Reason, str] = {
    Reason.UNREADABLE: "a value could not be read (the detail says which and why)",
    Reason.BATTERY_ID_MISSING: "no battery id",
    Reason.TIMESTAMP_MISSING: "no timestamp",
    Reason.CURRENT_MISSING: "current_A empty, NaN or infinite",
    Reason.VOLTAGE_MISSING: "voltage_V empty, NaN or infinite",
    Reason.VOLTAGE_BELOW_WINDOW: "voltage_V below the chemistry's window (minus the tolerance)",
    Reason.VOLTAGE_ABOVE_WINDOW: "voltage_V above the chemistry's window (plus the tolerance)",
    Reason.CURRENT_ABOVE_LIMIT: "|current_A| above the stated limit",
    Reason.DUPLICATE_ROW: "same battery and timestamp as an earlier row, same values",
    Reason.DUPLICATE_TIMESTAMP: "same battery and timestamp as an earlier row, other values (the first row is kept)",
    Reason.OUT_OF_ORDER: "earlier than a row before it; moved into time order",
    Reason.VOLTAGE_MILLIVOLTS: "voltage_V in millivolts; divided by 1000",
    Reason.CELL_VOLTAGE_MILLIVOLTS: "a cell voltage in millivolts; divided by 1000",
    Reason.CURRENT_MILLIAMPERES: "current_A in milliamperes; divided by 1000",
    Reason.TEMPERATURE_KELVIN: "a temperature in kelvin; 273.15 subtracted",
    Reason.NOT_FINITE_TO_NULL: "an optional value or temperature NaN or infinite; set to null",
    Reason.TEMPERATURE_IMPLAUSIBLE: "a temperature outside the sensors' plausible range; set to null",
    Reason.SOC_OUT_OF_RANGE: "soc_pct outside 0-100 %; set to null",
    Reason.CELL_VOLTAGE_OUTSIDE_WINDOW: "a cell voltage outside the chemistry's cell window; set to null",
}
REJECTIONS = frozenset(list(Reason)[: list(Reason).index(Reason.OUT_OF_ORDER)])


# ----------------------------------------------------------------------------------------------------------------------
# limits


@dataclass(frozen=True)
class Rule:
    name: str
    value: float
    unit: str
    source: str
    confidence: str
    note: str


@cache
def rules() -> dict[str, Rule]:
    """The thresholds of ``rules/telemetry_quality.csv``, each with its source."""
    text = resources.files("batteryloop.rules").joinpath("telemetry_quality.csv").read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        out[row["name"]] = Rule(
            row["name"], float(row["value"]), row["unit"], row["source"], row["confidence"], row["note"]
        )
    return out


def _rule(name: str) -> float:
    return rules()[name].value


@dataclass(frozen=True)
class QualityLimits:
    """The thresholds of the checks. ``None`` skips a check (and the report says so).

    Build it with :meth:`for_chemistry`; the defaults come from ``rules/telemetry_quality.csv``.
    """

    chemistry: str | None = None
    cells_in_series: int = 1
    voltage_min_V: float | None = None  # voltage_V below this is rejected [V]
    voltage_max_V: float | None = None  # voltage_V above this is rejected [V]
    cutoff_min_V: float | None = None  # the chemistry's lower cut-off times cells in series (for notes) [V]
    cutoff_max_V: float | None = None  # the chemistry's upper cut-off times cells in series (for notes) [V]
    cell_voltage_min_V: float | None = None  # cell_voltage_min_V/max_V below this are set to null [V]
    cell_voltage_max_V: float | None = None  # ... above this [V]
    max_current_A: float | None = None  # |current_A| above this is rejected [A]
    temperature_min_C: float = field(default_factory=lambda: _rule("temperature_plausible_min_C"))
    temperature_max_C: float = field(default_factory=lambda: _rule("temperature_plausible_max_C"))
    soc_min_pct: float = field(default_factory=lambda: _rule("soc_min_pct"))
    soc_max_pct: float = field(default_factory=lambda: _rule("soc_max_pct"))
    unit_mistake_min_share: float = field(default_factory=lambda: _rule("unit_mistake_min_share"))
    gap_factor: float = field(default_factory=lambda: _rule("gap_factor"))
    max_gaps_listed: int = field(default_factory=lambda: int(_rule("max_gaps_listed")))
    sources: tuple[str, ...] = ()

    @classmethod
    def for_chemistry(
        cls,
        chemistry: str | None,
        cells_in_series: int = 1,
        max_current_A: float | None = None,
        *,
        cell_voltage_tolerance_V: float | None = None,
        **overrides: Any,
    ) -> QualityLimits:
        """Limits for a battery of ``cells_in_series`` cells of ``chemistry`` (``rules/chemistry.csv``).

        Parameters
        ----------
        chemistry : str or None
            NMC, NCA, LFP, LCO or LMO; None skips the voltage checks.
        cells_in_series : int
            Cells in series behind ``voltage_V`` (1 for a cell). [-]
        max_current_A : float or None
            The largest plausible |current|; None skips the current check and milliampere detection. [A]
        cell_voltage_tolerance_V : float or None
            Allowance per cell beyond the chemistry window before a voltage is rejected (default: the rule). [V]
        **overrides
            Any other field of :class:`QualityLimits`.
        """
        if not isinstance(cells_in_series, int) or cells_in_series < 1:
            raise ValidationError(
                f"cells in series {cells_in_series!r} is not a positive whole number",
                field="cells_in_series",
                expected="an integer of at least 1",
            )
        if max_current_A is not None and not (math.isfinite(max_current_A) and max_current_A > 0):
            raise ValidationError(
                f"current limit {max_current_A!r} A is not a positive number",
                field="max_current_A",
                expected="a positive number of amperes",
            )
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValidationError(
                f"unknown quality limit(s) {', '.join(sorted(unknown))}",
                field="limits",
                expected=", ".join(f.name for f in fields(cls)),
            )
        tolerance = _rule("cell_voltage_tolerance_V") if cell_voltage_tolerance_V is None else cell_voltage_tolerance_V
        values: dict[str, Any] = {"cells_in_series": cells_in_series, "max_current_A": max_current_A}
        sources = [f"{r.name} = {r.value:g} {r.unit}: {r.source}" for r in rules().values()]
        if chemistry is not None:
            c = chemistry_limits(chemistry)
            n = cells_in_series
            values.update(
                chemistry=c.chemistry,
                voltage_min_V=(c.cell_voltage_min_V - tolerance) * n,
                voltage_max_V=(c.cell_voltage_max_V + tolerance) * n,
                cutoff_min_V=c.cell_voltage_min_V * n,
                cutoff_max_V=c.cell_voltage_max_V * n,
                cell_voltage_min_V=c.cell_voltage_min_V - tolerance,
                cell_voltage_max_V=c.cell_voltage_max_V + tolerance,
            )
            sources.insert(0, f"{c.chemistry} cell window {c.cell_voltage_min_V}-{c.cell_voltage_max_V} V: {c.source}")
        values["sources"] = tuple(sources)
        return replace(cls(), **{**values, **overrides})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


# ----------------------------------------------------------------------------------------------------------------------
# result


@dataclass
class QualityReport:
    """The counts of one check: rows in, accepted, repaired, rejected, and per reason."""

    rows_in: int
    accepted: int
    repaired: int
    rejected: int
    repaired_by_reason: dict[str, int]
    rejected_by_reason: dict[str, int]
    batteries: list[str]
    first_timestamp: str | None
    last_timestamp: str | None
    gaps: int
    gap_total_s: float
    gap_longest_s: float
    gaps_listed: list[dict[str, Any]]
    extra_columns: list[str]
    checks_skipped: list[str]
    notes: list[str]
    limits: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "accepted": self.accepted,
            "repaired": self.repaired,
            "rejected": self.rejected,
            "repaired_by_reason": self.repaired_by_reason,
            "rejected_by_reason": self.rejected_by_reason,
            "batteries": self.batteries,
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "gaps": {
                "count": self.gaps,
                "total_s": self.gap_total_s,
                "longest_s": self.gap_longest_s,
                "intervals": self.gaps_listed,
            },
            "extra_columns": self.extra_columns,
            "checks_skipped": self.checks_skipped,
            "notes": self.notes,
            "limits": self.limits,
        }


@dataclass
class QualityResult:
    frame: pl.DataFrame
    rows: pl.Series  # the input row of each row of ``frame`` (0-based)
    rejected: pl.DataFrame
    repairs: pl.DataFrame
    gaps: pl.DataFrame
    extra: pl.DataFrame
    report: QualityReport


GAP_SCHEMA = pl.Schema(
    {
        "battery_id": pl.String(),
        "gap_start": pl.Datetime("us", "UTC"),
        "gap_end": pl.Datetime("us", "UTC"),
        "duration_s": pl.Float64(),
    }
)
REPAIR_SCHEMA = pl.Schema(
    {ROW: pl.UInt32(), "battery_id": pl.String(), "timestamp": pl.Datetime("us", "UTC"), REASON: pl.String()}
)


# ----------------------------------------------------------------------------------------------------------------------
# the check


@dataclass
class _Parts:
    """What the checks of one battery produce."""

    kept: list[pl.DataFrame] = field(default_factory=list)
    rejected: list[pl.DataFrame] = field(default_factory=list)
    repairs: list[pl.DataFrame] = field(default_factory=list)
    gaps: list[pl.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    batteries: list[str] = field(default_factory=list)
    spans: list[tuple[Any, Any]] = field(default_factory=list)  # (first, last) timestamp of each battery
    below_cutoff: int = 0
    above_cutoff: int = 0


def check(frame: pl.DataFrame, limits: QualityLimits | None = None) -> QualityResult:
    """Check every row of ``frame`` (a reader's output) against ``limits``; see the module text.

    Parameters
    ----------
    frame : pl.DataFrame
        Canonical columns (at least ``battery_id``, ``timestamp``, ``current_A``, ``voltage_V``), possibly a reader's
        :data:`~batteryloop.telemetry.readers.canonical.READ_PROBLEM` column and columns outside the schema.
    limits : QualityLimits, optional
        The thresholds (default: no chemistry, no current limit, the rules' plausibility ranges).

    Returns
    -------
    QualityResult
    """
    limits = limits or QualityLimits.for_chemistry(None)
    needed = ("battery_id", "timestamp", "current_A", "voltage_V")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the frame lacks column(s) {', '.join(missing)}", field=missing[0], expected="the canonical columns"
        )
    rows_in = frame.height
    extras = [c for c in frame.columns if c not in BY_NAME and c != READ_PROBLEM]
    canonical = [c.name for c in COLUMNS if c.name in frame.columns]
    # the input's row number; in ``extra`` a column of the input named "row" keeps its name, the number is "row_"
    extra = frame.select(extras).with_row_index(ROW if ROW not in extras else ROW + "_")
    work = frame.select(*canonical, *([READ_PROBLEM] if READ_PROBLEM in frame.columns else [])).with_row_index(ROW)
    work = work.with_columns([pl.col(c).cast(BY_NAME[c].dtype) for c in canonical])
    if "temperature_C" not in work.columns:
        work = work.with_columns(pl.lit(None, pl.Float64()).alias("temperature_C"))

    parts = _Parts()
    work = _reject_unusable(work, parts)
    skipped = _skipped(limits)
    if work.height:
        ids = work["battery_id"]
        if ids.min() == ids.max():
            _check_battery(work, limits, parts)
        else:
            for _, group in sorted(work.partition_by("battery_id", as_dict=True).items()):
                _check_battery(group, limits, parts)

    out_columns = [c for c in canonical if c != READ_PROBLEM]
    if "temperature_C" not in out_columns:
        out_columns.insert(out_columns.index("voltage_V") + 1, "temperature_C")
    kept = pl.concat(parts.kept) if parts.kept else work.clear()
    repairs = pl.concat(parts.repairs) if parts.repairs else pl.DataFrame(schema=REPAIR_SCHEMA)
    rejected = _rejected_frame(parts.rejected, out_columns)
    gaps = pl.concat(parts.gaps) if parts.gaps else pl.DataFrame(schema=GAP_SCHEMA)
    report = _report(rows_in, kept, repairs, rejected, gaps, extras, skipped, parts, limits)
    assert report.accepted + report.repaired + report.rejected == rows_in, "a row was lost"
    return QualityResult(
        frame=kept.select(out_columns),
        rows=kept[ROW],
        rejected=rejected,
        repairs=repairs,
        gaps=gaps,
        extra=extra,
        report=report,
    )


def _skipped(limits: QualityLimits) -> list[str]:
    out = []
    if limits.voltage_min_V is None or limits.voltage_max_V is None:
        out.append("voltage window and millivolt detection: no chemistry given")
    if limits.max_current_A is None:
        out.append("current limit and milliampere detection: no current limit given")
    return out


def _finite(name: str) -> pl.Expr:
    return pl.col(name).is_finite().fill_null(False)


def _reject_unusable(work: pl.DataFrame, parts: _Parts) -> pl.DataFrame:
    has_problem = pl.col(READ_PROBLEM).is_not_null() if READ_PROBLEM in work.columns else pl.lit(False)
    bad = (
        has_problem
        | pl.col("battery_id").is_null()
        | pl.col("timestamp").is_null()
        | ~_finite("current_A")
        | ~_finite("voltage_V")
    )
    mask = work.select(bad.alias("bad"))["bad"]
    if mask.any():
        reason = (
            pl.when(has_problem)
            .then(pl.lit(Reason.UNREADABLE.value))
            .when(pl.col("battery_id").is_null())
            .then(pl.lit(Reason.BATTERY_ID_MISSING.value))
            .when(pl.col("timestamp").is_null())
            .then(pl.lit(Reason.TIMESTAMP_MISSING.value))
            .when(~_finite("current_A"))
            .then(pl.lit(Reason.CURRENT_MISSING.value))
            .otherwise(pl.lit(Reason.VOLTAGE_MISSING.value))
        )
        detail = pl.col(READ_PROBLEM) if READ_PROBLEM in work.columns else pl.lit(None, pl.String())
        parts.rejected.append(work.filter(mask).with_columns(reason.alias(REASON), detail.alias(DETAIL)))
        work = _without(work, mask)
    return work.drop(READ_PROBLEM, strict=False)


FEW_ROWS = 4096  # up to this many rows are removed by slicing around them (no copy of the other rows)


def _without(frame: pl.DataFrame, mask: pl.Series) -> pl.DataFrame:
    """``frame`` without the rows where ``mask`` is true: a filter, or, for a few rows, the slices between them."""
    drop = mask.arg_true()
    if drop.len() > FEW_ROWS:
        return frame.filter(~mask)
    pieces = []
    start = 0
    for row in drop.to_list():
        if row > start:
            pieces.append(frame.slice(start, row - start))
        start = row + 1
    if start < frame.height:
        pieces.append(frame.slice(start))
    return pl.concat(pieces, rechunk=False) if pieces else frame.clear()


@dataclass(frozen=True)
class _UnitCheck:
    column: str
    misfit: pl.Expr  # the value fits the other unit and not the canonical one
    repaired: pl.Expr
    reason: Reason
    unit: str


@dataclass(frozen=True)
class _NullCheck:
    column: str
    mask: pl.Expr  # the value cannot be true: set to null
    reason: Reason


def _fits(expr: pl.Expr, lo: float | None, hi: float | None) -> pl.Expr:
    return expr.is_between(lo, hi) if lo is not None and hi is not None else pl.lit(False)


def _unit_checks(columns: list[str], limits: QualityLimits) -> list[_UnitCheck]:
    out = []
    vlo, vhi = limits.voltage_min_V, limits.voltage_max_V
    if vlo is not None and vhi is not None:
        v = pl.col("voltage_V")
        misfit = ~_fits(v, vlo, vhi) & _fits(v / MILLI, vlo, vhi)
        out.append(_UnitCheck("voltage_V", misfit, v / MILLI, Reason.VOLTAGE_MILLIVOLTS, "mV"))
    clo, chi = limits.cell_voltage_min_V, limits.cell_voltage_max_V
    for name in ("cell_voltage_min_V", "cell_voltage_max_V"):
        if name in columns and clo is not None and chi is not None:
            c = pl.col(name)
            misfit = ~_fits(c, clo, chi) & _fits(c / MILLI, clo, chi)
            out.append(_UnitCheck(name, misfit, c / MILLI, Reason.CELL_VOLTAGE_MILLIVOLTS, "mV"))
    tlo, thi = limits.temperature_min_C, limits.temperature_max_C
    for name in ("temperature_C", "temperature_max_C"):
        if name in columns:
            t = pl.col(name)
            misfit = (t > thi) & _fits(t - KELVIN_AT_0_C, tlo, thi)
            out.append(_UnitCheck(name, misfit, t - KELVIN_AT_0_C, Reason.TEMPERATURE_KELVIN, "K"))
    return out


def _null_checks(columns: list[str], limits: QualityLimits) -> list[_NullCheck]:
    out = []
    for name in ("temperature_C", *OPTIONAL_FLOATS):
        if name in columns:
            c = pl.col(name)
            out.append(_NullCheck(name, c.is_not_null() & ~c.is_finite(), Reason.NOT_FINITE_TO_NULL))
    for name in ("temperature_C", "temperature_max_C"):
        if name in columns:
            t = pl.col(name)
            implausible = t.is_finite() & ~t.is_between(limits.temperature_min_C, limits.temperature_max_C)
            out.append(_NullCheck(name, implausible, Reason.TEMPERATURE_IMPLAUSIBLE))
    if "soc_pct" in columns:
        s = pl.col("soc_pct")
        outside = s.is_finite() & ~s.is_between(limits.soc_min_pct, limits.soc_max_pct)
        out.append(_NullCheck("soc_pct", outside, Reason.SOC_OUT_OF_RANGE))
    clo, chi = limits.cell_voltage_min_V, limits.cell_voltage_max_V
    if clo is not None and chi is not None:
        for name in ("cell_voltage_min_V", "cell_voltage_max_V"):
            if name in columns:
                c = pl.col(name)
                outside = c.is_finite() & ~c.is_between(clo, chi)
                out.append(_NullCheck(name, outside, Reason.CELL_VOLTAGE_OUTSIDE_WINDOW))
    return [replace(n, mask=n.mask.fill_null(False)) for n in out]


def _window_checks(limits: QualityLimits) -> list[tuple[pl.Expr, Reason]]:
    out = []
    if limits.voltage_min_V is not None:
        out.append((pl.col("voltage_V") < limits.voltage_min_V, Reason.VOLTAGE_BELOW_WINDOW))
    if limits.voltage_max_V is not None:
        out.append((pl.col("voltage_V") > limits.voltage_max_V, Reason.VOLTAGE_ABOVE_WINDOW))
    if limits.max_current_A is not None:
        out.append((pl.col("current_A").abs() > limits.max_current_A, Reason.CURRENT_ABOVE_LIMIT))
    return out


def _stats(
    b: pl.DataFrame,
    limits: QualityLimits,
    units: list[_UnitCheck],
    nulls: list[_NullCheck],
    window: list[tuple[pl.Expr, Reason]],
) -> dict[str, Any]:
    """One pass over the battery's rows: what each check finds (counts), so that only the needed steps run."""
    dt = pl.col("timestamp").cast(pl.Int64).diff()
    every = max(1, b.height // INTERVAL_SAMPLE)
    exprs = [dt.min().alias("dt_min"), dt.max().alias("dt_max"), dt.gather_every(every, 1).median().alias("dt_median")]
    for i, u in enumerate(units):
        exprs += [u.misfit.sum().alias(f"unit{i}"), pl.col(u.column).is_not_null().sum().alias(f"present{i}")]
    if limits.max_current_A is not None:
        magnitude = pl.col("current_A").abs()
        exprs += [
            (magnitude > 0).sum().alias("nonzero"),
            (magnitude > limits.max_current_A).sum().alias("over"),
            (magnitude > limits.max_current_A * MILLI).sum().alias("over_milli"),
        ]
    exprs += [n.mask.any().alias(f"null{i}") for i, n in enumerate(nulls)]
    exprs += [m.any().alias(f"window{i}") for i, (m, _) in enumerate(window)]
    if limits.cutoff_min_V is not None and limits.cutoff_max_V is not None:
        exprs += [
            (pl.col("voltage_V") < limits.cutoff_min_V).sum().alias("below_cutoff"),
            (pl.col("voltage_V") > limits.cutoff_max_V).sum().alias("above_cutoff"),
        ]
    return b.lazy().select(exprs).collect().row(0, named=True)


def _check_battery(b: pl.DataFrame, limits: QualityLimits, parts: _Parts) -> None:
    """Steps 2-7 for the rows of one battery."""
    battery = b["battery_id"][0]
    repairs: list[tuple[pl.Series, Reason]] = []  # (row numbers, reason)
    units = _unit_checks(b.columns, limits)
    nulls = _null_checks(b.columns, limits)
    window = _window_checks(limits)
    stats = _stats(b, limits, units, nulls, window)
    dt_min = stats["dt_min"]
    rows_removed = False

    # 2. time order
    if dt_min is not None and dt_min < 0:
        late = b.select((pl.col("timestamp") < pl.col("timestamp").cum_max().shift(1)).fill_null(False))["timestamp"]
        repairs.append((b[ROW].filter(late), Reason.OUT_OF_ORDER))
        b = b.sort("timestamp", maintain_order=True)

    # 3. unit mistakes, from the distribution of the battery's values
    updates = []
    for i, u in enumerate(units):
        misfits, present = stats[f"unit{i}"], stats[f"present{i}"]
        if misfits and misfits >= limits.unit_mistake_min_share * present:
            repairs.append((b.select(pl.col(ROW).filter(u.misfit))[ROW], u.reason))
            updates.append(pl.when(u.misfit).then(u.repaired).otherwise(pl.col(u.column)).alias(u.column))
            parts.notes.append(f"{battery}: {misfits} of {present} {u.column} values read as {u.unit} and converted")
    if limits.max_current_A is not None and stats["over"] * 2 > stats["nonzero"] > stats["over_milli"] * 2:
        # the median non-zero |current| is above the limit, and fits it in milliamperes: the column is in mA
        median = b.select(pl.col("current_A").abs().filter(pl.col("current_A") != 0).median()).item()
        repairs.append((b[ROW], Reason.CURRENT_MILLIAMPERES))
        updates.append(pl.col("current_A") / MILLI)
        parts.notes.append(
            f"{battery}: the median non-zero |current_A| {median:g} is above the limit {limits.max_current_A:g} A "
            "but within it in mA: the column was read as mA and divided by 1000"
        )
    if updates:
        b = b.with_columns(updates)
        stats = _stats(b, limits, units, nulls, window)

    # 4. optional values that cannot be true: null
    nulled: dict[str, pl.Expr] = {}
    for i, n in enumerate(nulls):
        if stats[f"null{i}"]:
            repairs.append((b.select(pl.col(ROW).filter(n.mask))[ROW], n.reason))
            nulled[n.column] = pl.when(n.mask).then(None).otherwise(nulled.get(n.column, pl.col(n.column)))
    if nulled:
        b = b.with_columns([e.alias(name) for name, e in nulled.items()])

    # 5. voltage window and current limit
    if any(stats[f"window{i}"] for i in range(len(window))):
        masks = b.select([m.alias(r.value) for m, r in window])
        bad = masks.select(pl.any_horizontal(pl.all()).alias("bad"))["bad"]
        reason: Any = pl
        for m, r in window:
            reason = reason.when(m).then(pl.lit(r.value))
        parts.rejected.append(b.filter(bad).with_columns(reason.alias(REASON), pl.lit(None, pl.String()).alias(DETAIL)))
        _hint_cells_in_series(b, masks, limits, parts, battery)
        b = _without(b, bad)
        rows_removed = True

    # 6. duplicate timestamps (sorted; among equal timestamps the input order is kept, and the first row is kept)
    if dt_min is not None and dt_min <= 0:
        b, removed = _duplicates(b, parts)
        rows_removed = rows_removed or removed

    if rows_removed or (dt_min is not None and dt_min < 0):
        stats = _stats(b, limits, units, nulls, window)  # of the rows kept, in time order

    # notes: accepted samples between a cut-off and the tolerance (deep discharge, overcharge)
    if limits.cutoff_min_V is not None and limits.cutoff_max_V is not None:
        parts.below_cutoff += int(stats["below_cutoff"])
        parts.above_cutoff += int(stats["above_cutoff"])

    # 7. gaps
    median, longest = stats["dt_median"], stats["dt_max"]
    if median is not None and longest is not None and longest > limits.gap_factor * median:
        parts.gaps.append(_gaps(b, limits.gap_factor * median, battery))
    if b.height:
        parts.spans.append((b["timestamp"][0], b["timestamp"][-1]))

    parts.kept.append(b)
    if b.height:
        parts.batteries.append(battery)
    keys = b.select(ROW, "battery_id", "timestamp")
    for rows, why in repairs:
        if rows.len() == 0:
            continue
        if rows.len() == b.height and not rows_removed:
            lines = keys  # every row of the battery (a column converted as a whole)
        else:
            # the few repaired rows first (one pass), then the join on them alone: no hash table of every row
            few = keys.filter(pl.col(ROW).is_in(rows.implode())) if rows.len() * 4 < keys.height else keys
            lines = pl.DataFrame({ROW: rows}).join(few, on=ROW, how="inner", maintain_order="left")
        parts.repairs.append(lines.with_columns(pl.lit(why.value).alias(REASON)))


def _duplicates(b: pl.DataFrame, parts: _Parts) -> tuple[pl.DataFrame, bool]:
    dup = b.select((pl.col("timestamp") == pl.col("timestamp").shift(1)).fill_null(False).alias("d"))["d"]
    if not dup.any():
        return b, False
    position = pl.int_range(pl.len(), dtype=pl.UInt32)
    first = b.select(pl.when(~dup).then(position).forward_fill().alias("f"))["f"]
    values = [c for c in VALUE_COLUMNS if c in b.columns]
    same = b.select(pl.all_horizontal([pl.col(c).eq_missing(pl.col(c).gather(first)) for c in values]).alias("s"))
    rows = b.with_columns(same["s"]).filter(dup)
    reason = pl.when(pl.col("s")).then(pl.lit(Reason.DUPLICATE_ROW.value))
    detail = pl.when(~pl.col("s")).then(pl.lit("values differ from the first row with this timestamp, which is kept"))
    parts.rejected.append(
        rows.with_columns(
            reason.otherwise(pl.lit(Reason.DUPLICATE_TIMESTAMP.value)).alias(REASON), detail.alias(DETAIL)
        ).drop("s")
    )
    return _without(b, dup), True


def _hint_cells_in_series(
    b: pl.DataFrame, masks: pl.DataFrame, limits: QualityLimits, parts: _Parts, battery: str
) -> None:
    above = Reason.VOLTAGE_ABOVE_WINDOW.value
    if above not in masks.columns or limits.cutoff_max_V is None or limits.chemistry is None:
        return
    if masks[above].sum() * 2 < b.height:
        return
    median = b["voltage_V"].median()
    if isinstance(median, float) and median > 2 * limits.cutoff_max_V:
        nominal = chemistry_limits(limits.chemistry).cell_voltage_nominal_V
        parts.notes.append(
            f"{battery}: most voltages are above the {limits.chemistry} window for {limits.cells_in_series} cell(s) "
            f"(median {median:g} V, about {round(median / nominal)} cells at the nominal {nominal} V): "
            "give the cells in series (--cells-in-series)"
        )


def _gaps(b: pl.DataFrame, threshold_us: float, battery: str) -> pl.DataFrame:
    """The intervals between consecutive samples longer than ``threshold_us``. [us]"""
    ts = pl.col("timestamp")
    dt = ts.cast(pl.Int64).diff()
    return (
        b.lazy()
        .select(ts, dt.alias("dt"))
        .filter(pl.col("dt") > threshold_us)
        .select(
            pl.lit(battery, pl.String()).alias("battery_id"),
            (pl.col("timestamp") - pl.duration(microseconds=pl.col("dt"))).alias("gap_start"),
            pl.col("timestamp").alias("gap_end"),
            (pl.col("dt") / US_PER_S).alias("duration_s"),
        )
        .collect()
    )


def _rejected_frame(frames: list[pl.DataFrame], columns: list[str]) -> pl.DataFrame:
    schema = {ROW: pl.UInt32(), **{c: BY_NAME[c].dtype for c in columns}, REASON: pl.String(), DETAIL: pl.String()}
    if not frames:
        return pl.DataFrame(schema=schema)
    aligned = [
        f.select([pl.col(c) if c in f.columns else pl.lit(None, d).alias(c) for c, d in schema.items()]) for f in frames
    ]
    return pl.concat(aligned).sort(ROW)


def _by_reason(frame: pl.DataFrame) -> dict[str, int]:
    counts = frame.group_by(REASON).len().sort(["len", REASON], descending=[True, False])
    return {str(r): int(n) for r, n in counts.iter_rows()}


def _report(
    rows_in: int,
    kept: pl.DataFrame,
    repairs: pl.DataFrame,
    rejected: pl.DataFrame,
    gaps: pl.DataFrame,
    extras: list[str],
    skipped: list[str],
    parts: _Parts,
    limits: QualityLimits,
) -> QualityReport:
    repaired_rows = repairs[ROW].n_unique() if repairs.height else 0
    notes = list(parts.notes)
    if parts.below_cutoff:
        notes.append(
            f"{parts.below_cutoff} accepted samples below the {limits.chemistry} lower cut-off "
            f"({limits.cutoff_min_V:g} V) but within the tolerance: possible deep discharge"
        )
    if parts.above_cutoff:
        notes.append(
            f"{parts.above_cutoff} accepted samples above the {limits.chemistry} upper cut-off "
            f"({limits.cutoff_max_V:g} V) but within the tolerance"
        )
    span = (min(a for a, _ in parts.spans), max(b for _, b in parts.spans)) if parts.spans else (None, None)
    listed = gaps.sort("duration_s", descending=True).head(limits.max_gaps_listed).sort("battery_id", "gap_start")
    return QualityReport(
        rows_in=rows_in,
        accepted=kept.height - repaired_rows,
        repaired=repaired_rows,
        rejected=rejected.height,
        repaired_by_reason=_by_reason(repairs) if repairs.height else {},
        rejected_by_reason=_by_reason(rejected) if rejected.height else {},
        batteries=parts.batteries,
        first_timestamp=span[0].isoformat() if span[0] is not None else None,
        last_timestamp=span[1].isoformat() if span[1] is not None else None,
        gaps=gaps.height,
        gap_total_s=float(gaps["duration_s"].sum()) if gaps.height else 0.0,
        gap_longest_s=float(gaps["duration_s"].max()) if gaps.height else 0.0,  # type: ignore[arg-type]
        gaps_listed=[
            {
                "battery_id": r["battery_id"],
                "start": r["gap_start"].isoformat(),
                "end": r["gap_end"].isoformat(),
                "duration_s": r["duration_s"],
            }
            for r in listed.iter_rows(named=True)
        ],
        extra_columns=extras,
        checks_skipped=skipped,
        notes=notes,
        limits=limits.as_dict(),
    )
