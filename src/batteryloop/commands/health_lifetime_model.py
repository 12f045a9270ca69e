"""``batteryloop health lifetime-model fit``: a population lifetime model from cells with a known end of life."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer
from rich.console import Console

from batteryloop.commands.groups import health_app
from batteryloop.commands.health_lifetime import read_history_file
from batteryloop.errors import ImportFormatError, Problem, ValidationError
from batteryloop.health.early_life import (
    DEFAULT_FIRST_CYCLES,
    MIN_TRAINING_CELLS,
    FeatureSet,
    PopulationModel,
    charge_columns,
    early_features,
    fit_population,
)
from batteryloop.health.lifetime import history_from_frame, observed_crossing

out = Console(soft_wrap=True, highlight=False)

lifetime_model_app = typer.Typer(
    help="Population lifetime models: learn early-life to cycle-life from cells of the same model.",
    no_args_is_help=True,
)
health_app.add_typer(lifetime_model_app, name="lifetime-model")

HISTORY_SUFFIXES = (".csv", ".parquet")


def history_files(paths: list[Path]) -> list[Path]:
    """The history files named, and those in the directories named (recursively, ``*.csv`` and ``*.parquet``)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in HISTORY_SUFFIXES)
            if not found:
                raise ImportFormatError(
                    f"{path}: no history files", field=str(path), expected="CSV or Parquet files in the directory"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ImportFormatError(f"{path} does not exist", field=str(path), expected="a file or a directory")
    return files


def with_row_cycles(frame: pl.DataFrame, cycle_from_row: bool) -> pl.DataFrame:
    """The frame, with ``cycle`` = 1, 2, ... added when asked and the frame has no cycle column."""
    if cycle_from_row and "cycle" not in frame.columns:
        return frame.with_columns(pl.Series("cycle", np.arange(1, frame.height + 1, dtype=float)))
    return frame


def charge_arrays(frame: pl.DataFrame, columns: tuple[str, ...], source: str) -> dict[str, np.ndarray]:
    """The named per-cycle charge columns of ``frame`` as float arrays; a bad cell is named by row and column."""
    found: dict[str, np.ndarray] = {}
    for column in columns:
        if column not in frame.columns:
            continue
        series = frame.get_column(column)
        text = series.cast(pl.String).str.strip_chars()
        values = text.cast(pl.Float64, strict=False)
        bad = values.is_null() | values.is_nan().fill_null(False)
        if bad.any():
            i = int(bad.arg_true()[0])
            raise ValidationError(
                f"{source}: row {i + 1}, {column}: {series[i]!r} is not a number",
                field=f"{source}: row {i + 1}, {column}",
                expected=f"a number in every row of {column}",
            )
        found[column] = values.to_numpy().astype(float)
    return found


def read_model(path: Path) -> PopulationModel:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFormatError(
            f"{path}: cannot read the model ({type(exc).__name__})",
            field=str(path),
            expected="the JSON written by batteryloop health lifetime-model fit",
        ) from None
    return PopulationModel.from_dict(data, source=path.name)


@lifetime_model_app.command("fit")
def lifetime_model_fit(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Histories of cells run to end of life: files, or directories of CSV/Parquet files."),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the model (JSON).")],
    threshold_pct: Annotated[
        float, typer.Option("--threshold-pct", help="End of life, % of the reference capacity.")
    ] = 80.0,
    first_cycles: Annotated[
        int, typer.Option("--first-cycles", help="K: the model predicts from the first K cycles.")
    ] = DEFAULT_FIRST_CYCLES,
    reference_capacity_Ah: Annotated[
        float | None,
        typer.Option(
            "--reference-capacity-Ah", help="Capacity the threshold refers to [Ah]. Default: each history's first."
        ),
    ] = None,
    feature_set: Annotated[
        FeatureSet, typer.Option(help="Capacity features and charge-column changes (default), capacity only, or all.")
    ] = FeatureSet.CHANGES,
    cycle_column: Annotated[str, typer.Option(help="Column holding the cycle number.")] = "cycle",
    capacity_column: Annotated[str, typer.Option(help="Column holding the capacity [Ah].")] = "capacity_Ah",
    cycle_from_row: Annotated[
        bool, typer.Option("--cycle-from-row", help="Files without a cycle column: row n is cycle n.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Fit a population model: features of each cell's first K cycles against its cycle life (ridge, log life).

    Cells that never reach the threshold, or reach it within the first K cycles, are listed and left out.
    """
    if not 0 < threshold_pct < 100:
        raise ValidationError(
            "threshold out of range", field="threshold_pct", expected="a percentage between 0 and 100"
        )
    files = history_files(paths)
    columns = {"cycle": cycle_column, "timestamp": "timestamp", "capacity_Ah": capacity_column}
    feats: list[dict[str, float]] = []
    lives: list[float] = []
    names: list[str] = []
    excluded: list[dict[str, str]] = []
    for f in files:
        frame = with_row_cycles(read_history_file(f, columns=columns), cycle_from_row)
        history = history_from_frame(frame, source=f.name)
        if history.cycle is None:
            raise ValidationError(
                f"{f.name}: no cycle column",
                field=f"{f.name}: cycle",
                expected="a cycle column (or --cycle-from-row for files with one row per cycle)",
                code="missing",
            )
        ref = reference_capacity_Ah if reference_capacity_Ah is not None else float(history.capacity_Ah[0])
        threshold_Ah = threshold_pct / 100.0 * ref
        life = observed_crossing(history.cycle, history.capacity_Ah, threshold_Ah)
        if life is None:
            excluded.append(
                {
                    "file": str(f),
                    "reason": f"never reaches {threshold_pct:g} % ({threshold_Ah:.4g} Ah); last capacity "
                    f"{history.capacity_Ah[-1]:.4g} Ah at cycle {history.cycle[-1]:g}",
                }
            )
            continue
        if life <= first_cycles:
            excluded.append(
                {
                    "file": str(f),
                    "reason": f"reaches the threshold at cycle {life:.0f}, within the first {first_cycles}",
                }
            )
            continue
        charge = charge_arrays(frame, charge_columns(), f.name)
        feats.append(
            early_features(history.cycle, history.capacity_Ah, first_cycles=first_cycles, charge=charge, source=f.name)
        )
        lives.append(life)
        names.append(str(f))
    if len(feats) < MIN_TRAINING_CELLS:
        raise ValidationError(
            f"{len(feats)} of {len(files)} histories reach {threshold_pct:g} % after cycle {first_cycles}",
            problems=[
                Problem(e["file"], e["reason"], "a history run past the threshold", "left_out") for e in excluded
            ],
        )
    model = fit_population(
        feats,
        lives,
        names,
        first_cycles=first_cycles,
        threshold_pct=threshold_pct,
        reference_capacity_Ah=reference_capacity_Ah,
        feature_set=feature_set,
        excluded=excluded,
    )
    out_file.write_text(json.dumps(model.to_dict(), indent=1), encoding="utf-8")
    summary: dict[str, Any] = {
        "model": str(out_file),
        "training_cells": len(model.cells),
        "excluded_cells": excluded,
        "features": len(model.features),
        "charge_columns": list(model.charge_columns),
        "penalty": model.penalty,
        "cv_rmse_cycles": round(model.cv_rmse_cycles, 1),
        "cv_mape_pct": round(model.cv_mape_pct, 2),
        "life_range": [min(lives), max(lives)],
    }
    if as_json:
        out.print(json.dumps(summary), soft_wrap=True, markup=False)
        return
    out.print(
        f"fitted on {len(model.cells)} cells (lives {min(lives):.0f}-{max(lives):.0f} cycles) with "
        f"{len(model.features)} features of the first {first_cycles} cycles; written to {out_file}",
        markup=False,
    )
    out.print(
        f"leave-one-out: RMSE {model.cv_rmse_cycles:.0f} cycles, MAPE {model.cv_mape_pct:.1f} %; "
        f"ridge penalty {model.penalty:.3g}",
        markup=False,
    )
    if model.charge_columns:
        out.print("charge columns: " + ", ".join(model.charge_columns), markup=False)
    for e in excluded:
        out.print(f"left out: {e['file']}: {e['reason']}", markup=False)
