"""``batteryloop energy value``: the second-life value of a used battery against recycling it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from batteryloop.commands.groups import energy_app
from batteryloop.energy.dispatch import Horizon
from batteryloop.energy.price_data import SHARED_PRICES
from batteryloop.errors import ValidationError
from batteryloop.shared_data import shared_file

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def default_prices() -> Path:
    """The NL day-ahead file of the shared data folder (:func:`batteryloop.shared_data.shared_file`)."""
    return shared_file(*SHARED_PRICES) or Path(*SHARED_PRICES)


def _years(text: str | None) -> list[int] | None:
    if text is None:
        return None
    years: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not (part.isdigit() and len(part) == 4):
            raise ValidationError(f"{part!r} is not a year", field="--price-years", expected="e.g. 2022,2023,2024")
        years.append(int(part))
    return years


OPTIONS = {
    "rated_energy_kWh": "--capacity-kWh",
    "soh_pct": "--soh-pct",
    "round_trip_efficiency": "--round-trip-efficiency",
    "remaining_cycles": "--remaining-cycles",
    "power_kW": "--power-kW",
    "resistance_increase_pct": "--resistance-increase-pct",
    "discount_rate": "--discount-rate",
    "end_soh_pct": "--end-soh-pct",
    "lifetime_cutoff_years": "--lifetime-years",
    "repurposing_eur_per_kWh": "--repurposing-eur-per-kWh",
    "repurposing_fixed_eur": "--repurposing-fixed-eur",
    "purchase_eur_per_kWh": "--purchase-eur-per-kWh",
    "wear_cost_eur_per_MWh": "--wear-cost-eur-per-MWh",
}


@contextmanager
def _as_options(sources: dict[str, str]) -> Iterator[None]:
    """Name the option (or the passport attribute) behind each bad value."""
    try:
        yield
    except ValidationError as exc:
        problems = []
        for problem in exc.problems:
            where = sources.get(problem.field, "option")
            name = OPTIONS.get(problem.field, problem.field) if where == "option" else f"{where} ({problem.field})"
            problems.append(replace(problem, field=name))
        raise ValidationError(exc.message, problems=problems) from None


def passport_figures(
    passport_id: str, token: str | None, account: str | None, *, soh_given: bool
) -> tuple[dict[str, Any], dict[str, str], str]:
    """What the caller may see of the passport, mapped onto the valuation inputs (server-side access rules)."""
    from batteryloop.cli import registry
    from batteryloop.energy.valuation import figures_from_passport
    from batteryloop.passport.access import Role, Viewer
    from batteryloop.passport.models import Organisation, Passport

    with registry() as (service, session):
        if token is not None:
            viewer = service.authenticate(token)
        elif account is not None:
            viewer = service.viewer_for(account)
        else:  # as `passport show`: the responsible economic operator of the local registry
            passport = session.get(Passport, passport_id)
            org = session.get(Organisation, passport.operator_id) if passport is not None else None
            viewer = (
                Viewer(Role.ECONOMIC_OPERATOR, account=f"cli:{org.name}", organisation_id=org.id)
                if org is not None
                else Viewer.anonymous()
            )
        view = service.view(viewer, passport_id, route="cli energy value")
        figures = figures_from_passport(passport_id, view.data, [g.value for g in view.groups], soh_given=soh_given)
        who = viewer.account or viewer.role.value
    return figures.values, figures.sources, who


@energy_app.command("value")
def energy_value(
    passport: Annotated[str | None, typer.Option(help="Read the battery's figures from this passport.")] = None,
    capacity_kWh: Annotated[
        float | None, typer.Option("--capacity-kWh", help="Rated energy when new [kWh] (with --soh-pct).")
    ] = None,
    soh_pct: Annotated[float | None, typer.Option("--soh-pct", help="State of health now, energy [%].")] = None,
    round_trip_efficiency: Annotated[
        float | None, typer.Option(help="AC round-trip efficiency now [-] (default: valuation_defaults.csv).")
    ] = None,
    remaining_cycles: Annotated[
        float | None, typer.Option(help="Full equivalent cycles from now to the end-of-life state of health.")
    ] = None,
    power_kW: Annotated[
        float | None, typer.Option("--power-kW", help="System power [kW] (default: c_rate x usable energy).")
    ] = None,
    chemistry: Annotated[str | None, typer.Option(help="Chemistry for the recycling value (default NMC).")] = None,
    resistance_increase_pct: Annotated[
        float | None, typer.Option("--resistance-increase-pct", help="Resistance increase since new [%].")
    ] = None,
    services: Annotated[str, typer.Option(help="arbitrage or arbitrage+fcr.")] = "arbitrage",
    price_years: Annotated[
        str | None, typer.Option(help="Price years, in service order (default: 2019-2025), e.g. 2022,2023,2024.")
    ] = None,
    prices: Annotated[
        Path | None, typer.Option("--prices", help="Day-ahead price CSV (default: the shared NL hourly file).")
    ] = None,
    fcr_price: Annotated[
        Path | None, typer.Option("--fcr-price", help="FCR capacity prices CSV (block_start_utc, price_eur_per_mw).")
    ] = None,
    horizon: Annotated[
        Horizon, typer.Option(help="rolling (day-ahead, default) or full (perfect foresight).")
    ] = Horizon.ROLLING,
    discount_rate: Annotated[float | None, typer.Option(help="Discount rate per year [-].")] = None,
    end_soh_pct: Annotated[float | None, typer.Option("--end-soh-pct", help="End of second life [%].")] = None,
    lifetime_years: Annotated[float | None, typer.Option(help="Lifetime cut-off [years].")] = None,
    purchase_eur_per_kWh: Annotated[
        float, typer.Option("--purchase-eur-per-kWh", help="Purchase price per kWh of usable energy [EUR/kWh].")
    ] = 0.0,
    repurposing_eur_per_kWh: Annotated[
        float | None, typer.Option("--repurposing-eur-per-kWh", help="Repurposing cost [EUR/kWh].")
    ] = None,
    repurposing_fixed_eur: Annotated[
        float | None, typer.Option("--repurposing-fixed-eur", help="One-off repurposing cost [EUR].")
    ] = None,
    wear_cost: Annotated[
        float | None,
        typer.Option(
            "--wear-cost-eur-per-MWh", help="Wear cost in the dispatch (default: investment / remaining throughput)."
        ),
    ] = None,
    token: Annotated[str | None, typer.Option(help="Read the passport as the account of this bearer token.")] = None,
    account: Annotated[str | None, typer.Option(help="Read the passport as this account.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Net present value of a used battery's second life on real NL day-ahead years, the break-even purchase price
    per kWh, and the verdict against recycling it now."""
    from batteryloop.energy import valuation as v
    from batteryloop.energy.prices import load_prices

    if token is not None and account is not None:
        raise ValidationError("both --token and --account", field="--token", expected="one of them")
    if passport is None and (token is not None or account is not None):
        raise ValidationError("--token/--account without --passport", field="--passport", expected="--passport ID")
    years = _years(price_years)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if passport is not None:
        values, sources, who = passport_figures(passport, token, account, soh_given=soh_pct is not None)
        sources["read_as"] = who
    given = {
        "rated_energy_kWh": capacity_kWh,
        "soh_pct": soh_pct,
        "round_trip_efficiency": round_trip_efficiency,
        "remaining_cycles": remaining_cycles,
        "power_kW": power_kW,
        "chemistry": chemistry,
        "resistance_increase_pct": resistance_increase_pct,
    }
    for name, value in given.items():
        if value is not None:
            values[name], sources[name] = value, "option"
    if "remaining_cycles" in values:
        values.pop("cycle_fade_pct_per_fec", None)
        sources.pop("cycle_fade_pct_per_fec", None)
    for name, option in (("rated_energy_kWh", "--capacity-kWh"), ("soh_pct", "--soh-pct")):
        if name not in values:
            where = f"passport {passport} has no visible {name}; " if passport else ""
            raise ValidationError(
                f"{where}{option} is needed", field=option, expected="--passport ID, or --capacity-kWh and --soh-pct"
            )
    if "round_trip_efficiency" not in values:
        values["round_trip_efficiency"] = v.default_float("round_trip_efficiency")
        sources["round_trip_efficiency"] = "default (valuation_defaults.csv)"
    if "chemistry" not in values:
        values["chemistry"] = "NMC"
        sources["chemistry"] = "assumed NMC (no --chemistry, no passport)"
    with _as_options(sources):
        battery = v.UsedBattery(**values)
    econ_args: dict[str, Any] = {"purchase_eur_per_kWh": purchase_eur_per_kWh, "wear_cost_eur_per_MWh": wear_cost}
    for name, value in (
        ("discount_rate", discount_rate),
        ("end_soh_pct", end_soh_pct),
        ("lifetime_cutoff_years", lifetime_years),
        ("repurposing_eur_per_kWh", repurposing_eur_per_kWh),
        ("repurposing_fixed_eur", repurposing_fixed_eur),
    ):
        if value is not None:
            econ_args[name] = value
    with _as_options({}):
        economics = v.Economics(**econ_args)
    price_path = prices if prices is not None else default_prices()
    if not price_path.is_file():
        raise ValidationError(
            f"{price_path}: no such price file", field="--prices", expected="the NL day-ahead CSV (or set --prices)"
        )
    series = load_prices(price_path)
    fcr_series = None
    if fcr_price is not None:
        from batteryloop.energy.fcr import read_fcr_prices

        fcr_series = read_fcr_prices(fcr_price)
    model = v.MarketRevenue(
        series,
        round_trip_efficiency=battery.round_trip_efficiency,
        horizon=horizon,
        services=services,
        fcr_prices=fcr_series,
    )
    result = v.value_second_life(battery, model, economics=economics, price_years=years, sources=sources)
    payload = result.as_dict()
    payload["prices"] = str(price_path)
    payload["horizon"] = horizon.value
    payload["services"] = services
    if model.fcr_blocks_without_price:
        payload["fcr_blocks_without_price"] = model.fcr_blocks_without_price
    if as_json:
        out.print(json.dumps(payload), soft_wrap=True, markup=False)
        return
    _print(payload)


def _print(d: dict[str, Any]) -> None:
    b, e = d["battery"], d["economics"]
    out.print(
        f"battery: {b['rated_energy_kWh']:.1f} kWh rated at {b['soh_pct']:.1f} % = {b['usable_energy_kWh']:.1f} kWh "
        f"usable, {b['power_kW']:.1f} kW, round trip {b['round_trip_efficiency']:.3f}, {b['chemistry']}"
    )
    for name, source in d["sources"].items():
        out.print(f"  {name}: {source}")
    out.print(
        f"services {d['services']}, horizon {d['horizon']}, price years {', '.join(map(str, d['price_years']))}; "
        f"discount rate {e['discount_rate']}, wear cost {e['wear_cost_eur_per_MWh']:.2f} EUR/MWh"
    )
    out.print(f"{'year':>4} {'prices':>6} {'SoH %':>7} {'kWh':>7} {'FEC':>7} {'revenue':>10} {'cash flow':>10}")
    for y in d["annual"]:
        out.print(
            f"{y['year']:>4} {y['price_year']:>6} {y['soh_start_pct']:>7.2f} {y['energy_kWh']:>7.2f} "
            f"{y['full_equivalent_cycles']:>7.1f} {sum(y['revenue_eur'].values()):>10.2f} {y['cash_flow_eur']:>10.2f}"
        )
    out.print(
        f"years of service {d['years_of_service']:.2f} ({d['end_reason']}); capex {e['capex_eur']:.2f} EUR; "
        f"NPV {d['npv_eur']:.2f} EUR; break-even purchase price {d['break_even_purchase_eur_per_kWh']:.2f} EUR/kWh"
    )
    r = d["recycling"]
    out.print(
        f"recycling now: {r['net_eur_per_kWh']:.2f} EUR/kWh x {b['rated_energy_kWh']:.1f} kWh = "
        f"{d['recycling_now_eur']:.2f} EUR (materials {r['materials_eur_per_kWh']:.2f}, cost "
        f"{r['recycling_cost_eur_per_kWh']:.2f}; prices of {', '.join(r['price_date'])}; confidence {r['confidence']})"
    )
    out.print(f"verdict: {d['verdict']} (margin {d['margin_eur']:.2f} EUR)")
    for note in d["notes"]:
        out.print(f"note: {note}")
