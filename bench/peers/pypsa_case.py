"""The dispatch case in PyPSA (linopy model, HiGHS): runs inside the peer venv (bench/peers/setup.sh).

Usage: /tmp/dispatch-peers/bin/python bench/peers/pypsa_case.py CASE.json RESULT.json   (format: case_io.py)

Formulation, equivalent to batteryloop's arbitrage LP: one bus ``grid`` with a market generator (``p_nom`` 10x the
battery power, ``p_min_pu`` -1 so it buys and sells, ``marginal_cost`` = the day-ahead price) and one bus ``battery``
with a Store (``e_nom`` = energy, ``e_initial`` = the state of charge carried in, ``e_min_pu`` = soc_end at the last
snapshot so the end state of charge is a lower bound as in ours) and two Links: ``charge`` grid -> battery with
efficiency eta_c and ``p_nom`` = P (AC side, as ours), ``discharge`` battery -> grid with efficiency eta_d and
``p_nom`` = P / eta_d (PyPSA limits a link at bus0, here the cell side, so P / eta_d is P at the AC side). Snapshot
weightings = the step in hours. A step without a price: both links' ``p_max_pu`` = 0 (idle), price 0.

Windows (daily runs): the network is built once for the whole case and each window is optimised on its snapshots
with ``e_initial`` carried, as ``n.optimize.optimize_with_rolling_horizon`` does (that routine itself takes windows of
a fixed number of snapshots, while the days here are 23 to 25 hours long in local time); ``e_min_pu`` = soc_end at
the last snapshot of every window.

Timings: ``build_s`` = ``n.optimize.create_model(snapshots)`` (+ building the network, counted in the first window);
``solve_s`` = ``n.optimize.solve_model(solver_name="highs", io_api="direct")`` (linopy hands the matrices to highspy
directly, no LP file; includes writing the solution back to the network).
"""

from __future__ import annotations

import logging
import time
import warnings

T_IMPORT = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pypsa  # noqa: E402

IMPORT_S = time.perf_counter() - T_IMPORT

from case_io import main_args, read_case, revenue, simultaneous, versions, write_result  # noqa: E402

logging.disable(logging.WARNING)
warnings.simplefilter("ignore", FutureWarning)
pypsa.options.api.legacy_string_dtype = True


def build_network(
    stamps: pd.DatetimeIndex, price: list[float | None], asset: dict[str, float], ends: list[int], dt_h: float
) -> pypsa.Network:
    """The whole case as one network; ``ends``: the last step of every window (state of charge >= soc_end there)."""
    P, E = asset["power_MW"], asset["energy_MWh"]
    eta_c, eta_d = asset["charge_efficiency"], asset["discharge_efficiency"]
    have = np.array([p is not None for p in price])
    cost = np.array([p if p is not None else 0.0 for p in price], dtype=float)
    n = pypsa.Network()
    n.set_snapshots(stamps)
    n.snapshot_weightings = pd.DataFrame(dt_h, index=stamps, columns=n.snapshot_weightings.columns, dtype=float)
    n.add("Bus", "grid")
    n.add("Bus", "battery")
    n.add(
        "Generator",
        "market",
        bus="grid",
        p_nom=10 * P,
        p_min_pu=-1.0,
        p_max_pu=1.0,
        marginal_cost=pd.Series(cost, index=stamps),
    )
    e_min = np.full(len(stamps), float(asset["soc_min"]))
    e_min[ends] = max(float(asset["soc_end"]), float(asset["soc_min"]))
    n.add(
        "Store",
        "cells",
        bus="battery",
        e_nom=E,
        e_initial=asset["soc_start"] * E,
        e_cyclic=False,
        e_min_pu=pd.Series(e_min, index=stamps),
        e_max_pu=float(asset["soc_max"]),
    )
    avail = pd.Series(have.astype(float), index=stamps)
    n.add("Link", "charge", bus0="grid", bus1="battery", p_nom=P, efficiency=eta_c, p_max_pu=avail)
    n.add("Link", "discharge", bus0="battery", bus1="grid", p_nom=P / eta_d, efficiency=eta_d, p_max_pu=avail)
    return n


def solve_window(n: pypsa.Network, sns: pd.DatetimeIndex, soc0_MWh: float) -> dict[str, float | str]:
    """One window, as ``n.optimize.optimize_with_rolling_horizon`` does it: e_initial carried, model on ``sns``."""
    t0 = time.perf_counter()
    n.c.stores.static.loc["cells", "e_initial"] = soc0_MWh
    n.optimize.create_model(sns, include_objective_constant=False)
    t1 = time.perf_counter()
    status, condition = n.optimize.solve_model(solver_name="highs", io_api="direct", log_to_console=False)
    t2 = time.perf_counter()
    return {
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "status": f"{status}/{condition}",
        "objective_eur": -float(n.objective),
    }


def main() -> None:
    case_path, out_path = main_args()
    case = read_case(case_path)
    dt_h = case["step_minutes"] / 60.0
    stamps = pd.DatetimeIndex(pd.to_datetime(case["timestamps"], utc=True)).tz_localize(None)
    price: list[float | None] = case["price_eur_per_MWh"]
    asset = case["asset"]
    t0 = time.perf_counter()
    n = build_network(stamps, price, asset, [hi - 1 for _, hi in case["windows"]], dt_h)
    setup_s = time.perf_counter() - t0
    soc = asset["soc_start"] * asset["energy_MWh"]
    windows = []
    for lo, hi in case["windows"]:
        info = solve_window(n, stamps[lo:hi], soc)
        windows.append(info)
        soc = float(n.stores_t.e["cells"].iloc[hi - 1])
        if not str(info["status"]).endswith("optimal"):
            break
    # the network is built once for all windows (as in PyPSA's rolling horizon); its time goes to the first window
    windows[0]["build_s"] = float(windows[0]["build_s"]) + setup_s
    windows[0]["total_s"] = float(windows[0]["total_s"]) + setup_s
    last = case["windows"][len(windows) - 1][1]
    first = case["windows"][0][0]
    charge = n.links_t.p0["charge"].to_numpy()[first:last].tolist()  # AC side, grid -> cells
    discharge = (-n.links_t.p1["discharge"].to_numpy()[first:last]).tolist()  # AC side, to the grid
    socs = n.stores_t.e["cells"].to_numpy()[first:last].tolist()
    covered = case["windows"][0][0], case["windows"][len(windows) - 1][1]
    result = {
        "peer": "pypsa",
        "versions": versions("pypsa", "linopy", "highspy", "pandas"),
        "import_s": IMPORT_S,
        "windows": windows,
        "steps": covered,
        "revenue_eur": revenue(price[covered[0] : covered[1]], charge, discharge, dt_h),
        "soc_end_MWh": soc,
        "simultaneous_steps": simultaneous(charge, discharge),
    }
    if case.get("schedule"):
        result.update(charge_MW=charge, discharge_MW=discharge, soc_MWh=socs)
    write_result(out_path, result)


if __name__ == "__main__":
    main()
