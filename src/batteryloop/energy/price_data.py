"""The Dutch day-ahead prices every page, command and the demo use by default, and what they are.

One place to ask (:func:`dutch_prices`): the merged NL hourly day-ahead file of the shared data folder
(``grid/nl_dayahead_hourly/nl_da_hourly_2015_2026_merged.csv``, Ember / ENTSO-E, CC BY 4.0; found by
:func:`batteryloop.shared_data.shared_file`) read with :func:`batteryloop.energy.prices.load_prices` when present;
else the package's own synthetic Dutch-like prices (:func:`batteryloop.energy.synthetic_prices.synthetic_day_ahead`)
for :data:`SYNTHETIC_YEARS`. The package never ships a copy of the market data. The description returned with the
series says which was used, with the word "synthetic" for the fallback, so a page or a report can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from batteryloop.energy.prices import PriceSeries, load_prices
from batteryloop.energy.synthetic_prices import synthetic_day_ahead
from batteryloop.shared_data import shared_file

SHARED_PRICES = ("grid", "nl_dayahead_hourly", "nl_da_hourly_2015_2026_merged.csv")
"""Where the merged NL hourly day-ahead file is inside the shared data folder."""
SYNTHETIC_YEARS = (2023, 2024, 2025)
"""The years of the synthetic fallback series (contiguous, so a run may span a new year)."""
SYNTHETIC_SEED = 2024


@dataclass(frozen=True)
class PriceData:
    """Which prices were used: the file read (``None`` for the synthetic series) and a description for the reader."""

    path: Path | None
    synthetic: bool
    description: str


def price_source() -> PriceData:
    """The shared merged file when present, else the synthetic series (nothing is read here)."""
    path = shared_file(*SHARED_PRICES)
    if path is not None and path.is_file():
        return PriceData(path, False, f"NL day-ahead prices, hourly (Ember / ENTSO-E, CC BY 4.0): {path}")
    years = f"{SYNTHETIC_YEARS[0]}-{SYNTHETIC_YEARS[-1]}"
    return PriceData(
        None,
        True,
        f"synthetic Dutch-like day-ahead prices {years} made by batteryloop (energy/synthetic_prices.csv), not market "
        "data: the shared NL day-ahead file was not found",
    )


@cache
def _read(path: Path, mtime: float) -> PriceSeries:
    return load_prices(path)


@cache
def synthetic_series(years: tuple[int, ...] = SYNTHETIC_YEARS, seed: int = SYNTHETIC_SEED) -> PriceSeries:
    """The synthetic hourly series of ``years`` (each year its own draw), joined into one series."""
    parts = [synthetic_day_ahead(year, seed=seed) for year in years]
    return PriceSeries(
        timestamps=np.concatenate([p.timestamps for p in parts]),
        values=np.concatenate([p.values for p in parts]),
        step_minutes=60,
        source=parts[0].source,
    )


def dutch_prices() -> tuple[PriceSeries, PriceData]:
    """The NL day-ahead prices [EUR/MWh] and which data they are (see the module text); read once per file version."""
    used = price_source()
    if used.path is None:
        return synthetic_series(), used
    return _read(used.path, used.path.stat().st_mtime), used
