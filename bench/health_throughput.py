"""Telemetry ingest and Annex VII estimate throughput on a year of 1 Hz data of one battery, next to the machine's
limit (a plain DuckDB scan of the same Parquet columns) and to a peer library doing per-cycle work on the same file.

    python bench/health_throughput.py [--rows 31536000] [--repeat 1] [--peer-python /tmp/peers/bin/python]
                                      [--skip-peer] [--peer-timeout 1800]

1. Generates (vectorised, cached in ``var/bench/``) one canonical Parquet file: a 96s NMC pack of 180 Ah sampled at
   1 Hz for a year (31,536,000 rows; ``--rows`` for fewer): two drives a day with fluctuating current and regeneration,
   parked rests, evening charging to 80-90 % (a fast charge on some days), an RC polarisation that relaxes in the
   rests, capacity fade and resistance growth over the year, seasonal, daily and self-heating temperature, the BMS
   state of charge every 30 s (null in between), sensor noise, and a few bad rows (empty current, an implausible
   temperature) for the quality check to reject and repair.
2. Times, each in its own process on the same file (peak RSS of each process from ``os.wait4``):
   - ``scan``: DuckDB summing every column of the file (one thread, then every core): how fast this machine reads
     these columns at all;
   - ``ingest``: ``readers.read`` + ``quality.check`` + ``TelemetryStore.write`` into a fresh store (what
     ``batteryloop telemetry ingest`` does), with ``POLARS_MAX_THREADS=1`` and with every core;
   - ``estimate``: the battery's rows read back from the store and ``health.pipeline.estimate`` (every Annex VII
     parameter), one thread and every core;
   - ``peer``: battery-data-toolkit (``battdat``) in its own environment: read the same Parquet file with pandas,
     rename the columns to battdat's and number the cycles by UTC day (not timed: field data has no cycler cycle
     number), then time battdat's state and step tagging (``AddState``, ``AddSteps``) and ``CapacityPerCycle``
     (per-cycle charge and energy): the read plus the per-cycle work.
3. Prints rows per second per core of each (rows / wall time / threads used), the ratios ours/scan and peer/ours, the
   peak RSS, and whether the targets hold: ingest + estimate within 3x of the scan per core, and over 10x faster than
   the peer per core. Results also go to ``bench/results/health_throughput.json``.

The peer environment: ``python3 -m venv /tmp/peers && /tmp/peers/bin/pip install battery-data-toolkit``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# BENCH_SRC (set by --src): measure the code of another checkout, e.g. the previous commit, on the same data
sys.path.insert(0, os.environ.get("BENCH_SRC") or str(ROOT / "src"))

CACHE = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results" / "health_throughput.json"
YEAR_ROWS = 365 * 86_400
BATTERY = "BENCH-PACK-0001"
CAPACITY_AH = 180.0  # pack rating (cells in parallel included)
CELLS_IN_SERIES = 96
CHEMISTRY = "NMC"
MAX_CURRENT_A = 900.0  # 5C: the quality check's plausibility limit
NOMINAL_ENERGY_KWH = 63.0  # 180 Ah x 96 x 3.65 V
COLUMNS = ("battery_id", "timestamp", "current_A", "voltage_V", "temperature_C", "soc_pct")
DEFAULT_PEER = Path("/tmp/peers/bin/python")
PEER_HELP = "python3 -m venv /tmp/peers && /tmp/peers/bin/pip install battery-data-toolkit"


# ----------------------------------------------------------------------------------------------------------------------
# data


def generate(rows: int, path: Path, seed: int = 20240501) -> None:
    """Write ``rows`` 1 Hz samples of the bench pack to ``path`` (see the module text). Vectorised but for one
    iteration per day to plan the day's segments."""
    import numpy as np
    import polars as pl
    from scipy.signal import lfilter  # type: ignore[import-untyped]

    from batteryloop.health.ocv import default_table

    rng = np.random.default_rng(seed)
    days = -(-rows // 86_400)
    c_nom = CAPACITY_AH
    # segments: (duration s, kind, planned SoC change %); kinds 0 rest, 1 drive, 2 charge
    durations: list[int] = []
    kinds: list[int] = []
    deltas: list[float] = []
    soc = 85.0
    for _ in range(days):
        day: list[tuple[int, int, float]] = []
        used = 0
        for leave in (int(rng.normal(7.5, 0.4) * 3600), int(rng.normal(17.3, 0.5) * 3600)):
            drive = int(rng.uniform(20, 75) * 60)
            depth = min(rng.uniform(0.25, 0.55) * drive / 60, soc - 15.0)  # % per minute of driving
            day += [(leave - used, 0, 0.0), (drive, 1, -depth)]
            used = leave + drive
            soc -= depth
        if soc < 60.0 or rng.random() < 0.3:
            fast = rng.random() < 0.1
            rate = 1.5 if fast else rng.uniform(0.12, 0.2)  # C
            target = rng.uniform(80.0, 90.0)
            charge = int((target - soc) / 100 * 3600 / rate)
            start = max(used + 1800, int(rng.uniform(19.0, 22.5) * 3600))
            if start + charge < 86_400 - 600 and target > soc:
                day += [(start - used, 0, 0.0), (charge, 2, target - soc)]
                used = start + charge
                soc = target
        day.append((86_400 - used, 0, 0.0))
        for d, k, s in day:
            durations.append(d)
            kinds.append(k)
            deltas.append(s)
    dur = np.asarray(durations, dtype=np.int64)
    kind = np.asarray(kinds)
    delta = np.asarray(deltas)
    n = int(dur.sum())
    assert n == days * 86_400

    # current: drives fluctuate in 15 s blocks (with regeneration) and are scaled so each segment moves the planned
    # state of charge; charges are constant; rests carry sensor noise only
    fade = np.linspace(1.0, 0.955, n)  # capacity over the year
    seg = np.repeat(np.arange(dur.size), dur)
    blocks = rng.normal(0.0, 1.0, n // 15 + 1).repeat(15)[:n]
    shape = np.where(kind[seg] == 1, 1.0 + 0.8 * blocks, 1.0) * (kind[seg] != 0)
    charge_as = np.add.reduceat(shape, np.concatenate(([0], np.cumsum(dur)[:-1])))
    want_as = delta / 100 * c_nom * 3600 * fade[np.concatenate(([0], np.cumsum(dur)[:-1]))]
    scale = np.divide(want_as, charge_as, out=np.zeros_like(want_as), where=charge_as != 0)
    current = shape * scale[seg]
    del shape, blocks
    soc_true = 85.0 + np.cumsum(current) / (c_nom * 3600 * fade) * 100
    table = default_table(CHEMISTRY)
    r0 = 0.0006 * CELLS_IN_SERIES * np.linspace(1.0, 1.2, n)  # pack ohmic resistance, +20 % over the year [Ohm]
    tau = 40.0
    r1 = 0.0004 * CELLS_IN_SERIES
    v1 = lfilter([r1 * (1 - np.exp(-1 / tau))], [1, -np.exp(-1 / tau)], current)  # RC polarisation [V]
    voltage = table.ocv_at(soc_true) * CELLS_IN_SERIES + current * r0 + v1
    voltage += rng.normal(0.0, 0.02, n)
    current += rng.normal(0.0, 0.05, n)
    t = np.arange(n, dtype=np.float64)
    heat = lfilter([1 - np.exp(-1 / 1800)], [1, -np.exp(-1 / 1800)], current**2 * 2e-4)
    temperature = 12 + 9 * np.sin(2 * np.pi * (t / 86_400 - 110) / 365) + 4 * np.sin(2 * np.pi * (t / 86_400 - 0.375))
    temperature += heat + rng.normal(0.0, 0.1, n)
    soc_bms = np.where(np.arange(n) % 30 == 0, np.round(soc_true + 0.8 * np.sin(t / 86_400 / 20), 1), np.nan)
    bad = rng.choice(n, 60, replace=False)
    current[bad[:40]] = np.nan  # empty current: rejected
    temperature[bad[40:]] = 850.0  # an implausible temperature: set to null (repaired)
    first = np.datetime64("2025-01-01T00:00:00", "us")
    frame = pl.DataFrame(
        {
            "battery_id": pl.Series([BATTERY], dtype=pl.String()).extend_constant(BATTERY, n - 1),
            "timestamp": pl.Series(first + (np.arange(n, dtype=np.int64) * 1_000_000).astype("timedelta64[us]"))
            .dt.replace_time_zone("UTC")
            .alias("timestamp"),
            "current_A": np.round(current, 2),
            "voltage_V": np.round(voltage, 3),
            "temperature_C": np.round(temperature, 1),
            "soc_pct": soc_bms,
        }
    ).head(rows)
    frame = frame.with_columns(pl.col("soc_pct").fill_nan(None))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp, compression="zstd", row_group_size=1_000_000, statistics=True)
    os.replace(tmp, path)


def data_file(rows: int) -> Path:
    """The cached file of ``rows`` rows, generated in a child process (so that this one stays small)."""
    path = CACHE / f"health_{rows}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        print(f"generating {rows:,} rows into {path} ...", flush=True)
        me = [sys.executable, str(Path(__file__).resolve())]
        done = run([*me, "--phase", "generate", "--rows", str(rows), "--file", str(path)])
        if "error" in done:
            raise SystemExit(f"generating the data failed: {done['error']}")
        print(f"  done in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
    return path


def warm_memory(nbytes: int) -> None:
    """Touch ``nbytes`` of memory once, in a process of its own.

    On a virtual machine the first touch of a guest page that the host has never backed costs a host page fault:
    measured here at about 1 s per 250 MB (4 us per 4 KiB page), against 0.05 s for the same write to memory touched
    before. Without this step the first phases of a run pay for the machine's memory rather than for their own work,
    and which phase pays depends on what ran before.
    """
    import numpy as np

    block = np.empty(nbytes // 8)
    block.fill(1.0)


# ----------------------------------------------------------------------------------------------------------------------
# phases (each runs in a process of its own: ``--phase NAME``; prints one JSON line)


def phase_scan(path: Path, threads: int) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    query = (
        "SELECT count(battery_id), sum(epoch_us(timestamp)), sum(current_A), sum(voltage_V), sum(temperature_C), "
        "sum(soc_pct) FROM read_parquet(?)"
    )
    con.execute(query, [str(path)]).fetchall()  # warm the file cache and DuckDB
    best, cpu = float("inf"), 0.0
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        con.execute(query, [str(path)]).fetchall()
        if time.perf_counter() - t0 < best:
            best, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": best, "timed_cpu_s": cpu}


def phase_ingest(path: Path, store: Path) -> dict[str, Any]:
    from batteryloop.telemetry import quality, readers
    from batteryloop.telemetry.readers import ReadOptions
    from batteryloop.telemetry.store import TelemetryStore

    shutil.rmtree(store, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    frame = readers.read(path, "canonical", ReadOptions())
    t1 = time.perf_counter()
    limits = quality.QualityLimits.for_chemistry(CHEMISTRY, CELLS_IN_SERIES, MAX_CURRENT_A)
    result = quality.check(frame, limits)
    t2 = time.perf_counter()
    telemetry = TelemetryStore(store)
    written = telemetry.write(result.frame)
    if result.rejected.height:
        telemetry.keep_rejected(result.rejected, source=path, digest="0" * 64)
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "timed_cpu_s": time.process_time() - c0,
        "read_s": t1 - t0,
        "check_s": t2 - t1,
        "write_s": t3 - t2,
        "accepted": result.report.accepted,
        "repaired": result.report.repaired,
        "rejected": result.report.rejected,
        "partitions": len(written.partitions_written),
    }


def phase_estimate(store: Path) -> dict[str, Any]:
    from batteryloop.health.pipeline import estimate
    from batteryloop.telemetry.store import TelemetryStore

    t0, c0 = time.perf_counter(), time.process_time()
    frame = TelemetryStore(store).scan(BATTERY).collect()
    t1 = time.perf_counter()
    result = estimate(
        frame,
        nominal_capacity_Ah=CAPACITY_AH,
        nominal_energy_kWh=NOMINAL_ENERGY_KWH,
        chemistry=CHEMISTRY,
        cells_in_series=CELLS_IN_SERIES,
    )
    t2 = time.perf_counter()
    shown = ("soh_capacity_pct", "ohmic_resistance_mOhm", "remaining_round_trip_efficiency_pct")
    return {
        "seconds": t2 - t0,
        "timed_cpu_s": time.process_time() - c0,
        "read_s": t1 - t0,
        "estimate_s": t2 - t1,
        "rows": frame.height,
        "values": {k: result.parameters[k].value for k in shown if k in result.parameters},
    }


PEER_SCRIPT = r"""
import json, sys, time
import pandas as pd
from battdat.data import BatteryDataset
from battdat.postprocess.tagging import AddState, AddSteps
from battdat.postprocess.integral import CapacityPerCycle

path = sys.argv[1]
t0, c0 = time.perf_counter(), time.process_time()
raw = pd.read_parquet(path, columns=["timestamp", "current_A", "voltage_V", "temperature_C"])
t1, c1 = time.perf_counter(), time.process_time()
# battdat's columns (not timed): seconds since the start, current (A, positive charging), voltage (V); field data has
# no cycler cycle number, so each UTC day (two drives and a charge) is a cycle
micros = raw["timestamp"].astype("int64").to_numpy()
raw = pd.DataFrame({"test_time": (micros - micros[0]) / 1e6, "current": raw["current_A"].to_numpy(),
                    "voltage": raw["voltage_V"].to_numpy(), "temperature": raw["temperature_C"].to_numpy(),
                    "cycle_number": micros // 86_400_000_000 - micros[0] // 86_400_000_000})
raw = raw.dropna(subset=["current", "voltage"]).reset_index(drop=True)
t2, c2 = time.perf_counter(), time.process_time()
AddState().enhance(raw)
AddSteps().enhance(raw)
cycles = CapacityPerCycle().compute_features(BatteryDataset.make_cell_dataset(raw_data=raw))
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps({"seconds": (t1 - t0) + (t3 - t2), "timed_cpu_s": (c1 - c0) + (c3 - c2), "read_s": t1 - t0,
                  "cycles_s": t3 - t2, "rows": len(raw), "cycles": int(len(cycles))}))
"""


# ----------------------------------------------------------------------------------------------------------------------
# driver


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run a phase in a child process; its JSON result with the child's peak RSS and CPU time."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            return {"error": f"timed out after {timeout:.0f} s"}
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    result: dict[str, Any] = json.loads(lines[-1])
    result["peak_rss_MB"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def threads_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
        if threads is not None:
            env[name] = str(threads)
    return env


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    out = min(ok, key=lambda r: float(r["seconds"]))
    out["peak_rss_MB"] = max(float(r["peak_rss_MB"]) for r in ok)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=YEAR_ROWS, help="rows of the generated file (a year at 1 Hz)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of ingest and estimate (the best is kept)")
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER, help="python of the battdat environment")
    parser.add_argument("--skip-peer", action="store_true", help="leave the peer out")
    parser.add_argument("--peer-timeout", type=float, default=1800.0, help="seconds before the peer is stopped")
    parser.add_argument(
        "--warm-GB", type=float, default=8.0, help="memory to touch once before timing (0: none; see warm_memory)"
    )
    parser.add_argument("--src", type=Path, help="the src/ directory of the code to measure (default: this one's)")
    parser.add_argument("--phase", choices=("warm", "generate", "scan", "ingest", "estimate"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bytes", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        if args.phase == "warm":
            warm_memory(args.bytes)
            result: dict[str, Any] = {"seconds": 0.0}
        elif args.phase == "generate":
            generate(args.rows, args.file)
            result = {"seconds": 0.0}
        elif args.phase == "scan":
            result = phase_scan(args.file, args.threads)
        elif args.phase == "ingest":
            result = phase_ingest(args.file, args.store)
        else:
            result = phase_estimate(args.store)
        print(json.dumps(result, default=str))
        return

    cores = os.cpu_count() or 1
    if args.src is not None:
        os.environ["BENCH_SRC"] = str(args.src.resolve())  # the phases run in children, which inherit it
        print(f"measuring the code in {args.src}")
    me = [sys.executable, str(Path(__file__).resolve())]
    path = data_file(args.rows)
    rows = args.rows
    store = CACHE / f"store_{rows}"
    me = [sys.executable, str(Path(__file__).resolve())]
    if args.warm_GB > 0:
        t0 = time.perf_counter()
        run([*me, "--phase", "warm", "--bytes", str(int(args.warm_GB * 2**30))])
        print(f"touched {args.warm_GB:g} GB of memory once in {time.perf_counter() - t0:.1f} s (see warm_memory)")
    print(f"{rows:,} rows of 1 Hz telemetry of one battery, {path} ({path.stat().st_size / 1e6:.0f} MB); {cores} cores")
    results: dict[str, dict[str, Any]] = {}
    for threads in sorted({1, cores}):
        label = "1 thread" if threads == 1 else f"{threads} threads"
        results[f"scan, {label}"] = run([*me, "--phase", "scan", "--file", str(path), "--threads", str(threads)])
        envs = threads_env(1 if threads == 1 else None)
        ingest = [
            run([*me, "--phase", "ingest", "--file", str(path), "--store", str(store)], envs)
            for _ in range(args.repeat)
        ]
        results[f"ingest, {label}"] = best(ingest)
        results[f"estimate, {label}"] = best(
            [run([*me, "--phase", "estimate", "--store", str(store)], envs) for _ in range(args.repeat)]
        )
    if args.skip_peer:
        results["peer battdat, 1 thread"] = {"error": "skipped (--skip-peer)"}
    elif not args.peer_python.exists():
        results["peer battdat, 1 thread"] = {"error": f"{args.peer_python} not found; create it: {PEER_HELP}"}
    else:
        results["peer battdat, 1 thread"] = run(
            [str(args.peer_python), "-c", PEER_SCRIPT, str(path)], threads_env(1), timeout=args.peer_timeout
        )
    shutil.rmtree(store, ignore_errors=True)
    report(rows, cores, results)


def per_core(rows: int, seconds: float, threads: int) -> float:
    return rows / seconds / threads


def report(rows: int, cores: int, results: dict[str, dict[str, Any]]) -> None:
    """The table, the ratios and the targets. Two measures: wall time per thread used (rows/s/core) and the CPU time
    of the timed work (rows per CPU second), which other load on the machine disturbs less."""
    print()
    print(f"{'phase':<26}{'seconds':>9}{'rows/s/core':>14}{'rows/CPU-s':>12}{'peak RSS MB':>13}  detail")
    rate: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<26}{'-':>9}{'-':>14}{'-':>12}{'-':>13}  {r['error']}")
            continue
        threads = 1 if "1 thread" in name else cores
        rate[name] = per_core(rows, r["seconds"], threads)
        cpu[name] = rows / max(float(r["timed_cpu_s"]), 1e-9)
        detail = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in r.items()
            if k not in ("seconds", "peak_rss_MB", "values", "timed_cpu_s")
        )
        print(
            f"{name:<26}{r['seconds']:>9.2f}{rate[name]:>14,.0f}{cpu[name]:>12,.0f}{r['peak_rss_MB']:>13,.0f}  {detail}"
        )
        if "values" in r:
            print(f"{'':<26}  estimate: {r['values']}")
    print()
    summary: dict[str, Any] = {}
    for label, threads in (("1 thread", 1), (f"{cores} threads", cores)):
        scan, ing, est = (results.get(f"{p}, {label}", {}) for p in ("scan", "ingest", "estimate"))
        if any("error" in r or not r for r in (scan, ing, est)):
            continue
        both = float(ing["seconds"]) + float(est["seconds"])
        ours = per_core(rows, both, threads)
        ours_cpu = rows / (float(ing["timed_cpu_s"]) + float(est["timed_cpu_s"]))
        ratio = rate[f"scan, {label}"] / ours
        ratio_cpu = cpu[f"scan, {label}"] / ours_cpu
        summary[label] = {
            "ours_rows_per_s_per_core": ours,
            "ours_rows_per_cpu_s": ours_cpu,
            "times_scan_wall": ratio,
            "times_scan_cpu": ratio_cpu,
        }
        print(
            f"{label}: ingest + estimate {both:.2f} s = {ours:,.0f} rows/s/core, {ours_cpu:,.0f} rows/CPU-s; "
            f"{ratio:.1f}x the scan's time per core (ingest {rate[f'scan, {label}'] / rate[f'ingest, {label}']:.1f}x, "
            f"estimate {rate[f'scan, {label}'] / rate[f'estimate, {label}']:.1f}x), {ratio_cpu:.1f}x its CPU time; "
            f"target within 3x: {'met' if max(ratio, ratio_cpu) <= 3 else 'MISSED'}"
        )
    peer = results.get("peer battdat, 1 thread", {})
    if "1 thread" in summary and "error" not in peer and peer:
        speedup = summary["1 thread"]["ours_rows_per_s_per_core"] / rate["peer battdat, 1 thread"]
        speedup_cpu = summary["1 thread"]["ours_rows_per_cpu_s"] / cpu["peer battdat, 1 thread"]
        summary["ours_over_peer_wall"] = speedup
        summary["ours_over_peer_cpu"] = speedup_cpu
        print(
            f"peer battdat (read + per-cycle tagging and capacities) {rate['peer battdat, 1 thread']:,.0f} "
            f"rows/s/core; ours is {speedup:.1f}x faster per core ({speedup_cpu:.1f}x per CPU second); "
            f"target over 10x: {'met' if min(speedup, speedup_cpu) > 10 else 'MISSED'}"
        )
    else:
        print(f"peer: {peer.get('error', 'not run')}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"rows": rows, "cores": cores, "results": results, "summary": summary}, indent=2, default=str)
        + "\n",
        encoding="utf-8",
    )
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
