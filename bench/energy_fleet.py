"""EV fleet LP at scale: 1,000 and 10,000 EVs over a day at 15-minute steps, smart charging and V2G.

Each case runs in its own process (so peak RSS is the case's own): sessions drawn from the ElaadNL statistics
(seed 1, default location mix) arriving on 2024-06-12, NL day-ahead prices of that day and the next (hourly, repeated
over the quarters), no site limit. Printed per case: LP size, build and HiGHS solve time (``highspy``, as
``optimise_fleet`` does it), the same LP through ``scipy.optimize.linprog(method="highs")`` as the baseline, the
ratio baseline / ours, the two objectives, the saving against dumb charging and peak RSS.

Run: ``flock /tmp/bench.lock .venv/bin/python bench/energy_fleet.py [--evs 1000 10000] [--no-baseline]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "grid"
DAY = date(2024, 6, 12)


def one_case(n: int, v2g: bool, baseline: bool) -> dict[str, object]:
    import scipy.sparse as sp  # type: ignore[import-untyped]
    from scipy.optimize import linprog  # type: ignore[import-untyped]

    from batteryloop.energy.elaadnl import load_stats, local_midnight_utc, sample_sessions
    from batteryloop.energy.fleet import build_lp, defaults, optimise_fleet
    from batteryloop.energy.prices import align, load_prices

    stats = load_stats(DATA / "elaadnl_ev_charging_stats")
    t = time.perf_counter()
    sessions = sample_sessions(n, DAY, seed=1, v2g=v2g, stats=stats).sessions
    sample_s = time.perf_counter() - t
    start = local_midnight_utc(DAY)
    start64 = np.datetime64(start.replace(tzinfo=None), "s")
    T = int(defaults()["horizon_hours"] * 4)
    grid = start64.astype("datetime64[us]") + np.arange(T) * np.timedelta64(15, "m").astype("timedelta64[us]")
    series = load_prices(DATA / "nl_dayahead_hourly" / "nl_da_hourly_2015_2026_merged.csv")
    series = series.between(start, start + timedelta(hours=T / 4)).resample(15)
    prices = align(series, grid, name="prices")
    result = optimise_fleet(sessions, prices, start64, v2g=v2g)
    out: dict[str, object] = {
        "evs": n,
        "v2g": v2g,
        "steps": T,
        "variables": result.n_variables,
        "constraints": result.n_constraints,
        "nonzeros": result.n_nonzeros,
        "sample_s": round(sample_s, 3),
        "build_s": round(result.build_s, 3),
        "solve_s": round(result.solve_s, 3),
        "status": result.status,
        "energy_cost_eur": round(result.energy_cost_eur, 2),
        "dumb_cost_eur": round(result.dumb_energy_cost_eur, 2),
        "saving_eur": round(result.saving_eur, 2),
        "v2g_discharged_kWh": round(result.v2g_discharged_kWh, 1),
        "clipped_evs": len(result.clipped),
        "envelope_s": round(result.envelope_s, 4),
    }
    if baseline:
        lp = build_lp(sessions, prices, start64, v2g=v2g)
        t = time.perf_counter()
        A = lp.A.tocsr()
        eq = lp.row_lo == lp.row_up
        up = ~eq & np.isfinite(lp.row_up)
        lo = ~eq & np.isfinite(lp.row_lo)
        A_ub = sp.vstack([A[up], -A[lo]]).tocsr()
        b_ub = np.concatenate([lp.row_up[up], -lp.row_lo[lo]])
        bounds = np.column_stack([lp.col_lo, lp.col_up])
        res = linprog(
            lp.cost, A_ub=A_ub, b_ub=b_ub, A_eq=A[eq] if eq.any() else None, b_eq=lp.row_lo[eq] if eq.any() else None,
            bounds=bounds, method="highs",
        )  # fmt: skip
        base_s = time.perf_counter() - t
        ours = float(lp.cost @ _our_columns(lp))
        out |= {
            "linprog_s": round(base_s, 3),
            "linprog_status": int(res.status),
            "objective_ours": round(ours, 6),
            "objective_linprog": round(float(res.fun), 6) if res.status == 0 else None,
            "ratio_linprog_over_ours": round(base_s / (result.build_s + result.solve_s), 2),
        }
    out["peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _our_columns(lp: object) -> np.ndarray:
    from batteryloop.energy.fleet import FleetLP, solve_lp

    assert isinstance(lp, FleetLP)
    status, x = solve_lp(lp)
    assert status == "optimal"
    return x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        n, v2g = args.case.split(":")
        print(json.dumps(one_case(int(n), v2g == "v2g", not args.no_baseline)))
        return
    import os

    print(f"machine: {os.cpu_count()} cores; highspy (HiGHS) vs scipy.optimize.linprog(method='highs')")
    for n in args.evs:
        for mode in ("smart", "v2g"):
            cmd = [sys.executable, __file__, "--case", f"{n}:{mode}"] + (["--no-baseline"] if args.no_baseline else [])
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{n} {mode}: failed\n{done.stderr[-2000:]}")
                continue
            print(done.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
