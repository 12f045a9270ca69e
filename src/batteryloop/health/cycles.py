"""Per-cycle capacity, energy, efficiency and resistance from a cycler or BMS time series.

:func:`cycle_table` turns a canonical telemetry frame (:mod:`batteryloop.telemetry.schema`) into one row per cycle
and battery. Everything is computed from current, voltage and time, in vectorised Polars expressions:

* **Cycles.** From ``cycle_index`` where the frame has it (cycler data; continuous over files, see
  :func:`batteryloop.telemetry.readers._cycler.join_in_time_order`); otherwise detected from the current: a new
  cycle starts at the first charging sample after a discharge, rests (``|I|`` below ``rest_current_A``) in between
  being ignored. A cycle is thus "charge, then discharge", as in a lab cycling test.
* **Charge and discharge capacity** [Ah]: the integral of the current over time, split by sign. Each sampling
  interval ``(t[k-1], t[k]]`` belongs to the cycle of sample ``k``. Within a cycler step the current between two
  samples of the same sign is taken to change exponentially (their logarithmic mean: exact for the decaying current
  of a constant-voltage step, the plain mean for a constant current), otherwise linearly. Over an interval in which
  the step changes, the current of the new step is held over the whole interval, because cyclers log the last
  point of a step when it ends and the next step starts there (in the CALCE Arbin exports the first point of a
  discharge step is logged 8 to 30 s after it started). Without ``step_index`` (BMS data) every interval is treated
  as within one step. An interval longer than ``max_interval_s`` is a gap in the record (separate test files, a
  logger outage): it adds nothing and is reported in ``gap_s``. The default thresholds are data, each with its
  reason, in ``cycle_defaults.csv``.
* **Charge and discharge energy** [Wh]: the same integral of power ``I * V``.
* **Coulombic efficiency** = discharge capacity / charge capacity of the cycle; **energy efficiency** = discharge
  energy / charge energy (the round-trip efficiency of the cycle). Both are null for a cycle without charge.
* **Resistance** [mOhm]: ``dV / dI`` over a current step from rest (``|I|`` below ``rest_current_A`` before the
  step, a change of at least ``min_step_current_A``), taken between the last sample before the step and the first
  one after it, when that one comes within ``max_step_delay_s``. Of the steps of a cycle, the one with the
  shortest delay is used (closest to the ohmic resistance); the delay is reported in ``resistance_delay_s`` so
  that values taken at different time scales are not mixed unawares. This is the current-interrupt / pulse
  principle of the HPPC test [1]_; the time scale at which the voltage response is read changes the value [2]_.
* **The tester's own values.** Where the frame has the ``cycler_*`` columns of the cycler readers, the table adds
  the tester's per-cycle values: the increments of its cumulative counters over the cycle (a counter that falls has
  restarted, at a new file or half cycle, and its new value is the increment) and the median of its resistance
  readings, so that the integrated values can be validated against them.

Columns of the result: ``battery_id``, ``cycle_index``, ``start_time`` and ``end_time`` (first and last sample),
``duration_s``, ``samples``, ``gap_s``, ``charge_capacity_Ah``, ``discharge_capacity_Ah``, ``charge_energy_Wh``,
``discharge_energy_Wh``, ``coulombic_efficiency``, ``energy_efficiency``, ``resistance_mOhm``, ``resistance_delay_s``;
with a nominal capacity ``soh_capacity_pct`` (discharge capacity in % of it); and ``cycler_charge_capacity_Ah``,
``cycler_discharge_capacity_Ah``, ``cycler_charge_energy_Wh``, ``cycler_discharge_energy_Wh``,
``cycler_resistance_mOhm`` where the input has the tester's columns.

References
----------
.. [1] Idaho National Laboratory, "Battery Test Manual for Electric Vehicles", Revision 3 (2015), INL/EXT-15-34184,
   section 3.3 (Hybrid Pulse Power Characterization: resistance as dV/dI over a current pulse).
.. [2] A. Barai, K. Uddin, W. D. Widanage, A. McGordon, P. Jennings, "A study of the influence of measurement
   timescale on internal resistance characterisation methodologies for lithium-ion cells", Scientific Reports 8,
   21 (2018). https://doi.org/10.1038/s41598-017-18424-5
"""

from __future__ import annotations

import csv
import io
from importlib import resources

import polars as pl

from batteryloop.errors import ValidationError


def _defaults() -> dict[str, float]:
    """The method parameters of ``cycle_defaults.csv`` (each row with its unit and reason)."""
    text = resources.files("batteryloop.health").joinpath("cycle_defaults.csv").read_text(encoding="utf-8")
    return {row["name"]: float(row["value"]) for row in csv.DictReader(io.StringIO(text))}


# Thresholds of this method, as data (cycle_defaults.csv says why each has its value). The current fractions are of
# the battery's largest current, the 99.9th percentile of |I|, so that single spikes do not set it.
DEFAULTS = _defaults()
REST_CURRENT_FRACTION = DEFAULTS["rest_current_fraction"]
STEP_CURRENT_FRACTION = DEFAULTS["step_current_fraction"]
MAX_INTERVAL_S = DEFAULTS["max_interval_s"]
MAX_STEP_DELAY_S = DEFAULTS["max_step_delay_s"]

# the tester's cumulative counters (batteryloop.telemetry.readers._cycler), summed per cycle where present
CYCLER_COUNTERS = (
    "cycler_charge_capacity_Ah",
    "cycler_discharge_capacity_Ah",
    "cycler_charge_energy_Wh",
    "cycler_discharge_energy_Wh",
)

_REQUIRED = ("battery_id", "timestamp", "current_A", "voltage_V")


def _check(frame: pl.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ValidationError(
            "the frame lacks " + ", ".join(missing), field=missing[0], expected="the canonical telemetry columns"
        )
    for column in ("battery_id", "timestamp", "current_A"):
        nulls = frame[column].is_null()
        if nulls.any():
            row = int(nulls.arg_max() or 0)
            raise ValidationError(
                f"row {row} has no {column}",
                field=f"row {row}: {column}",
                expected="a value (run the quality checks of batteryloop.telemetry.quality first)",
            )
    duplicated = frame.select(pl.struct("battery_id", "timestamp").is_duplicated()).to_series()
    if duplicated.any():
        row = int(duplicated.arg_max() or 0)
        raise ValidationError(
            f"row {row} repeats the timestamp of another row of battery {frame['battery_id'][row]}",
            field=f"row {row}: timestamp",
            expected="one sample per timestamp (run the quality checks of batteryloop.telemetry.quality first)",
        )


def _interval_mean(value: pl.Expr, previous: pl.Expr) -> pl.Expr:
    """Mean of a quantity over a sampling interval within one step, from its values at the two ends.

    Where both ends have the same sign the quantity is taken to change exponentially between them (the logarithmic
    mean ``(b - a) / ln(b / a)``): exact for the decaying current of a constant-voltage step, and equal to the
    trapezoid for a constant current. Otherwise (a sign change, a zero) the trapezoid.
    """
    change = value - previous
    logarithmic = change / (change / previous).log1p()
    return pl.when((value * previous > 0) & (change != 0)).then(logarithmic).otherwise((value + previous) / 2)


def _largest_current() -> pl.Expr:
    return pl.col("current_A").abs().quantile(0.999).over("battery_id")


def detect_cycles(frame: pl.DataFrame, *, rest_current_A: float | None = None) -> pl.Series:
    """Cycle numbers (from 1, per battery) detected from the sign of the current, for rows sorted by time.

    A new cycle starts at the first charging sample that follows a discharge; samples with ``|I|`` at or below
    ``rest_current_A`` (default 1 % of the battery's largest current) are rest and do not change the phase.

    Parameters
    ----------
    frame : polars.DataFrame
        Canonical telemetry: ``battery_id``, ``timestamp``, ``current_A`` (positive while charging) [A].
    rest_current_A : float, optional
        Largest ``|I|`` that counts as rest. [A]

    Returns
    -------
    polars.Series
        ``cycle_index`` (Int64), aligned with the rows of ``frame``.
    """
    rest = pl.lit(rest_current_A) if rest_current_A is not None else REST_CURRENT_FRACTION * _largest_current()
    phase = pl.when(pl.col("current_A").abs() > rest).then(pl.col("current_A").sign()).otherwise(None).cast(pl.Int8())
    return (
        frame.select(phase.forward_fill().over("battery_id").alias("phase"), pl.col("battery_id"))
        .select(
            (
                ((pl.col("phase") == 1) & (pl.col("phase").shift().over("battery_id") == -1))
                .fill_null(False)
                .cast(pl.Int64())
                .cum_sum()
                .over("battery_id")
                + 1
            ).alias("cycle_index")
        )
        .to_series()
    )


def cycle_table(
    frame: pl.DataFrame,
    *,
    nominal_capacity_Ah: float | None = None,
    rest_current_A: float | None = None,
    min_step_current_A: float | None = None,
    max_interval_s: float = MAX_INTERVAL_S,
    max_step_delay_s: float = MAX_STEP_DELAY_S,
) -> pl.DataFrame:
    """One row per battery and cycle: capacities, energies, efficiencies and resistance integrated from the samples.

    Parameters
    ----------
    frame : polars.DataFrame
        Canonical telemetry (:mod:`batteryloop.telemetry.schema`): ``battery_id``, ``timestamp`` (UTC),
        ``current_A`` (positive while charging) [A], ``voltage_V`` [V]; optional ``cycle_index``, ``step_index`` and
        the ``cycler_*`` columns of the cycler readers. No two rows of a battery may share a timestamp; rows are
        put in time order.
    nominal_capacity_Ah : float, optional
        Rated capacity; adds ``soh_capacity_pct``. [Ah]
    rest_current_A : float, optional
        Largest ``|I|`` that counts as rest, for cycle detection and resistance steps (default 1 % of the battery's
        largest current). [A]
    min_step_current_A : float, optional
        Smallest current step used for resistance (default 10 % of the battery's largest current). [A]
    max_interval_s : float
        Longest sampling interval that is integrated; longer ones are gaps. [s]
    max_step_delay_s : float
        Latest sample after a current step at which ``dV/dI`` is read. [s]

    Returns
    -------
    polars.DataFrame
        The columns listed in the module documentation, sorted by ``battery_id`` and ``cycle_index``.

    Raises
    ------
    ValidationError
        A required column is missing, a row has no timestamp or current, or two rows of a battery share a
        timestamp (naming the row).

    References
    ----------
    The HPPC resistance principle (INL/EXT-15-34184, section 3.3) and the influence of the measurement time scale
    (Barai et al., Sci. Rep. 8 (2018) 21, doi:10.1038/s41598-017-18424-5); see the module notes.
    """
    _check(frame)
    if nominal_capacity_Ah is not None and not nominal_capacity_Ah > 0:
        raise ValidationError(
            f"nominal capacity {nominal_capacity_Ah} Ah", field="nominal_capacity_Ah", expected="a positive number"
        )
    data = frame.sort("battery_id", "timestamp", maintain_order=True)
    if "cycle_index" not in data.columns or data["cycle_index"].null_count() == data.height:
        data = data.with_columns(detect_cycles(data, rest_current_A=rest_current_A))
    elif data["cycle_index"].null_count():
        row = int(data["cycle_index"].is_null().arg_max() or 0)
        raise ValidationError(
            f"row {row} (in time order) has no cycle_index while other rows have one",
            field=f"row {row}: cycle_index",
            expected="a cycle index on every row, or on none",
        )

    by = "battery_id"
    largest = _largest_current()
    rest = pl.lit(rest_current_A) if rest_current_A is not None else REST_CURRENT_FRACTION * largest
    min_step = pl.lit(min_step_current_A) if min_step_current_A is not None else STEP_CURRENT_FRACTION * largest
    current, voltage = pl.col("current_A"), pl.col("voltage_V")
    prev_current, prev_voltage = current.shift().over(by), voltage.shift().over(by)
    if "step_index" in data.columns:
        same_step = (pl.col("step_index") == pl.col("step_index").shift().over(by)).fill_null(True)
    else:
        same_step = pl.lit(True)
    power, prev_power = current * voltage, (current * voltage).shift().over(by)

    steps = data.with_columns(
        (pl.col("timestamp").diff().over(by).dt.total_microseconds() / 1e6).fill_null(0.0).alias("_dt"),
        pl.when(same_step).then(_interval_mean(current, prev_current)).otherwise(current).fill_null(0.0).alias("_i"),
        pl.when(same_step).then(_interval_mean(power, prev_power)).otherwise(power).alias("_p"),
        ((voltage - prev_voltage) / (current - prev_current) * 1000.0).alias("_r"),
        (
            (prev_current.abs() <= rest)
            & ((current - prev_current).abs() >= min_step)
            & voltage.is_not_null()
            & prev_voltage.is_not_null()
        )
        .fill_null(False)
        .alias("_step"),
    )
    gap = pl.col("_dt") > max_interval_s
    hours = pl.when(gap).then(0.0).otherwise(pl.col("_dt") / 3600.0)
    steps = steps.with_columns(
        (pl.col("_i") * hours).alias("_q"),
        pl.when(pl.col("_dt") == 0).then(0.0).otherwise(pl.col("_p") * hours).alias("_e"),
        pl.when(pl.col("_step") & (pl.col("_dt") <= max_step_delay_s)).then(pl.col("_dt")).alias("_delay"),
        pl.when(pl.col("_step") & (pl.col("_dt") <= max_step_delay_s)).then(pl.col("_r")).alias("_r"),
        pl.when(gap).then(pl.col("_dt")).otherwise(0.0).alias("_gap"),
    )

    counters = [c for c in CYCLER_COUNTERS if c in steps.columns]
    previous_counter = {c: pl.col(c).shift().over(by) for c in counters}
    steps = steps.with_columns(
        pl.when(previous_counter[c].is_null())
        .then(0.0)
        .when(pl.col(c) >= previous_counter[c])
        .then(pl.col(c) - previous_counter[c])
        .otherwise(pl.col(c))
        .alias(f"_inc_{c}")
        for c in counters
    )

    energy_known = pl.col("_e").null_count() == 0
    aggregations: list[pl.Expr] = [
        pl.col("timestamp").first().alias("start_time"),
        pl.col("timestamp").last().alias("end_time"),
        pl.len().cast(pl.Int64()).alias("samples"),
        pl.col("_gap").sum().alias("gap_s"),
        pl.col("_q").clip(lower_bound=0.0).sum().alias("charge_capacity_Ah"),
        (-pl.col("_q")).clip(lower_bound=0.0).sum().alias("discharge_capacity_Ah"),
        pl.when(energy_known).then(pl.col("_e").clip(lower_bound=0.0).sum()).alias("charge_energy_Wh"),
        pl.when(energy_known).then((-pl.col("_e")).clip(lower_bound=0.0).sum()).alias("discharge_energy_Wh"),
        pl.col("_r").sort_by("_delay", nulls_last=True).first().alias("resistance_mOhm"),
        pl.col("_delay").min().alias("resistance_delay_s"),
    ]
    aggregations += [pl.col(f"_inc_{c}").sum().alias(c) for c in counters]
    if "cycler_internal_resistance_Ohm" in steps.columns:
        resistance = pl.col("cycler_internal_resistance_Ohm")
        aggregations.append((resistance.filter(resistance > 0).median() * 1000.0).alias("cycler_resistance_mOhm"))

    table = steps.group_by(by, "cycle_index", maintain_order=True).agg(aggregations)
    charge, discharge = pl.col("charge_capacity_Ah"), pl.col("discharge_capacity_Ah")
    charge_energy, discharge_energy = pl.col("charge_energy_Wh"), pl.col("discharge_energy_Wh")
    table = table.with_columns(
        ((pl.col("end_time") - pl.col("start_time")).dt.total_microseconds() / 1e6).alias("duration_s"),
        pl.when(charge > 0).then(discharge / charge).alias("coulombic_efficiency"),
        pl.when(charge_energy > 0).then(discharge_energy / charge_energy).alias("energy_efficiency"),
    )
    if nominal_capacity_Ah is not None:
        table = table.with_columns((discharge / nominal_capacity_Ah * 100.0).alias("soh_capacity_pct"))
    first = [
        "battery_id",
        "cycle_index",
        "start_time",
        "end_time",
        "duration_s",
        "samples",
        "gap_s",
        "charge_capacity_Ah",
        "discharge_capacity_Ah",
        "charge_energy_Wh",
        "discharge_energy_Wh",
        "coulombic_efficiency",
        "energy_efficiency",
        "resistance_mOhm",
        "resistance_delay_s",
    ]
    rest_columns = [c for c in table.columns if c not in first]
    return table.select(first + rest_columns).sort("battery_id", "cycle_index", maintain_order=True)
