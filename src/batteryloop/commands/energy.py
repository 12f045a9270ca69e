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


def _health_figures(
    energy_kWh: float | None,
    efficiency: float | None,
    *,
    passport: str | None,
    health: Path | None,
    token: str | None,
    account: str | None,
) -> tuple[float, float, dict[str, str]]:
    """The usable energy and the efficiency each way: given, or from the battery's passport or health estimate."""
    if passport is not None and health is not None:
        raise ValidationError("both --passport and --health", field="--health", expected="one source of health figures")
    if passport is None and (token is not None or account is not None):
        raise ValidationError("--token/--account without --passport", field="--passport", expected="--passport ID")
    sources: dict[str, str] = {}
    energy_from: tuple[float, str] | None = None
    rte_from: tuple[float, str] | None = None
    if passport is not None:
        from batteryloop.commands.energy_value import passport_figures

        values, found, who = passport_figures(passport, token, account, soh_given=energy_kWh is not None)
        if energy_kWh is None:
            if "rated_energy_kWh" not in values:
                raise ValidationError(
                    f"passport {passport} has no visible rated energy",
                    field="rated_energy_kWh",
                    expected="rated_energy_kWh (or rated_capacity_Ah and nominal_voltage_V) on the passport, or "
                    "--energy-kWh",
                )
            energy_from = (
                values["rated_energy_kWh"] * values["soh_pct"] / 100.0,
                f"{found['rated_energy_kWh']} x {found['soh_pct']} / 100 (read as {who})",
            )
        if "round_trip_efficiency" in values:
            rte_from = (values["round_trip_efficiency"], f"{found['round_trip_efficiency']} (read as {who})")
    elif health is not None:
        try:
            result = json.loads(health.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(
                f"{health}: not a readable JSON file ({exc})",
                field="--health",
                expected="the output of `batteryloop health estimate --json`",
            ) from None
        for key in ("remaining_energy_kWh", "remaining_round_trip_efficiency_pct"):
            item = result.get(key) if isinstance(result, dict) else None
            value = item.get("value") if isinstance(item, dict) else None
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValidationError(
                    f"{health}: {key} is {value!r}", field=f"--health {key}", expected="a positive number"
                )
            if key == "remaining_energy_kWh":
                energy_from = (float(value), f"{health.name}: remaining_energy_kWh")
            else:
                rte_from = (float(value) / 100.0, f"{health.name}: remaining_round_trip_efficiency_pct")
        if energy_kWh is None and energy_from is None:
            raise ValidationError(
                f"{health}: no remaining_energy_kWh value",
                field="--health remaining_energy_kWh",
                expected="a health estimate with a remaining energy, or --energy-kWh",
            )
    if energy_kWh is not None:
        sources["energy_kWh"] = "--energy-kWh"
    elif energy_from is not None:
        energy_kWh, sources["energy_kWh"] = energy_from
    else:
        raise ValidationError(
            "no usable energy", field="--energy-kWh", expected="--energy-kWh, --passport ID or --health FILE"
        )
    if efficiency is not None:
        sources["efficiency"] = "--efficiency"
    elif rte_from is not None:
        rte, where = rte_from
        if not 0 < rte <= 1:
            raise ValidationError(
                f"round-trip efficiency {rte * 100:g} % from {where}", field="--efficiency", expected="0-100 %"
            )
        efficiency = rte**0.5
        sources["efficiency"] = f"square root of the round-trip efficiency {rte * 100:.4g} % ({where})"
    else:
        efficiency = 0.95
        sources["efficiency"] = "default 0.95 each way"
    return energy_kWh, efficiency, sources


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
    energy_kWh: Annotated[
        float | None,
        typer.Option(
            "--energy-kWh",
            help="Usable energy at 100 % state of charge [kWh]; default: from --passport or --health.",
        ),
    ] = None,
    efficiency: Annotated[
        float | None,
        typer.Option(
            help="Efficiency each way [-]; default: from --passport or --health (square root of the "
            "round-trip efficiency), else 0.95."
        ),
    ] = None,
    passport: Annotated[
        str | None,
        typer.Option(help="Take energy (rated energy x state of health) and efficiency from this passport."),
    ] = None,
    health: Annotated[
        Path | None,
        typer.Option(
            help="Take them from a `health estimate --json` result (remaining energy, round-trip efficiency)."
        ),
    ] = None,
    token: Annotated[str | None, typer.Option(help="Read the passport as the account of this bearer token.")] = None,
    account: Annotated[str | None, typer.Option(help="Read the passport as this account.")] = None,
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
    energy_kWh, efficiency, asset_sources = _health_figures(
        energy_kWh, efficiency, passport=passport, health=health, token=token, account=account
    )
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
        payload["asset_sources"] = asset_sources
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
