"""Deposit-refund ("retourpremie") for lithium batteries of e-bikes and e-steps: return response and cash flows.

A deposit is paid when a battery is placed on the market and refunded when it is returned at end of life. The return
rate rises with the deposit along a saturating curve from the rate without a deposit to a ceiling::

    R(d) = R0 + (Rmax - R0) * d / (d + d_half)

with ``R0`` the collection rate without a deposit, ``Rmax`` the ceiling (the median return rate of European
beverage-container deposit systems) and ``d_half`` the deposit that closes half the gap. Every parameter, its range and
its source is in ``deposit_parameters.csv``; the ones that are assumptions say so.

Only batteries placed on the market from the start year carry a deposit, so the effect on the collection rate grows as
those cohorts reach end of life. The fund holds the deposits of the batteries still in use: deposits in, refunds out,
and unredeemed deposits (batteries that reach end of life and are not returned) released. Batteries that are neither
collected nor kept end partly in residual waste, where they cause fires.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from batteryloop.errors import Problem, ValidationError

FloatArray = NDArray[np.float64]

PARAMETERS_FILE = Path(__file__).with_name("deposit_parameters.csv")
PARAMETER_KEYS = (
    "maximum_return_pct",
    "half_saturation_eur",
    "unit_mass_kg",
    "residual_share_pct",
    "fires_per_tonne",
)


@dataclass(frozen=True)
class Parameter:
    """One cited parameter with its plausible range."""

    value: float
    low: float
    high: float
    unit: str
    source: str


@dataclass(frozen=True)
class DepositParameters:
    """The response and side-effect parameters of a deposit-refund system."""

    maximum_return_pct: float
    half_saturation_eur: float
    unit_mass_kg: float
    residual_share_pct: float
    fires_per_tonne: float


def read_parameters(path: Path = PARAMETERS_FILE) -> dict[str, Parameter]:
    """The parameter table: every key of :data:`PARAMETER_KEYS` with value, range, unit and source."""
    found: dict[str, Parameter] = {}
    problems: list[Problem] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            key = row.get("key") or ""
            try:
                value, low, high = (float(row[k] or "nan") for k in ("value", "low", "high"))
            except (KeyError, ValueError):
                problems.append(Problem(f"{path}:{line}", "value, low and high must be numbers", "numbers"))
                continue
            found[key] = Parameter(value, low, high, row.get("unit") or "", row.get("source") or "")
    problems += [Problem(f"{path}:{key}", "missing", "a row for it") for key in PARAMETER_KEYS if key not in found]
    if problems:
        raise ValidationError(f"{path}: bad deposit parameter table", problems=problems)
    return found


def default_parameters() -> DepositParameters:
    """The central values of ``deposit_parameters.csv``."""
    table = read_parameters()
    return DepositParameters(**{key: table[key].value for key in PARAMETER_KEYS})


def return_rate_pct(deposit_eur: float, baseline_pct: float, params: DepositParameters) -> float:
    """The return rate with a deposit; never below the rate without one."""
    if deposit_eur <= 0:
        return baseline_pct
    ceiling = max(params.maximum_return_pct, baseline_pct)
    return baseline_pct + (ceiling - baseline_pct) * deposit_eur / (deposit_eur + params.half_saturation_eur)


@dataclass(frozen=True)
class DepositScheme:
    """A deposit on the batteries of one category placed on the market from ``start_year``."""

    category: str
    start_year: int
    deposit_eur: float
    params: DepositParameters


@dataclass(frozen=True)
class DepositOutcome:
    """Yearly cash flows (EUR) and effects of a deposit scheme; arrays are indexed by ``years``."""

    years: NDArray[np.int64]
    units_sold: FloatArray
    deposits_eur: FloatArray
    refunds_eur: FloatArray
    unredeemed_eur: FloatArray
    fund_balance_eur: FloatArray
    return_rate_pct: FloatArray
    collection_rate_pct: FloatArray
    baseline_collection_rate_pct: FloatArray
    misplaced_t: FloatArray
    misplaced_baseline_t: FloatArray
    fires: FloatArray
    fires_baseline: FloatArray


def evaluate(
    scheme: DepositScheme,
    years: NDArray[np.int64],
    inflow_with_deposit_t: FloatArray,
    eol_with_deposit_t: FloatArray,
    eol_total_t: FloatArray,
    baseline_rate_pct: FloatArray,
) -> DepositOutcome:
    """Cash flows and effects from the masses (tonnes a year) of batteries with a deposit placed on the market and
    reaching end of life, the category's whole end-of-life outflow, and its collection rate without a deposit."""
    p = scheme.params
    kg = 1000.0 / p.unit_mass_kg  # units per tonne
    deposit_rate = np.array([return_rate_pct(scheme.deposit_eur, float(b), p) for b in baseline_rate_pct])
    units_sold = inflow_with_deposit_t * kg
    eol_units = eol_with_deposit_t * kg
    deposits = units_sold * scheme.deposit_eur
    refunds = eol_units * deposit_rate / 100.0 * scheme.deposit_eur
    unredeemed = eol_units * (1.0 - deposit_rate / 100.0) * scheme.deposit_eur
    balance = np.cumsum(deposits - refunds - unredeemed)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(eol_total_t > 0, eol_with_deposit_t / eol_total_t, 0.0)
    rate = share * deposit_rate + (1.0 - share) * baseline_rate_pct
    residual = p.residual_share_pct / 100.0
    misplaced = eol_total_t * (1.0 - rate / 100.0) * residual
    misplaced_base = eol_total_t * (1.0 - baseline_rate_pct / 100.0) * residual
    return DepositOutcome(
        years=years,
        units_sold=units_sold,
        deposits_eur=deposits,
        refunds_eur=refunds,
        unredeemed_eur=unredeemed,
        fund_balance_eur=balance,
        return_rate_pct=deposit_rate,
        collection_rate_pct=rate,
        baseline_collection_rate_pct=np.asarray(baseline_rate_pct, dtype=np.float64),
        misplaced_t=misplaced,
        misplaced_baseline_t=misplaced_base,
        fires=misplaced * p.fires_per_tonne,
        fires_baseline=misplaced_base * p.fires_per_tonne,
    )
