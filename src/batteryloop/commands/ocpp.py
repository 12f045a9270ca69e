"""``batteryloop ocpp``: the hub's OCPP 2.0.1 charging-station management system and a charge-point simulator."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from batteryloop.errors import ValidationError

if TYPE_CHECKING:
    from batteryloop.protocols.hub import PriceSignal

ocpp_app = typer.Typer(
    help="OCPP 2.0.1 smart charging for charging hubs: the CSMS (plans with the energy package) and a simulator.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def price_signal(path: Path) -> PriceSignal:
    """A :class:`~batteryloop.protocols.hub.PriceSignal` from a day-ahead price CSV (see energy.prices)."""
    from batteryloop.energy.prices import load_prices
    from batteryloop.protocols.hub import PriceSignal

    series = load_prices(path)
    if len(series) == 0:
        raise ValidationError(f"{path}: no prices", field="--prices", expected="a day-ahead price CSV")
    starts = tuple(
        datetime.fromisoformat(str(t.astype("datetime64[s]"))).replace(tzinfo=UTC) for t in series.timestamps
    )
    return PriceSignal(starts, tuple(float(v) for v in series.values))


@ocpp_app.command("csms")
def csms(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; stations connect to ws://host:port/<station id>.")] = 9000,
    site_limit_kW: Annotated[
        float | None, typer.Option("--site-limit-kW", help="The hub's connection limit, both ways [kW].")
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(help="Day-ahead price CSV; re-read (a new price signal, re-plan) whenever the file changes."),
    ] = None,
    v2g: Annotated[
        bool, typer.Option("--v2g", help="Stations are bidirectional (discharge = negative limits).")
    ] = False,
    station_kW: Annotated[float | None, typer.Option("--station-kW", help="Power of each station [kW].")] = None,
    clock: Annotated[
        str, typer.Option(help="wall, or stations: follow the stations' timestamps (for the accelerated simulator).")
    ] = "wall",
    step_minutes: Annotated[int | None, typer.Option(help="Plan step [min] (default hub_defaults.csv).")] = None,
    wear_cost: Annotated[
        float, typer.Option("--wear-cost-eur-per-MWh", help="Battery-wear cost per MWh discharged (V2G).")
    ] = 0.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every re-plan.")] = False,
) -> None:
    """Run the charging-station management system until interrupted: stations connect over WebSocket (subprotocol
    ocpp2.0.1); every arrival, departure, charging-needs message and price signal re-plans the hub and sends
    SetChargingProfile (TxProfile, W) to each open transaction."""
    from batteryloop.protocols.ocpp_csms import Csms

    if clock not in ("wall", "stations"):
        raise ValidationError(f"{clock!r}", field="--clock", expected="wall or stations")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    signal = price_signal(prices) if prices is not None else None

    async def main() -> None:
        server = Csms(
            site_limit_kW=site_limit_kW,
            prices=signal,
            clock=clock,
            step_minutes=step_minutes,
            wear_cost_eur_per_MWh=wear_cost,
            default_station_kW=station_kW,
            bidirectional=v2g,
        )
        await server.serve(host, port)
        out.print(f"CSMS listening on ws://{host}:{server.port}/<station id> (subprotocol ocpp2.0.1)")
        seen = prices.stat().st_mtime if prices is not None else 0.0
        while True:
            await asyncio.sleep(5.0)
            if prices is not None and prices.stat().st_mtime != seen:
                seen = prices.stat().st_mtime
                record = await server.set_prices(price_signal(prices))
                out.print(
                    f"new prices: re-planned {record.evs} EV(s) in {record.plan_s:.3f} s, "
                    f"sent {record.profiles_sent} profile(s) in {record.dispatch_s:.3f} s"
                )

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        out.print("stopped")


@ocpp_app.command("simulate")
def simulate(
    url: Annotated[str, typer.Option(help="The CSMS, e.g. ws://127.0.0.1:9000.")] = "ws://127.0.0.1:9000",
    stations: Annotated[int, typer.Option(help="Stations in the hub.")] = 20,
    hours: Annotated[float, typer.Option(help="Hours after local midnight in which cars arrive.")] = 24.0,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per wall second at most (0: as fast as the messages go).")
    ] = 3600.0,
    day: Annotated[str | None, typer.Option("--date", help="The day (Europe/Amsterdam), YYYY-MM-DD.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the car draw.")] = 0,
    v2g: Annotated[bool, typer.Option("--v2g", help="Bidirectional stations and V2G-capable cars.")] = False,
    iso15118_share: Annotated[
        float, typer.Option(help="Share of cars that send NotifyEVChargingNeeds (ISO 15118).")
    ] = 1.0,
    elaadnl_dir: Annotated[
        Path | None,
        typer.Option(
            "--elaadnl",
            help="Folder of the ElaadNL statistics (default: the shared data's, else the package's synthetic model).",
        ),
    ] = None,
    cars_per_station: Annotated[
        float | None, typer.Option(help="Cars arriving per station and day (default hub_defaults.csv).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Simulate a charging hub against a CSMS: cars from the ElaadNL statistics arrive, tell their needs, charge by
    the profiles they receive and leave; prints energy delivered per car against requested and the hub's peak."""
    from batteryloop.energy.elaadnl import local_midnight_utc
    from batteryloop.protocols.ocpp_sim import HubSim, draw_cars

    if not 0.0 <= iso15118_share <= 1.0:
        raise ValidationError(f"{iso15118_share}", field="--iso15118-share", expected="0..1")
    if speed < 0:
        raise ValidationError(f"{speed}", field="--speed", expected=">= 0")
    try:
        the_day = date.fromisoformat(day) if day else datetime.now(UTC).date()
    except ValueError:
        raise ValidationError(f"{day!r} is not a date", field="--date", expected="YYYY-MM-DD") from None
    draw = draw_cars(
        stations,
        the_day,
        hours=hours,
        seed=seed,
        v2g=v2g,
        iso15118_share=iso15118_share,
        stats_dir=elaadnl_dir,
        cars_per_station_day=cars_per_station,
    )
    sim = HubSim(
        url,
        draw.cars,
        stations,
        start=local_midnight_utc(the_day),
        speed=speed,
        v2g=v2g,
        source=draw.source,
        turned_away=draw.turned_away,
    )
    result = asyncio.run(sim.run())
    payload = result.as_dict() | {"call_errors": len(sim.call_errors)}
    if as_json:
        out.print(json.dumps(payload), markup=False)
        return
    out.print(
        f"{payload['cars']} cars at {stations} stations ({payload['turned_away']} turned away), "
        f"from {payload['source']}"
    )
    out.print(
        f"requested {payload['requested_kWh']:.1f} kWh, delivered {payload['delivered_kWh']:.1f} kWh "
        f"(imported {payload['imported_kWh']:.1f}, exported {payload['exported_kWh']:.1f}); "
        f"{payload['cars_short']} car(s) short; hub peak {payload['peak_kW']:.1f} kW"
    )
    out.print(
        f"{payload['messages']} requests, {payload['profiles_applied']} profiles applied in {payload['wall_s']:.1f} s"
    )
    for car in result.cars:
        if car.delivered_kWh < car.energy_kWh - 0.01:
            err.print(
                f"  car {car.index} at station {car.station + 1}: {car.energy_kWh:.2f} kWh asked, "
                f"{car.delivered_kWh:.2f} delivered"
            )
