"""FCR product rules (``fcr_rules.csv``, one cited row per rule) and FCR capacity prices mapped onto dispatch steps."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from batteryloop.energy.dispatch import FcrMarket, fcr_blocks
from batteryloop.energy.prices import PriceSeries, read_series

RULES_FILE = Path(__file__).with_name("fcr_rules.csv")


@dataclass(frozen=True)
class FcrRules:
    block_hours: float
    activation_minutes: float
    min_bid_MW: float
    bid_increment_MW: float
    gate_closure_local: str


@cache
def rule_rows() -> tuple[dict[str, str], ...]:
    """The rows of ``fcr_rules.csv`` (name, value, unit, source, confidence, note)."""
    with RULES_FILE.open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def fcr_rules() -> FcrRules:
    values = {row["name"]: row["value"] for row in rule_rows()}
    return FcrRules(
        block_hours=float(values["block_hours"]),
        activation_minutes=float(values["activation_minutes"]),
        min_bid_MW=float(values["min_bid_MW"]),
        bid_increment_MW=float(values["bid_increment_MW"]),
        gate_closure_local=values["gate_closure_local"],
    )


def read_fcr_prices(path: Path) -> PriceSeries:
    """FCR capacity prices: ``block_start_utc`` (or ``datetime_utc``), ``price_eur_per_mw`` [EUR/MW per block].

    Block starts follow local time, so they lie on the hour but not on a fixed 4-hour grid in UTC; a block whose
    start has no row gets no price (no capacity is offered in it).
    """
    series = read_series(
        path,
        time_columns=("block_start_utc", "datetime_utc", "timestamp_utc", "start_utc"),
        value_columns={"price_eur_per_mw": 1.0},
        unit="EUR/MW per block",
        step_minutes=60,
    )
    return replace(series, gaps=[])


def market_on_grid(
    prices: PriceSeries,
    grid: NDArray[np.datetime64],
    *,
    rules: FcrRules | None = None,
    activation_minutes: float | None = None,
) -> tuple[FcrMarket, int]:
    """The FCR price of each step's block (NaN where the file has no price for that block's start) and the number of
    blocks without a price."""
    rules = rules or fcr_rules()
    blocks = fcr_blocks(grid, rules.block_hours)
    first = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
    starts = grid[first].astype("datetime64[us]")
    ts = prices.timestamps.astype("datetime64[us]")
    idx = np.searchsorted(ts, starts)
    found = (idx < len(ts)) & (ts[np.minimum(idx, len(ts) - 1)] == starts)
    block_price = np.where(found, prices.values[np.minimum(idx, len(ts) - 1)], np.nan)
    market = FcrMarket(
        price_eur_per_MW=block_price[blocks],
        activation_minutes=rules.activation_minutes if activation_minutes is None else activation_minutes,
        block_hours=rules.block_hours,
        min_bid_MW=rules.min_bid_MW,
    )
    return market, int(np.sum(~found))
