"""``batteryloop health estimate``: every Annex VII parameter of one battery from a telemetry file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from batteryloop.commands.groups import health_app
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)


@health_app.command("estimate")
def estimate_command(
    file: Annotated[Path, typer.Argument(help="A canonical CSV or Parquet file, or a cycler export, of one battery.")],
    nominal_capacity_Ah: Annotated[
        float, typer.Option("--nominal-capacity-Ah", help="Rated capacity of the battery (Ah).")
    ],
    nominal_energy_kWh: Annotated[
        float | None,
        typer.Option("--nominal-energy-kWh", help="Certified energy (kWh); needed for the state of certified energy."),
    ] = None,
    chemistry: Annotated[
        str | None, typer.Option(help="NMC, NCA, LFP, LCO or LMO: voltage window, temperature ranges, OCV table.")
    ] = None,
    cells_in_series: Annotated[
        int, typer.Option("--cells-in-series", help="Cells in series behind voltage_V (a pack voltage is divided).")
    ] = 1,
    ocv_table: Annotated[
        Path | None,
        typer.Option("--ocv-table", help="CSV with soc_pct,ocv_V of the cell; replaces the chemistry's table."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto (by suffix), canonical, arbin-xlsx, ...")] = "auto",
    battery_id: Annotated[
        str | None, typer.Option("--battery-id", help="The battery, for files without a battery_id column.")
    ] = None,
    max_current_A: Annotated[
        float | None, typer.Option("--max-current-A", help="Largest plausible |current| for the quality check (A).")
    ] = None,
    initial_resistance_mOhm: Annotated[
        float | None,
        typer.Option("--initial-resistance-mOhm", help="Begin-of-life resistance, for the increase and power fade."),
    ] = None,
    initial_round_trip_efficiency_pct: Annotated[
        float | None,
        typer.Option("--initial-round-trip-efficiency-pct", help="Begin-of-life round-trip efficiency (%)."),
    ] = None,
    initial_self_discharge_pct_per_month: Annotated[
        float | None,
        typer.Option("--initial-self-discharge-pct-per-month", help="Begin-of-life self-discharge rate (%/month)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Estimate the Annex VII state-of-health parameters of the battery in FILE, each with its method and uncertainty.

    The file is read by its format's reader and every row checked (telemetry quality) before the estimate; the
    quality report is part of the output. Values the data cannot give are null with the reason.
    """
    from batteryloop.health.ocv import parse_table
    from batteryloop.health.pipeline import Reference, estimate
    from batteryloop.telemetry import quality, readers
    from batteryloop.telemetry.readers import ReadOptions

    table = None
    if ocv_table is not None:
        try:
            text = ocv_table.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(
                f"{ocv_table}: cannot read ({exc})", field="--ocv-table", expected="a CSV file with soc_pct,ocv_V"
            ) from None
        table = parse_table(text, str(ocv_table))
    if chemistry is not None:
        from batteryloop.rules import chemistry as chemistry_limits

        chemistry = chemistry_limits(chemistry).chemistry
    frame = readers.read(file, fmt, ReadOptions(battery_id=battery_id))
    limits = quality.QualityLimits.for_chemistry(chemistry, cells_in_series, max_current_A)
    checked = quality.check(frame, limits)
    if checked.frame.height == 0:
        raise ValidationError(
            f"{file}: no row passed the quality check ({checked.report.rejected} rejected)",
            field=str(file),
            expected="rows with valid timestamps, current and voltage",
        )
    result = estimate(
        checked.frame,
        nominal_capacity_Ah=nominal_capacity_Ah,
        nominal_energy_kWh=nominal_energy_kWh,
        chemistry=chemistry,
        cells_in_series=cells_in_series,
        ocv_table=table,
        reference=Reference(
            initial_resistance_mOhm=initial_resistance_mOhm,
            initial_round_trip_efficiency_pct=initial_round_trip_efficiency_pct,
            initial_self_discharge_rate_pct_per_month=initial_self_discharge_pct_per_month,
        ),
        quality_report=checked.report.as_dict(),
    )
    data = result.as_dict()
    data["source_file"] = str(file)
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        return
    _print_table(data)


def _print_table(data: dict[str, Any]) -> None:
    table = Table(title=f"Annex VII parameters of {data.get('battery_id') or 'the battery'} at {data['measured_at']}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    table.add_column("uncertainty", justify="right")
    table.add_column("method / why not")
    for key, item in data.items():
        if not isinstance(item, dict) or "method" not in item:
            continue
        value = item.get("value")
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)
        unc = item.get("uncertainty")
        table.add_row(
            key,
            "-" if value is None else shown,
            "" if unc is None else f"{unc:.3g}",
            item.get("note") or item["method"],
        )
    out.print(table)
    q = data.get("quality") or {}
    if q:
        out.print(
            f"quality: {q.get('rows_in')} rows in, {q.get('accepted')} accepted, {q.get('repaired')} repaired, "
            f"{q.get('rejected')} rejected"
        )
