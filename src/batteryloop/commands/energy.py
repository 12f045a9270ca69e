"""``batteryloop energy dispatch``: schedule a battery against day-ahead prices (and a site, and FCR) with HiGHS."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from batteryloop.commands.groups import energy_app
from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import BehindTheMeter, DispatchResult, Horizon, dispatch
from batteryloop.energy.prices import (
    PriceSeries,
    align,
    load_prices,
    local_day_bounds,
    read_series,
    regular_grid,
)
from batteryloop.errors import ValidationError

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

RESOLUTIONS = {"60min": 60, "15min": 15}
PROFILE_TIME = ("datetime_utc", "timestamp_utc", "start_utc", "time")


def _date(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a date", field=option, expected="YYYY-MM-DD") from None


def _profile(path: Path, option: str, columns: dict[str, float], grid: np.ndarray[Any, Any], step: int) -> np.ndarray:
    series = read_series(path, time_columns=PROFILE_TIME, value_columns=columns, unit="kW")
    if series.step_minutes != step:
        series = series.resample(step)
    values = align(series, grid, name=option)
    missing = np.flatnonzero(~np.isfinite(values))
    if len(missing):
        first = str(grid[missing[0]].astype("datetime64[m]"))
        raise ValidationError(
            f"{path}: no value for {len(missing)} step(s) of the price period, the first at {first} UTC",
            field=option,
            expected="a profile covering every step of the prices (UTC)",
        )
    return values


def _print_text(result: DispatchResult, prices: PriceSeries, out_path: Path | None) -> None:
    d = result.as_dict()
    out.print(
        f"status: {d['status']}; horizon {d['horizon']} ({d['windows']} window(s)); {d['steps']} steps of "
        f"{prices.step_minutes} min"
        + (f" (repeated from {prices.resampled_from_minutes} min)" if prices.resampled_from_minutes else "")
    )
    for service, value in d["revenue_eur"].items():
        out.print(f"  {service:14s} {value:14.2f} EUR")
    out.print(f"  {'total':14s} {d['revenue_total_eur']:14.2f} EUR (objective {d['objective_eur']:.2f} EUR)")
    out.print(
        f"full equivalent cycles: {d['full_equivalent_cycles']:.2f}; simultaneous charge/discharge steps: "
        f"{d['simultaneous_charge_discharge_steps']}; idle steps without a price: {d['idle_steps_without_price']}"
    )
    out.print(f"build {d['build_s'] * 1000:.1f} ms, solve {d['solve_s'] * 1000:.1f} ms")
    if d["message"]:
        out.print(d["message"])
    if out_path is not None:
        out.print(f"wrote {out_path}")


@energy_app.command("dispatch")
def energy_dispatch(
    prices_path: Annotated[Path, typer.Option("--prices", help="Day-ahead prices CSV (UTC, EUR/MWh or EUR/kWh).")],
    power_kW: Annotated[float, typer.Option("--power-kW", help="Battery power, charge and discharge [kW].")],
    energy_kWh: Annotated[float, typer.Option("--energy-kWh", help="Usable energy at 100 % state of charge [kWh].")],
    efficiency: Annotated[float, typer.Option(help="Efficiency each way (charge and discharge) [-].")] = 0.95,
    soc_start: Annotated[float, typer.Option(help="State of charge at the start [-].")] = 0.5,
    soc_end: Annotated[float, typer.Option(help="Least state of charge at the end (of each day, rolling) [-].")] = 0.5,
    soc_min: Annotated[float, typer.Option(help="Lowest state of charge [-].")] = 0.0,
    soc_max: Annotated[float, typer.Option(help="Highest state of charge [-].")] = 1.0,
    grid_limit_kW: Annotated[float | None, typer.Option("--grid-limit-kW", help="Grid connection limit [kW].")] = None,
    resolution: Annotated[
        str | None, typer.Option(help="60min or 15min; hourly prices are repeated over quarters only when asked.")
    ] = None,
    horizon: Annotated[Horizon, typer.Option(help="full (perfect foresight) or rolling (day-ahead).")] = Horizon.FULL,
    degradation_cost: Annotated[
        float,
        typer.Option("--degradation-cost-eur-per-MWh", help="Wear cost per MWh drawn from the cells [EUR/MWh]."),
    ] = 0.0,
    cycle_depth_exponent: Annotated[
        float | None,
        typer.Option(
            help="Replace the flat wear cost by a convex cycle-depth cost phi(d) = d^x, a full cycle costing the same."
        ),
    ] = None,
    cycle_depth_segments: Annotated[int, typer.Option(help="State-of-charge segments of the cycle-depth cost.")] = 4,
    load_path: Annotated[Path | None, typer.Option("--load", help="Site load CSV (UTC, load_kW).")] = None,
    pv_path: Annotated[Path | None, typer.Option("--pv", help="PV CSV (UTC, pv_kW, or electricity per kWp).")] = None,
    pv_kWp: Annotated[float, typer.Option("--pv-kWp", help="Scale of a per-kWp PV profile [kWp].")] = 1.0,
    capacity_tariff: Annotated[
        float, typer.Option("--capacity-tariff-eur-per-kW", help="Tariff on the peak import of each period.")
    ] = 0.0,
    peak_period: Annotated[str, typer.Option(help="Billing period of the peak: month or horizon.")] = "month",
    import_adder: Annotated[
        float, typer.Option("--import-adder-eur-per-MWh", help="Added to the price for import (taxes, margin).")
    ] = 0.0,
    export_adder: Annotated[
        float, typer.Option("--export-adder-eur-per-MWh", help="Added to the price for export (negative: a fee).")
    ] = 0.0,
    fcr_price: Annotated[
        Path | None, typer.Option("--fcr-price", help="FCR capacity prices CSV (block_start_utc, price_eur_per_mw).")
    ] = None,
    fcr_activation_minutes: Annotated[
        float | None, typer.Option(help="Full-activation period to hold in reserve (default: fcr_rules.csv).")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day (Europe/Amsterdam), YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Day after the last (Europe/Amsterdam), YYYY-MM-DD.")] = None,
    gaps: Annotated[
        str, typer.Option(help="refuse: stop on missing prices; idle: the battery rests in those steps.")
    ] = "refuse",
    out_path: Annotated[Path | None, typer.Option("--out", help="Write the schedule as CSV.")] = None,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Write a one-page HTML report (inline SVG charts).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Schedule one battery: revenue by service, full equivalent cycles, solver status and timings."""
    if gaps not in ("refuse", "idle"):
        raise ValidationError(f"unknown gap handling {gaps!r}", field="--gaps", expected="refuse or idle")
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ValidationError(f"unknown resolution {resolution!r}", field="--resolution", expected="60min or 15min")
    asset = Asset(
        power_kW=power_kW,
        energy_kWh=energy_kWh,
        charge_efficiency=efficiency,
        discharge_efficiency=efficiency,
        soc_min=soc_min,
        soc_max=soc_max,
        soc_start=soc_start,
        soc_end=soc_end,
        grid_limit_kW=grid_limit_kW,
    )
    series = load_prices(prices_path)
    for problem in series.rejected[:10]:
        err.print(f"left out {problem.field}: {problem.message}")
    lo, hi = local_day_bounds(_date("--start", start), _date("--end", end))
    series = series.between(lo, hi)
    if len(series) == 0:
        raise ValidationError(
            f"{prices_path}: no prices in the chosen period", field="--start", expected="a period the file covers"
        )
    if resolution is not None:
        series = series.resample(RESOLUTIONS[resolution])
    if series.gaps:
        listed = "; ".join(str(g) for g in series.gaps[:5])
        if gaps == "refuse":
            raise ValidationError(
                f"{prices_path}: {series.missing_intervals} interval(s) without a price: {listed}",
                field="--prices",
                expected="a period without gaps (--start/--end), or --gaps idle to let the battery rest there",
            )
        err.print(f"idle where prices are missing: {listed}")
    grid = regular_grid(series)
    price = align(series, grid, name="--prices")
    step = series.step_minutes
    btm = None
    if load_path is not None or pv_path is not None:
        load = (
            _profile(load_path, "--load", {"load_kW": 1.0, "kW": 1.0}, grid, step) if load_path else np.zeros(len(grid))
        )
        pv = (
            _profile(pv_path, "--pv", {"pv_kW": 1.0, "electricity": pv_kWp}, grid, step)
            if pv_path
            else np.zeros(len(grid))
        )
        btm = BehindTheMeter(
            load_kW=load,
            pv_kW=pv,
            import_adder_eur_per_MWh=import_adder,
            export_adder_eur_per_MWh=export_adder,
            capacity_tariff_eur_per_kW=capacity_tariff,
            peak_period=peak_period,
        )
    market = None
    if fcr_price is not None:
        from batteryloop.energy.fcr import market_on_grid, read_fcr_prices

        market, without = market_on_grid(read_fcr_prices(fcr_price), grid, activation_minutes=fcr_activation_minutes)
        if without:
            err.print(f"{without} FCR block(s) have no price in {fcr_price}: no capacity offered in them")
    depth_costs = None
    if cycle_depth_exponent is not None:
        from batteryloop.energy.degradation import cycle_depth_segment_costs, power_law_stress

        if not cycle_depth_exponent >= 1:
            raise ValidationError(
                f"exponent {cycle_depth_exponent} gives no convex cost",
                field="--cycle-depth-exponent",
                expected="a number >= 1",
            )
        if degradation_cost <= 0:
            raise ValidationError(
                "the cycle-depth cost needs the cost of a full cycle",
                field="--degradation-cost-eur-per-MWh",
                expected="a positive cost per MWh drawn from the cells",
            )
        depth_costs = cycle_depth_segment_costs(
            power_law_stress(cycle_depth_exponent), cycle_depth_segments, degradation_cost
        )
        degradation_cost = 0.0
    result = dispatch(
        grid,
        price,
        asset,
        step_minutes=step,
        horizon=horizon,
        degradation_eur_per_MWh=degradation_cost,
        behind_the_meter=btm,
        fcr=market,
        cycle_depth_costs_eur_per_MWh=depth_costs,
    )
    if out_path is not None:
        result.schedule.write_csv(out_path)
    if report_path is not None:
        from batteryloop.energy.report import write_report

        write_report(
            report_path,
            result,
            asset,
            step_minutes=step,
            fcr=market,
            title=f"Battery dispatch: {asset.power_kW:g} kW / {asset.energy_kWh:g} kWh",
            source=f"prices {prices_path.name}; horizon {horizon.value}",
        )
    if as_json:
        payload = result.as_dict()
        payload["prices"] = str(prices_path)
        payload["step_minutes"] = step
        payload["resampled_from_minutes"] = series.resampled_from_minutes
        payload["missing_price_intervals"] = [str(g) for g in series.gaps]
        payload["rejected_price_rows"] = [p.as_dict() for p in series.rejected]
        if out_path is not None:
            payload["schedule"] = str(out_path)
        if report_path is not None:
            payload["report"] = str(report_path)
        out.print(json.dumps(payload), soft_wrap=True, markup=False)
    else:
        _print_text(result, series, out_path)
    if result.status.value != "optimal":
        raise typer.Exit(1)
