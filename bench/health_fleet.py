"""Fleet health on the local runner (1 and 2 processes) and a Dask LocalCluster (2 workers), with worker memory.

    python bench/health_fleet.py [--batteries 1000] [--days 7] [--workers 2] [--engines local1,local2,dask]

1. Generates (once; reused from ``var/bench/fleet-<N>b-<D>d/`` when present) a telemetry store of N batteries x D days
   at 1 Hz: 14-cell NMC packs of 40-120 Ah at 75-100 % state of health, each with its own series resistance, driven
   by a random sequence of partial discharges (0.1-1 C), partial charges (0.2-0.5 C) and rests (minutes to hours),
   with measurement noise quantised like a BMS (1 mV, 10 mA, 0.1 degC) (``bench/fleet_data.py``); the batteries
   of one hash bucket are written together so that each partition is written once. ``batteries.csv`` beside the
   store gives each battery's rating (and its true capacity, for the error figure).
2. Runs ``batteryloop.health.fleet`` on the store with each engine in a fresh process (so that each peak memory is
   that of the run alone), and prints wall time, batteries/s, rows/s, the ratio to the 1-process local runner, the
   capacity error against the truth, and the peak resident memory of each worker. A first Dask run on a tenth of the
   fleet gives the peak memory of a small fleet: a worker's peak should be about the same for the whole fleet
   (bounded by one battery-week, not growing with the fleet).

Timings are printed, never asserted. Run it alone (``flock /tmp/bench.lock python bench/health_fleet.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from batteryloop.health import fleet  # noqa: E402
from batteryloop.runners import DaskRunner, LocalRunner  # noqa: E402
from batteryloop.telemetry.store import TelemetryStore, bucket_of  # noqa: E402
from fleet_data import CELLS, battery_frame, battery_truth  # noqa: E402

MiB = 2**20


# ---------------------------------------------------------------------------------------------------------------------
# data (the packs and their duty cycles: bench/fleet_data.py)


def generate(root: Path, batteries: int, days: int) -> tuple[Path, Path]:
    store_dir = root / "store"
    csv_path = root / "batteries.csv"
    done = root / "complete.json"
    if done.exists():
        print(f"store: reusing {root}")
        return store_dir, csv_path
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    truths = [battery_truth(i) for i in range(batteries)]
    store = TelemetryStore(store_dir)
    by_bucket: dict[int, list[dict[str, Any]]] = {}
    for t in truths:
        by_bucket.setdefault(bucket_of(t["battery_id"], store.buckets), []).append(t)
    started = time.perf_counter()
    rows = 0
    for k, (bucket, members) in enumerate(sorted(by_bucket.items())):
        frame = pl.concat([battery_frame(t, days) for t in members])
        rows += frame.height
        store.write(frame)
        del frame
        print(
            f"  bucket {bucket:2d} ({k + 1}/{len(by_bucket)}): {len(members)} batteries, {rows:,} rows so far",
            flush=True,
        )
    pl.DataFrame(
        {
            "battery_id": [t["battery_id"] for t in truths],
            "nominal_capacity_Ah": [t["nominal_capacity_Ah"] for t in truths],
            "chemistry": ["NMC"] * len(truths),
            "cells_in_series": [CELLS] * len(truths),
            "max_current_A": [3.0 * t["nominal_capacity_Ah"] for t in truths],
        }
    ).write_csv(csv_path)
    pl.DataFrame(truths).write_parquet(root / "truth.parquet")
    size = sum(p.stat().st_size for p in store_dir.rglob("*.parquet"))
    seconds = time.perf_counter() - started
    done.write_text(json.dumps({"rows": rows, "bytes": size, "seconds": seconds}))
    print(f"store: {rows:,} rows, {size / 2**30:.2f} GiB in {seconds:.0f} s ({rows / seconds:,.0f} rows/s)")
    return store_dir, csv_path


# ---------------------------------------------------------------------------------------------------------------------
# runs


def _run(engine: str, workers: int, store: str, csv_path: str, limit: int | None, memory_limit: str) -> dict[str, Any]:
    """One engine on the fleet, in a fresh process; the report, the results' capacities and the workers' peaks."""
    table = fleet.read_batteries_csv(Path(csv_path))
    ids = sorted(table)[:limit] if limit else sorted(table)
    tasks = fleet.plan(Path(store), batteries_csv=table, battery_ids=ids)
    runner: Any = (
        LocalRunner(workers) if engine == "local" else DaskRunner(workers, memory_limit=memory_limit, processes=True)
    )
    peaks: list[int] = []
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with runner:
        ready = time.perf_counter() - started
        rows: list[dict[str, Any]] = []
        for outcome in runner.map(fleet.run_battery, tasks):
            rows.append(outcome.result or {"battery_id": outcome.task.battery_id, "error": outcome.error})
        wall = time.perf_counter() - started
        peaks = runner.peak_rss_per_worker()
    frame = fleet.results_frame(rows)
    return {
        "wall_s": wall,
        "startup_s": ready,
        "batteries": len(tasks),
        "rows": int(frame["rows"].sum()),
        "failed": int(frame["error"].is_not_null().sum()),
        "errors": frame.filter(pl.col("error").is_not_null())["error"].head(3).to_list(),
        "capacity": dict(
            frame.select("battery_id", "remaining_capacity_Ah").iter_rows()
            if "remaining_capacity_Ah" in frame.columns
            else []
        ),
        "peak_rss_MiB": [round(p / MiB) for p in peaks],
        "max_battery_rows": int(frame["rows"].max() or 0),
        "load_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def run_isolated(*args: Any) -> dict[str, Any]:
    """``_run`` in a fresh interpreter (its workers are its children), its result as the last line of its output."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(args)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"run {args[:2]} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batteries", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engines", default="local1,local2,dask")
    parser.add_argument("--memory-limit", default="3GiB")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run(*json.loads(args.child))))
        return
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"fleet: {args.batteries} batteries x {args.days} days at 1 Hz ({args.batteries * args.days * 86_400:,} rows)"
    )
    store, csv_path = generate(args.cache / f"fleet-{args.batteries}b-{args.days}d", args.batteries, args.days)
    truth = pl.read_parquet(store.parent / "truth.parquet")
    true_cap = dict(truth.select("battery_id", "true_capacity_Ah").iter_rows())

    runs: dict[str, dict[str, Any]] = {}
    plans = {
        "local1": ("local", 1, None),
        "local2": ("local", args.workers, None),
        "dask-small": ("dask", args.workers, max(args.workers, args.batteries // 10)),
        "dask": ("dask", args.workers, None),
    }
    wanted = args.engines.split(",")
    for name, (engine, workers, limit) in plans.items():
        if name not in wanted and not (name == "dask-small" and "dask" in wanted):
            continue
        print(
            f"running {name} ({engine}, {workers} worker(s){f', first {limit} batteries' if limit else ''}) ...",
            flush=True,
        )
        runs[name] = run_isolated(engine, workers, str(store), str(csv_path), limit, args.memory_limit)

    base = runs.get("local1")
    print()
    print(f"{'run':12s} {'batteries':>9s} {'wall s':>8s} {'start s':>8s} {'batt/s':>8s} {'rows/s':>12s} "
          f"{'vs local1':>9s} {'failed':>6s} {'load':>9s}  peak RSS per worker (MiB)")  # fmt: skip
    for name, r in runs.items():
        load = f"{r['load_1min'][0]:.1f}-{r['load_1min'][1]:.1f}"
        ratio = ""
        if base is not None and r["batteries"] == base["batteries"]:
            ratio = f"{base['wall_s'] / r['wall_s']:.2f}x"
        print(
            f"{name:12s} {r['batteries']:>9d} {r['wall_s']:>8.1f} {r['startup_s']:>8.1f} "
            f"{r['batteries'] / r['wall_s']:>8.2f} {r['rows'] / r['wall_s']:>12,.0f} {ratio:>9s} {r['failed']:>6d} "
            f"{load:>9s}  "
            f"{r['peak_rss_MiB']}"
        )
    if "dask" in runs and "local2" in runs:
        print(f"ratio dask / local (2 processes), wall time: {runs['dask']['wall_s'] / runs['local2']['wall_s']:.2f}")
    if "dask" in runs and "dask-small" in runs:
        small, full = max(runs["dask-small"]["peak_rss_MiB"]), max(runs["dask"]["peak_rss_MiB"])
        scale = runs["dask"]["batteries"] / runs["dask-small"]["batteries"]
        print(
            f"peak worker memory: {small} MiB for {runs['dask-small']['batteries']} batteries, {full} MiB for "
            f"{runs['dask']['batteries']} ({full / small:.2f}x for {scale:.0f}x "
            f"the batteries); one battery: {runs['dask']['max_battery_rows']:,} rows"
        )
    for name, r in runs.items():
        errors = 100 * np.array([abs(c / true_cap[b] - 1) for b, c in r["capacity"].items() if c is not None])
        if errors.size:
            print(
                f"{name}: capacity found for {len(errors)}/{r['batteries']} batteries; |error| vs the truth median "
                f"{float(np.median(errors)):.3f} %, 95th percentile {float(np.quantile(errors, 0.95)):.3f} %"
            )
        for e in r["errors"]:
            print(f"  {name} error: {e}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "capacity"} for k, v in runs.items()}
    (results / "health_fleet.json").write_text(
        json.dumps({"args": vars(args) | {"cache": str(args.cache)}, "runs": summary}, indent=2)
    )


if __name__ == "__main__":
    main()
