"""The energy-services page: dispatch a battery or an EV fleet on Dutch day-ahead prices.

``/energy`` (any signed-in role) has two forms, both plain GET forms (a run changes nothing, so it can be bookmarked):

- **a battery**: its figures from a passport the user may see, exactly as ``batteryloop energy dispatch --passport``
  reads them (rated energy x state of health, round-trip efficiency; :func:`batteryloop.energy.valuation.
  figures_from_passport` on the user's own filtered view), or typed in; a period (a day, a week or a month, at most
  ``max_period_days`` of ``energy_page_defaults.csv``); services: day-ahead arbitrage, FCR at a capacity price the
  user gives (no FCR auction results are shipped), and peak shaving behind the meter of an EV charging hub whose load
  is drawn from the ElaadNL public-charging statistics. The wear cost per MWh drawn from the cells is the user's, or
  the value of the pack (``battery_value_eur_per_kWh``) spread over the full equivalent cycles it has left.
- **an EV fleet**: sessions arriving on one day drawn from the ElaadNL distributions (``batteryloop energy fleet
  --evs``), smart charging and optionally vehicle-to-grid, against charging at full power on arrival.

Data: the NL day-ahead file and the ElaadNL statistics of the shared data folder (``BATTERYLOOP_SHARED_DATA``, else
``../shared/data`` next to a source checkout; :mod:`batteryloop.shared_data`) when present; otherwise the package's own
fallbacks, never copies: synthetic Dutch-like prices (:func:`batteryloop.energy.price_data.dutch_prices`) and the
parametric session model (:func:`batteryloop.energy.elaadnl.synthetic_stats`). Each result names the data it used,
with "synthetic" for a fallback. The solver runs in the server's thread pool (the route is a plain
``def``), and the limits above keep a run to about a second.
"""

from __future__ import annotations

import calendar
import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from numpy.typing import NDArray

from batteryloop.energy import elaadnl
from batteryloop.energy.asset import Asset
from batteryloop.energy.degradation import throughput_cost_eur_per_MWh
from batteryloop.energy.dispatch import BehindTheMeter, DispatchResult, FcrMarket, Horizon, dispatch
from batteryloop.energy.fcr import fcr_rules
from batteryloop.energy.fleet import FleetResult, horizon_grid, optimise_fleet
from batteryloop.energy.fleet import defaults as fleet_defaults
from batteryloop.energy.price_data import dutch_prices
from batteryloop.energy.prices import PriceSeries, align, local_day_bounds, regular_grid
from batteryloop.energy.valuation import default_float, figures_from_passport
from batteryloop.errors import BatteryloopError, PermissionDeniedError
from batteryloop.passport.access import Viewer
from batteryloop.passport.service import PassportService
from batteryloop.web.charts import Chart, csv_response
from batteryloop.web.i18n import choose_language, register, translator
from batteryloop.web.layout import read_session, render, require_user, settings_of

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
DEFAULTS_FILE = HERE / "energy_page_defaults.csv"
LOCAL_TZ = "Europe/Amsterdam"
LENGTHS = ("day", "week", "month")
FloatArray = NDArray[np.float64]


@cache
def page_defaults() -> dict[str, float]:
    """The limits and defaults of ``energy_page_defaults.csv`` (name -> value; the file gives sources)."""
    with DEFAULTS_FILE.open(encoding="utf-8", newline="") as handle:
        return {row["name"]: float(row["value"]) for row in csv.DictReader(handle)}


# ---------------------------------------------------------------------------------------------------------------------
# data: the shared files when present, else the package's own synthetic fallbacks


@dataclass(frozen=True)
class DataUsed:
    """Which data a run used: a description for the page, and whether it is a synthetic fallback."""

    description: str
    synthetic: bool
    name: str = ""
    """The file or folder read in the shared data folder ("" for a synthetic fallback)."""


def prices() -> tuple[PriceSeries, DataUsed]:
    """The NL day-ahead prices [EUR/MWh] (:func:`batteryloop.energy.price_data.dutch_prices`) and which they are."""
    series, used = dutch_prices()
    return series, DataUsed(used.description, used.synthetic, used.path.name if used.path is not None else "")


def elaad_stats() -> tuple[elaadnl.ElaadStats, DataUsed]:
    """The charging statistics (:func:`batteryloop.energy.elaadnl.default_stats`) and which they are."""
    stats = elaadnl.default_stats()
    synthetic = elaadnl.is_synthetic(stats)
    return stats, DataUsed(stats.source, synthetic, "" if synthetic else Path(stats.source).name)


def price_days(series: PriceSeries) -> tuple[date, date]:
    """First and last Europe/Amsterdam day the price series covers entirely."""
    local = (
        pl.Series(series.timestamps[[0, -1]].astype("datetime64[us]"))
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(LOCAL_TZ)
    )
    first, last = local[0], local[-1]
    first_day = first.date() if (first.hour, first.minute) == (0, 0) else first.date() + timedelta(days=1)
    last_day = last.date() if (last.hour, last.minute) == (23, 60 - series.step_minutes) else last.date() - timedelta(1)
    return first_day, last_day


# ---------------------------------------------------------------------------------------------------------------------
# the form


class FormErrors(dict[str, str]):
    """Field name -> message shown next to the field."""


def _text(params: Mapping[str, str], name: str, default: str = "") -> str:
    return str(params.get(name, default)).strip()


def _number(
    params: Mapping[str, str],
    name: str,
    errors: FormErrors,
    t: Mapping[str, str],
    *,
    low: float = 0.0,
    high: float = math.inf,
    required: bool = False,
    open_low: bool = True,
) -> float | None:
    raw = _text(params, name).replace(",", ".")
    if not raw:
        if required:
            errors[name] = t["energy_err_required"]
        return None
    try:
        value = float(raw)
    except ValueError:
        errors[name] = t["energy_err_number"].format(value=raw)
        return None
    if not math.isfinite(value) or value < low or (open_low and value == low) or value > high:
        lower = f"> {low:g}" if open_low else f">= {low:g}"
        upper = f" {t['energy_and']} <= {high:g}" if math.isfinite(high) else ""
        errors[name] = t["energy_err_range"].format(value=raw, range=lower + upper)
        return None
    return value


def _date(params: Mapping[str, str], name: str, errors: FormErrors, t: Mapping[str, str], default: date) -> date:
    raw = _text(params, name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = t["energy_err_date"].format(value=raw)
        return default


def period_end(start: date, length: str) -> date:
    """The day after the last day of a period of ``length`` (day, week, or month: the same day next month)."""
    if length == "day":
        return start + timedelta(days=1)
    if length == "week":
        return start + timedelta(days=7)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _check_days(
    start: date, end: date, field_name: str, series: PriceSeries, errors: FormErrors, t: Mapping[str, str]
) -> None:
    first, last = price_days(series)
    if start < first or end - timedelta(days=1) > last:
        errors[field_name] = t["energy_err_outside"].format(first=first.isoformat(), last=last.isoformat())


# ---------------------------------------------------------------------------------------------------------------------
# formatting


def fmt(value: float, digits: int, lang: str) -> str:
    """A number with ``digits`` decimals and thousands separators in the user's language."""
    text = f"{value:,.{digits}f}"
    if lang == "nl":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text.replace("-", "−")


def _local(timestamps: NDArray[np.datetime64]) -> list[str]:
    series = pl.Series(timestamps.astype("datetime64[us]")).dt.replace_time_zone("UTC")
    return series.dt.convert_time_zone(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M").to_list()


def _round(values: FloatArray, digits: int = 3) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]


# ---------------------------------------------------------------------------------------------------------------------
# battery


@dataclass
class BatteryFigures:
    energy_kWh: float
    power_kW: float
    efficiency: float
    soh_pct: float
    end_soh_pct: float
    fade_pct_per_fec: float
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class Card:
    label: str
    value: str
    note: str = ""
    tone: str = ""


LISTED_BATTERIES = 100
"""Batteries offered in the choice list; more are reached by typing the passport identifier."""


def visible_batteries(request: Request, viewer: Viewer) -> tuple[int, list[dict[str, Any]]]:
    """Passports whose state of health the viewer may read (own or granted), for the battery choice: how many there
    are, and the first :data:`LISTED_BATTERIES`."""
    session = read_session(request)
    try:
        total, items = PassportService(session, settings_of(request)).search(
            viewer, soh_min=0.0, limit=LISTED_BATTERIES, route="GET /energy"
        )
        session.commit()
    finally:
        session.close()
    return total, items


def battery_figures(
    request: Request,
    viewer: Viewer,
    params: Mapping[str, str],
    errors: FormErrors,
    t: Mapping[str, str],
) -> BatteryFigures | None:
    """Energy, power, efficiency and fade of the battery: typed in, or read from a passport as the viewer sees it."""
    typed_id = _text(params, "passport_id")
    passport_id = typed_id or _text(params, "passport")
    passport_field = "passport_id" if typed_id else "passport"
    energy = _number(params, "energy_kWh", errors, t, high=1e6, required=not passport_id)
    power = _number(params, "power_kW", errors, t, high=1e6)
    rte_pct = _number(params, "rte_pct", errors, t, high=100.0)
    sources: dict[str, str] = {}
    soh, end_soh = 100.0, default_float("end_soh_pct")
    fade = default_float("cycle_fade_pct_per_fec")
    fade_source = t["energy_src_default"].format(file="valuation_defaults.csv")
    max_power: float | None = None
    rte_from_passport: float | None = None
    if passport_id:
        session = read_session(request)
        try:
            view = PassportService(session, settings_of(request)).view(viewer, passport_id, route="GET /energy")
            figures = figures_from_passport(
                passport_id, view.data, [g.value for g in view.groups], soh_given=energy is not None
            )
            session.commit()
        except PermissionDeniedError as exc:
            errors[passport_field] = t["energy_err_passport_soh"] if exc.field == "soh_capacity_pct" else exc.message
            return None
        except BatteryloopError as exc:
            errors[passport_field] = exc.message
            return None
        finally:
            session.close()
        values, found = figures.values, figures.sources
        if energy is None:
            if "rated_energy_kWh" not in values:
                errors["energy_kWh"] = t["energy_err_no_energy"]
                return None
            soh = float(values["soh_pct"])
            energy = float(values["rated_energy_kWh"]) * soh / 100.0
            soh_key = found["soh_pct"].rsplit(": ", 1)[-1]
            sources["energy"] = f"{found['rated_energy_kWh']} × {soh_key} / 100"
        if "round_trip_efficiency" in values:
            rte_from_passport = float(values["round_trip_efficiency"])
            sources["efficiency"] = found["round_trip_efficiency"]
        if "cycle_fade_pct_per_fec" in values:
            fade = float(values["cycle_fade_pct_per_fec"])
            fade_source = found["cycle_fade_pct_per_fec"]
        threshold = view.data.get("capacity_threshold_exhaustion_pct")
        if isinstance(threshold, int | float) and not isinstance(threshold, bool) and 0 < threshold < soh:
            end_soh = float(threshold)
            sources["end"] = f"passport {passport_id}: capacity_threshold_exhaustion_pct"
        limit_W = view.data.get("maximum_permitted_power_W")
        if isinstance(limit_W, int | float) and not isinstance(limit_W, bool) and limit_W > 0:
            max_power = float(limit_W) / 1000.0
    if errors or energy is None:
        return None
    sources.setdefault("energy", t["energy_src_typed"])
    sources.setdefault("end", t["energy_src_default"].format(file="valuation_defaults.csv (end_soh_pct)"))
    sources["fade"] = fade_source
    if power is None:
        power = default_float("c_rate") * energy
        sources["power"] = t["energy_src_c_rate"].format(c=f"{default_float('c_rate'):g}")
        if max_power is not None and max_power < power:
            power = max_power
            sources["power"] = f"passport {passport_id}: maximum_permitted_power_W"
    else:
        sources["power"] = t["energy_src_typed"]
    if rte_pct is not None:
        efficiency = math.sqrt(rte_pct / 100.0)
        sources["efficiency"] = t["energy_src_typed"]
    elif rte_from_passport is not None and 0 < rte_from_passport <= 1:
        efficiency = math.sqrt(rte_from_passport)
    else:
        efficiency = 0.95
        sources["efficiency"] = t["energy_src_eff_default"]
    return BatteryFigures(energy, power, efficiency, soh, end_soh, fade, sources)


def hub_load_kW(
    grid: NDArray[np.datetime64], step_minutes: int, per_day: int, days: list[date], stats: elaadnl.ElaadStats
) -> FloatArray:
    """Load of a public charging hub: ``per_day`` sessions a day drawn from the ElaadNL public-charging statistics,
    each charging at full power from arrival until its energy is in (the "dumb" profile), averaged per step [kW].
    A session still charging at the end of the period is cut there; none arrives before its first day."""
    T = len(grid)
    step_s = step_minutes * 60.0
    t0 = grid[0].astype("datetime64[s]")
    edges = np.arange(T + 1, dtype=np.float64) * step_s
    load = np.zeros(T)
    for day in days:
        sampled = elaadnl.sample_sessions(per_day, day, seed=day.toordinal(), mix={"public": 1.0}, stats=stats)
        s = sampled.sessions
        start = (s.arrival.astype("datetime64[s]") - t0).astype(np.float64)
        power = np.asarray(s.max_charge_kW, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            hours = np.where(power > 0, s.energy_kWh / power, 0.0)
        stop = np.minimum(start + hours * 3600.0, (s.departure.astype("datetime64[s]") - t0).astype(np.float64))
        overlap = np.clip(
            np.minimum(stop[:, None], edges[None, 1:]) - np.maximum(start[:, None], edges[None, :-1]), 0.0, None
        )
        load += (overlap * power[:, None]).sum(axis=0) / step_s
    return load


@dataclass
class BatteryRun:
    result: DispatchResult
    figures: BatteryFigures
    wear_eur_per_MWh: float
    wear_source: str
    start: date
    end: date
    data: DataUsed
    missing: list[str]
    fcr: bool
    peak: bool
    hub_per_day: int = 0
    tariff_month: float = 0.0
    load_kW: FloatArray | None = None
    grid: NDArray[np.datetime64] | None = None


def run_battery(
    request: Request, viewer: Viewer, params: Mapping[str, str], errors: FormErrors, t: Mapping[str, str]
) -> BatteryRun | None:
    """Validate the battery form and run the dispatch; ``None`` with ``errors`` filled when the form is wrong."""
    limits = page_defaults()
    series, used = prices()
    first, last = price_days(series)
    default_start = max(first, min(last, date(2024, 6, 3)))
    start = _date(params, "start", errors, t, default_start)
    length = _text(params, "length", "week")
    if length not in LENGTHS:
        errors["length"] = t["energy_err_choice"]
        length = "week"
    end = period_end(start, length)
    if "start" not in errors:
        _check_days(start, end, "start", series, errors, t)
    horizon_text = _text(params, "horizon", Horizon.ROLLING.value)
    if horizon_text not in (Horizon.ROLLING.value, Horizon.FULL.value):
        errors["horizon"] = t["energy_err_choice"]
        horizon_text = Horizon.ROLLING.value
    fcr_on = _text(params, "fcr") == "1"
    peak_on = _text(params, "peak") == "1"
    fcr_price = _number(params, "fcr_price", errors, t, low=0.0, high=1e5, required=fcr_on, open_low=False)
    tariff = _number(params, "tariff", errors, t, low=0.0, high=1e4, open_low=False)
    hub = _number(params, "hub_evs", errors, t, low=1.0, high=limits["max_hub_evs"], open_low=False)
    if hub is not None and hub != int(hub):
        errors["hub_evs"] = t["energy_err_whole"]
    wear = _number(params, "wear", errors, t, low=0.0, high=1e5, open_low=False)
    figures = battery_figures(request, viewer, params, errors, t)
    if errors or figures is None:
        return None
    lo, hi = local_day_bounds(start, end)
    period = series.between(lo, hi)
    grid = regular_grid(period)
    price = align(period, grid, name="prices")
    missing = [str(g) for g in period.gaps]
    if peak_on and missing:
        errors["peak"] = t["energy_err_gaps_peak"].format(gaps="; ".join(missing[:3]))
        return None
    if wear is None:
        remaining = (figures.soh_pct - figures.end_soh_pct) / figures.fade_pct_per_fec
        if remaining <= 0:
            errors["wear"] = t["energy_err_wear_needed"]
            return None
        value = limits["battery_value_eur_per_kWh"]
        wear = throughput_cost_eur_per_MWh(value * figures.energy_kWh, remaining, figures.energy_kWh)
        wear_source = t["energy_wear_derived"].format(
            value=fmt(value, 0, t["lang"]),
            soh=fmt(figures.soh_pct, 1, t["lang"]),
            end=fmt(figures.end_soh_pct, 0, t["lang"]),
            fade=fmt(figures.fade_pct_per_fec, 4, t["lang"]),
            cycles=fmt(remaining, 0, t["lang"]),
        )
    else:
        wear_source = t["energy_src_typed"]
    try:
        asset = Asset(
            power_kW=figures.power_kW,
            energy_kWh=figures.energy_kWh,
            charge_efficiency=figures.efficiency,
            discharge_efficiency=figures.efficiency,
        )
    except BatteryloopError as exc:
        errors["energy_kWh"] = "; ".join(str(p) for p in exc.problems) or exc.message
        return None
    market = None
    if fcr_on and fcr_price is not None:
        rules = fcr_rules()
        market = FcrMarket(
            price_eur_per_MW=np.full(len(grid), fcr_price),
            activation_minutes=rules.activation_minutes,
            block_hours=rules.block_hours,
            min_bid_MW=rules.min_bid_MW,
        )
    btm = None
    load = None
    per_day = 0
    tariff_month = 0.0
    if peak_on:
        stats, _ = elaad_stats()
        per_day = int(hub if hub is not None else limits["hub_evs_per_day"])
        tariff_month = tariff if tariff is not None else limits["capacity_tariff_eur_per_kW_month"]
        days = [start + timedelta(days=k) for k in range((end - start).days)]
        load = hub_load_kW(grid, period.step_minutes, per_day, days, stats)
        btm = BehindTheMeter(
            load_kW=load,
            pv_kW=np.zeros(len(grid)),
            capacity_tariff_eur_per_kW=tariff_month * (end - start).days / (365.25 / 12.0),
            peak_period="horizon",
        )
    result = dispatch(
        grid,
        price,
        asset,
        step_minutes=period.step_minutes,
        horizon=Horizon(horizon_text),
        degradation_eur_per_MWh=wear,
        behind_the_meter=btm,
        fcr=market,
    )
    return BatteryRun(
        result,
        figures,
        wear,
        wear_source,
        start,
        end,
        used,
        missing,
        fcr_on,
        peak_on,
        per_day,
        tariff_month,
        load,
        grid,
    )


def battery_cards(run: BatteryRun, t: Mapping[str, str], lang: str) -> list[Card]:
    r = run.result
    market = {k: v for k, v in r.revenue_eur.items() if k != "degradation"}
    degradation = -r.revenue_eur.get("degradation", 0.0)
    net = sum(r.revenue_eur.values())
    cards = [
        Card(t["energy_revenue"], f"€ {fmt(sum(market.values()), 2, lang)}", t["energy_revenue_note"]),
        Card(
            t["energy_degradation_cost"],
            f"€ {fmt(degradation, 2, lang)}",
            t["energy_degradation_note"].format(wear=fmt(run.wear_eur_per_MWh, 1, lang)),
        ),
        Card(t["energy_net"], f"€ {fmt(net, 2, lang)}", "", "ok" if net >= 0 else "bad"),
        Card(
            t["energy_cycles"],
            fmt(r.full_equivalent_cycles, 2, lang),
            t["energy_cycles_note"].format(pp=fmt(r.full_equivalent_cycles * run.figures.fade_pct_per_fec, 3, lang)),
        ),
    ]
    for key, value in market.items() if len(market) > 1 else ():
        cards.append(Card(t.get(f"energy_service_{key}", key), f"€ {fmt(value, 2, lang)}", t["energy_by_service"]))
    return cards


def battery_charts(run: BatteryRun, t: Mapping[str, str], lang: str, source: str) -> list[Chart]:
    r = run.result
    s = r.schedule
    when = _local(s["timestamp_utc"].dt.replace_time_zone(None).to_numpy())
    price = s["price_eur_per_MWh"].to_numpy()
    charge = s["charge_kW"].to_numpy()
    discharge = s["discharge_kW"].to_numpy()
    soc_pct = s["soc_kWh"].to_numpy() / run.figures.energy_kWh * 100.0
    fcr_kW = s["fcr_kW"].to_numpy()
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": t["energy_charge_kW"],
            "x": when,
            "y": _round(-charge),
            "marker": {"color": "#2a7ab0"},
        },
        {
            "type": "bar",
            "name": t["energy_discharge_kW"],
            "x": when,
            "y": _round(discharge),
            "marker": {"color": "#d9822b"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t["energy_price"],
            "x": when,
            "y": _round(price, 2),
            "yaxis": "y2",
            "line": {"color": "#1b1f24", "width": 1.5, "shape": "hv"},
        },
    ]
    if run.fcr:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": t["energy_fcr_kW"],
                "x": when,
                "y": _round(fcr_kW),
                "line": {"color": "#0b6e4f", "dash": "dot", "shape": "hv"},
            }
        )
    if run.load_kW is not None:
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": t["energy_site_load"],
                "x": when,
                "y": _round(run.load_kW),
                "line": {"color": "#8c564b", "width": 1, "shape": "hv"},
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": t["energy_grid_import"],
                "x": when,
                "y": _round(s["grid_import_kW"].to_numpy()),
                "line": {"color": "#9467bd", "width": 1.5, "shape": "hv"},
            }
        )
    kw_top = 1.1 * max(float(np.nanmax(np.abs(np.r_[charge, discharge, fcr_kW, 0.0]))), 1e-9)
    if run.load_kW is not None:
        kw_top = max(kw_top, 1.1 * float(np.nanmax(run.load_kW)))
    price_top = 1.1 * max(float(np.nanmax(np.abs(np.where(np.isfinite(price), price, 0.0)))), 1.0)
    schedule = Chart(
        id="schedule",
        title=t["energy_chart_schedule"],
        figure={
            "data": traces,
            "layout": {
                "barmode": "relative",
                "bargap": 0,
                "yaxis": {"title": {"text": "kW"}, "zeroline": True, "range": [-kw_top, kw_top]},
                "yaxis2": {
                    "title": {"text": "€/MWh"},
                    "overlaying": "y",
                    "side": "right",
                    "showgrid": False,
                    "zeroline": False,
                    "range": [-price_top, price_top],
                },
                "xaxis": {"type": "date"},
                "margin": {"l": 56, "r": 64, "t": 16, "b": 48},
                "hovermode": "x unified",
            },
        },
        columns=[
            t["energy_col_time"],
            t["energy_col_price"],
            t["energy_col_charge"],
            t["energy_col_discharge"],
            t["energy_col_soc"],
            t["energy_col_fcr"],
        ]
        + ([t["energy_col_load"], t["energy_col_import"]] if run.load_kW is not None else []),
        rows=[
            [
                when[i],
                _cell(price[i], 2),
                _cell(charge[i], 3),
                _cell(discharge[i], 3),
                _cell(soc_pct[i], 2),
                _cell(fcr_kW[i], 3),
            ]
            + ([_cell(run.load_kW[i], 3), _cell(float(s["grid_import_kW"][i]), 3)] if run.load_kW is not None else [])
            for i in range(len(when))
        ],
        source=source,
        note=t["energy_chart_schedule_note"],
        height_px=380,
    )
    soc = Chart(
        id="soc",
        title=t["energy_chart_soc"],
        figure={
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": t["energy_soc"],
                    "x": when,
                    "y": _round(soc_pct, 2),
                    "fill": "tozeroy",
                    "line": {"color": "#0b6e4f"},
                }
            ],
            "layout": {"yaxis": {"title": {"text": "%"}, "range": [0, 100]}, "xaxis": {"type": "date"}},
        },
        columns=[t["energy_col_time"], t["energy_col_soc"]],
        rows=[[when[i], _cell(soc_pct[i], 2)] for i in range(len(when))],
        source=t["energy_model_source"],
        height_px=240,
    )
    return [schedule, soc]


def localise(charts: list[Chart], lang: str) -> None:
    """Decimal and thousands separators of the chart axes in the user's language (Dutch: 1.234,5)."""
    for chart in charts:
        chart.figure.setdefault("layout", {})["separators"] = ",." if lang == "nl" else ".,"


def _cell(value: float, digits: int) -> str:
    return "" if not math.isfinite(value) else f"{value:.{digits}f}"


# ---------------------------------------------------------------------------------------------------------------------
# fleet


@dataclass
class FleetRun:
    result: FleetResult
    day: date
    evs: int
    v2g: bool
    data: DataUsed
    elaad: DataUsed
    capped: int


def run_fleet(params: Mapping[str, str], errors: FormErrors, t: Mapping[str, str]) -> FleetRun | None:
    """Validate the fleet form, draw the sessions and optimise (as ``batteryloop energy fleet --evs``)."""
    limits = page_defaults()
    series, used = prices()
    first, last = price_days(series)
    default_day = max(first, min(last - timedelta(days=2), date(2024, 6, 12)))
    day = _date(params, "day", errors, t, default_day)
    evs = _number(params, "evs", errors, t, low=1.0, high=limits["max_evs"], required=True, open_low=False)
    if evs is not None and evs != int(evs):
        errors["evs"] = t["energy_err_whole"]
    site = _number(params, "site_limit_kW", errors, t, high=1e6)
    wear = _number(params, "fleet_wear", errors, t, low=0.0, high=1e5, open_low=False)
    seed = _number(params, "seed", errors, t, low=0.0, high=2**31 - 1, open_low=False)
    v2g = _text(params, "v2g") == "1"
    d = fleet_defaults()
    step = int(d["step_minutes"])
    hours = d["horizon_hours"]
    if "day" not in errors:
        _check_days(day, day + timedelta(days=math.ceil(hours / 24)), "day", series, errors, t)
    if errors or evs is None:
        return None
    stats, elaad_used = elaad_stats()
    sampled = elaadnl.sample_sessions(int(evs), day, seed=int(seed or 0), v2g=v2g, stats=stats)
    sessions = sampled.sessions
    start = elaadnl.local_midnight_utc(day)
    start64 = np.datetime64(start.replace(tzinfo=None), "s")
    grid = horizon_grid(start, hours, step, sessions.departure)
    T = len(grid)
    period = series.between(start, start + timedelta(seconds=T * step * 60))
    if period.step_minutes != step:
        period = period.resample(step)
    price = align(period, grid, name="prices")
    missing = np.flatnonzero(~np.isfinite(price))
    if len(missing):
        errors["day"] = t["energy_err_fleet_gap"].format(n=len(missing), first=_local(grid[missing[:1]])[0], steps=T)
        return None
    result = optimise_fleet(
        sessions,
        price,
        start64,
        step_minutes=step,
        v2g=v2g,
        site_limit_kW=site,
        wear_cost_eur_per_MWh=wear or 0.0,
    )
    return FleetRun(result, day, int(evs), v2g, used, elaad_used, sampled.capped_by_stay + sampled.capped_by_battery)


def fleet_cards(run: FleetRun, t: Mapping[str, str], lang: str) -> list[Card]:
    r = run.result
    pct = 100.0 * r.saving_eur / r.dumb_energy_cost_eur if r.dumb_energy_cost_eur else float("nan")
    cards = [
        Card(
            t["energy_fleet_cost"],
            f"€ {fmt(r.energy_cost_eur + r.wear_cost_eur, 2, lang)}",
            t["energy_fleet_cost_note"],
        ),
        Card(t["energy_fleet_dumb"], f"€ {fmt(r.dumb_energy_cost_eur, 2, lang)}", t["energy_fleet_dumb_note"]),
        Card(
            t["energy_fleet_saving"],
            f"€ {fmt(r.saving_eur, 2, lang)}",
            f"{fmt(pct, 1, lang)} %" if math.isfinite(pct) else "",
            "ok" if r.saving_eur >= 0 else "bad",
        ),
        Card(
            t["energy_fleet_peak"],
            f"{fmt(float(r.charge_kW.max(initial=0.0)), 0, lang)} kW",
            t["energy_fleet_peak_note"].format(dumb=fmt(float(r.dumb_charge_kW.max(initial=0.0)), 0, lang)),
        ),
        Card(t["energy_fleet_charged"], f"{fmt(float(r.charged_kWh.sum()), 0, lang)} kWh", ""),
    ]
    if run.v2g:
        cards.append(
            Card(
                t["energy_fleet_v2g"],
                f"{fmt(r.v2g_discharged_kWh, 0, lang)} kWh",
                t["energy_fleet_wear_note"].format(eur=fmt(r.wear_cost_eur, 2, lang)),
            )
        )
    return cards


def fleet_charts(run: FleetRun, t: Mapping[str, str], source: str) -> list[Chart]:
    r = run.result
    when = _local(r.timestamps)
    net = r.charge_kW - r.discharge_kW
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": t["energy_fleet_band_upper"],
            "x": when,
            "y": _round(r.envelope.upper_kW),
            "line": {"color": "rgba(11,110,79,0.25)", "width": 0, "shape": "hv"},
            "showlegend": False,
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t["energy_fleet_band"],
            "x": when,
            "y": _round(r.envelope.lower_kW),
            "fill": "tonexty",
            "fillcolor": "rgba(11,110,79,0.12)",
            "line": {"color": "rgba(11,110,79,0.25)", "width": 0, "shape": "hv"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t["energy_fleet_dumb_kW"],
            "x": when,
            "y": _round(r.dumb_charge_kW),
            "line": {"color": "#8c564b", "dash": "dot", "shape": "hv"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t["energy_fleet_smart_kW"],
            "x": when,
            "y": _round(net),
            "line": {"color": "#2a7ab0", "width": 2, "shape": "hv"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": t["energy_price"],
            "x": when,
            "y": _round(r.price_eur_per_MWh, 2),
            "yaxis": "y2",
            "line": {"color": "#1b1f24", "width": 1.2, "shape": "hv"},
        },
    ]
    chart = Chart(
        id="fleet",
        title=t["energy_chart_fleet"],
        figure={
            "data": traces,
            "layout": {
                "yaxis": {"title": {"text": "kW"}},
                "yaxis2": {
                    "title": {"text": "€/MWh"},
                    "overlaying": "y",
                    "side": "right",
                    "showgrid": False,
                    "zeroline": False,
                },
                "xaxis": {"type": "date"},
                "margin": {"l": 56, "r": 64, "t": 16, "b": 48},
                "hovermode": "x unified",
            },
        },
        columns=[
            t["energy_col_time"],
            t["energy_col_price"],
            t["energy_col_smart"],
            t["energy_col_dumb"],
            t["energy_col_band_low"],
            t["energy_col_band_high"],
        ],
        rows=[
            [
                when[i],
                _cell(float(r.price_eur_per_MWh[i]), 2),
                _cell(float(net[i]), 3),
                _cell(float(r.dumb_charge_kW[i]), 3),
                _cell(float(r.envelope.lower_kW[i]), 3),
                _cell(float(r.envelope.upper_kW[i]), 3),
            ]
            for i in range(len(when))
        ],
        source=source,
        note=t["energy_chart_fleet_note"],
        height_px=380,
    )
    return [chart]


# ---------------------------------------------------------------------------------------------------------------------
# the route


def _data_text(used: DataUsed, t: Mapping[str, str], series: PriceSeries | None = None) -> str:
    if series is not None:
        first, last = price_days(series)
        key = "energy_data_prices_synthetic" if used.synthetic else "energy_data_prices_shared"
        return t[key].format(file=used.name, first=first.isoformat(), last=last.isoformat())
    key = "energy_data_elaad_synthetic" if used.synthetic else "energy_data_elaad_shared"
    return t[key].format(folder=used.name)


@router.get("/energy", response_class=HTMLResponse)
def energy(request: Request) -> Response:
    viewer = require_user(request)
    lang = choose_language(request)
    t = dict(translator(lang))
    t["lang"] = lang
    params = {k: v for k, v in request.query_params.items()}
    mode = params.get("mode", "battery")
    if mode not in ("battery", "fleet"):
        mode = "battery"
    limits = page_defaults()
    series, used = prices()
    first, last = price_days(series)
    errors = FormErrors()
    charts: list[Chart] = []
    cards: list[Card] = []
    facts: list[tuple[str, str]] = []
    notes: list[str] = []
    ran = params.get("run") == "1"
    n_batteries, batteries = visible_batteries(request, viewer) if mode == "battery" else (0, [])
    if ran and mode == "battery":
        run = run_battery(request, viewer, params, errors, t)
        if run is not None:
            source = _data_text(run.data, t, series)
            cards = battery_cards(run, t, lang)
            charts = battery_charts(run, t, lang, source)
            f = run.figures
            facts = [
                (t["energy_fact_period"], f"{run.start.isoformat()} – {(run.end - timedelta(days=1)).isoformat()}"),
                (t["energy_fact_energy"], f"{fmt(f.energy_kWh, 1, lang)} kWh · {f.sources['energy']}"),
                (t["energy_fact_power"], f"{fmt(f.power_kW, 1, lang)} kW · {f.sources['power']}"),
                (
                    t["energy_fact_efficiency"],
                    f"{fmt(f.efficiency**2 * 100, 1, lang)} % · {f.sources.get('efficiency', '')}",
                ),
                (t["energy_fact_wear"], f"{fmt(run.wear_eur_per_MWh, 1, lang)} €/MWh · {run.wear_source}"),
                (t["energy_fact_horizon"], t[f"energy_horizon_{run.result.horizon.value}"]),
                (t["energy_fact_prices"], source),
                (
                    t["energy_fact_solver"],
                    t["energy_solver_text"].format(
                        status=run.result.status.value,
                        steps=run.result.schedule.height,
                        windows=run.result.windows,
                        ms=fmt((run.result.build_s + run.result.solve_s) * 1000, 0, lang),
                    ),
                ),
            ]
            if run.peak:
                facts.append(
                    (
                        t["energy_fact_hub"],
                        t["energy_hub_text"].format(
                            n=run.hub_per_day,
                            tariff=fmt(run.tariff_month, 2, lang),
                            data=_data_text(elaad_stats()[1], t),
                        ),
                    )
                )
            if run.missing:
                notes.append(t["energy_note_gaps"].format(gaps="; ".join(run.missing[:5])))
            if run.fcr and run.result.fcr_blocks_below_min_bid:
                notes.append(t["energy_note_min_bid"].format(n=run.result.fcr_blocks_below_min_bid))
            if run.result.status.value != "optimal":
                notes.append(run.result.message or run.result.status.value)
    elif ran and mode == "fleet":
        fleet = run_fleet(params, errors, t)
        if fleet is not None:
            source = _data_text(fleet.data, t, series) + " · " + _data_text(fleet.elaad, t)
            cards = fleet_cards(fleet, t, lang)
            charts = fleet_charts(fleet, t, source)
            r = fleet.result
            facts = [
                (t["energy_fact_day"], fleet.day.isoformat()),
                (t["energy_fact_evs"], str(fleet.evs) + (" · V2G" if fleet.v2g else "")),
                (t["energy_fact_prices"], _data_text(fleet.data, t, series)),
                (t["energy_fact_sessions"], _data_text(fleet.elaad, t)),
                (
                    t["energy_fact_solver"],
                    t["energy_solver_text"].format(
                        status=r.status,
                        steps=len(r.timestamps),
                        windows=1,
                        ms=fmt((r.build_s + r.solve_s) * 1000, 0, lang),
                    ),
                ),
            ]
            if r.clipped:
                notes.append(t["energy_note_clipped"].format(n=len(r.clipped)))
            if r.status != "optimal":
                notes.append(r.message or r.status)
    if (response := csv_response(request, charts)) is not None:
        return response
    localise(charts, lang)
    context = {
        "mode": mode,
        "params": params,
        "errors": errors,
        "ran": ran and not errors,
        "cards": cards,
        "charts": charts,
        "facts": facts,
        "notes": notes,
        "batteries": batteries,
        "n_batteries": n_batteries,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "limits": {k: int(v) if float(v).is_integer() else v for k, v in limits.items()},
        "data_text": _data_text(used, t, series),
        "default_start": max(first, min(last, date(2024, 6, 3))).isoformat(),
        "default_day": max(first, min(last - timedelta(days=2), date(2024, 6, 12))).isoformat(),
        "lengths": LENGTHS,
        "fcr_rules": fcr_rules(),
        "t": t,
    }
    return render(request, "energy_page.html", context, 422 if errors else 200)


register(
    {
        "energy_title": {"en": "Energy services", "nl": "Energiediensten"},
        "energy_intro": {
            "en": "Schedule a battery or an EV fleet against real Dutch day-ahead prices with an optimiser (a linear "
            "programme on HiGHS), and see what it earns, how much it cycles and what the wear costs.",
            "nl": "Plan een batterij of een vloot elektrische auto's tegen echte Nederlandse day-aheadprijzen met een "
            "optimalisatie (een lineair programma met HiGHS) en zie wat het oplevert, hoeveel er gecycled wordt en wat "
            "de slijtage kost.",
        },
        "energy_tab_battery": {"en": "A battery", "nl": "Eén batterij"},
        "energy_tab_fleet": {"en": "An EV fleet", "nl": "Een EV-vloot"},
        "energy_tabs": {"en": "What to schedule", "nl": "Wat u plant"},
        "energy_limits": {
            "en": "Limits: a period of at most {days} days per run; a fleet of at most {evs} EVs arriving on one "
            "day. A run takes about a second. Longer studies: batteryloop energy dispatch / energy value on the "
            "command line.",
            "nl": "Grenzen: een periode van hoogstens {days} dagen per berekening; een vloot van hoogstens {evs} "
            "auto's die op één dag aankomen. Een berekening duurt ongeveer een seconde. Langere studies: "
            "batteryloop energy dispatch / energy value op de opdrachtregel.",
        },
        "energy_data_prices_shared": {
            "en": "NL day-ahead prices, hourly, {first} to {last} ({file} in the shared data folder: ENTSO-E via Ember "
            "to 2024, EPEX NL after)",
            "nl": "NL day-aheadprijzen per uur, {first} tot en met {last} ({file} in de gedeelde datamap: ENTSO-E via "
            "Ember tot 2024, daarna EPEX NL)",
        },
        "energy_data_prices_synthetic": {
            "en": "synthetic Dutch-like day-ahead prices, hourly, {first} to {last}, made by batteryloop: not market "
            "data (the shared NL day-ahead file was not found)",
            "nl": "synthetische Nederland-achtige day-aheadprijzen per uur, {first} tot en met {last}, gemaakt door "
            "batteryloop: geen marktgegevens (het gedeelde NL day-aheadbestand is niet gevonden)",
        },
        "energy_data_elaad_shared": {
            "en": "ElaadNL charging statistics ({folder} in the shared data folder)",
            "nl": "ElaadNL-laadstatistieken ({folder} in de gedeelde datamap)",
        },
        "energy_data_elaad_synthetic": {
            "en": "synthetic charging sessions from batteryloop's own parametric model: not the ElaadNL data (the "
            "shared statistics were not found)",
            "nl": "synthetische laadsessies uit het eigen parametrische model van batteryloop: niet de ElaadNL-"
            "gegevens (de gedeelde statistieken zijn niet gevonden)",
        },
        "energy_data_now": {"en": "Prices on this server", "nl": "Prijzen op deze server"},
        "energy_battery": {"en": "Battery", "nl": "Batterij"},
        "energy_passport": {"en": "Battery passport", "nl": "Batterijpaspoort"},
        "energy_passport_none": {"en": "— figures typed in below —", "nl": "— gegevens hieronder ingevuld —"},
        "energy_passport_help": {
            "en": "Batteries whose state of health you may see (your own, or granted to you). The usable energy is the "
            "rated energy × state of health, as batteryloop energy dispatch --passport reads it.",
            "nl": "Batterijen waarvan u de gezondheid mag zien (van uw organisatie of aan u toegekend). De bruikbare "
            "energie is de nominale energie × de gezondheid, zoals batteryloop energy dispatch --passport die leest.",
        },
        "energy_passport_more": {
            "en": "The list shows {listed} of the {total} batteries you may see; type another one's identifier below.",
            "nl": "De lijst toont {listed} van de {total} batterijen die u mag zien; typ hieronder het nummer van een "
            "andere.",
        },
        "energy_passport_id": {"en": "Or passport identifier", "nl": "Of paspoortnummer"},
        "energy_passport_id_help": {
            "en": "Replaces the choice above when filled in.",
            "nl": "Vervangt de keuze hierboven als het is ingevuld.",
        },
        "energy_passport_empty": {
            "en": "You may see no battery's state of health; type the figures in.",
            "nl": "U mag van geen enkele batterij de gezondheid zien; vul de gegevens zelf in.",
        },
        "energy_energy": {"en": "Usable energy (kWh)", "nl": "Bruikbare energie (kWh)"},
        "energy_energy_help": {
            "en": "Required without a passport; with one it replaces rated energy × state of health.",
            "nl": "Verplicht zonder paspoort; met paspoort vervangt het nominale energie × gezondheid.",
        },
        "energy_power": {"en": "Power (kW)", "nl": "Vermogen (kW)"},
        "energy_power_help": {
            "en": "Empty: 0.5 × the usable energy (a 2-hour system), at most the passport's maximum permitted power.",
            "nl": "Leeg: 0,5 × de bruikbare energie (een systeem van 2 uur), hoogstens het maximaal toegestane "
            "vermogen uit het paspoort.",
        },
        "energy_rte": {"en": "Round-trip efficiency (%)", "nl": "Round-trip-rendement (%)"},
        "energy_rte_help": {
            "en": "Empty: the passport's remaining (else initial) round-trip efficiency, else 90.25 %.",
            "nl": "Leeg: het resterende (anders initiële) round-trip-rendement uit het paspoort, anders 90,25 %.",
        },
        "energy_period": {"en": "Period", "nl": "Periode"},
        "energy_period_legend": {"en": "Period and wear", "nl": "Periode en slijtage"},
        "energy_fcr_legend": {"en": "Markets", "nl": "Markten"},
        "energy_peak_legend": {"en": "Behind the meter", "nl": "Achter de meter"},
        "energy_start": {"en": "First day", "nl": "Eerste dag"},
        "energy_start_help": {
            "en": "Europe/Amsterdam days; prices available from {first} to {last}.",
            "nl": "Dagen in Nederlandse tijd; prijzen beschikbaar van {first} tot en met {last}.",
        },
        "energy_length": {"en": "Length", "nl": "Lengte"},
        "energy_length_day": {"en": "a day", "nl": "een dag"},
        "energy_length_week": {"en": "a week", "nl": "een week"},
        "energy_length_month": {"en": "a month", "nl": "een maand"},
        "energy_horizon": {"en": "Foresight", "nl": "Vooruitblik"},
        "energy_horizon_rolling": {
            "en": "day-ahead, day by day",
            "nl": "day-ahead, dag voor dag",
        },
        "energy_horizon_full": {
            "en": "perfect foresight (upper bound)",
            "nl": "volledige vooruitblik (bovengrens)",
        },
        "energy_options": {"en": "Options", "nl": "Opties"},
        "energy_arbitrage_always": {
            "en": "Day-ahead arbitrage is always on: buy when cheap, sell when dear.",
            "nl": "Day-ahead-arbitrage staat altijd aan: inkopen als het goedkoop is, verkopen als het duur is.",
        },
        "energy_fcr": {
            "en": "FCR (frequency containment reserve)",
            "nl": "FCR (frequentiebehoudingsreserve)",
        },
        "energy_fcr_price": {
            "en": "FCR capacity price (€/MW per 4-hour block)",
            "nl": "FCR-capaciteitsprijs (€/MW per blok van 4 uur)",
        },
        "energy_fcr_help": {
            "en": "No FCR auction results are shipped: give the price you expect. Blocks of {block} h; energy held "
            "for {minutes} min of full activation (fcr_rules.csv).",
            "nl": "Er worden geen FCR-veilinguitslagen meegeleverd: geef de prijs die u verwacht. Blokken van {block} "
            "uur; energie vastgehouden voor {minutes} minuten volledige activering (fcr_rules.csv).",
        },
        "energy_peak": {
            "en": "Peak shaving behind the meter of an EV charging hub",
            "nl": "Piekbeperking achter de meter van een laadplein",
        },
        "energy_tariff": {"en": "Capacity tariff (€/kW per month)", "nl": "Capaciteitstarief (€/kW per maand)"},
        "energy_tariff_help": {
            "en": "Default {tariff}: an assumption for illustration; use your network operator's kW-max tariff. "
            "Charged on the highest import of the period, prorated by its length.",
            "nl": "Standaard {tariff}: een aanname ter illustratie; gebruik het kW-max-tarief van uw netbeheerder. "
            "Berekend over de hoogste afname in de periode, naar rato van de lengte.",
        },
        "energy_hub_evs": {"en": "EVs arriving a day", "nl": "Auto's per dag"},
        "energy_hub_help": {
            "en": "The hub's load: public-charging sessions drawn from the ElaadNL statistics (or batteryloop's "
            "synthetic session model where they are absent), each charging at full power on arrival (at most {max}).",
            "nl": "De belasting van het laadplein: openbare laadsessies getrokken uit de ElaadNL-statistieken (of uit "
            "het synthetische sessiemodel van batteryloop als die ontbreken), elk op vol vermogen vanaf aankomst "
            "(hoogstens {max}).",
        },
        "energy_wear": {"en": "Wear cost (€/MWh from the cells)", "nl": "Slijtagekosten (€/MWh uit de cellen)"},
        "energy_wear_help": {
            "en": "Empty: the value of a new pack ({value} €/kWh, BloombergNEF 2024) spread over the full cycles the "
            "battery has left to its end-of-life state of health.",
            "nl": "Leeg: de waarde van een nieuw pakket ({value} €/kWh, BloombergNEF 2024) verdeeld over de volledige "
            "cycli die de batterij nog heeft tot haar eindgezondheid.",
        },
        "energy_run": {"en": "Run the dispatch", "nl": "Bereken de inzet"},
        "energy_run_fleet": {"en": "Run the fleet", "nl": "Bereken de vloot"},
        "energy_day": {"en": "Arrival day", "nl": "Aankomstdag"},
        "energy_day_help": {
            "en": "Sessions arriving on this day are followed for up to 48 h (prices {first} to {last}).",
            "nl": "Sessies die op deze dag aankomen worden tot 48 uur gevolgd (prijzen {first} tot en met {last}).",
        },
        "energy_evs": {"en": "Number of EVs", "nl": "Aantal auto's"},
        "energy_evs_help": {
            "en": "Drawn from the ElaadNL distributions, or batteryloop's synthetic session model where they are "
            "absent (home 60 %, public 25 %, work 15 %); at most {max}.",
            "nl": "Getrokken uit de ElaadNL-verdelingen, of uit het synthetische sessiemodel van batteryloop als die "
            "ontbreken (thuis 60 %, openbaar 25 %, werk 15 %); hoogstens {max}.",
        },
        "energy_v2g": {
            "en": "Vehicle-to-grid (V2G-capable models of 2024 only)",
            "nl": "Vehicle-to-grid (alleen V2G-geschikte modellen van 2024)",
        },
        "energy_site_limit": {"en": "Site limit (kW, optional)", "nl": "Aansluitgrens (kW, optioneel)"},
        "energy_fleet_wear_label": {
            "en": "Battery wear for V2G (€/MWh discharged)",
            "nl": "Batterijslijtage bij V2G (€/MWh ontladen)",
        },
        "energy_seed": {"en": "Draw number (seed)", "nl": "Trekkingsnummer (seed)"},
        "energy_seed_help": {
            "en": "The same number draws the same sessions.",
            "nl": "Hetzelfde nummer trekt dezelfde sessies.",
        },
        "energy_results": {"en": "Result", "nl": "Uitkomst"},
        "energy_revenue": {"en": "Market revenue", "nl": "Marktopbrengst"},
        "energy_revenue_note": {"en": "all services, before wear", "nl": "alle diensten, vóór slijtage"},
        "energy_degradation_cost": {"en": "Degradation cost", "nl": "Degradatiekosten"},
        "energy_degradation_note": {
            "en": "at {wear} €/MWh drawn from the cells",
            "nl": "tegen {wear} €/MWh uit de cellen",
        },
        "energy_net": {"en": "Net result", "nl": "Nettoresultaat"},
        "energy_cycles": {"en": "Full equivalent cycles", "nl": "Volledige equivalente cycli"},
        "energy_cycles_note": {
            "en": "≈ {pp} percentage points of state of health",
            "nl": "≈ {pp} procentpunt gezondheid",
        },
        "energy_by_service": {"en": "by service", "nl": "per dienst"},
        "energy_service_arbitrage": {"en": "Arbitrage", "nl": "Arbitrage"},
        "energy_service_energy": {
            "en": "Energy bill saved (incl. arbitrage)",
            "nl": "Bespaard op energie (incl. arbitrage)",
        },
        "energy_service_peak_shaving": {"en": "Peak shaving", "nl": "Piekbeperking"},
        "energy_service_fcr": {"en": "FCR", "nl": "FCR"},
        "energy_charge_kW": {"en": "Charge (kW)", "nl": "Laden (kW)"},
        "energy_discharge_kW": {"en": "Discharge (kW)", "nl": "Ontladen (kW)"},
        "energy_price": {"en": "Day-ahead price (€/MWh)", "nl": "Day-aheadprijs (€/MWh)"},
        "energy_fcr_kW": {"en": "FCR reserved (kW)", "nl": "FCR gereserveerd (kW)"},
        "energy_site_load": {"en": "Hub load (kW)", "nl": "Belasting laadplein (kW)"},
        "energy_grid_import": {"en": "Grid import (kW)", "nl": "Afname van het net (kW)"},
        "energy_soc": {"en": "State of charge (%)", "nl": "Laadtoestand (%)"},
        "energy_chart_schedule": {
            "en": "Schedule: charge and discharge against the price",
            "nl": "Inzet: laden en ontladen tegen de prijs",
        },
        "energy_chart_schedule_note": {
            "en": "charge drawn below zero; times Europe/Amsterdam",
            "nl": "laden onder nul getekend; tijden in Nederlandse tijd",
        },
        "energy_chart_soc": {"en": "State of charge", "nl": "Laadtoestand"},
        "energy_model_source": {
            "en": "batteryloop dispatch model (linear programme, HiGHS)",
            "nl": "batteryloop-inzetmodel (lineair programma, HiGHS)",
        },
        "energy_col_time": {"en": "time (Europe/Amsterdam)", "nl": "tijd (Nederlandse tijd)"},
        "energy_col_price": {"en": "price (€/MWh)", "nl": "prijs (€/MWh)"},
        "energy_col_charge": {"en": "charge (kW)", "nl": "laden (kW)"},
        "energy_col_discharge": {"en": "discharge (kW)", "nl": "ontladen (kW)"},
        "energy_col_soc": {"en": "state of charge (%)", "nl": "laadtoestand (%)"},
        "energy_col_fcr": {"en": "FCR reserved (kW)", "nl": "FCR gereserveerd (kW)"},
        "energy_col_load": {"en": "hub load (kW)", "nl": "belasting laadplein (kW)"},
        "energy_col_import": {"en": "grid import (kW)", "nl": "afname (kW)"},
        "energy_col_smart": {"en": "smart net power (kW)", "nl": "slim nettovermogen (kW)"},
        "energy_col_dumb": {"en": "charging on arrival (kW)", "nl": "laden bij aankomst (kW)"},
        "energy_col_band_low": {"en": "flexibility lower (kW)", "nl": "flexibiliteit onder (kW)"},
        "energy_col_band_high": {"en": "flexibility upper (kW)", "nl": "flexibiliteit boven (kW)"},
        "energy_fact_period": {"en": "Period", "nl": "Periode"},
        "energy_fact_energy": {"en": "Usable energy", "nl": "Bruikbare energie"},
        "energy_fact_power": {"en": "Power", "nl": "Vermogen"},
        "energy_fact_efficiency": {"en": "Round-trip efficiency", "nl": "Round-trip-rendement"},
        "energy_fact_wear": {"en": "Wear cost", "nl": "Slijtagekosten"},
        "energy_fact_horizon": {"en": "Foresight", "nl": "Vooruitblik"},
        "energy_fact_prices": {"en": "Prices", "nl": "Prijzen"},
        "energy_fact_sessions": {"en": "Sessions", "nl": "Sessies"},
        "energy_fact_solver": {"en": "Solver", "nl": "Oplosser"},
        "energy_fact_hub": {"en": "Charging hub", "nl": "Laadplein"},
        "energy_fact_day": {"en": "Arrival day", "nl": "Aankomstdag"},
        "energy_fact_evs": {"en": "EVs", "nl": "Auto's"},
        "energy_facts": {"en": "What this run used", "nl": "Wat deze berekening gebruikte"},
        "energy_solver_text": {
            "en": "{status}; {steps} steps in {windows} window(s); {ms} ms",
            "nl": "{status}; {steps} stappen in {windows} venster(s); {ms} ms",
        },
        "energy_hub_text": {
            "en": "{n} EVs a day charging on arrival ({data}); capacity tariff {tariff} €/kW per month",
            "nl": "{n} auto's per dag die bij aankomst laden ({data}); capaciteitstarief {tariff} €/kW per maand",
        },
        "energy_wear_derived": {
            "en": "{value} €/kWh spread over {cycles} full cycles (state of health {soh} % to {end} % at {fade} "
            "points per cycle)",
            "nl": "{value} €/kWh verdeeld over {cycles} volledige cycli (gezondheid {soh} % tot {end} % bij {fade} "
            "punt per cyclus)",
        },
        "energy_src_typed": {"en": "typed in", "nl": "ingevuld"},
        "energy_src_default": {"en": "default ({file})", "nl": "standaard ({file})"},
        "energy_src_c_rate": {"en": "{c} × usable energy", "nl": "{c} × bruikbare energie"},
        "energy_src_eff_default": {"en": "default 95 % each way", "nl": "standaard 95 % per richting"},
        "energy_note_gaps": {
            "en": "No price for: {gaps}. The battery rests in those hours.",
            "nl": "Geen prijs voor: {gaps}. De batterij rust in die uren.",
        },
        "energy_note_min_bid": {
            "en": "{n} FCR block(s) hold less than the 1 MW minimum bid: an aggregator has to pool this battery "
            "with others.",
            "nl": "{n} FCR-blok(ken) met minder dan het minimumbod van 1 MW: een aggregator moet deze batterij met "
            "andere bundelen.",
        },
        "energy_note_clipped": {
            "en": "{n} EV(s) cannot get all their energy in their stay; they get the most they can.",
            "nl": "{n} auto('s) kunnen niet al hun energie krijgen tijdens hun verblijf; ze krijgen zoveel als kan.",
        },
        "energy_fleet_cost": {"en": "Smart charging cost", "nl": "Kosten slim laden"},
        "energy_fleet_cost_note": {"en": "energy and V2G wear", "nl": "energie en V2G-slijtage"},
        "energy_fleet_dumb": {"en": "Charging on arrival", "nl": "Laden bij aankomst"},
        "energy_fleet_dumb_note": {"en": "full power from arrival", "nl": "vol vermogen vanaf aankomst"},
        "energy_fleet_saving": {"en": "Saving", "nl": "Besparing"},
        "energy_fleet_peak": {"en": "Peak power", "nl": "Piekvermogen"},
        "energy_fleet_peak_note": {"en": "on arrival: {dumb} kW", "nl": "bij aankomst: {dumb} kW"},
        "energy_fleet_charged": {"en": "Energy charged", "nl": "Geladen energie"},
        "energy_fleet_v2g": {"en": "V2G discharged", "nl": "V2G ontladen"},
        "energy_fleet_wear_note": {"en": "wear € {eur}", "nl": "slijtage € {eur}"},
        "energy_fleet_band": {"en": "Flexibility band (kW)", "nl": "Flexibiliteitsband (kW)"},
        "energy_fleet_band_upper": {"en": "Flexibility upper (kW)", "nl": "Flexibiliteit boven (kW)"},
        "energy_fleet_dumb_kW": {"en": "Charging on arrival (kW)", "nl": "Laden bij aankomst (kW)"},
        "energy_fleet_smart_kW": {"en": "Smart charging (kW)", "nl": "Slim laden (kW)"},
        "energy_chart_fleet": {
            "en": "Fleet power: smart charging against charging on arrival",
            "nl": "Vlootvermogen: slim laden tegenover laden bij aankomst",
        },
        "energy_chart_fleet_note": {
            "en": "band: the power the fleet could draw at each step with every departure energy still met",
            "nl": "band: het vermogen dat de vloot per stap kan afnemen terwijl elke vertrekenergie gehaald wordt",
        },
        "energy_errors": {
            "en": "The form has errors; see the fields marked below.",
            "nl": "Het formulier bevat fouten; zie de gemarkeerde velden.",
        },
        "energy_err_required": {"en": "Required.", "nl": "Verplicht."},
        "energy_err_number": {"en": "{value!r} is not a number.", "nl": "{value!r} is geen getal."},
        "energy_err_range": {
            "en": "{value} is out of range: expected {range}.",
            "nl": "{value} valt buiten het bereik: verwacht {range}.",
        },
        "energy_and": {"en": "and", "nl": "en"},
        "energy_err_date": {
            "en": "{value!r} is not a date (YYYY-MM-DD).",
            "nl": "{value!r} is geen datum (JJJJ-MM-DD).",
        },
        "energy_err_choice": {"en": "Choose one of the options.", "nl": "Kies een van de mogelijkheden."},
        "energy_err_whole": {"en": "A whole number.", "nl": "Een geheel getal."},
        "energy_err_outside": {
            "en": "Prices cover {first} to {last}; choose a period inside it.",
            "nl": "Er zijn prijzen van {first} tot en met {last}; kies een periode daarbinnen.",
        },
        "energy_err_passport_soh": {
            "en": "You may not see this battery's state of health (individual battery data, Annex XIII point 4); ask "
            "its operator for a grant, or type the usable energy in.",
            "nl": "U mag de gezondheid van deze batterij niet zien (individuele batterijgegevens, bijlage XIII punt "
            "4); vraag de marktdeelnemer om toegang of vul de bruikbare energie zelf in.",
        },
        "energy_err_no_energy": {
            "en": "The passport shows no rated energy; type the usable energy in.",
            "nl": "Het paspoort toont geen nominale energie; vul de bruikbare energie zelf in.",
        },
        "energy_err_gaps_peak": {
            "en": "Peak shaving needs a price for every hour; missing: {gaps}. Choose another period.",
            "nl": "Piekbeperking heeft voor elk uur een prijs nodig; ontbrekend: {gaps}. Kies een andere periode.",
        },
        "energy_err_wear_needed": {
            "en": "The battery is at or below its end-of-life state of health; give a wear cost.",
            "nl": "De batterij zit op of onder haar eindgezondheid; geef de slijtagekosten op.",
        },
        "energy_err_fleet_gap": {
            "en": "{n} of the {steps} quarter-hours have no price, the first at {first}; choose another day.",
            "nl": "{n} van de {steps} kwartieren hebben geen prijs, het eerste om {first}; kies een andere dag.",
        },
    }
)
