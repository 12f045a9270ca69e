"""Where the demo's data comes from: the shared data folder when it is there, else the package's own fallbacks.

The shared data folder is ``BATTERYLOOP_SHARED_DATA``, else ``../shared/data`` next to a source checkout
(:mod:`batteryloop.shared_data`). The demo never relies on a copy of it. What the demo reads from it, and the fallback
the package makes itself for each:

=====================================================  ============================================================
from the shared data folder                            fallback of the package
=====================================================  ============================================================
``grid/elaadnl_ev_charging_stats/ev_specs.json``       ``ev_models.csv``: the project's own table of 13 EV models,
(EV models, battery capacity, NL registrations)        public specifications and NL registration counts, each row
                                                       citing its source
``grid/nl_dayahead_hourly/nl_da_hourly_2015_2026_``    synthetic Dutch-like prices 2023-2025
``merged.csv`` (NL day-ahead prices)                   (:func:`batteryloop.energy.price_data.dutch_prices`)
``circularity/nl_battery_flows/`` (Stibat, EPAC and    the demo's own producer-responsibility figures:
ARN figures, :func:`~batteryloop.circularity.          ``epr_assumptions.csv`` (placed-on-market growth and
published.published_flows`)                            collection share per category, stated assumptions)
=====================================================  ============================================================

The pack details of each EV model (chemistry, voltage, cells in series, mass) are always from ``ev_models.csv``:
``ev_specs.json`` has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batteryloop.energy.price_data import SHARED_PRICES, PriceData, price_source
from batteryloop.shared_data import shared_data_dir, shared_file

__all__ = ["EV_SPECS", "PRICES", "Source", "ev_specs", "prices", "shared_data_dir"]

EV_SPECS = Path("grid", "elaadnl_ev_charging_stats", "ev_specs.json")
PRICES = Path(*SHARED_PRICES)


@dataclass(frozen=True)
class Source:
    """A file the demo reads, and whether it is a fallback."""

    path: Path
    fallback: bool
    description: str


def ev_specs() -> Source | None:
    """The ElaadNL/ev2gym EV specifications in the shared data, or None (then ``ev_models.csv`` alone)."""
    path = shared_file(EV_SPECS)
    if path is not None and path.is_file():
        return Source(path, False, f"EV models: {path} (ev2gym 2.0.0, MIT; after the RVO survey of EVs in NL)")
    return None


def prices() -> PriceData:
    """The Dutch day-ahead prices the demo names: the shared file, or the package's synthetic series."""
    return price_source()
