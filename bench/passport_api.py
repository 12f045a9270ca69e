"""Passport API throughput and latency on PostgreSQL, next to the framework's own limit.

    python bench/passport_api.py [--passports 100000] [--duration 10] [--rounds 3] [--connections 32] [--reuse]

1. Loads N passports (EV, LMT and industrial, realistic values, each validated, hashed and signed) into a schema of
   its own on the PostgreSQL server (``BATTERYLOOP_TEST_POSTGRES_URL``, default 127.0.0.1:5432/test), through the
   registry's batch issue. ``--reuse`` keeps an existing load.
2. Serves, one after the other on loopback with uvicorn (same workers, same pool):
   - ``bare-sync``: a bare Starlette endpoint that reads the same row of the same table through the same engine,
     pool and thread count and returns its JSON;
   - ``bare-async``: the same read through psycopg's asynchronous pool, no threads: what the framework, the driver
     and the database give at best;
   - ``public``: ``GET /api/v1/passports/{id}`` anonymously (token-less; filtered to Annex XIII point 1);
   - ``recycler``: the same with a recycler's token (authentication, points 1 and 2, an access-log row written and
     committed with every read, as Art. 77 requires);
   - ``granted``: a repurposer's token on passports granted to it (a grant lookup, points 1, 2 and 4, logged).
3. Drives each with ``wrk`` (a separate process, C, random passport ids from a Lua script) and prints requests per
   second, p50 and p99 latency and the ratio to the faster bare endpoint. Results also go to
   ``bench/results/passport_api.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from batteryloop.config import Settings  # noqa: E402
from batteryloop.db import make_engine, make_session_factory, transaction  # noqa: E402
from batteryloop.demo.catalogue import gtin13  # noqa: E402
from batteryloop.demo.legacy import ev_model_nmc, industrial_model, lmt_model  # noqa: E402
from batteryloop.migrate import upgrade  # noqa: E402
from batteryloop.passport.models import Grant, Passport  # noqa: E402
from batteryloop.passport.service import PassportService  # noqa: E402
from machine import free_port, serve, stop, wait_up, wrk  # noqa: E402  (bench/machine.py, beside this script)

SCHEMA = "bench_passport"
DEFAULT_URL = "postgresql+psycopg://127.0.0.1:5432/test"

BARE_APP = """
import contextlib
import os

from anyio import to_thread
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from batteryloop.db import make_engine

THREADS = int(os.environ.get("BENCH_THREADS", "16"))
# the same engine, pool and thread count as the registry; reads in autocommit, as the registry's reads are
engine = make_engine(os.environ["BENCH_DATABASE_URL"], pool_size=THREADS).execution_options(
    isolation_level="AUTOCOMMIT"
)
QUERY = text("select id, version, data from passports where id = :id")
pool = AsyncConnectionPool(os.environ["BENCH_CONNINFO"], min_size=THREADS, max_size=THREADS, open=False)


def read_sync(request):
    with engine.connect() as conn:
        row = conn.execute(QUERY, {"id": request.path_params["pid"]}).first()
    if row is None:
        return Response(status_code=404)
    return JSONResponse({"passport_id": row.id, "version": row.version, "data": row.data})


async def read_async(request):
    async with pool.connection() as conn:
        cur = await conn.execute("select id, version, data from passports where id = %s", (request.path_params["pid"],))
        row = await cur.fetchone()
    if row is None:
        return Response(status_code=404)
    return JSONResponse({"passport_id": row[0], "version": row[1], "data": row[2]})


@contextlib.asynccontextmanager
async def lifespan(app):
    to_thread.current_default_thread_limiter().total_tokens = THREADS
    await pool.open()
    yield
    await pool.close()


app = Starlette(
    routes=[Route("/sync/passports/{pid}", read_sync), Route("/async/passports/{pid}", read_async)],
    lifespan=lifespan,
)
"""

WRK_LUA = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
math.randomseed(%(seed)d)
local prefix = "%(prefix)s"
local token = "%(token)s"
request = function()
  local id = ids[math.random(#ids)]
  if token ~= "" then
    return wrk.format("GET", prefix .. id, {["Authorization"] = "Bearer " .. token})
  end
  return wrk.format("GET", prefix .. id)
end
"""


def load(url: str, n: int, reuse: bool) -> dict[str, Any]:
    admin = make_engine(url, pool_size=2)
    with admin.begin() as conn:
        exists = conn.execute(text("select 1 from pg_namespace where nspname = :s"), {"s": SCHEMA}).first()
        if exists and not reuse:
            conn.execute(text(f"drop schema {SCHEMA} cascade"))
            exists = None
        if not exists:
            conn.execute(text(f"create schema {SCHEMA}"))
    admin.dispose()
    engine = make_engine(url, schema=SCHEMA, pool_size=2)
    upgrade(engine)
    factory = make_session_factory(engine)
    settings = Settings(public_base_url="https://passport.example.nl")
    with factory() as session:
        have = session.scalar(select(func.count()).select_from(Passport)) or 0
    tokens: dict[str, str] = {}
    started = time.perf_counter()
    if have < n:
        with transaction(factory) as session:
            svc = PassportService(session, settings)
            for name, kind in (
                ("Maker B.V.", "manufacturer"),
                ("Recycler B.V.", "recycler"),
                ("Second Life B.V.", "repurposer"),
            ):
                svc.ensure_organisation(name, kind=kind)
            svc.create_account("maker", "economic_operator", "Maker B.V.")
            svc.create_account("recycler", "recycler", "Recycler B.V.")
            svc.create_account("repurposer", "repurposer", "Second Life B.V.")
        builders = [
            (ev_model_nmc, gtin13("871234", 1), 0.5),
            (lmt_model, gtin13("871235", 7), 0.35),
            (industrial_model, gtin13("871236", 3), 0.15),
        ]
        rng = random.Random(7)
        batch = 2000
        done = have
        while done < n:
            size = min(batch, n - done)
            records = []
            for i in range(done, done + size):
                r = rng.random()
                build, gtin, _ = builders[0] if r < 0.5 else builders[1] if r < 0.85 else builders[2]
                data = build(gtin)
                data["serial_number"] = f"B{i:09d}"
                data["manufacturing_date"] = f"20{rng.randint(20, 26)}-{rng.randint(1, 12):02d}"
                if build is ev_model_nmc:
                    soh = round(rng.uniform(65, 100), 1)
                    data.update(soh_capacity_pct=soh, remaining_capacity_Ah=round(2.11 * soh, 1))
                records.append({"data": data})
            with transaction(factory) as session:
                svc = PassportService(session, settings)
                svc.issue_batch(svc.viewer_for("maker"), records, note="benchmark load")
            done += size
            rate = (done - have) / (time.perf_counter() - started)
            print(f"  loaded {done:>7d}/{n}  ({rate:,.0f} passports/s)", flush=True)
    load_seconds = time.perf_counter() - started
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        for account in ("recycler", "repurposer"):
            tokens[account] = svc.issue_token(svc.account(account))
        ids = list(session.scalars(select(Passport.id).order_by(Passport.id)))
        granted = ids[: min(1000, len(ids))]
        if (session.scalar(select(func.count()).select_from(Grant)) or 0) < len(granted):
            maker = svc.viewer_for("maker")
            for pid in granted:
                svc.grant(maker, pid, "repurposer", days=30, purpose="benchmark")
    with engine.connect() as conn:
        size = conn.execute(
            text("select pg_total_relation_size('passports') + pg_total_relation_size('passport_versions')")
        ).scalar()
    engine.dispose()
    return {
        "ids": ids,
        "granted": granted,
        "tokens": tokens,
        "load_seconds": load_seconds,
        "loaded": n - have,
        "table_bytes": size,
    }


def run_wrk(
    port: int, prefix: str, ids_file: Path, token: str, duration: int, connections: int, threads: int, tmp: Path
) -> dict[str, Any]:
    script = tmp / f"req_{port}.lua"
    script.write_text(WRK_LUA % {"ids": ids_file, "seed": 42, "prefix": prefix, "token": token})
    return wrk(port, script, duration, connections, threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passports", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per scenario, interleaved; medians reported")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes for both servers")
    parser.add_argument("--reuse", action="store_true", help="keep an existing load")
    parser.add_argument("--postgres-url", default=os.environ.get("BATTERYLOOP_TEST_POSTGRES_URL", DEFAULT_URL))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (Debian: apt-get install wrk)")

    print(f"loading {args.passports:,} passports into PostgreSQL schema {SCHEMA} ...", flush=True)
    loaded = load(args.postgres_url, args.passports, args.reuse)
    print(
        f"load: {loaded['loaded']:,} new passports in {loaded['load_seconds']:.1f} s; "
        f"passports + versions {loaded['table_bytes'] / 1e6:.0f} MB"
    )

    sep = "&" if "?" in args.postgres_url else "?"
    db_url = f"{args.postgres_url}{sep}options=-csearch_path%3D{SCHEMA}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-passport-"))
    ids_file = tmp / "ids.txt"
    ids_file.write_text("\n".join(loaded["ids"]) + "\n")
    granted_file = tmp / "granted.txt"
    granted_file.write_text("\n".join(loaded["granted"]) + "\n")
    (tmp / "bare_app.py").write_text(BARE_APP)
    url = make_url(args.postgres_url)
    conninfo = f"host={url.host} port={url.port or 5432} dbname={url.database} options=-csearch_path={SCHEMA}"
    if url.username:
        conninfo += f" user={url.username}"
    env = {
        **os.environ,
        "BATTERYLOOP_DATABASE_URL": db_url,
        "BENCH_DATABASE_URL": db_url,
        "BENCH_CONNINFO": conninfo,
        "PYTHONPATH": f"{tmp}:{ROOT / 'src'}",
        "BATTERYLOOP_DATA_DIR": str(tmp),
    }

    scenarios = [
        ("bare-sync", "bare_app:app", "/sync/passports/", ids_file, ""),
        ("bare-async", "bare_app:app", "/async/passports/", ids_file, ""),
        ("public", "batteryloop.api.app:create_app", "/api/v1/passports/", ids_file, ""),
        ("recycler", "batteryloop.api.app:create_app", "/api/v1/passports/", ids_file, loaded["tokens"]["recycler"]),
        (
            "granted",
            "batteryloop.api.app:create_app",
            "/api/v1/passports/",
            granted_file,
            loaded["tokens"]["repurposer"],
        ),
    ]
    # The scenarios take turns, round after round, and each figure is the median over the rounds: a shared
    # virtual machine's speed drifts by tens of percent over minutes, which a single run per scenario would
    # attribute to the code.
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in scenarios}
    for round_no in range(1, args.rounds + 1):
        for name, app, prefix, idf, token in scenarios:
            port = free_port()
            proc = serve(app, port, env, args.workers, cwd=tmp)
            try:
                wait_up(port, prefix + loaded["ids"][0])
                r = run_wrk(port, prefix, idf, token, args.duration, args.connections, args.threads, tmp)
            finally:
                stop(proc)
            runs[name].append(r)
            print(
                f"  round {round_no} {name:10s} {r['rps']:9.0f} req/s   p50 {r['p50_ms']:7.2f} ms"
                f"   p99 {r['p99_ms']:7.2f} ms   non-2xx {r['non_2xx']}",
                flush=True,
            )
    results: dict[str, dict[str, Any]] = {
        name: {
            "rps": statistics.median(r["rps"] for r in rs),
            "p50_ms": statistics.median(r["p50_ms"] for r in rs),
            "p99_ms": statistics.median(r["p99_ms"] for r in rs),
            "non_2xx": sum(r["non_2xx"] for r in rs),
            "rounds": rs,
        }
        for name, rs in runs.items()
    }

    base = max(results["bare-sync"]["rps"], results["bare-async"]["rps"])
    print()
    print(
        f"Passport reads, PostgreSQL, {len(loaded['ids']):,} passports, {args.connections} connections, "
        f"{args.workers} uvicorn worker(s), wrk {args.threads} thread(s), "
        f"{args.rounds} x {args.duration} s each (medians), "
        f"{os.cpu_count()} CPU(s)"
    )
    print("ratio = requests per second over those of the faster bare endpoint")
    print(f"{'scenario':11s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'ratio':>7s}")
    for name, r in results.items():
        print(f"{name:11s} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['rps'] / base:7.2f}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "passport_api.json").write_text(
        json.dumps(
            {
                "passports": len(loaded["ids"]),
                "connections": args.connections,
                "workers": args.workers,
                "duration_s": args.duration,
                "load_seconds": loaded["load_seconds"],
                "loaded": loaded["loaded"],
                "results": results,
                "ratio_to_fastest_bare": {k: v["rps"] / base for k, v in results.items()},
            },
            indent=2,
        )
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
