"""Dispatch speed and revenue: 1 MW / 2 MWh, 95 % each way, 50 % start and end, NL 2024 day-ahead prices.

Prints, for a year at 60 and at 15 minutes (hourly prices repeated over the quarters, as no full 15-minute NL year is
available offline): build and solve time of the perfect-foresight LP (median of the rounds), the rolling day-ahead
p50/p95 per day, revenue and cycles; the same LP without the discharge eliminated; and the same LP (equality form)
solved by scipy.optimize.linprog(method="highs") in the same run as the baseline (ratio = linprog time / batteryloop
time).

Prices: ../shared/data/grid/nl_dayahead_hourly/nl_da_hourly_2015_2026_merged.csv (ENTSO-E via Ember/ev2gym, see its
SOURCE.md). Run: flock /tmp/bench.lock .venv/bin/python bench/energy_dispatch.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import highspy
import numpy as np
from scipy.optimize import linprog

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import Horizon, arbitrage_lp, dispatch, local_days
from batteryloop.energy.prices import align, load_prices, local_day_bounds, regular_grid
from machine import describe  # bench/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT.parent / "shared" / "data" / "grid" / "nl_dayahead_hourly" / "nl_da_hourly_2015_2026_merged.csv"
ASSET = Asset(power_kW=1000, energy_kWh=2000, charge_efficiency=0.95, discharge_efficiency=0.95)


def machine() -> str:
    return describe(f"highspy {highs_version()}")


def highs_version() -> str:
    from importlib.metadata import version

    return version("highspy") + f" (module {highspy.__name__})"


def linprog_solve(price: np.ndarray, step: int) -> tuple[float, float]:
    lp = arbitrage_lp(price, ASSET, step_minutes=step)
    t0 = time.perf_counter()
    eq = lp.row_lower == lp.row_upper
    assert eq.all()  # the arbitrage LP has equality rows only
    res = linprog(
        lp.cost,
        A_eq=lp.matrix,
        b_eq=lp.row_lower,
        bounds=np.c_[lp.col_lower, lp.col_upper],
        method="highs",
    )
    elapsed = time.perf_counter() - t0
    if res.status != 0:
        raise SystemExit(f"linprog failed: {res.message}")
    return -float(res.fun), elapsed


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not PRICES.is_file():
        print(f"prices not found: {PRICES}")
        return 1
    print(f"machine: {machine()}")
    print(f"prices: {PRICES.relative_to(ROOT.parent)} (see SOURCE.md); year 2024 in Europe/Amsterdam")
    series = load_prices(PRICES)
    lo, hi = local_day_bounds(date(2024, 1, 1), date(2025, 1, 1))
    year = series.between(lo, hi)
    print(f"missing hours in 2024 (idle): {[str(g) for g in year.gaps]}")
    for step in (60, 15):
        s = year.resample(step)
        grid = regular_grid(s)
        price = align(s, grid, name="prices")
        full_times: list[tuple[float, float]] = []
        full = None
        for _ in range(args.rounds):
            full = dispatch(grid, price, ASSET, step_minutes=step)
            full_times.append((full.build_s, full.solve_s))
        assert full is not None
        build = statistics.median(b for b, _ in full_times)
        solve = statistics.median(v for _, v in full_times)
        plain_s = []
        for _ in range(args.rounds):
            plain = dispatch(grid, price, ASSET, step_minutes=step, eliminate_discharge=False)
            plain_s.append(plain.build_s + plain.solve_s)
        rolling = dispatch(grid, price, ASSET, step_minutes=step, horizon=Horizon.ROLLING)
        daily_ms = [1000 * v for v in rolling.window_s]
        lp_rev, lp_s = linprog_solve(price, step)
        # linprog per day on the same daily LPs is not comparable (its state of charge is not carried); time one
        # day-sized LP per day instead, from the rolling schedule's starting states
        day = local_days(grid)
        cuts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        edges = np.r_[cuts, len(grid)]
        lp_daily: list[float] = []
        for i in range(len(cuts)):
            sl = slice(int(edges[i]), int(edges[i + 1]))
            t0 = time.perf_counter()
            linprog_solve(price[sl], step)
            lp_daily.append(1000 * (time.perf_counter() - t0))
        rel = abs(full.revenue_eur["arbitrage"] - full.objective_eur) / abs(full.objective_eur)
        print(f"\n== {step}-minute steps ({len(grid)} steps{', hourly prices repeated' if step == 15 else ''})")
        print(
            f"perfect foresight: build {build * 1000:.1f} ms, solve {solve * 1000:.1f} ms, total "
            f"{(build + solve) * 1000:.1f} ms (median of {args.rounds}); status {full.status.value}"
        )
        print(
            f"  revenue {full.revenue_eur['arbitrage']:.2f} EUR; objective {full.objective_eur:.2f} EUR "
            f"(relative difference {rel:.1e}); {full.full_equivalent_cycles:.1f} full cycles; "
            f"{full.simultaneous_steps} steps with simultaneous charge and discharge (negative prices)"
        )
        print(
            f"  the same LP without eliminating the discharge (as linprog gets it): "
            f"{statistics.median(plain_s) * 1000:.1f} ms, objective {plain.objective_eur:.2f} EUR"
        )
        print(
            f"  linprog(method='highs') same LP: {lp_s * 1000:.1f} ms, objective {lp_rev:.2f} EUR; "
            f"ratio linprog / batteryloop = {lp_s / (build + solve):.2f}"
        )
        print(
            f"rolling day-ahead: {rolling.windows} days, per day p50 {pct(daily_ms, 50):.2f} ms, "
            f"p95 {pct(daily_ms, 95):.2f} ms (build + solve); total {(rolling.build_s + rolling.solve_s) * 1000:.0f} ms"
        )
        print(
            f"  revenue {rolling.objective_eur:.2f} EUR = {100 * rolling.objective_eur / full.objective_eur:.2f} % "
            f"of perfect foresight; {rolling.full_equivalent_cycles:.1f} full cycles"
        )
        print(
            f"  linprog(method='highs') one day LP per day: p50 {pct(lp_daily, 50):.2f} ms, p95 {pct(lp_daily, 95):.2f}"
            f" ms; ratio p50 = {pct(lp_daily, 50) / pct(daily_ms, 50):.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
