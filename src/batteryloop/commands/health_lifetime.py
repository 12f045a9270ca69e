"""``batteryloop health lifetime``: when a capacity history reaches a threshold, with an interval and the model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console

from batteryloop.commands.groups import health_app
from batteryloop.errors import ImportFormatError, ValidationError
from batteryloop.health.lifetime import (
    DEFAULT_CONFIDENCE,
    CapacityHistory,
    LifetimePrediction,
    Selection,
    Uncertainty,
    history_from_frame,
    predict_lifetime,
)

out = Console(soft_wrap=True, highlight=False)

DEFAULT_THRESHOLD_PCT = 80.0


def read_history_file(path: Path, *, columns: dict[str, str]) -> pl.DataFrame:
    """A CSV (every cell read as text, parsed and checked by :func:`history_from_frame`) or Parquet history.

    ``columns`` maps the file's column names to ``cycle``, ``timestamp`` and ``capacity_Ah``.
    """
    if not path.is_file():
        raise ImportFormatError(f"{path} does not exist", field=str(path), expected="a CSV or Parquet file")
    try:
        parquet = path.suffix.lower() == ".parquet"
        frame = pl.read_parquet(path) if parquet else pl.read_csv(path, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise ImportFormatError(
            f"{path}: not a readable capacity history ({type(exc).__name__})",
            field=str(path),
            expected="CSV with a header row (cycle or timestamp, capacity_Ah), or Parquet",
        ) from exc
    renames = {src: dst for dst, src in columns.items() if src != dst and src in frame.columns}
    clash = [dst for dst in renames.values() if dst in frame.columns]
    if clash:
        raise ValidationError(
            f"{path}: column {clash[0]} exists and another column is mapped onto it",
            field=clash[0],
            expected="one source column per field",
        )
    return frame.rename(renames)


def passport_thresholds(passport_id: str) -> dict[str, float]:
    """The public ``capacity_threshold_exhaustion_pct`` and ``rated_capacity_Ah`` of a passport in the registry."""
    from batteryloop.cli import registry
    from batteryloop.passport.access import Viewer

    with registry() as (service, _):
        data = service.view(Viewer.anonymous(), passport_id, action="read").data
    found: dict[str, float] = {}
    for key in ("capacity_threshold_exhaustion_pct", "rated_capacity_Ah"):
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            found[key] = float(value)
    return found


def _text(prediction: LifetimePrediction) -> list[str]:
    p = prediction
    unit = "cycle" if p.axis.value == "cycle" else "day"
    lines = [
        f"threshold: {p.threshold_pct:g} % of {p.reference_capacity_Ah:.4g} Ah ({p.reference}) = "
        f"{p.threshold_capacity_Ah:.4g} Ah; last point {unit} {p.last_x:g} at {p.last_capacity_Ah:.4g} Ah",
        f"status: {p.status.value}; model: {p.model} ({p.formula})",
    ]
    if p.threshold_x is None:
        lines.append(f"not reached within the horizon ({unit} {p.horizon_x:g})")
    else:
        high = "beyond the horizon" if p.threshold_x_high is None else f"{p.threshold_x_high:.0f}"
        low = "?" if p.threshold_x_low is None else f"{p.threshold_x_low:.0f}"
        lines.append(f"threshold {unit}: {p.threshold_x:.0f} ({p.confidence:.0%} interval {low} - {high})")
        if p.remaining_cycles is not None:
            lines.append(f"remaining cycles: {p.remaining_cycles:.0f}")
    if p.threshold_date is not None:
        high_date = "beyond the horizon" if p.threshold_date_high is None else p.threshold_date_high.date().isoformat()
        low_date = "?" if p.threshold_date_low is None else p.threshold_date_low.date().isoformat()
        lines.append(f"threshold date: {p.threshold_date.date().isoformat()} (interval {low_date} - {high_date})")
    lines.append(f"selection: {p.selection}")
    lines.append(f"uncertainty: {p.uncertainty}")
    return lines


def _population(
    path: Path,
    frame: pl.DataFrame,
    parsed: CapacityHistory,
    model_path: Path,
    threshold_pct: float | None,
    reference_capacity_Ah: float | None,
    confidence: float,
    as_json: bool,
) -> None:
    from batteryloop.commands.health_lifetime_model import charge_arrays, read_model
    from batteryloop.health.early_life import predict_population

    model = read_model(model_path)
    if threshold_pct is not None and not math.isclose(threshold_pct, model.threshold_pct):
        raise ValidationError(
            f"the population model predicts {model.threshold_pct:g} %, not {threshold_pct:g} %",
            field="threshold_pct",
            expected=f"{model.threshold_pct:g} (the model's threshold), or a model fitted with --threshold-pct "
            f"{threshold_pct:g}",
        )
    if reference_capacity_Ah is not None and (
        model.reference_capacity_Ah is None or not math.isclose(reference_capacity_Ah, model.reference_capacity_Ah)
    ):
        given = "each history's first capacity" if model.reference_capacity_Ah is None else "a different capacity"
        raise ValidationError(
            f"the population model's threshold refers to {given}",
            field="reference_capacity_Ah",
            expected="no --reference-capacity-Ah with --population, or a model fitted with the same one",
        )
    charge = charge_arrays(frame, model.charge_columns, path.name)
    result = predict_population(parsed, model, charge=charge, confidence=confidence, source=path.name)
    if as_json:
        payload = result.as_dict()
        payload["file"] = str(path)
        payload["population_model"] = str(model_path)
        out.print(json.dumps(payload), soft_wrap=True, markup=False)
        return
    for line in _text(result.lifetime):
        out.print(line, markup=False)
    for warning in result.warnings:
        out.print(f"warning: {warning}", markup=False)


@health_app.command("lifetime")
def health_lifetime(
    history: Annotated[
        Path,
        typer.Argument(help="Capacity history: CSV or Parquet with cycle and/or timestamp, and capacity_Ah."),
    ],
    threshold_pct: Annotated[
        float | None,
        typer.Option(
            "--threshold-pct",
            help="Threshold, % of the reference capacity (80, 70, ...). Default: the passport's exhaustion "
            "threshold with --passport, else 80.",
        ),
    ] = None,
    reference_capacity_Ah: Annotated[
        float | None,
        typer.Option(
            "--reference-capacity-Ah",
            help="Capacity the threshold refers to [Ah]. Default: the passport's rated capacity with --passport, "
            "else the history's first capacity.",
        ),
    ] = None,
    passport: Annotated[
        str | None,
        typer.Option(help="Passport id: take its capacity threshold for exhaustion and rated capacity."),
    ] = None,
    confidence: Annotated[float, typer.Option(help="Two-sided level of the interval.")] = DEFAULT_CONFIDENCE,
    uncertainty: Annotated[
        Uncertainty | None,
        typer.Option(help="Parameter covariance (fast, the default) or moving-block residual bootstrap."),
    ] = None,
    selection: Annotated[
        Selection | None,
        typer.Option(help="Model selection: earliest adequate crossing (default) or smallest AICc."),
    ] = None,
    cycle_column: Annotated[str, typer.Option(help="Column holding the cycle number.")] = "cycle",
    time_column: Annotated[str, typer.Option(help="Column holding the timestamp.")] = "timestamp",
    capacity_column: Annotated[str, typer.Option(help="Column holding the capacity [Ah].")] = "capacity_Ah",
    as_json: Annotated[bool, typer.Option("--json", help="Print the prediction as one JSON object.")] = False,
    population: Annotated[
        Path | None,
        typer.Option(
            help="Population model (from `health lifetime-model fit`): predict from the first cycles of the history "
            "with what cells of the same model showed, instead of extrapolating this cell's fade.",
        ),
    ] = None,
    cycle_from_row: Annotated[
        bool, typer.Option("--cycle-from-row", help="A file without a cycle column: row n is cycle n.")
    ] = False,
) -> None:
    """Predict when the capacity reaches the threshold: cycle (and date), interval and the fade model used."""
    source: dict[str, Any] = {}
    if passport is not None:
        found = passport_thresholds(passport)
        if threshold_pct is None:
            if "capacity_threshold_exhaustion_pct" not in found:
                raise ValidationError(
                    f"passport {passport} states no capacity threshold for exhaustion",
                    field="capacity_threshold_exhaustion_pct",
                    expected="the attribute on the passport, or --threshold-pct",
                )
            threshold_pct = found["capacity_threshold_exhaustion_pct"]
            source["threshold_pct"] = f"passport {passport}: capacity_threshold_exhaustion_pct"
        if reference_capacity_Ah is None and "rated_capacity_Ah" in found:
            reference_capacity_Ah = found["rated_capacity_Ah"]
            source["reference_capacity_Ah"] = f"passport {passport}: rated_capacity_Ah"
    frame = read_history_file(
        history, columns={"cycle": cycle_column, "timestamp": time_column, "capacity_Ah": capacity_column}
    )
    if cycle_from_row and "cycle" not in frame.columns:
        frame = frame.with_columns(pl.Series("cycle", [float(i) for i in range(1, frame.height + 1)]))
    parsed = history_from_frame(frame, source=history.name)
    if population is not None:
        for name, given in (("uncertainty", uncertainty), ("selection", selection)):
            if given is not None:
                raise ValidationError(
                    f"--{name} applies to the fade-model extrapolation, not to a population model",
                    field=name,
                    expected="no --uncertainty or --selection with --population",
                )
        _population(history, frame, parsed, population, threshold_pct, reference_capacity_Ah, confidence, as_json)
        return
    prediction = predict_lifetime(
        parsed,
        threshold_pct=DEFAULT_THRESHOLD_PCT if threshold_pct is None else threshold_pct,
        reference_capacity_Ah=reference_capacity_Ah,
        confidence=confidence,
        uncertainty=uncertainty or Uncertainty.COVARIANCE,
        selection=selection or Selection.EARLIEST_ADEQUATE,
    )
    if as_json:
        payload = prediction.as_dict()
        payload["file"] = str(history)
        if source:
            payload["source"] = source
        out.print(json.dumps(payload), soft_wrap=True, markup=False)
        return
    for line in _text(prediction):
        out.print(line, markup=False)
