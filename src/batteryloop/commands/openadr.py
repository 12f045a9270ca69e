"""``batteryloop openadr``: OpenADR 3, batteryloop as a VEN for grid operators' capacity limits and prices."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from batteryloop.errors import ValidationError

openadr_app = typer.Typer(
    help="OpenADR 3: batteryloop as a VEN (capacity limits and prices for a window re-plan a battery), "
    "and a VTN stand-in for trials.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True, highlight=False)


@openadr_app.command("ven")
def ven(
    vtn: Annotated[str, typer.Option(help="The VTN's base URL (its OpenADR 3 API root).")],
    client_id: Annotated[str, typer.Option(help="OAuth2 client id the VTN issued.")],
    client_secret: Annotated[str, typer.Option(help="OAuth2 client secret.", envvar="BATTERYLOOP_OPENADR_SECRET")],
    ven_name: Annotated[str, typer.Option(help="The name to register as.")] = "batteryloop",
    program: Annotated[list[str] | None, typer.Option(help="Program name to follow (repeat); default all.")] = None,
    power_kW: Annotated[float, typer.Option("--power-kW", help="The battery's power [kW].")] = 10.0,
    energy_kWh: Annotated[float, typer.Option("--energy-kWh", help="The battery's usable energy [kWh].")] = 40.0,
    soc: Annotated[float, typer.Option(help="State of charge now, and the least at the horizon's end [%].")] = 50.0,
    prices: Annotated[Path | None, typer.Option(help="Base day-ahead price CSV (see energy prices).")] = None,
    baseline_kW: Annotated[
        float | None, typer.Option("--baseline-kW", help="Resource group baseline for NL flex FLEX events [kW].")
    ] = None,
    horizon_hours: Annotated[float, typer.Option(help="Plan horizon [h].")] = 24.0,
    poll_s: Annotated[float, typer.Option(help="Seconds between polls of the VTN.")] = 5.0,
    max_polls: Annotated[int | None, typer.Option(help="Stop after this many polls (default: run until ^C).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="At the end print the state as one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every event and retry.")] = False,
) -> None:
    """Run the VEN: register, poll the events, re-plan the battery on every capacity limit or price, report."""
    from batteryloop.protocols.openadr_ven import BatterySpec, Ven

    if not 0 <= soc <= 100:
        raise ValidationError(f"{soc}", field="--soc", expected="0..100 (%)")
    if poll_s <= 0:
        raise ValidationError(f"{poll_s}", field="--poll-s", expected="> 0")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    signal = None
    if prices is not None:
        from batteryloop.commands.ocpp import price_signal

        signal = price_signal(prices)
    agent = Ven(
        vtn,
        client_id,
        client_secret,
        ven_name=ven_name,
        programs=program or None,
        battery=BatterySpec(power_kW=power_kW, energy_kWh=energy_kWh, soc=soc / 100.0),
        base_prices=signal,
        baseline_kW=baseline_kW,
        horizon_hours=horizon_hours,
        poll_s=poll_s,
    )
    t0 = time.perf_counter()
    try:
        asyncio.run(agent.run(asyncio.Event(), max_polls=max_polls))
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        agent.close()
    state = {
        "ven_id": agent.ven_id,
        "events_accepted": sorted(agent.signals),
        "problems": agent.problems,
        "reports_sent": len(agent.reports_sent),
        "report_errors": agent.report_errors,
        "vtn_failures": agent.failures,
        "replans": agent.replans,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    plan = agent.battery_plan
    if plan is not None:
        state["plan"] = [
            {"start": s.isoformat(), "net_kW": round(float(v), 3), "price_eur_per_MWh": round(float(p), 3)}
            for s, v, p in zip(plan.starts, plan.net_kW, plan.price_eur_per_MWh, strict=True)
        ]
    if as_json:
        out.print(json.dumps(state))
        return
    out.print(
        f"VEN {ven_name} ({agent.ven_id}) at {vtn}: {len(agent.signals)} event(s) in force, "
        f"{len(agent.problems)} problem(s), {len(agent.reports_sent)} report(s) sent, "
        f"{agent.failures} failed poll(s), {agent.replans} re-plan(s)"
    )
    for p in agent.problems:
        out.print(f"  rejected {p.get('instance', '?')}: {p['detail']}")


@openadr_app.command("vtn")
def vtn_command(
    client: Annotated[list[str], typer.Option(help="A client as id:secret:role (role ven or bl); repeat for more.")],
    program: Annotated[list[str] | None, typer.Option(help="A program name to create (repeat).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8100,
) -> None:
    """Run the VTN stand-in (in memory) until interrupted: for trying a VEN; not a production VTN."""
    from batteryloop.protocols.openadr_vtn import Vtn, VtnServer

    state = Vtn()
    for k, text in enumerate(client):
        parts = text.split(":")
        if len(parts) != 3 or parts[2] not in ("ven", "bl"):
            raise ValidationError(f"{text!r}", field=f"--client[{k}]", expected="id:secret:role with role ven or bl")
        state.add_client(parts[0], parts[1], parts[2])
    for name in program or ["default"]:
        state.add_program({"programName": name})
    server = VtnServer(state, host, port).start()
    out.print(f"OpenADR 3 VTN stand-in on {server.url} (programs: {', '.join(program or ['default'])})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        server.stop()
