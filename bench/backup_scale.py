"""``batteryloop backup`` and ``batteryloop restore`` on a PostgreSQL registry, next to ``pg_dump`` / ``pg_restore``.

    python bench/backup_scale.py [--schema bench_passport] [--load 100000] [--workers 2]
                                 [--database-url postgresql+psycopg://127.0.0.1:5432/test] [--backup-only]

1. The registry: a PostgreSQL schema of the registry (default ``bench_passport``, which ``bench/passport_api.py``
   loads; ``--load N`` loads N passports into it first through the same code, untimed). Its rows are counted.
2. Timed, the four under one hold of ``flock /tmp/bench.lock`` (one benchmark measures at a time), as a user
   runs them:
   - ``batteryloop backup --out FILE`` (a consistent snapshot, every row RFC 8785, signed);
   - ``pg_dump -Fc -n SCHEMA`` of the same schema: the database's own dump, the peer;
   - ``batteryloop restore FILE --trusted-key KEY`` into a new, empty schema (signature and hashes checked first,
     one transaction, every hash chain verified before the commit);
   - ``pg_restore`` of the dump into a new, empty database (it checks no signature and no chain).
3. Prints rows/s, MB and seconds of each, the ratios batteryloop / PostgreSQL, and an extrapolation to a national
   registry of 10 million passports (the same mix of rows per passport, the same rates). Writes
   ``bench/results/backup_scale.json``. The restored schema, database and files are removed afterwards.

``--backup-only`` times the backup and ``pg_dump`` alone (for a registry too large to restore within the disk budget).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from batteryloop.db import make_engine  # noqa: E402
from machine import describe  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://127.0.0.1:5432/test"
LOCK = "/tmp/bench.lock"
NATIONAL = 10_000_000
BATTERYLOOP = ROOT / ".venv" / "bin" / "batteryloop"


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    """The machine-wide benchmark lock (the same file ``flock /tmp/bench.lock`` takes)."""
    with open(LOCK, "a") as fh:
        started = time.perf_counter()
        fcntl.flock(fh, fcntl.LOCK_EX)
        waited = time.perf_counter() - started
        if waited > 1:
            print(f"  (waited {waited:.0f} s for {LOCK})", flush=True)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def timed(label: str, cmd: list[str], env: dict[str, str]) -> float:
    """Run ``cmd`` (the caller holds the benchmark lock) and return its wall time."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{label} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"  {label:<28s} {seconds:8.1f} s   (load average {load:.1f} at the start)", flush=True)
    return seconds


def libpq(url: str, database: str | None = None) -> list[str]:
    """Connection options of pg_dump / pg_restore for a SQLAlchemy URL."""
    u = make_url(url)
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-d", database or u.database or "postgres"]
    if u.username:
        args += ["-U", u.username]
    return args


def schema_url(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def registry_rows(url: str, schema: str) -> tuple[dict[str, int], int, int]:
    """Rows per table, passports, and the bytes of the schema's tables with their indexes."""
    engine = make_engine(url, schema=schema, pool_size=1)
    from batteryloop.continuity.backup import registry_tables

    with engine.connect() as conn:
        counts = {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in registry_tables()
        }
        size = int(
            conn.execute(
                text(
                    "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c join pg_namespace n "
                    "on n.oid = c.relnamespace where n.nspname = :s and c.relkind = 'r'"
                ),
                {"s": schema},
            ).scalar()
            or 0
        )
    engine.dispose()
    return counts, counts.get("passports", 0), size


def load(url: str, schema: str, passports: int) -> None:
    import passport_api

    if schema != passport_api.SCHEMA:
        sys.exit(f"--load fills {passport_api.SCHEMA} only")
    print(f"loading {passports:,} passports into {schema} (untimed) ...", flush=True)
    passport_api.load(url, passports, reuse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BATTERYLOOP_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--schema", default="bench_passport")
    parser.add_argument("--load", type=int, default=0, help="load this many passports into the schema first")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes verifying chains")
    parser.add_argument("--backup-only", action="store_true")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backup_scale.json")
    args = parser.parse_args()
    for tool in ("pg_dump", "pg_restore", "psql"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (Debian: apt-get install postgresql-client)")
    if args.load:
        load(args.database_url, args.schema, args.load)
    counts, passports, table_bytes = registry_rows(args.database_url, args.schema)
    rows = sum(counts.values())
    if not passports:
        sys.exit(f"schema {args.schema} holds no passports (--load N fills it)")
    print(describe(f"PostgreSQL via {args.database_url}"))
    print(
        f"registry: schema {args.schema}, {passports:,} passports, {rows:,} rows, tables and indexes "
        f"{table_bytes / 1e6:,.0f} MB",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="backup-scale-", dir=args.work_dir))
    restored_schema = f"{args.schema}_restored"
    restored_db = f"{make_url(args.database_url).database}_pg_restored"
    admin = make_engine(args.database_url, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
    env = {
        **os.environ,
        "BATTERYLOOP_DATABASE_URL": schema_url(args.database_url, args.schema),
        "BATTERYLOOP_DATA_DIR": str(work / "data"),
    }
    result: dict[str, Any] = {"schema": args.schema, "passports": passports, "rows": rows, "tables": counts}
    lock = contextlib.ExitStack()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # the clean-up below runs on a kill too
    try:
        key = work / "backup.key"
        backup_file, dump_file = work / "registry.tar.gz", work / "registry.dump"
        print("timed (all four under one hold of the benchmark lock, so that the ratios compare like with like):")
        lock.enter_context(bench_lock())
        b = timed("batteryloop backup", [str(BATTERYLOOP), "backup", "--out", str(backup_file), "--key", str(key)], env)
        d = timed(
            "pg_dump -Fc", ["pg_dump", "-Fc", "-n", args.schema, "-f", str(dump_file), *libpq(args.database_url)], env
        )
        result["backup"] = {"seconds": b, "bytes": backup_file.stat().st_size}
        result["pg_dump"] = {"seconds": d, "bytes": dump_file.stat().st_size}
        if not args.backup_only:
            with admin.connect() as conn:
                conn.execute(text(f'drop schema if exists "{restored_schema}" cascade'))
                conn.execute(text(f'create schema "{restored_schema}"'))
                conn.execute(text(f'drop database if exists "{restored_db}"'))
                conn.execute(text(f'create database "{restored_db}"'))
            target = {**env, "BATTERYLOOP_DATABASE_URL": schema_url(args.database_url, restored_schema)}
            public = (work / "backup.key.pub").read_text().strip()
            subprocess.run(
                [str(BATTERYLOOP), "db", "upgrade"], env=target, check=True, capture_output=True
            )  # an empty registry of the same schema revision (untimed)
            r = timed(
                "batteryloop restore",
                [
                    str(BATTERYLOOP),
                    "restore",
                    str(backup_file),
                    "--trusted-key",
                    public,
                    "--workers",
                    str(args.workers),
                ],
                target,
            )
            p = timed(
                "pg_restore", ["pg_restore", "--no-owner", *libpq(args.database_url, restored_db), str(dump_file)], env
            )
            result["restore"] = {"seconds": r, "workers": args.workers}
            result["pg_restore"] = {"seconds": p}
        lock.close()
        if not args.backup_only:
            restored, _, _ = registry_rows(args.database_url, restored_schema)
            if restored != counts:
                sys.exit(f"the restored schema differs: {restored} != {counts}")
    finally:
        lock.close()
        with admin.connect() as conn:
            conn.execute(text(f'drop schema if exists "{restored_schema}" cascade'))
            conn.execute(text(f'drop database if exists "{restored_db}"'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)

    def line(label: str, seconds: float, size: int | None = None) -> str:
        mb = f"{size / 1e6:8.1f} MB" if size is not None else " " * 11
        return f"  {label:<22s} {seconds:8.1f} s {rows / seconds:>10,.0f} rows/s {mb}"

    print("results:")
    print(line("batteryloop backup", b, result["backup"]["bytes"]))
    print(line("pg_dump -Fc", d, result["pg_dump"]["bytes"]))
    ratios = {"backup / pg_dump": b / d}
    if "restore" in result:
        print(line("batteryloop restore", r))
        print(line("pg_restore", p))
        ratios["restore / pg_restore"] = r / p
    for name, value in ratios.items():
        print(f"  ratio {name}: {value:.2f} (time; above 1: batteryloop slower)")
    scale = NATIONAL / passports
    national = {
        "rows": round(rows * scale),
        "backup_hours": b * scale / 3600,
        "backup_gb": result["backup"]["bytes"] * scale / 1e9,
        "pg_dump_hours": d * scale / 3600,
    }
    if "restore" in result:
        national |= {"restore_hours": r * scale / 3600, "pg_restore_hours": p * scale / 3600}
    print(
        f"extrapolated to {NATIONAL:,} passports ({national['rows']:,} rows, linear in rows at these rates): backup "
        f"{national['backup_hours']:.1f} h and {national['backup_gb']:.1f} GB "
        f"(pg_dump {national['pg_dump_hours']:.1f} h)"
        + (
            f", restore {national['restore_hours']:.1f} h (pg_restore {national['pg_restore_hours']:.1f} h)"
            if "restore" in result
            else ""
        )
    )
    result |= {"ratios": ratios, "national": national, "machine": describe()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
