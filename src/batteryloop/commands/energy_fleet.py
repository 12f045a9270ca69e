"""``batteryloop energy fleet``: smart charging and vehicle-to-grid for an EV fleet against day-ahead prices."""

from __future__ import annotations

import csv
import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from batteryloop.commands.groups import energy_app
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _mix(text: str | None) -> dict[str, float] | None:
    if text is None:
        return None
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            mix[name.strip()] = float(value)
        except ValueError:
            raise ValidationError(
                f"{part!r} is not location=share", field="--mix", expected="e.g. home=0.6,public=0.25,work=0.15"
            ) from None
    return mix


def _write_schedule(rows: list[dict[str, Any]], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


@energy_app.command("fleet")
def energy_fleet(
    day: Annotated[str, typer.Option("--date", help="The day (Europe/Amsterdam) the sessions arrive, YYYY-MM-DD.")],
    prices_path: Annotated[
        Path | None,
        typer.Option(
            "--prices",
            help="Day-ahead prices CSV (UTC, EUR/MWh or EUR/kWh). Default: the NL file of the shared data folder, "
            "else batteryloop's synthetic Dutch-like prices 2023-2025 (said in the output).",
        ),
    ] = None,
    evs: Annotated[
        int | None, typer.Option("--evs", help="Draw this many sessions from the ElaadNL statistics.")
    ] = None,
    sessions_path: Annotated[
        Path | None,
        typer.Option(
            "--sessions",
            help="Sessions CSV: arrival, departure, energy_kWh, max_charge_kW, max_discharge_kW, battery_kWh "
            "[, soc_arrival_pct].",
        ),
    ] = None,
    v2g: Annotated[bool, typer.Option("--v2g", help="Allow discharging to the grid (vehicle-to-grid).")] = False,
    site_limit_kW: Annotated[
        float | None, typer.Option("--site-limit-kW", help="Limit on the fleet's aggregate power, both ways [kW].")
    ] = None,
    wear_cost: Annotated[
        float, typer.Option("--wear-cost-eur-per-MWh", help="Battery-wear cost per MWh discharged (V2G) [EUR/MWh].")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the session draw.")] = 0,
    mix: Annotated[
        str | None, typer.Option(help="Location mix of drawn sessions, e.g. home=0.6,public=0.25,work=0.15.")
    ] = None,
    elaadnl_dir: Annotated[
        Path | None,
        typer.Option(
            "--elaadnl",
            help="Folder of the ElaadNL statistics and EV specifications. Default: grid/elaadnl_ev_charging_stats "
            "of the shared data folder, else batteryloop's synthetic session model (said in the output).",
        ),
    ] = None,
    horizon_hours: Annotated[
        float | None, typer.Option(help="Hours after local midnight to follow the EVs (default fleet_defaults.csv).")
    ] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Write the per-step schedule as CSV.")] = None,
    sessions_out: Annotated[
        Path | None, typer.Option("--sessions-out", help="Write the sessions used (e.g. the drawn ones) as CSV.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Schedule an EV fleet's charging (and V2G) at day-ahead prices with every departure energy guaranteed; print
    the cost, the saving against charging at full power on arrival, V2G energy, status and timings."""
    from batteryloop.energy import elaadnl as elaad
    from batteryloop.energy.fleet import (
        defaults,
        horizon_grid,
        optimise_fleet,
        read_sessions_csv,
        write_sessions_csv,
    )
    from batteryloop.energy.price_data import dutch_prices
    from batteryloop.energy.prices import align, load_prices

    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise ValidationError(f"{day!r} is not a date", field="--date", expected="YYYY-MM-DD") from None
    if (evs is None) == (sessions_path is None):
        raise ValidationError(
            "give either --evs or --sessions", field="--evs", expected="one of --evs N, --sessions CSV"
        )
    d = defaults()
    step = int(d["step_minutes"])
    hours = horizon_hours if horizon_hours is not None else d["horizon_hours"]
    if not 0 < hours <= 24 * 7:
        raise ValidationError(f"{hours} h", field="--horizon-hours", expected="0 < hours <= 168")
    t0 = time.perf_counter()
    drawn: dict[str, Any] = {}
    if evs is not None:
        stats = elaad.load_stats(elaadnl_dir) if elaadnl_dir is not None else elaad.default_stats()
        sampled = elaad.sample_sessions(evs, the_day, seed=seed, mix=_mix(mix), v2g=v2g, stats=stats)
        sessions = sampled.sessions
        drawn = {
            "drawn_from": stats.source,
            "sessions_synthetic": elaad.is_synthetic(stats),
            "seed": seed,
            "demand_capped_by_stay": sampled.capped_by_stay,
            "demand_capped_by_battery": sampled.capped_by_battery,
        }
    else:
        assert sessions_path is not None
        sessions = read_sessions_csv(sessions_path)
        drawn = {"sessions": str(sessions_path)}
    sessions_s = time.perf_counter() - t0
    start = elaad.local_midnight_utc(the_day)
    start64 = np.datetime64(start.replace(tzinfo=None), "s")
    grid = horizon_grid(start, hours, step, sessions.departure)
    T = len(grid)
    if prices_path is not None:
        all_prices, prices_used, prices_synthetic = load_prices(prices_path), str(prices_path), False
    else:
        all_prices, used = dutch_prices()
        prices_used, prices_synthetic = used.description, used.synthetic
    series = all_prices.between(start, start + timedelta(seconds=T * step * 60))
    if len(series) == 0:
        raise ValidationError(
            f"{prices_used}: no prices from {start:%Y-%m-%d %H:%M} UTC", field="--prices", expected="prices for --date"
        )
    if series.step_minutes != step:
        series = series.resample(step)
    price = align(series, grid, name="--prices")
    missing = np.flatnonzero(~np.isfinite(price))
    if len(missing):
        raise ValidationError(
            f"{prices_used}: {len(missing)} of the {T} steps have no price, the first at "
            f"{grid[missing[0]].astype('datetime64[m]')} UTC",
            field="--prices",
            expected=f"prices from {start:%Y-%m-%d %H:%M} UTC for {T * step / 60:g} h (the EVs' stays)",
        )
    result = optimise_fleet(
        sessions,
        price,
        start64,
        step_minutes=step,
        v2g=v2g,
        site_limit_kW=site_limit_kW,
        wear_cost_eur_per_MWh=wear_cost,
    )
    if out_path is not None:
        _write_schedule(result.schedule_rows(), out_path)
    if sessions_out is not None:
        write_sessions_csv(sessions, sessions_out)
    payload = result.as_dict() | drawn
    payload |= {
        "prices": prices_used,
        "prices_synthetic": prices_synthetic,
        "price_resampled_from_minutes": series.resampled_from_minutes,
        "sessions_s": round(sessions_s, 4),
    }
    if out_path is not None:
        payload["schedule"] = str(out_path)
    if as_json:
        out.print(json.dumps(payload), soft_wrap=True, markup=False)
    else:
        out.print(
            f"status: {payload['status']}; {payload['evs']} EVs, {payload['steps']} steps of {step} min from "
            f"{payload['start_utc']}" + (" (V2G)" if v2g else "")
        )
        out.print(f"prices: {prices_used}")
        if "drawn_from" in payload:
            out.print(f"sessions drawn from: {payload['drawn_from']}")
        out.print(
            f"energy cost {payload['energy_cost_eur']:.2f} EUR (wear {payload['wear_cost_eur']:.2f} EUR); dumb "
            f"charging {payload['dumb_energy_cost_eur']:.2f} EUR; saving {payload['saving_eur']:.2f} EUR"
        )
        out.print(
            f"charged {payload['charged_kWh']:.1f} kWh, V2G discharged {payload['v2g_discharged_kWh']:.1f} kWh; "
            f"peak {payload['peak_kW']:.1f} kW (dumb {payload['dumb_peak_kW']:.1f} kW)"
        )
        out.print(
            f"LP: {payload['variables']} variables, {payload['constraints']} constraints, {payload['nonzeros']} "
            f"nonzeros; build {payload['build_s']:.3f} s, solve {payload['solve_s']:.3f} s"
        )
        if result.clipped:
            err.print(f"{len(result.clipped)} EV(s) cannot get their energy; guaranteed the reachable maximum:")
            for c in result.clipped[:10]:
                err.print(f"  EV {c.ev}: {c.requested_kWh:.2f} -> {c.guaranteed_kWh:.2f} kWh ({c.reason})")
        if payload["message"]:
            err.print(payload["message"])
        if out_path is not None:
            out.print(f"wrote {out_path}")
    if result.status != "optimal":
        raise typer.Exit(1)
