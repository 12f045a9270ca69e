"""Dispatch against the peers: batteryloop's LP vs EMHASS and PyPSA (+ linopy), all on HiGHS, in one run.

The same case for all: 1 MW / 2 MWh, 95 % charge and 95 % discharge efficiency, 50 % start and end state of charge,
NL 2024 day-ahead prices (the calendar year in Europe/Amsterdam, 366 days; 15-minute steps repeat each hourly price).
For each resolution (60 and 15 minutes):

(a) the whole year in one LP (perfect foresight): build + solve time and revenue;
(b) 366 daily runs, each local day optimised alone with the state of charge carried (the rolling day-ahead horizon):
    p50/p95 time per day, total, revenue and the gap to the perfect-foresight optimum.

batteryloop runs in-process (``batteryloop.energy.dispatch``); each peer runs as a subprocess in its own venv
(bench/peers/setup.sh) through bench/peers/{emhass,pypsa}_case.py, which read the case from a JSON file and write the
schedule, revenue and timings back. Times compared are build + solve inside the process (imports and process start are
printed apart). Revenue is recomputed from every tool's schedule in the same way, and every schedule is checked
against the battery's limits here. Ratios: peer time / batteryloop time.

Run: flock /tmp/bench.lock .venv/bin/python bench/energy_peers.py [--peers-dir /tmp/dispatch-peers] [--rounds 3]
     [--daily-days N] (a subset of the daily runs for the peers, extrapolated to the year and labelled so)
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from batteryloop.energy.asset import Asset
from batteryloop.energy.dispatch import Horizon, dispatch, local_days
from batteryloop.energy.prices import align, load_prices, local_day_bounds, regular_grid
from machine import describe  # bench/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
PEERS_SRC = Path(__file__).resolve().parent / "peers"
PRICES = ROOT.parent / "shared" / "data" / "grid" / "nl_dayahead_hourly" / "nl_da_hourly_2015_2026_merged.csv"
ASSET = Asset(power_kW=1000, energy_kWh=2000, charge_efficiency=0.95, discharge_efficiency=0.95)
PEERS = ("emhass", "pypsa")
TOL_MW = 1e-6  # feasibility tolerance for the schedule checks [MW, MWh]


@dataclass
class Run:
    """One tool on one case: times in seconds, revenue in EUR."""

    tool: str
    times: list[float]  # build + solve per window
    revenue: float
    status: str
    feasible: str = ""
    simultaneous: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.times)


def machine() -> str:
    return describe()


def check_schedule(charge: np.ndarray, discharge: np.ndarray, price: np.ndarray, dt: float) -> str:
    """Replays a schedule (MW, AC side) through the battery's balance; '' if it respects every limit, else why."""
    P, E = ASSET.power_kW / 1000, ASSET.energy_kWh / 1000
    soc = ASSET.soc_start * E + np.cumsum(
        ASSET.charge_efficiency * dt * charge - dt * discharge / ASSET.discharge_efficiency
    )
    problems = []
    if np.min(charge) < -TOL_MW or np.min(discharge) < -TOL_MW:
        problems.append("negative power")
    if max(np.max(charge), np.max(discharge)) > P + TOL_MW:
        problems.append(f"power {max(np.max(charge), np.max(discharge)):.6f} MW > {P}")
    if np.min(soc) < ASSET.soc_min * E - TOL_MW or np.max(soc) > ASSET.soc_max * E + TOL_MW:
        problems.append(f"state of charge {np.min(soc):.6f}..{np.max(soc):.6f} MWh outside 0..{E}")
    if soc[-1] < ASSET.soc_end * E - TOL_MW:
        problems.append(f"end state of charge {soc[-1]:.6f} MWh < {ASSET.soc_end * E}")
    idle = ~np.isfinite(price)
    if np.any(idle) and max(np.max(charge[idle]), np.max(discharge[idle])) > TOL_MW:
        problems.append("active in a step without a price")
    return "; ".join(problems)


def revenue_of(charge: np.ndarray, discharge: np.ndarray, price: np.ndarray, dt: float) -> float:
    p = np.where(np.isfinite(price), price, 0.0)
    return float(np.sum(p * (discharge - charge)) * dt)


def ours(grid: np.ndarray, price: np.ndarray, step: int, horizon: Horizon, rounds: int) -> Run:
    best = None
    totals: list[float] = []
    for _ in range(rounds):
        res = dispatch(grid, price, ASSET, step_minutes=step, horizon=horizon)
        totals.append(res.build_s + res.solve_s)
        best = res
    assert best is not None
    sched = best.schedule
    c = sched["charge_kW"].to_numpy() / 1000
    d = sched["discharge_kW"].to_numpy() / 1000
    dt = step / 60
    if horizon is Horizon.FULL:
        times = [statistics.median(totals)]
    else:
        # build + solve per window (named window_solve_s in earlier versions of the API)
        times = list(getattr(best, "window_s", None) or getattr(best, "window_solve_s", []))
    return Run(
        "batteryloop",
        times,
        revenue_of(c, d, price, dt),
        best.status.value,
        check_schedule(c, d, price, dt) or "yes",
        best.simultaneous_steps,
        {"own_revenue": best.revenue_eur.get("arbitrage", float("nan")), "rounds": rounds, "c": c, "d": d, "dt": dt},
    )


def _memory_limit(memory_gb: float) -> Any:
    """A pre-exec hook capping the peer's address space, so a peer that outgrows the machine fails alone."""

    def limit() -> None:
        if memory_gb > 0:
            cap = int(memory_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return limit


def write_case(path: Path, grid: np.ndarray, price: np.ndarray, step: int, windows: list[tuple[int, int]]) -> None:
    stamps = [str(t.astype("datetime64[s]")) + "Z" for t in grid]
    case = {
        "step_minutes": step,
        "timestamps": stamps,
        "price_eur_per_MWh": [float(p) if np.isfinite(p) else None for p in price],
        "asset": {
            "power_MW": ASSET.power_kW / 1000,
            "energy_MWh": ASSET.energy_kWh / 1000,
            "charge_efficiency": ASSET.charge_efficiency,
            "discharge_efficiency": ASSET.discharge_efficiency,
            "soc_min": ASSET.soc_min,
            "soc_max": ASSET.soc_max,
            "soc_start": ASSET.soc_start,
            "soc_end": ASSET.soc_end,
        },
        "windows": [list(w) for w in windows],
        "schedule": True,
    }
    path.write_text(json.dumps(case))


def peer(
    name: str,
    peers_dir: Path,
    grid: np.ndarray,
    price: np.ndarray,
    step: int,
    windows: list[tuple[int, int]],
    timeout_s: float,
    memory_gb: float,
) -> Run:
    python = peers_dir / name / "bin" / "python"
    if not python.is_file():
        log = peers_dir / f"install-{name}.log"
        why = log.read_text().strip().splitlines()[-3:] if log.is_file() else ["run bench/peers/setup.sh"]
        return Run(name, [], float("nan"), f"not installed ({python} missing): {' | '.join(why)}")
    with tempfile.TemporaryDirectory(prefix="dispatch-peers-") as tmp:
        case_path, out_path = Path(tmp) / "case.json", Path(tmp) / "result.json"
        write_case(case_path, grid, price, step, windows)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [str(python), str(PEERS_SRC / f"{name}_case.py"), str(case_path), str(out_path)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                preexec_fn=_memory_limit(memory_gb),
            )
        except subprocess.TimeoutExpired:
            return Run(name, [], float("nan"), f"timed out after {timeout_s:.0f} s")
        wall = time.perf_counter() - t0
        if proc.returncode < 0:
            return Run(
                name,
                [],
                float("nan"),
                f"killed by signal {-proc.returncode} after {wall:.0f} s (9: e.g. the kernel's out-of-memory killer)",
            )
        if proc.returncode != 0 or not out_path.is_file():
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            return Run(name, [], float("nan"), f"failed (exit {proc.returncode}): {tail}")
        out = json.loads(out_path.read_text())
    lo, hi = out["steps"]
    c = np.asarray(out["charge_MW"], dtype=float)
    d = np.asarray(out["discharge_MW"], dtype=float)
    dt = step / 60
    statuses = sorted({w["status"] for w in out["windows"]})
    complete = hi - lo == len(grid)
    feasible = check_schedule(c, d, price[lo:hi], dt) if complete else "(subset)"
    return Run(
        name,
        [float(w["total_s"]) for w in out["windows"]],
        revenue_of(c, d, price[lo:hi], dt),
        ",".join(statuses),
        feasible or "yes",
        int(out["simultaneous_steps"]),
        {
            "versions": out["versions"],
            "import_s": out["import_s"],
            "wall_s": wall,
            "build_s": sum(float(w["build_s"]) for w in out["windows"]),
            "solve_s": sum(float(w["solve_s"]) for w in out["windows"]),
            "windows_run": len(out["windows"]),
            "steps_run": hi - lo,
        },
    )


def rel(a: float, b: float) -> str:
    if not (np.isfinite(a) and np.isfinite(b)) or b == 0:
        return "-"
    return f"{(a - b) / abs(b):+.1e}"


def print_full(runs: list[Run]) -> None:
    ref = runs[0]
    print(
        f"{'tool':<12} {'build+solve s':>14} {'ratio':>8} {'revenue EUR':>14} {'vs ours':>9} {'simult.':>8}  feasible"
    )
    for r in runs:
        if not r.times:
            print(f"{r.tool:<12} {r.status}")
            continue
        ratio = r.total / ref.total
        print(
            f"{r.tool:<12} {r.total:>14.3f} {ratio:>8.1f} {r.revenue:>14.2f} {rel(r.revenue, ref.revenue):>9} "
            f"{r.simultaneous:>8}  {r.feasible}; status {r.status}"
        )


def print_daily(runs: list[Run], full: dict[str, float], days: int, price: np.ndarray) -> None:
    ref = runs[0]
    ref_p50 = float(np.percentile(ref.times, 50)) * 1000
    print(
        f"{'tool':<12} {'p50 ms':>9} {'p95 ms':>9} {'ratio p50':>9} {'total s':>9} {'revenue EUR':>13} "
        f"{'vs ours':>9} {'of PF':>8} {'of LP PF':>8}  feasible"
    )
    for r in runs:
        if not r.times:
            print(f"{r.tool:<12} {r.status}")
            continue
        p50, p95 = float(np.percentile(r.times, 50)) * 1000, float(np.percentile(r.times, 95)) * 1000
        n = len(r.times)
        if n < days:
            total = f"~{r.total * days / n:.1f}*"
            k = int(r.extra["steps_run"])
            e = ref.extra
            ours_k = revenue_of(e["c"][:k], e["d"][:k], price[:k], e["dt"])
            revenue, vs, of_pf, of_lp = f"({r.revenue:.2f})", rel(r.revenue, ours_k), "-", "-"
        else:
            total = f"{r.total:.2f}"
            revenue = f"{r.revenue:.2f}"
            vs = rel(r.revenue, ref.revenue)
            pf = full.get(r.tool, float("nan"))
            of_pf = f"{100 * r.revenue / pf:.2f}%" if np.isfinite(pf) else "-"
            lp = full.get(ref.tool, float("nan"))
            of_lp = f"{100 * r.revenue / lp:.2f}%" if np.isfinite(lp) else "-"
        print(
            f"{r.tool:<12} {p50:>9.2f} {p95:>9.2f} {p50 / ref_p50:>9.1f} {total:>9} {revenue:>13} {vs:>9} "
            f"{of_pf:>8} {of_lp:>8}  {r.feasible}; status {r.status}"
        )
        if n < days:
            print(
                f"{'':<12} * {n} of {days} days run: total time extrapolated to the year; (revenue) of those days "
                "only, compared with ours over the same days"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers-dir", type=Path, default=Path("/tmp/dispatch-peers"))
    parser.add_argument("--rounds", type=int, default=3, help="rounds of our full-year LP (median)")
    parser.add_argument(
        "--daily-days",
        default="",
        help="run only the first N days for the peers: N for all, or per peer as name=N,name=N (default: all days)",
    )
    parser.add_argument("--steps", default="60,15", help="resolutions in minutes")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--timeout", type=float, default=1800.0, help="per peer run of the daily windows [s]")
    parser.add_argument("--memory-gb", type=float, default=12.0, help="address-space cap per peer process (0: none)")
    parser.add_argument("--full-timeout", type=float, default=600.0, help="per peer run of the whole year [s]")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress shows while peers run
    if not PRICES.is_file():
        print(f"prices not found: {PRICES}")
        return 1
    peers = [p for p in args.peers.split(",") if p]
    subset: dict[str, int] = {}
    for item in (i for i in args.daily_days.split(",") if i):
        name, _, count = item.rpartition("=")
        subset[name] = int(count)
    print(f"machine: {machine()}")
    print(f"batteryloop: highspy {version('highspy')}, numpy {version('numpy')}, scipy {version('scipy')}")
    print(f"prices: {PRICES.relative_to(ROOT.parent)}; 2024 in Europe/Amsterdam (366 days)")
    print(
        f"asset: {ASSET.power_kW / 1000:g} MW / {ASSET.energy_kWh / 1000:g} MWh, eta_c {ASSET.charge_efficiency}, "
        f"eta_d {ASSET.discharge_efficiency}, state of charge {ASSET.soc_start} at the start, >= {ASSET.soc_end} "
        "at the end"
    )
    series = load_prices(PRICES)
    lo, hi = local_day_bounds(date(2024, 1, 1), date(2025, 1, 1))
    year = series.between(lo, hi)
    print(f"missing hours in 2024 (idle for every tool): {[str(g) for g in year.gaps]}")
    versions_seen: dict[str, dict[str, str]] = {}
    for step in (int(s) for s in args.steps.split(",")):
        s = year.resample(step)
        grid = regular_grid(s)
        price = align(s, grid, name="prices")
        T = len(grid)
        day = local_days(grid)
        cuts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        edges = np.r_[cuts, T]
        days = [(int(edges[i]), int(edges[i + 1])) for i in range(len(cuts))]
        label = ", hourly prices repeated" if step == 15 else ""
        print(f"\n=== {step}-minute steps: {T} steps{label}")
        full_runs = [ours(grid, price, step, Horizon.FULL, args.rounds)]
        for name in peers:
            full_runs.append(peer(name, args.peers_dir, grid, price, step, [(0, T)], args.full_timeout, args.memory_gb))
        print(f"\n(a) whole year in one LP (perfect foresight); ours: median of {args.rounds} rounds")
        print_full(full_runs)
        daily_runs = [ours(grid, price, step, Horizon.ROLLING, 1)]
        for name in peers:
            n_days = subset.get(name, subset.get("", 0))
            peer_days = days[:n_days] if n_days else days
            daily_runs.append(peer(name, args.peers_dir, grid, price, step, peer_days, args.timeout, args.memory_gb))
        pf = {r.tool: r.revenue for r in full_runs}
        print(
            f"\n(b) {len(days)} daily runs, state of charge carried; of PF = revenue / the tool's own perfect "
            "foresight, of LP PF = revenue / batteryloop's perfect foresight (the LP optimum)"
        )
        print_daily(daily_runs, pf, len(days), price)
        for r in full_runs + daily_runs:
            if "versions" in r.extra:
                versions_seen[r.tool] = r.extra["versions"]
        print("\npeer processes (s): import, in-process build, solve (the peer's own split), wall incl. start")
        for r in full_runs[1:] + daily_runs[1:]:
            if r.extra:
                e = r.extra
                kind = "year" if e["windows_run"] == 1 else f"{e['windows_run']} days"
                print(
                    f"  {r.tool:<8} {kind:<9} import {e['import_s']:.2f}, build {e['build_s']:.2f}, "
                    f"solve {e['solve_s']:.2f}, wall {e['wall_s']:.2f}"
                )
    print("\nversions:")
    for tool, v in versions_seen.items():
        print(f"  {tool}: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
