"""``batteryloop telemetry ingest``: read a BMS or cycler file, check every row, store it, print the quality report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import typer
from rich.console import Console

from batteryloop.commands.groups import telemetry_app
from batteryloop.config import get_settings
from batteryloop.errors import ValidationError
from batteryloop.telemetry import quality, readers
from batteryloop.telemetry.readers import ReadOptions
from batteryloop.telemetry.store import TelemetryStore

out = Console(soft_wrap=True, highlight=False)

CHOICES: dict[str, tuple[str, ...]] = {
    "--current-sign": ("charge-positive", "discharge-positive"),
    "--current-unit": ("A", "mA"),
    "--voltage-unit": ("V", "mV"),
    "--temperature-unit": ("C", "K"),
}


def _choice(option: str, value: str) -> str:
    if value not in CHOICES[option]:
        raise ValidationError(f"{option} {value!r} is not known", field=option, expected=" or ".join(CHOICES[option]))
    return value


@telemetry_app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="A canonical CSV or Parquet file, or a cycler export.")],
    battery_id: Annotated[
        str | None, typer.Option("--battery-id", help="The battery (needed when the file has no battery_id column).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto (by suffix), " + ", ".join(readers.FORMATS) + ".")
    ] = "auto",
    store: Annotated[
        Path | None, typer.Option(help="The telemetry store (default: BATTERYLOOP_DATA_DIR/telemetry).")
    ] = None,
    chemistry: Annotated[
        str | None, typer.Option(help="NMC, NCA, LFP, LCO or LMO: checks voltages against its window.")
    ] = None,
    cells_in_series: Annotated[int, typer.Option(help="Cells in series behind voltage_V.")] = 1,
    max_current_A: Annotated[
        float | None, typer.Option("--max-current-A", help="Largest plausible |current| [A]; larger is rejected.")
    ] = None,
    current_sign: Annotated[
        str, typer.Option(help="charge-positive (canonical) or discharge-positive.")
    ] = "charge-positive",
    current_unit: Annotated[str, typer.Option(help="A or mA.")] = "A",
    voltage_unit: Annotated[str, typer.Option(help="V or mV.")] = "V",
    temperature_unit: Annotated[str, typer.Option(help="C or K.")] = "C",
    timezone: Annotated[
        str | None, typer.Option(help="IANA zone of timestamps written without an offset (local time).")
    ] = None,
    write: Annotated[
        bool, typer.Option("--store-rows/--check-only", help="Store the rows, or only check them.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Read FILE, check every row (accepted, repaired or rejected, each with its reason), store it, print the report.

    Re-ingesting the same file changes nothing. Rejected rows are kept in the store under _rejected/.
    """
    options = ReadOptions(
        battery_id=battery_id,
        current_sign=cast(Literal["charge-positive", "discharge-positive"], _choice("--current-sign", current_sign)),
        current_unit=cast(Literal["A", "mA"], _choice("--current-unit", current_unit)),
        voltage_unit=cast(Literal["V", "mV"], _choice("--voltage-unit", voltage_unit)),
        temperature_unit=cast(Literal["C", "K"], _choice("--temperature-unit", temperature_unit)),
        timezone=timezone,
    )
    limits = quality.QualityLimits.for_chemistry(chemistry, cells_in_series, max_current_A)
    name = readers.format_for(file, fmt)
    frame = readers.read(file, name, options)
    result = quality.check(frame, limits)

    summary: dict[str, Any] = {"file": str(file), "format": name, "quality": result.report.as_dict()}
    if write:
        root = store if store is not None else get_settings().data_dir / "telemetry"
        telemetry = TelemetryStore(root)
        written = telemetry.write(result.frame)
        kept = None
        if result.rejected.height:
            kept = telemetry.keep_rejected(result.rejected, source=file, digest=_digest(file))
        summary["store"] = {"root": str(root), **written.as_dict(), "rejected_file": str(kept) if kept else None}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, default=str))
    else:
        _print(summary)


def _digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _counts(by_reason: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in by_reason.items())


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _print(summary: dict[str, Any]) -> None:
    q = summary["quality"]
    batteries = q["batteries"]
    who = ", ".join(batteries[:5]) + (f", ... ({len(batteries)} batteries)" if len(batteries) > 5 else "")
    out.print(f"{summary['file']} ({summary['format']}): {q['rows_in']:,} rows; battery {who or '-'}")
    if q["first_timestamp"]:
        out.print(f"  time        {q['first_timestamp']} .. {q['last_timestamp']}")
    out.print(f"  accepted    {q['accepted']:>12,}")
    out.print(f"  repaired    {q['repaired']:>12,}   {_counts(q['repaired_by_reason'])}".rstrip())
    out.print(f"  rejected    {q['rejected']:>12,}   {_counts(q['rejected_by_reason'])}".rstrip())
    gaps = q["gaps"]
    if gaps["count"]:
        out.print(
            f"  gaps        {gaps['count']:>12,}   total {_duration(gaps['total_s'])}, "
            f"longest {_duration(gaps['longest_s'])}"
        )
        for gap in gaps["intervals"][:10]:
            out.print(
                f"              {gap['battery_id']}: {gap['start']} .. {gap['end']} ({_duration(gap['duration_s'])})"
            )
        if gaps["count"] > 10:
            out.print(f"              ... {gaps['count'] - 10:,} more (--json lists up to {len(gaps['intervals'])})")
    else:
        out.print("  gaps                   0")
    if q["extra_columns"]:
        out.print(f"  extra columns set aside (not stored): {', '.join(q['extra_columns'])}")
    for skipped in q["checks_skipped"]:
        out.print(f"  not checked: {skipped}")
    for note in q["notes"]:
        out.print(f"  note: {note}")
    if "store" in summary:
        s = summary["store"]
        out.print(
            f"stored in {s['root']}: {s['partitions_written']} partition(s) written, "
            f"{s['partitions_unchanged']} unchanged; {s['rows_new']:,} new rows, {s['rows_replaced']:,} replaced, "
            f"{s['rows_unchanged']:,} already stored"
        )
        if s["rejected_file"]:
            out.print(f"rejected rows kept in {s['rejected_file']}")
    else:
        out.print("checked only: nothing stored")
