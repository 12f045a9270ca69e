"""``batteryloop s2``: S2 (EN 50491-12-2), batteryloop as Customer Energy Manager and battery resource managers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from batteryloop.errors import ImportFormatError, ValidationError

s2_app = typer.Typer(
    help="S2 (EN 50491-12-2): batteryloop as Customer Energy Manager for batteries, and a battery resource manager.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True, highlight=False)


def passport_values(path: Path) -> dict[str, Any]:
    """Attribute values from a JSON file: a mapping attribute -> value (or -> {"value": ...}), or such a mapping
    under ``data`` (a passport view)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFormatError(f"{path}: not a readable JSON file ({exc})", field=str(path), expected="JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):
        doc = doc["data"]
    if not isinstance(doc, dict):
        raise ImportFormatError(f"{path}: not a JSON object", field=str(path), expected="attribute -> value")
    return {k: (v.get("value") if isinstance(v, dict) else v) for k, v in doc.items()}


@s2_app.command("cem")
def cem(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; resource managers connect to ws://host:port/.")] = 9100,
    prices: Annotated[Path | None, typer.Option(help="Day-ahead price CSV (see energy prices).")] = None,
    horizon_hours: Annotated[float, typer.Option(help="Plan horizon [h].")] = 24.0,
    clock: Annotated[str, typer.Option(help="wall, or rm: follow the resource managers' times (simulation).")] = "wall",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every message refused.")] = False,
) -> None:
    """Run the Customer Energy Manager until interrupted: batteries connect, describe themselves (FRBC), and get
    instructions from the energy package's day-ahead arbitrage."""
    from batteryloop.commands.ocpp import price_signal
    from batteryloop.protocols.s2_cem import S2Cem

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    signal = price_signal(prices) if prices is not None else None

    async def main() -> None:
        server = S2Cem(prices=signal, clock=clock, horizon_hours=horizon_hours)
        await server.serve(host, port)
        out.print(f"S2 CEM listening on ws://{host}:{server.port}/")
        await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        out.print("stopped")


@s2_app.command("rm")
def rm(
    passport: Annotated[Path, typer.Option(help="JSON of the battery's passport attribute values.")],
    power_kW: Annotated[float, typer.Option("--power-kW", help="The battery's power [kW].")],
    url: Annotated[str, typer.Option(help="The CEM.")] = "ws://127.0.0.1:9100/",
    soc: Annotated[float, typer.Option(help="State of charge at the start [%].")] = 50.0,
    hours: Annotated[float, typer.Option(help="Simulated hours to run.")] = 24.0,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second at most (0: no pacing).")] = 3600.0,
    start: Annotated[
        str | None, typer.Option(help="Simulated start (ISO 8601, UTC if no offset); default now.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Run a simulated battery as an S2 resource manager against a CEM: handshake, FRBC description, instructions
    executed, state of charge and power reported every hour."""
    from batteryloop.protocols.s2_battery import BatterySpec
    from batteryloop.protocols.s2_rm import BatteryRm, SimClock

    if not 0 <= soc <= 100:
        raise ValidationError(f"{soc}", field="--soc", expected="0..100 (%)")
    if not 0 < hours <= 24 * 7 or speed < 0:
        raise ValidationError(f"{hours} h at speed {speed}", field="--hours", expected="0 < hours <= 168, speed >= 0")
    try:
        t0 = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else datetime.now(UTC)
    except ValueError:
        raise ValidationError(f"{start!r}", field="--start", expected="ISO 8601 date-time") from None
    spec = BatterySpec.from_passport(passport_values(passport), power_kW=power_kW, name=passport.stem)
    clock = SimClock(t0)

    async def main() -> BatteryRm:
        battery = BatteryRm(url, spec, soc, clock)
        await battery.connect()
        wall0, begin = time.perf_counter(), clock.now
        t = begin
        while t < begin + timedelta(hours=hours):
            t += timedelta(minutes=15)
            if speed > 0:
                delay = wall0 + (t - begin).total_seconds() / speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await battery.advance(t, report=t.minute == 0)
        await battery.close()
        return battery

    battery = asyncio.run(main())
    charged = sum(iv.kW * (iv.end - iv.start).total_seconds() / 3600 for iv in battery.intervals if iv.kW > 0)
    discharged = -sum(iv.kW * (iv.end - iv.start).total_seconds() / 3600 for iv in battery.intervals if iv.kW < 0)
    payload = {
        "control_type": battery.control_type,
        "usable_kWh": round(spec.energy_kWh, 4),
        "efficiency": round(spec.efficiency, 6),
        "instructions_executed": len(battery.executed),
        "instructions_revoked": len(battery.revoked),
        "refused_by_cem": len(battery.refused),
        "charged_kWh": round(charged, 4),
        "discharged_kWh": round(discharged, 4),
        "soc_end_pct": round(battery.soc_pct, 4),
    }
    if as_json:
        out.print(json.dumps(payload), markup=False)
    else:
        for key, value in payload.items():
            out.print(f"{key}: {value}")
