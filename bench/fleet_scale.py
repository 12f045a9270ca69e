"""The daily fleet job at fleet scale: 10,000 batteries at 1 Hz, on the local runner and a Dask cluster, and what a
national fleet of 1 million vehicles would need.

    python bench/fleet_scale.py [--batteries 10000] [--days 3] [--reuse] [--engines local1,local2,dask]

1. **Store.** Generates (or with ``--reuse`` reuses, completing what is missing) a telemetry store of N batteries x
   D UTC days at 1 Hz under ``var/bench/fleet-<N>b-<D>d/`` (the packs and duty cycles of ``bench/fleet_data.py``, one
   day of one hash bucket at a time, written through :meth:`TelemetryStore.write` by ``--gen-workers`` processes; the
   store's lock makes the writes take turns while the next day-bucket is generated). Prints rows, bytes on disk,
   bytes/row, the extrapolated size of 30 days, and the generation rate. Not timed under the lock.
2. **Ingest.** One day-bucket (about N/32 batteries x 86,400 rows) written through ``TelemetryStore.write`` into an
   empty scratch store, next to a plain ``DataFrame.write_parquet`` of the same frame (same compression): the store's
   rows/s and its cost over the bare Parquet writer.
3. **Daily job.** ``batteryloop.health.fleet`` on one UTC day (``--job-day``, default the last generated day; the
   tasks read only that day's partitions), each engine in a fresh process: the local runner with 1 and with 2
   processes, a Dask LocalCluster of 2 workers with ``--memory-limit`` each, first on a tenth of the fleet and then on
   all of it (a worker's peak memory must not grow with the fleet). Prints wall time, batteries/s, rows/s, rows/s per
   core, each worker's peak resident memory (``VmHWM``), the ratios to the 1-process runner and Dask / local, the
   1 -> 2 worker scaling efficiency, and the capacity error against the simulated truth.
4. **Estimate** for 1 million vehicles at 1 Hz (86.4 billion rows a day): cores to finish the daily job in 1 h and in
   4 h at the measured per-core rate and scaling efficiency, storage per day and per month at the measured bytes/row,
   memory per worker.

Phases 2 and 3 hold ``/tmp/bench.lock`` (one benchmark measures at a time). Timings are printed, never asserted; the
1-minute load average before and after each run is printed beside it (above 2 on this 2-core machine: not alone).
Results: ``bench/results/fleet_scale.json``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from batteryloop.health import fleet  # noqa: E402
from batteryloop.runners import DaskRunner, LocalRunner  # noqa: E402
from batteryloop.telemetry.store import DEFAULT_BUCKETS, TelemetryStore, bucket_of  # noqa: E402
from fleet_data import CELLS, START_US, battery_truth, write_day_bucket  # noqa: E402

MiB = 2**20
GB = 1e9
LOCK = Path("/tmp/bench.lock")
NATIONAL_VEHICLES = 1_000_000
ROWS_PER_VEHICLE_DAY = 86_400  # 1 Hz
FIRST_DAY = datetime.fromtimestamp(START_US / 1e6, UTC).date()


@contextmanager
def bench_lock(timeout_s: float | None = None) -> Iterator[float]:
    """Hold /tmp/bench.lock (as ``flock /tmp/bench.lock`` does); yields the seconds waited for it. Gives up (exits)
    after ``timeout_s`` seconds without it."""
    started = time.perf_counter()
    with LOCK.open("a+b") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (fcntl.LOCK_NB if timeout_s is not None else 0))
                break
            except BlockingIOError:
                if time.perf_counter() - started > (timeout_s or 0):
                    raise SystemExit(f"{LOCK} not free after {timeout_s:.0f} s: nothing measured") from None
                time.sleep(5)
        try:
            yield time.perf_counter() - started
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def members_by_bucket(batteries: int) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i in range(batteries):
        out.setdefault(bucket_of(battery_truth(i)["battery_id"], DEFAULT_BUCKETS), []).append(i)
    return dict(sorted(out.items()))


def store_size(store: Path) -> tuple[int, int, int]:
    """(rows, bytes, partitions) of the store, rows from the Parquet footers."""
    import pyarrow.parquet as pq

    rows = size = count = 0
    for path in store.glob("day=*/bucket=*/data.parquet"):
        rows += pq.ParquetFile(path).metadata.num_rows
        size += path.stat().st_size
        count += 1
    return rows, size, count


# ---------------------------------------------------------------------------------------------------------------------
# 1. the store


def generate(root: Path, batteries: int, days: int, workers: int, reuse: bool, max_gb: float) -> dict[str, Any]:
    store_dir = root / "store"
    done = root / "complete.json"
    if reuse and done.exists():
        facts: dict[str, Any] = json.loads(done.read_text())
        print(f"store: reusing {root}")
        return facts
    if not reuse and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    buckets = members_by_bucket(batteries)
    # day-major, so that an interrupted run leaves whole days; with --reuse the partitions in place are kept
    todo = [
        (day, bucket)
        for day in range(days)
        for bucket in buckets
        if not (store_dir / f"day={FIRST_DAY + timedelta(days=day)}" / f"bucket={bucket:02d}" / "data.parquet").exists()
    ]
    free = shutil.disk_usage(root).free
    print(
        f"store: generating {len(todo)} of {days * len(buckets)} day-buckets into {root} "
        f"({free / GB:.0f} GB free, budget {max_gb:.0f} GB) with {workers} process(es)",
        flush=True,
    )
    truths = pl.DataFrame([battery_truth(i) for i in range(batteries)])
    pl.DataFrame(
        {
            "battery_id": truths["battery_id"],
            "nominal_capacity_Ah": truths["nominal_capacity_Ah"],
            "chemistry": ["NMC"] * batteries,
            "cells_in_series": [CELLS] * batteries,
            "max_current_A": truths["nominal_capacity_Ah"] * 3.0,
        }
    ).write_csv(root / "batteries.csv")
    truths.write_parquet(root / "truth.parquet")
    started = time.perf_counter()
    rows = 0
    generate_s = write_s = 0.0
    budget = max_gb * GB
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: dict[Future[dict[str, float]], tuple[int, int]] = {}
        queue = list(todo)
        checked_size = False
        while queue or pending:
            while queue and len(pending) < workers:
                day, bucket = queue.pop(0)
                pending[pool.submit(write_day_bucket, str(store_dir), buckets[bucket], days, day)] = (day, bucket)
            future = next(as_completed(pending))
            day, bucket = pending.pop(future)
            r = future.result()
            rows += int(r["rows"])
            generate_s += r["generate_s"]
            write_s += r["write_s"]
            if not checked_size:  # after the first partition: does the whole store fit the budget?
                checked_size = True
                _, size, count = store_size(store_dir)
                projected = size / count * days * len(buckets)
                print(f"  projected store size: {projected / GB:.1f} GB", flush=True)
                if projected > budget or projected > shutil.disk_usage(root).free + size:
                    for f in pending:
                        f.cancel()
                    raise SystemExit(f"the store would take {projected / GB:.1f} GB: over the budget; use fewer --days")
            print(
                f"  day {day} bucket {bucket:2d}: {int(r['rows']):,} rows, generated {r['generate_s']:.1f} s, "
                f"written {r['write_s']:.1f} s; {rows:,} rows in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
    seconds = time.perf_counter() - started
    total_rows, size, count = store_size(store_dir)
    facts = {
        "batteries": batteries,
        "days": days,
        "rows": total_rows,
        "bytes": size,
        "partitions": count,
        "bytes_per_row": size / total_rows,
        "seconds": seconds,
        "rows_generated_this_run": rows,
        "generation_rows_per_s": rows / seconds if seconds > 0 else None,
        "generate_cpu_s": generate_s,
        "write_s": write_s,
        "workers": workers,
    }
    done.write_text(json.dumps(facts, indent=2))
    return facts


# ---------------------------------------------------------------------------------------------------------------------
# 2. ingest: TelemetryStore.write of one day-bucket against a bare Parquet write


def _ingest(indices: list[int], days: int, day: int, scratch: str) -> dict[str, Any]:
    from fleet_data import battery_day_frame

    frame = pl.concat([battery_day_frame(battery_truth(i), days, day) for i in indices])
    scratch_dir = Path(scratch)
    shutil.rmtree(scratch_dir, ignore_errors=True)
    scratch_dir.mkdir(parents=True)
    started = time.perf_counter()
    frame.write_parquet(scratch_dir / "bare.parquet", compression="zstd", compression_level=1, statistics=True)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    TelemetryStore(scratch_dir / "store").write(frame)
    store = time.perf_counter() - started
    size = sum(p.stat().st_size for p in (scratch_dir / "store").rglob("*.parquet"))
    shutil.rmtree(scratch_dir)
    return {"rows": frame.height, "bare_s": bare, "store_s": store, "bytes": size, "load": os.getloadavg()[0]}


# ---------------------------------------------------------------------------------------------------------------------
# 3. the daily job


def _listing(store: str, day: str) -> dict[str, Any]:
    """The batteries with rows on ``day`` (what ``health fleet --day`` asks the store first), and the time to read one
    battery's day from its partition (row groups pruned by the battery_id statistics) against the whole partition."""
    window = fleet.day_window(date.fromisoformat(day))
    telemetry = TelemetryStore(Path(store))
    started = time.perf_counter()
    ids = telemetry.batteries(start=window.start, end=window.end)
    listing = time.perf_counter() - started
    one: list[float] = []
    for battery in ids[:: max(1, len(ids) // 20)][:20]:
        started = time.perf_counter()
        rows = telemetry.scan(battery, start=window.start, end=window.end).collect().height
        one.append(time.perf_counter() - started)
    part = next(p for p in telemetry.partitions(ids[0]) if p.day == window.start.date())
    started = time.perf_counter()
    whole = pl.read_parquet(part.path).height
    return {
        "batteries": len(ids),
        "seconds": listing,
        "one_battery_rows": rows,
        "one_battery_read_s_median": float(np.median(one)),
        "partition_rows": whole,
        "partition_read_s": time.perf_counter() - started,
    }


def _run(
    engine: str, workers: int, store: str, csv_path: str, limit: int | None, memory_limit: str, day: str
) -> dict[str, Any]:
    """One engine on one day of the fleet, in a fresh process; the report, the capacities and the workers' peaks."""
    table = fleet.read_batteries_csv(Path(csv_path))
    ids = sorted(table)[:limit] if limit else sorted(table)
    window = fleet.day_window(date.fromisoformat(day))
    tasks = fleet.plan(Path(store), batteries_csv=table, battery_ids=ids, window=window)
    runner: Any = (
        LocalRunner(workers) if engine == "local" else DaskRunner(workers, memory_limit=memory_limit, processes=True)
    )
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with runner:
        ready = time.perf_counter() - started
        for outcome in runner.map(fleet.run_battery, tasks):
            rows.append(outcome.result or {"battery_id": outcome.task.battery_id, "error": outcome.error})
        wall = time.perf_counter() - started
        peaks = runner.peak_rss_per_worker()
    frame = fleet.results_frame(rows)
    first = frame["record_start"].min()
    last = frame["measured_at"].max()
    return {
        "engine": engine,
        "workers": workers,
        "wall_s": wall,
        "startup_s": ready,
        "batteries": len(tasks),
        "rows": int(frame["rows"].sum() + frame["rows_rejected"].sum()),
        "rows_rejected": int(frame["rows_rejected"].sum()),
        "failed": int(frame["error"].is_not_null().sum()),
        "errors": frame.filter(pl.col("error").is_not_null())["error"].head(3).to_list(),
        "first_row": str(first),
        "last_row": str(last),
        "capacity": dict(
            frame.select("battery_id", "remaining_capacity_Ah").iter_rows()
            if "remaining_capacity_Ah" in frame.columns
            else []
        ),
        "peak_rss_MiB": [round(p / MiB) for p in peaks],
        "load_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


CHILDREN = {"run": _run, "ingest": _ingest, "listing": _listing}


def isolated(kind: str, *args: Any) -> dict[str, Any]:
    """A phase in a fresh interpreter (its workers are its children); its result is the last line of its output, with
    ``cpu_s``: the CPU time (user + system) of the interpreter and every process under it (workers, Dask's nannies and
    scheduler), which, unlike the wall time, does not depend on what else runs on the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps([kind, *args])], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} {args[:2]} failed:\n{proc.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


# ---------------------------------------------------------------------------------------------------------------------
# 4. the estimate


def estimate(per_core_rows_s: float, efficiency: float, bytes_per_row: float, peak_worker_MiB: int) -> dict[str, Any]:
    """Cores, storage and memory for the daily job of :data:`NATIONAL_VEHICLES` at 1 Hz."""
    rows_day = NATIONAL_VEHICLES * ROWS_PER_VEHICLE_DAY
    core_seconds = rows_day / per_core_rows_s
    out: dict[str, Any] = {
        "vehicles": NATIONAL_VEHICLES,
        "rows_per_day": rows_day,
        "per_core_rows_s": per_core_rows_s,
        "efficiency": efficiency,
        "core_hours_per_day": core_seconds / 3600,
        "bytes_per_row": bytes_per_row,
        "storage_per_day_GB": rows_day * bytes_per_row / GB,
        "storage_per_30_days_TB": rows_day * bytes_per_row * 30 / GB / 1000,
        "storage_per_year_TB": rows_day * bytes_per_row * 365 / GB / 1000,
        "peak_worker_MiB": peak_worker_MiB,
    }
    for hours in (1, 4):
        cores = math.ceil(core_seconds / (hours * 3600) / efficiency)
        out[f"cores_{hours}h"] = cores
        out[f"memory_{hours}h_GiB"] = cores * peak_worker_MiB / 1024
        out[f"read_MB_s_{hours}h"] = rows_day * bytes_per_row / (hours * 3600) / 1e6
    return out


# ---------------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batteries", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--job-day", help="the UTC day of the daily job (default: the last generated day)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gen-workers", type=int, default=2)
    parser.add_argument("--engines", default="local1,local2,dask")
    parser.add_argument("--local1-limit", type=int, default=0, help="run local1 on the first N batteries only")
    parser.add_argument("--memory-limit", default="1.5GiB")
    parser.add_argument("--max-gb", type=float, default=30.0, help="refuse a store larger than this")
    parser.add_argument("--reuse", action="store_true", help="reuse (and complete) the store under --cache")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest and listing measurements")
    parser.add_argument("--lock-timeout", type=float, help="give up after waiting this many seconds for the lock")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = json.loads(args.child)
        print(json.dumps(CHILDREN[kind](*rest), default=str))
        return
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows_planned = args.batteries * args.days * ROWS_PER_VEHICLE_DAY
    print(f"fleet: {args.batteries:,} batteries x {args.days} days at 1 Hz ({rows_planned:,} rows)")
    root = args.cache / f"fleet-{args.batteries}b-{args.days}d"
    facts = generate(root, args.batteries, args.days, args.gen_workers, args.reuse, args.max_gb)
    store, csv_path = root / "store", root / "batteries.csv"
    per_30 = facts["bytes_per_row"] * args.batteries * 30 * ROWS_PER_VEHICLE_DAY
    print(
        f"store: {facts['rows']:,} rows in {facts['partitions']} partitions, {facts['bytes'] / GB:.2f} GB on disk, "
        f"{facts['bytes_per_row']:.2f} bytes/row; 30 days would take {per_30 / GB:.0f} GB"
    )
    if facts.get("generation_rows_per_s"):
        print(
            f"generation: {facts['seconds']:.0f} s wall with {facts['workers']} processes "
            f"({facts['generation_rows_per_s']:,.0f} rows/s; generating {facts['generate_cpu_s']:.0f} s, "
            f"TelemetryStore.write {facts['write_s']:.0f} s including waits for the store's lock)"
        )
    if args.generate_only:
        return
    day = args.job_day or (FIRST_DAY + timedelta(days=args.days - 1)).isoformat()
    buckets = members_by_bucket(args.batteries)
    truth = pl.read_parquet(root / "truth.parquet")
    true_cap = dict(truth.select("battery_id", "true_capacity_Ah").iter_rows())
    day_rows = facts["rows"] // args.days

    ingest: dict[str, Any] = {}
    listing: dict[str, Any] = {}
    with bench_lock(args.lock_timeout) as waited:
        print(f"\n/tmp/bench.lock held (waited {waited:.0f} s); load {os.getloadavg()[0]:.1f}", flush=True)
        if not args.no_ingest:
            scratch = str(args.cache / "fleet-scale-scratch")
            ingest = isolated("ingest", next(iter(buckets.values())), args.days, args.days - 1, scratch)
            listing = isolated("listing", str(store), day)
        runs: dict[str, dict[str, Any]] = {}
        small = max(args.workers, args.batteries // 10)
        plans = {
            "local1": ("local", 1, args.local1_limit or None),
            "local2": ("local", args.workers, None),
            "dask-small": ("dask", args.workers, small),
            "dask": ("dask", args.workers, None),
        }
        wanted = args.engines.split(",")
        for name, (engine, workers, limit) in plans.items():
            if name not in wanted and not (name == "dask-small" and "dask" in wanted):
                continue
            print(
                f"running {name} ({engine}, {workers} worker(s), day {day}"
                f"{f', first {limit} batteries' if limit else ''}) ...",
                flush=True,
            )
            runs[name] = isolated("run", engine, workers, str(store), str(csv_path), limit, args.memory_limit, day)

    if ingest:
        n, store_s, bare_s = ingest["rows"], ingest["store_s"], ingest["bare_s"]
        print(
            f"\ningest, one day-bucket ({n:,} rows): TelemetryStore.write {store_s:.1f} s ({n / store_s:,.0f} rows/s), "
            f"bare write_parquet {bare_s:.1f} s ({n / bare_s:,.0f} rows/s): the store takes {store_s / bare_s:.2f}x "
            f"(load {ingest['load']:.1f})"
        )
        print(f"listing the batteries of {day}: {listing['batteries']:,} in {listing['seconds']:.1f} s")
        one_s, whole_s = listing["one_battery_read_s_median"], listing["partition_read_s"]
        print(
            f"one battery's day ({listing['one_battery_rows']:,} rows) read in {one_s * 1e3:.1f} ms (median of 20), "
            f"its whole partition ({listing['partition_rows']:,} rows) in {whole_s:.2f} s: {whole_s / one_s:.0f}x"
        )
    print(f"\ndaily job on {day} ({day_rows:,} rows stored that day)")
    print(f"{'run':11s} {'batteries':>9s} {'wall s':>7s} {'start s':>7s} {'batt/s':>7s} {'rows/s':>11s} "
          f"{'per core':>11s} {'vs local1':>9s} {'CPU s':>7s} {'rows/CPU-s':>11s} {'failed':>6s} {'load':>9s}"
          "  peak RSS per worker (MiB)")  # fmt: skip
    base = runs.get("local1")
    for name, r in runs.items():
        rate = r["rows"] / r["wall_s"]
        r["rows_per_s"] = rate
        r["rows_per_s_per_core"] = rate / r["workers"]
        r["rows_per_cpu_s"] = r["rows"] / r["cpu_s"]
        ratio = ""
        if base is not None and name != "local1":
            base_rate = base["rows"] / base["wall_s"]
            ratio = f"{rate / base_rate:.2f}x"
        load = f"{r['load_1min'][0]:.1f}-{r['load_1min'][1]:.1f}"
        print(
            f"{name:11s} {r['batteries']:>9,d} {r['wall_s']:>7.1f} {r['startup_s']:>7.1f} "
            f"{r['batteries'] / r['wall_s']:>7.1f} {rate:>11,.0f} {rate / r['workers']:>11,.0f} {ratio:>9s} "
            f"{r['cpu_s']:>7.0f} {r['rows_per_cpu_s']:>11,.0f} {r['failed']:>6d} {load:>9s}  {r['peak_rss_MiB']}"
        )
    full = [r for n, r in runs.items() if n != "dask-small" and r["batteries"] == args.batteries]
    for r in full:
        if r["rows"] != day_rows:
            print(f"  MISMATCH: {r['engine']} x{r['workers']} read {r['rows']:,} rows, the day has {day_rows:,}")
    if full:
        print(f"rows read per full run = rows stored on {day}: {all(r['rows'] == day_rows for r in full)}")
    if "dask" in runs and "local2" in runs:
        ratio_dask = runs["dask"]["rows_per_s"] / runs["local2"]["rows_per_s"]
        print(f"ratio dask / local (2 processes), throughput: {ratio_dask:.2f}")
    if "dask" in runs and "dask-small" in runs:
        s, f = max(runs["dask-small"]["peak_rss_MiB"]), max(runs["dask"]["peak_rss_MiB"])
        few, many = runs["dask-small"]["batteries"], runs["dask"]["batteries"]
        print(
            f"peak worker memory: {s} MiB for {few:,} batteries, {f} MiB for {many:,} ({f / s:.2f}x for "
            f"{many / few:.0f}x the batteries; limit {args.memory_limit} per worker)"
        )
    for name, r in runs.items():
        errors = 100 * np.array([abs(c / true_cap[b] - 1) for b, c in r["capacity"].items() if c is not None])
        if errors.size:
            median, p95 = float(np.median(errors)), float(np.quantile(errors, 0.95))
            print(
                f"{name}: capacity from one day for {len(errors):,}/{r['batteries']:,} batteries; |error| vs the "
                f"truth median {median:.3f} %, 95th percentile {p95:.3f} %"
            )
        for e in r["errors"]:
            print(f"  {name} error: {e}")

    national: dict[str, Any] = {}
    if base is not None and "local2" in runs:
        peak = max(max(r["peak_rss_MiB"]) for r in runs.values())
        # two bases: the wall-clock rate of this (shared) machine, and the rate per CPU-second (what a dedicated core
        # gives); the efficiency 1 -> 2 workers likewise from wall time and from CPU time
        bases = {
            "wall": (
                base["rows_per_s"],
                runs["local2"]["rows_per_s"] / (runs["local2"]["workers"] * base["rows_per_s"]),
            ),
            "cpu": (base["rows_per_cpu_s"], runs["local2"]["rows_per_cpu_s"] / base["rows_per_cpu_s"]),
        }
        # above 1 is the single process's fixed cost (imports, planning) spread over fewer rows, not better scaling
        bases = {k: (rate, min(1.0, eff)) for k, (rate, eff) in bases.items()}
        print(f"\n1 million vehicles at 1 Hz: {NATIONAL_VEHICLES * ROWS_PER_VEHICLE_DAY / 1e9:.1f} billion rows a day")
        for label, (per_core, efficiency) in bases.items():
            est = national[label] = estimate(per_core, efficiency, facts["bytes_per_row"], peak)
            what = "wall time of this shared machine" if label == "wall" else "CPU time (a dedicated core)"
            print(
                f"  from the {what}: {per_core / 1e6:.2f} M rows/s per core (local, 1 process), efficiency 1 -> 2 "
                f"workers {efficiency:.2f} (at most 1); {est['core_hours_per_day']:,.1f} core-hours a day"
            )
            for hours in (1, 4):
                print(
                    f"    in {hours} h: {est[f'cores_{hours}h']:,} cores, {est[f'memory_{hours}h_GiB']:,.1f} GiB of "
                    f"worker memory ({peak} MiB each), reading {est[f'read_MB_s_{hours}h']:,.0f} MB/s of Parquet"
                )
        est = national["cpu"]
        print(
            f"  storage: {est['storage_per_day_GB']:,.0f} GB a day, {est['storage_per_30_days_TB']:,.1f} TB "
            f"per 30 days, {est['storage_per_year_TB']:,.0f} TB a year at {facts['bytes_per_row']:.2f} bytes/row"
        )
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "capacity"} for k, v in runs.items()}
    (results / "fleet_scale.json").write_text(
        json.dumps(
            {
                "args": vars(args) | {"cache": str(args.cache)},
                "store": facts,
                "ingest": ingest,
                "listing": listing,
                "day": day,
                "runs": summary,
                "national": national,
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
