"""Second-life value of a used battery: the net present value of its remaining second life on real price years, the
break-even purchase price per kWh, and the comparison with what its materials are worth to a recycler.

Method (see docs/energy-value.md):

- The battery starts its second life with usable energy :math:`E_1 = E_\\mathrm{rated} \\cdot SoH_1` and power
  :math:`P` (given, or ``c_rate`` times :math:`E_1`, derated by a resistance increase). Service year :math:`k`
  dispatches the asset of that year, :math:`E_k = E_\\mathrm{rated} \\cdot SoH_k`, with the LP of
  :mod:`batteryloop.energy.dispatch` on one real price year (rolling day-ahead by default), which gives its market
  revenue :math:`R_k` and its full equivalent cycles :math:`N_k`.
- Fade: :math:`SoH_{k+1} = SoH_k - N_k f_\\mathrm{cyc} - f_\\mathrm{cal}` (percentage points), with
  :math:`f_\\mathrm{cyc} = (SoH_1 - SoH_\\mathrm{end}) / N_\\mathrm{remaining}` per cycle when the remaining cycles are
  known (given, or from a passport's rated cycle life), else the default of ``valuation_defaults.csv``. Service ends
  when :math:`SoH` reaches :math:`SoH_\\mathrm{end}` (the last year counts pro rata) or at the lifetime cut-off.
- Cash flows: :math:`C_0 = -(p + c_\\mathrm{rep}) E_1 - C_\\mathrm{fixed} - c_\\mathrm{BoS} P`;
  :math:`C_k = \\phi_k (R_k - O\\&M)` at the end of year :math:`k` (:math:`\\phi_k` the share of the year in
  service); the recycling value of the materials at the end of service, :math:`T` years.
  :math:`NPV = \\sum_k C_k (1 + r)^{-t_k}`.
- Break-even purchase price :math:`p^*` per kWh of present usable energy: :math:`NPV(p^*) = 0`, so
  :math:`p^* = NPV(0) / E_1` (the purchase price enters only :math:`C_0`).
- Recycling now: :math:`V_\\mathrm{rec} = E_\\mathrm{rated} (\\sum_m w_m \\pi_m \\rho_m - c_\\mathrm{rec})` with the
  metal content :math:`w_m` [kg/kWh], price :math:`\\pi_m` and recovery :math:`\\rho_m` of ``recycling_value.csv``.
  Verdict: repurpose when :math:`NPV(0) > V_\\mathrm{rec}` (equivalently :math:`p^* E_1 > V_\\mathrm{rec}`: a
  repurposer can pay more than a recycler), with the margin :math:`NPV(0) - V_\\mathrm{rec}`.

The dispatch of each year carries a wear cost (:func:`batteryloop.energy.degradation.throughput_cost_eur_per_MWh`):
the second-life investment spread over the energy the battery can still deliver, so that the LP only cycles when a
spread pays for the life it uses.

References
----------
P. Neubauer, K. Smith, E. Wood, A. Pesaran, "Identifying and Overcoming Critical Barriers to Widespread Second Use of
PEV Batteries", NREL/TP-5400-63332, 2015.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from batteryloop.energy.asset import Asset
from batteryloop.energy.degradation import throughput_cost_eur_per_MWh
from batteryloop.energy.dispatch import Horizon, dispatch
from batteryloop.energy.prices import PriceSeries, align, local_day_bounds
from batteryloop.errors import PermissionDeniedError, Problem, ValidationError, collect

DEFAULTS_FILE = Path(__file__).with_name("valuation_defaults.csv")
RECYCLING_FILE = Path(__file__).with_name("recycling_value.csv")
SERVICES = ("arbitrage", "arbitrage+fcr")


# ---------------------------------------------------------------------------------------------------------------------
# data


@cache
def default_rows() -> tuple[dict[str, str], ...]:
    """The rows of ``valuation_defaults.csv`` (name, value, unit, source, confidence, note)."""
    with DEFAULTS_FILE.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def default(name: str) -> str:
    """The value of one default, as text."""
    for row in default_rows():
        if row["name"] == name:
            return row["value"]
    raise KeyError(name)


def default_float(name: str) -> float:
    return float(default(name))


def default_price_years() -> list[int]:
    return [int(y) for y in default("price_years").split(";")]


@cache
def recycling_rows() -> tuple[dict[str, str], ...]:
    """The rows of ``recycling_value.csv``: one per chemistry and element."""
    with RECYCLING_FILE.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def chemistries() -> list[str]:
    return sorted({row["chemistry"] for row in recycling_rows()})


@dataclass(frozen=True)
class RecyclingValue:
    """What the recoverable materials of one kWh of rated energy are worth, less the cost of recycling it."""

    chemistry: str
    gross_eur_per_kWh: float
    cost_eur_per_kWh: float
    elements: list[dict[str, Any]]
    confidence: str

    @property
    def net_eur_per_kWh(self) -> float:
        return self.gross_eur_per_kWh - self.cost_eur_per_kWh

    def as_dict(self) -> dict[str, Any]:
        return {
            "chemistry": self.chemistry,
            "materials_eur_per_kWh": round(self.gross_eur_per_kWh, 4),
            "recycling_cost_eur_per_kWh": self.cost_eur_per_kWh,
            "net_eur_per_kWh": round(self.net_eur_per_kWh, 4),
            "confidence": self.confidence,
            "price_date": sorted({e["price_date"] for e in self.elements}),
            "elements": self.elements,
        }


CONFIDENCE_ORDER = ("low", "medium", "high")


def recycling_value(chemistry: str, *, cost_eur_per_kWh: float | None = None) -> RecyclingValue:
    """Value of the recoverable metals per kWh of rated energy for ``chemistry`` (``recycling_value.csv``):
    :math:`\\sum_m w_m \\pi_m \\rho_m` [EUR/kWh], and the recycling cost to subtract (default:
    ``recycling_cost_eur_per_kWh`` of ``valuation_defaults.csv``)."""
    key = chemistry.strip().upper()
    rows = [row for row in recycling_rows() if row["chemistry"].upper() == key]
    if not rows:
        raise ValidationError(
            f"no recycling data for chemistry {chemistry!r}", field="chemistry", expected=", ".join(chemistries())
        )
    elements: list[dict[str, Any]] = []
    gross = 0.0
    for row in rows:
        kg, price, recovery = float(row["kg_per_kWh"]), float(row["price_eur_per_kg"]), float(row["recovery_fraction"])
        value = kg * price * recovery
        gross += value
        elements.append(
            {
                "element": row["element"],
                "kg_per_kWh": kg,
                "price_eur_per_kg": price,
                "recovery_fraction": recovery,
                "eur_per_kWh": round(value, 4),
                "price_date": row["price_date"],
                "confidence": row["confidence"],
            }
        )
    confidence = min((row["confidence"] for row in rows), key=CONFIDENCE_ORDER.index)
    cost = default_float("recycling_cost_eur_per_kWh") if cost_eur_per_kWh is None else cost_eur_per_kWh
    return RecyclingValue(rows[0]["chemistry"], gross, cost, elements, confidence)


# ---------------------------------------------------------------------------------------------------------------------
# inputs


def _check(problems: list[Problem], name: str, value: float | None, lo: float, hi: float, *, open_lo: bool) -> None:
    if value is None:
        return
    ok = isinstance(value, int | float) and math.isfinite(value) and (value > lo if open_lo else value >= lo)
    ok = ok and value <= hi
    if not ok:
        low = f"> {lo}" if open_lo else f">= {lo}"
        problems.append(Problem(name, f"{value!r} is out of range", f"a number {low} and <= {hi}"))


@dataclass(frozen=True)
class UsedBattery:
    """A used battery at the start of its second life.

    Parameters
    ----------
    rated_energy_kWh : float
        Rated (certified) energy when new. [kWh]
    soh_pct : float
        State of health now: remaining usable energy as a share of the rated energy (SOCE, or the capacity SoH). [%]
    round_trip_efficiency : float
        AC round-trip efficiency now; the dispatch uses its square root each way. [-]
    chemistry : str
        Cell chemistry (``recycling_value.csv``: NMC, NMC622, NCA, LFP, ...).
    power_kW : float or None
        Power of the second-life system; ``None``: ``c_rate`` times the present usable energy. [kW]
    remaining_cycles : float or None
        Full equivalent cycles from now to the end-of-second-life threshold (e.g. ``remaining_cycles`` of
        ``batteryloop.health.lifetime.predict_lifetime`` at that threshold); ``None``: ``cycle_fade_pct_per_fec``. [-]
    cycle_fade_pct_per_fec : float or None
        Fade per full equivalent cycle, when ``remaining_cycles`` is not given; ``None``: the default. [% per cycle]
    resistance_increase_pct : float or None
        Internal resistance increase since new; the default power is divided by ``1 + increase / 100`` (the power a
        pack can deliver within its voltage limits falls about inversely with its resistance). [%]
    """

    rated_energy_kWh: float
    soh_pct: float
    round_trip_efficiency: float
    chemistry: str = "NMC"
    power_kW: float | None = None
    remaining_cycles: float | None = None
    cycle_fade_pct_per_fec: float | None = None
    resistance_increase_pct: float | None = None

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        _check(problems, "rated_energy_kWh", self.rated_energy_kWh, 0, math.inf, open_lo=True)
        _check(problems, "soh_pct", self.soh_pct, 0, 200, open_lo=True)
        _check(problems, "round_trip_efficiency", self.round_trip_efficiency, 0, 1, open_lo=True)
        _check(problems, "power_kW", self.power_kW, 0, math.inf, open_lo=True)
        _check(problems, "remaining_cycles", self.remaining_cycles, 0, math.inf, open_lo=True)
        _check(problems, "cycle_fade_pct_per_fec", self.cycle_fade_pct_per_fec, 0, 100, open_lo=True)
        _check(problems, "resistance_increase_pct", self.resistance_increase_pct, -100, math.inf, open_lo=True)
        collect(problems, "invalid used battery")

    @property
    def usable_energy_kWh(self) -> float:
        """Usable energy now. [kWh]"""
        return self.rated_energy_kWh * self.soh_pct / 100.0

    def system_power_kW(self, c_rate: float | None = None) -> float:
        """Power of the second-life system. [kW]"""
        if self.power_kW is not None:
            return self.power_kW
        rate = default_float("c_rate") if c_rate is None else c_rate
        derate = 1.0 + (self.resistance_increase_pct or 0.0) / 100.0
        return rate * self.usable_energy_kWh / derate


@dataclass(frozen=True)
class Economics:
    """The economic assumptions; every default comes from ``valuation_defaults.csv``."""

    discount_rate: float = field(default_factory=lambda: default_float("discount_rate"))
    lifetime_cutoff_years: float = field(default_factory=lambda: default_float("lifetime_cutoff_years"))
    end_soh_pct: float = field(default_factory=lambda: default_float("end_soh_pct"))
    repurposing_eur_per_kWh: float = field(default_factory=lambda: default_float("repurposing_eur_per_kWh"))
    repurposing_fixed_eur: float = field(default_factory=lambda: default_float("repurposing_fixed_eur"))
    bos_eur_per_kW: float = field(default_factory=lambda: default_float("bos_eur_per_kW"))
    om_pct_of_capex_per_year: float = field(default_factory=lambda: default_float("om_pct_of_capex_per_year"))
    calendar_fade_pct_per_year: float = field(default_factory=lambda: default_float("calendar_fade_pct_per_year"))
    cycle_fade_pct_per_fec: float = field(default_factory=lambda: default_float("cycle_fade_pct_per_fec"))
    recycling_cost_eur_per_kWh: float = field(default_factory=lambda: default_float("recycling_cost_eur_per_kWh"))
    purchase_eur_per_kWh: float = 0.0
    wear_cost_eur_per_MWh: float | None = None  # None: the investment spread over the remaining energy throughput

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        _check(problems, "discount_rate", self.discount_rate, -1, 1, open_lo=True)
        _check(problems, "lifetime_cutoff_years", self.lifetime_cutoff_years, 0, 100, open_lo=True)
        _check(problems, "end_soh_pct", self.end_soh_pct, 0, 100, open_lo=False)
        for name in (
            "repurposing_eur_per_kWh",
            "repurposing_fixed_eur",
            "bos_eur_per_kW",
            "om_pct_of_capex_per_year",
            "calendar_fade_pct_per_year",
            "recycling_cost_eur_per_kWh",
            "purchase_eur_per_kWh",
        ):
            _check(problems, name, getattr(self, name), 0, math.inf, open_lo=False)
        _check(problems, "cycle_fade_pct_per_fec", self.cycle_fade_pct_per_fec, 0, 100, open_lo=True)
        _check(problems, "wear_cost_eur_per_MWh", self.wear_cost_eur_per_MWh, 0, math.inf, open_lo=False)
        collect(problems, "invalid economic assumptions")


# ---------------------------------------------------------------------------------------------------------------------
# revenue of one year


@dataclass(frozen=True)
class YearRevenue:
    """Market revenue of one year of dispatch."""

    revenue_eur: dict[str, float]
    full_equivalent_cycles: float
    hours_without_price: int = 0

    @property
    def total_eur(self) -> float:
        return sum(self.revenue_eur.values())


RevenueModel = Callable[[int, float, float, float], YearRevenue]
"""``(price_year, energy_kWh, power_kW, wear_cost_eur_per_MWh) -> YearRevenue``."""


class MarketRevenue:
    """Revenue of a year from the dispatch LP on the prices of a calendar year (Europe/Amsterdam).

    Each call dispatches an :class:`~batteryloop.energy.asset.Asset` of the given energy and power, efficiency
    ``sqrt(round_trip_efficiency)`` each way, starting and ending each day (rolling) or the year (full) at
    ``soc_start``; hours without a price are idle and counted. Results are memoised per call arguments.
    """

    def __init__(
        self,
        prices: PriceSeries,
        *,
        round_trip_efficiency: float,
        horizon: Horizon = Horizon.ROLLING,
        services: str = "arbitrage",
        fcr_prices: PriceSeries | None = None,
        soc_start: float | None = None,
    ) -> None:
        if services not in SERVICES:
            raise ValidationError(f"unknown service mix {services!r}", field="services", expected=" or ".join(SERVICES))
        if services == "arbitrage+fcr" and fcr_prices is None:
            raise ValidationError(
                "the service mix arbitrage+fcr needs FCR capacity prices",
                field="fcr_prices",
                expected="a CSV of block_start_utc, price_eur_per_mw covering the price years (--fcr-price)",
            )
        self.prices = prices
        self.efficiency = math.sqrt(round_trip_efficiency)
        self.horizon = horizon
        self.services = services
        self.fcr_prices = fcr_prices
        self.soc_start = default_float("soc_start") if soc_start is None else soc_start
        self.fcr_blocks_without_price: dict[int, int] = {}
        self._memo: dict[tuple[int, float, float, float], YearRevenue] = {}

    def year_prices(self, year: int) -> tuple[np.ndarray[Any, np.dtype[np.datetime64]], np.ndarray[Any, Any], int]:
        """The grid, the prices on it (NaN where missing) and the hours of the year without a price."""
        lo, hi = local_day_bounds(date(year, 1, 1), date(year + 1, 1, 1))
        series = self.prices.between(lo, hi)
        if len(series) == 0:
            raise ValidationError(
                f"{self.prices.source}: no prices in {year}",
                field="price_years",
                expected="years the price file covers",
            )
        assert lo is not None
        assert hi is not None
        step = np.timedelta64(series.step_minutes, "m")
        start = np.datetime64(lo.replace(tzinfo=None), "us")
        n = int((np.datetime64(hi.replace(tzinfo=None), "us") - start) // step)
        grid = start + np.arange(n) * step.astype("timedelta64[us]")
        price = align(series, grid, name="prices")
        missing = int(np.sum(~np.isfinite(price)))
        return grid, price, missing

    def __call__(self, year: int, energy_kWh: float, power_kW: float, wear_cost_eur_per_MWh: float) -> YearRevenue:
        key = (year, round(energy_kWh, 9), round(power_kW, 9), round(wear_cost_eur_per_MWh, 9))
        if key in self._memo:
            return self._memo[key]
        grid, price, missing = self.year_prices(year)
        step = int((grid[1] - grid[0]) // np.timedelta64(1, "m")) if len(grid) > 1 else 60
        asset = Asset(
            power_kW=power_kW,
            energy_kWh=energy_kWh,
            charge_efficiency=self.efficiency,
            discharge_efficiency=self.efficiency,
            soc_start=self.soc_start,
            soc_end=self.soc_start,
        )
        market = None
        if self.services == "arbitrage+fcr":
            from batteryloop.energy.fcr import market_on_grid

            assert self.fcr_prices is not None
            market, without = market_on_grid(self.fcr_prices, grid)
            self.fcr_blocks_without_price[year] = without
        result = dispatch(
            grid,
            price,
            asset,
            step_minutes=step,
            horizon=self.horizon,
            degradation_eur_per_MWh=wear_cost_eur_per_MWh,
            fcr=market,
        )
        if result.status.value != "optimal":
            raise ValidationError(
                f"the dispatch of price year {year} ended {result.status.value}: {result.message}",
                field="price_years",
                expected="a year the solver can schedule",
            )
        revenue = {k: v for k, v in result.revenue_eur.items() if k not in ("degradation", "cycle_depth")}
        out = YearRevenue(revenue, result.full_equivalent_cycles, missing * step // 60)
        self._memo[key] = out
        return out


# ---------------------------------------------------------------------------------------------------------------------
# the valuation


@dataclass(frozen=True)
class ServiceYear:
    year: int
    price_year: int
    soh_start_pct: float
    energy_kWh: float
    share_in_service: float
    revenue_eur: dict[str, float]
    full_equivalent_cycles: float
    om_eur: float
    cash_flow_eur: float
    time_years: float
    present_value_eur: float
    hours_without_price: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "price_year": self.price_year,
            "soh_start_pct": round(self.soh_start_pct, 4),
            "energy_kWh": round(self.energy_kWh, 4),
            "share_in_service": round(self.share_in_service, 6),
            "revenue_eur": {k: round(v, 2) for k, v in self.revenue_eur.items()},
            "full_equivalent_cycles": round(self.full_equivalent_cycles, 3),
            "om_eur": round(self.om_eur, 2),
            "cash_flow_eur": round(self.cash_flow_eur, 2),
            "time_years": round(self.time_years, 6),
            "present_value_eur": round(self.present_value_eur, 2),
            "hours_without_price": self.hours_without_price,
        }


@dataclass(frozen=True)
class Valuation:
    """The second-life value of one battery and the comparison with recycling it now."""

    battery: UsedBattery
    economics: Economics
    power_kW: float
    capex_eur: float  # repurposing and power equipment, without the purchase price
    purchase_eur: float
    wear_cost_eur_per_MWh: float
    cycle_fade_pct_per_fec: float
    years: list[ServiceYear]
    years_of_service: float
    end_reason: str
    end_of_life_recycling_eur: float
    end_of_life_present_value_eur: float
    recycling: RecyclingValue
    npv_eur: float
    npv_without_purchase_eur: float
    price_years: list[int]
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def break_even_eur_per_kWh(self) -> float:
        """Purchase price per kWh of present usable energy at which the NPV is zero. [EUR/kWh]"""
        return self.npv_without_purchase_eur / self.battery.usable_energy_kWh

    @property
    def recycling_now_eur(self) -> float:
        """Net recycling value of the battery today. [EUR]"""
        return self.recycling.net_eur_per_kWh * self.battery.rated_energy_kWh

    @property
    def margin_eur(self) -> float:
        """Repurposing (NPV without purchase) less recycling now; positive: repurpose. [EUR]"""
        return self.npv_without_purchase_eur - self.recycling_now_eur

    @property
    def verdict(self) -> str:
        return "repurpose" if self.margin_eur > 0 else "recycle"

    def as_dict(self) -> dict[str, Any]:
        b, e = self.battery, self.economics
        return {
            "verdict": self.verdict,
            "margin_eur": round(self.margin_eur, 2),
            "npv_eur": round(self.npv_eur, 2),
            "npv_without_purchase_eur": round(self.npv_without_purchase_eur, 2),
            "break_even_purchase_eur_per_kWh": round(self.break_even_eur_per_kWh, 4),
            "break_even_purchase_eur_per_rated_kWh": round(self.npv_without_purchase_eur / b.rated_energy_kWh, 4),
            "years_of_service": round(self.years_of_service, 4),
            "end_reason": self.end_reason,
            "recycling_now_eur": round(self.recycling_now_eur, 2),
            "recycling": self.recycling.as_dict(),
            "end_of_life_recycling_eur": round(self.end_of_life_recycling_eur, 2),
            "end_of_life_present_value_eur": round(self.end_of_life_present_value_eur, 2),
            "battery": {
                "rated_energy_kWh": b.rated_energy_kWh,
                "soh_pct": b.soh_pct,
                "usable_energy_kWh": round(b.usable_energy_kWh, 4),
                "round_trip_efficiency": b.round_trip_efficiency,
                "chemistry": b.chemistry,
                "power_kW": round(self.power_kW, 4),
                "remaining_cycles": b.remaining_cycles,
                "cycle_fade_pct_per_fec": self.cycle_fade_pct_per_fec,
                "resistance_increase_pct": b.resistance_increase_pct,
            },
            "economics": {
                "discount_rate": e.discount_rate,
                "lifetime_cutoff_years": e.lifetime_cutoff_years,
                "end_soh_pct": e.end_soh_pct,
                "repurposing_eur_per_kWh": e.repurposing_eur_per_kWh,
                "repurposing_fixed_eur": e.repurposing_fixed_eur,
                "bos_eur_per_kW": e.bos_eur_per_kW,
                "om_pct_of_capex_per_year": e.om_pct_of_capex_per_year,
                "calendar_fade_pct_per_year": e.calendar_fade_pct_per_year,
                "purchase_eur_per_kWh": e.purchase_eur_per_kWh,
                "capex_eur": round(self.capex_eur, 2),
                "purchase_eur": round(self.purchase_eur, 2),
                "wear_cost_eur_per_MWh": round(self.wear_cost_eur_per_MWh, 4),
            },
            "price_years": self.price_years,
            "annual": [y.as_dict() for y in self.years],
            "sources": self.sources,
            "notes": self.notes,
        }


def npv(cash_flows: Sequence[tuple[float, float]], rate: float) -> float:
    """Net present value of ``(time in years, amount)`` pairs at ``rate`` per year: :math:`\\sum C (1+r)^{-t}`."""
    return float(sum(amount / (1.0 + rate) ** t for t, amount in cash_flows))


def value_second_life(
    battery: UsedBattery,
    revenue: RevenueModel,
    *,
    economics: Economics | None = None,
    price_years: Sequence[int] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Valuation:
    """Value ``battery`` over its second life (see the module text for the method).

    ``revenue(price_year, energy_kWh, power_kW, wear_cost)`` gives each service year's market revenue and cycles,
    :class:`MarketRevenue` on real prices, or any model (a constant one for hand-checked cases). Service year ``k``
    (1-based) uses ``price_years[(k - 1) % len(price_years)]``.
    """
    econ = economics or Economics()
    years_list = list(price_years) if price_years is not None else default_price_years()
    if not years_list:
        raise ValidationError("no price year", field="price_years", expected="at least one year")
    if battery.soh_pct <= econ.end_soh_pct:
        raise ValidationError(
            f"state of health {battery.soh_pct} % is not above the end of second life ({econ.end_soh_pct} %)",
            field="soh_pct",
            expected=f"above end_soh_pct {econ.end_soh_pct}: a battery at or below it is for recycling",
        )
    notes: list[str] = []
    headroom = battery.soh_pct - econ.end_soh_pct
    if battery.remaining_cycles is not None:
        fade = headroom / battery.remaining_cycles
    elif battery.cycle_fade_pct_per_fec is not None:
        fade = battery.cycle_fade_pct_per_fec
    else:
        fade = econ.cycle_fade_pct_per_fec
        notes.append(f"cycle fade: default {fade} % per full equivalent cycle (valuation_defaults.csv)")
    remaining = headroom / fade
    e1 = battery.usable_energy_kWh
    power = battery.system_power_kW()
    capex = econ.repurposing_eur_per_kWh * e1 + econ.repurposing_fixed_eur + econ.bos_eur_per_kW * power
    purchase = econ.purchase_eur_per_kWh * e1
    om = econ.om_pct_of_capex_per_year / 100.0 * capex
    if econ.wear_cost_eur_per_MWh is None:
        wear = throughput_cost_eur_per_MWh(capex, remaining, e1)
    else:
        wear = econ.wear_cost_eur_per_MWh
    rec = recycling_value(battery.chemistry, cost_eur_per_kWh=econ.recycling_cost_eur_per_kWh)
    rate = econ.discount_rate
    soh = battery.soh_pct
    rows: list[ServiceYear] = []
    elapsed = 0.0
    end_reason = "lifetime cut-off"
    k = 0
    while elapsed < econ.lifetime_cutoff_years - 1e-12:
        k += 1
        py = years_list[(k - 1) % len(years_list)]
        energy = battery.rated_energy_kWh * soh / 100.0
        result = revenue(py, energy, power, wear)
        loss = result.full_equivalent_cycles * fade + econ.calendar_fade_pct_per_year
        share = min(1.0, econ.lifetime_cutoff_years - elapsed)
        ended = False
        if loss > 0 and soh - loss * share <= econ.end_soh_pct + 1e-12:
            share = (soh - econ.end_soh_pct) / loss
            end_reason = f"state of health reaches {econ.end_soh_pct} %"
            ended = True
        t = elapsed + share
        cash = share * (result.total_eur - om)
        rows.append(
            ServiceYear(
                year=k,
                price_year=py,
                soh_start_pct=soh,
                energy_kWh=energy,
                share_in_service=share,
                revenue_eur={name: share * v for name, v in result.revenue_eur.items()},
                full_equivalent_cycles=share * result.full_equivalent_cycles,
                om_eur=share * om,
                cash_flow_eur=cash,
                time_years=t,
                present_value_eur=cash / (1.0 + rate) ** t,
                hours_without_price=result.hours_without_price,
            )
        )
        soh -= loss * share
        elapsed = t
        if ended:
            break
        if loss <= 0 and k > 1000:  # pragma: no cover - bounded by the cut-off
            break
    eol = rec.net_eur_per_kWh * battery.rated_energy_kWh
    eol_pv = eol / (1.0 + rate) ** elapsed
    base = -capex + sum(r.present_value_eur for r in rows) + eol_pv
    missing = sum(r.hours_without_price for r in rows)
    if missing:
        notes.append(f"{missing} hour(s) without a price over the service years: the battery rests in them")
    return Valuation(
        battery=battery,
        economics=econ,
        power_kW=power,
        capex_eur=capex,
        purchase_eur=purchase,
        wear_cost_eur_per_MWh=wear,
        cycle_fade_pct_per_fec=fade,
        years=rows,
        years_of_service=elapsed,
        end_reason=end_reason,
        end_of_life_recycling_eur=eol,
        end_of_life_present_value_eur=eol_pv,
        recycling=rec,
        npv_eur=base - purchase,
        npv_without_purchase_eur=base,
        price_years=years_list,
        sources=dict(sources or {}),
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------------------------------
# a passport's figures


@dataclass(frozen=True)
class PassportFigures:
    """The inputs a passport gave, and which attribute each came from."""

    values: dict[str, Any]
    sources: dict[str, str]


def _number(data: Mapping[str, Any], key: str) -> float | None:
    raw = data.get(key)
    if isinstance(raw, Mapping):
        raw = raw.get("value")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw)
    return None


INDIVIDUAL_GROUP = "legitimate_interest_individual"


def figures_from_passport(
    passport_id: str, data: Mapping[str, Any], visible_groups: Sequence[str], *, soh_given: bool = False
) -> PassportFigures:
    """Map what a caller sees of a passport (``PassportView.data`` and its access groups) onto the valuation inputs.

    - energy: ``rated_energy_kWh``, else ``rated_capacity_Ah`` x ``nominal_voltage_V`` / 1000;
    - state of health: ``state_of_certified_energy_pct`` (energy), else ``soh_capacity_pct``;
    - round trip: ``remaining_round_trip_efficiency_pct``, else ``initial_round_trip_efficiency_pct``;
    - cycles: the fade per cycle of the rated life, (100 - ``capacity_threshold_exhaustion_pct``) /
      ``expected_lifetime_cycles``;
    - ``battery_chemistry``; ``internal_resistance_increase_pct``.

    A state of health the caller may not see (individual battery data, Annex XIII point 4, without a grant) is a
    :class:`PermissionDeniedError` naming the attributes, unless one is given by the caller (``soh_given``); a
    passport without the figures is a :class:`ValidationError` naming them.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    where = f"passport {passport_id}"
    energy = _number(data, "rated_energy_kWh")
    if energy is not None:
        values["rated_energy_kWh"], sources["rated_energy_kWh"] = energy, f"{where}: rated_energy_kWh"
    else:
        ah, volt = _number(data, "rated_capacity_Ah"), _number(data, "nominal_voltage_V")
        if ah is not None and volt is not None:
            values["rated_energy_kWh"] = ah * volt / 1000.0
            sources["rated_energy_kWh"] = f"{where}: rated_capacity_Ah x nominal_voltage_V"
    for key in ("state_of_certified_energy_pct", "soh_capacity_pct"):
        soh = _number(data, key)
        if soh is not None:
            values["soh_pct"], sources["soh_pct"] = soh, f"{where}: {key}"
            break
    if "soh_pct" not in values and not soh_given:
        if INDIVIDUAL_GROUP not in visible_groups:
            raise PermissionDeniedError(
                f"the caller may not see the state of health on {where} (state_of_certified_energy_pct, "
                "soh_capacity_pct: individual battery data, Annex XIII point 4, readable by the responsible operator "
                "or with a grant)",
                field="soh_capacity_pct",
                expected="an account with a grant on this passport (passport grant), or --soh-pct",
            )
        raise ValidationError(
            f"{where} has no state of health",
            field="state_of_certified_energy_pct",
            expected="state_of_certified_energy_pct or soh_capacity_pct on the passport, or --soh-pct",
        )
    for key in ("remaining_round_trip_efficiency_pct", "initial_round_trip_efficiency_pct"):
        rte = _number(data, key)
        if rte is not None and rte > 0:
            values["round_trip_efficiency"], sources["round_trip_efficiency"] = rte / 100.0, f"{where}: {key}"
            break
    chemistry = data.get("battery_chemistry")
    if isinstance(chemistry, str) and chemistry.strip():
        values["chemistry"], sources["chemistry"] = chemistry.strip(), f"{where}: battery_chemistry"
    cycles, threshold = _number(data, "expected_lifetime_cycles"), _number(data, "capacity_threshold_exhaustion_pct")
    if cycles is not None and threshold is not None and cycles > 0 and threshold < 100:
        values["cycle_fade_pct_per_fec"] = (100.0 - threshold) / cycles
        sources["cycle_fade_pct_per_fec"] = (
            f"{where}: (100 - capacity_threshold_exhaustion_pct) / expected_lifetime_cycles (linear rated fade)"
        )
    resistance = _number(data, "internal_resistance_increase_pct")
    if resistance is not None:
        values["resistance_increase_pct"] = resistance
        sources["resistance_increase_pct"] = f"{where}: internal_resistance_increase_pct"
    return PassportFigures(values, sources)
