"""The passport registry at national scale: millions of passports in PostgreSQL, the API under load next to pgbench.

    python bench/registry_scale.py [--passports 10000000] [--duration 30] [--memory-minutes 10]
                                   [--connections 32] [--reuse] [--max-gb 70]

1. Creates a database of its own on the local PostgreSQL server (``batteryloop_scale``; ``--reuse`` keeps a complete
   earlier load), migrates it and bulk-loads N passports with ``COPY`` (:mod:`batteryloop.passport.bulk`: a realistic
   mix of categories and statuses, every version hashed and signed). It first loads ``--probe`` passports, measures
   their size on disk and, where N would not fit ``--max-gb``, loads the largest N that does (and says so).
   Reports the load rate and the size of each table with its indexes.
2. Creates the accounts of the scenarios, their tokens and ``--grants`` grants to a repurposer, then EXPLAINs the
   queries of the scenarios.
3. Captures the SQL the API issues for each scenario (SQLAlchemy's cursor events on an in-process request) and writes
   it into a pgbench script with the passport number drawn at random (``\\set n random(1, N)``), the identifier built
   from it in SQL as the loader builds it.
4. Under ``flock /tmp/bench.lock`` (taken by re-running itself under ``flock``), serves the real app
   (``batteryloop.api.app:create_app``, uvicorn) and drives it from wrk (a separate process, random passports
   from a Lua script) for each scenario, then runs ``pgbench -n -f script -c C -j 2 -T D`` with the same SQL:
   requests (transactions) per second, p50 and p99 and the ratio API / pgbench.
   - ``public``: read by id, anonymous;
   - ``recycler``: read by id with a recycler's token (authentication, points 1 and 2, an access-log row);
   - ``granted``: read by id with a repurposer's token on a granted passport (grant lookup, points 1, 2 and 4);
   - ``search``: category + state-of-health range as the responsible operator (restricted filters, count and page);
   - ``broad``: every e-bike pack (88 % of the registry), anonymous, a page at a random offset up to 5,000 (the
     count stops at the API's 10,000).
5. Runs wrk for ``--memory-minutes`` on a mix of the five while sampling the resident memory of the server process
   and its children every 5 s: start, end, maximum and the least-squares slope [MiB/min].

Results go to ``bench/results/registry_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from batteryloop.config import Settings  # noqa: E402
from batteryloop.db import make_engine, make_session_factory, transaction  # noqa: E402
from batteryloop.migrate import upgrade  # noqa: E402
from batteryloop.passport.bulk import (  # noqa: E402
    BUCKETS,
    GTIN14,
    bulk_load,
    load_mix,
    passport_id_for,
    sql_passport_id,
)
from batteryloop.passport.service import PassportService  # noqa: E402
from machine import free_port, serve, stop, wait_up, wrk  # noqa: E402  (bench/machine.py, beside this script)

DB = "batteryloop_scale"
DEFAULT_URL = "postgresql+psycopg://127.0.0.1:5432/test"
LOCK = "/tmp/bench.lock"
GRANT_STEP = 7919  # passports granted: n = 1 + (k * GRANT_STEP) mod N for k = 1..G (distinct while N is not a multiple)
TABLES = ("passports", "passport_versions", "dynamic_values", "passport_links", "grants", "access_log")
ACCOUNTS = (
    # account, role, organisation, organisation kind
    ("maker", "economic_operator", "Maker B.V.", "manufacturer"),
    ("repurposer", "repurposer", "Second Life B.V.", "repurposer"),
    ("reman", "remanufacturer", "Reman B.V.", "remanufacturer"),
    ("recycler", "recycler", "Recycler B.V.", "recycler"),
)
SOH_LOW, SOH_HIGH, SOH_WIDTH = 60, 95, 5  # searches: SoH in [lo, lo + 5] with lo random in 60..95
# the broad search: every e-bike pack (88 % of the registry), anonymous, a page at a random offset up to this
BROAD_MAX_OFFSET, BROAD_SAMPLE_OFFSET = 5000, 1234
SCENARIOS = ("public", "recycler", "granted", "search", "broad")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Database and load


def server_url(base: str, database: str) -> str:
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def ensure_database(base: str, reuse: bool) -> bool:
    """Create the bench database (drop an earlier one unless ``reuse``); True when an earlier one is kept."""
    admin = make_engine(server_url(base, "postgres"), pool_size=1).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("select 1 from pg_database where datname = :d"), {"d": DB}).first() is not None
        if exists and not reuse:
            conn.execute(text(f"drop database {DB} with (force)"))
            exists = False
        if not exists:
            conn.execute(text(f"create database {DB}"))
    admin.dispose()
    return exists


def meta_get(engine: Engine) -> dict[str, Any]:
    with engine.begin() as conn:
        conn.execute(text("create table if not exists bench_scale_meta (key text primary key, value jsonb)"))
        return {k: v for k, v in conn.execute(text("select key, value from bench_scale_meta"))}


def meta_put(engine: Engine, key: str, value: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into bench_scale_meta values (:k, cast(:v as jsonb)) "
                "on conflict (key) do update set value = excluded.value"
            ),
            {"k": key, "v": json.dumps(value)},
        )


def sizes(engine: Engine) -> dict[str, dict[str, int]]:
    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            total, heap, idx = conn.execute(
                text(f"select pg_total_relation_size('{t}'), pg_relation_size('{t}'), pg_indexes_size('{t}')")
            ).one()
            out[t] = {"total": total, "heap": heap, "toast": total - heap - idx, "indexes": idx}
        out["database"] = {"total": conn.execute(text(f"select pg_database_size('{DB}')")).scalar_one()}
    return out


def setup_accounts(engine: Engine, settings: Settings) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        for account, role, org, kind in ACCOUNTS:
            svc.ensure_organisation(org, kind=kind, identifier=f"NL-{kind[:4].upper()}-{abs(hash(org)) % 10**6:06d}")
            svc.create_account(account, role, org)


def load(args: argparse.Namespace, engine: Engine, settings: Settings) -> dict[str, Any]:
    meta = meta_get(engine)
    reuse = args.reuse and "load" in meta
    grow = reuse and args.extend_to > int(meta["load"]["passports"])
    if reuse and not grow:
        log(f"reusing the load of {meta['load']['passports']:,} passports")
        return dict(meta["load"])
    if not reuse:
        setup_accounts(engine, settings)
    kw: dict[str, Any] = {
        "issuer": "maker",
        "repurposer": "repurposer",
        "remanufacturer": "reman",
        "settings": settings,
    }

    def progress(done: int, total: int, seconds: float) -> None:
        if done % 100_000 < args.chunk or done == total:
            eta = (total - done) / (done / seconds) if done else 0
            log(f"  {done:>10,}/{total:,}  {done / seconds:8,.0f} passports/s  eta {eta / 60:5.1f} min")

    if grow:
        return extend(engine, dict(meta["load"]), args, kw, progress)
    probe_n = min(args.probe, args.passports)
    log(f"probe: bulk-loading {probe_n:,} passports")
    probe = bulk_load(engine, probe_n, workers=args.workers, chunk=args.chunk, progress=progress, **kw)
    probe_size = sizes(engine)
    per_passport = sum(v["total"] for k, v in probe_size.items() if k in TABLES) / probe_n
    target = args.passports
    budget = args.max_gb * 1e9
    fits = int(budget / per_passport)
    in_time = int(probe.rate * args.load_minutes * 60) if args.load_minutes > 0 else target
    notes = []
    if fits < target:
        notes.append(
            f"{args.passports:,} passports would take {per_passport * args.passports / 1e9:.1f} GB "
            f"({per_passport:,.0f} B each, measured on {probe_n:,}); {fits:,} fit {args.max_gb:g} GB"
        )
    if in_time < target:
        notes.append(
            f"at the measured {probe.rate:,.0f} passports/s, {args.load_minutes:g} min load {in_time:,} passports"
        )
    if notes:
        target = max(probe_n, min(fits, in_time) // 100_000 * 100_000)
        notes.append(f"loading {target:,}")
    note = "; ".join(notes)
    if note:
        log(note)
    log(
        f"probe: {probe_n:,} passports in {probe.seconds:.1f} s ({probe.rate:,.0f}/s), {per_passport:,.0f} B each; "
        f"extrapolated {target:,} -> {per_passport * target / 1e9:.1f} GB"
    )
    rest = None
    if target > probe_n:
        log(f"bulk-loading passports {probe_n + 1:,}..{target:,}")
        rest = bulk_load(
            engine, target - probe_n, start=probe_n + 1, workers=args.workers, chunk=args.chunk, progress=progress, **kw
        )
    reports = [probe] + ([rest] if rest else [])
    result = {
        "passports": target,
        "requested": args.passports,
        "note": note,
        "extra_passports": sum(r.extra_passports for r in reports),
        "versions": sum(r.versions for r in reports),
        "dynamic_values": sum(r.dynamic_values for r in reports),
        "links": sum(r.links for r in reports),
        "statuses": dict(sum((r.statuses for r in reports), start=probe.statuses.__class__())),
        "categories": dict(sum((r.categories for r in reports), start=probe.categories.__class__())),
        "probe": {
            "passports": probe_n,
            "seconds": probe.seconds,
            "rate": probe.rate,
            "bytes_per_passport": per_passport,
        },
        "main": (
            {
                "passports": rest.passports,
                "copy_seconds": rest.copy_seconds,
                "index_seconds": rest.index_seconds,
                "analyze_seconds": rest.analyze_seconds,
                "rate": rest.rate,
            }
            if rest
            else None
        ),
    }
    meta_put(engine, "load", result)
    return result


def extend(
    engine: Engine,
    loaded: dict[str, Any],
    args: argparse.Namespace,
    kw: dict[str, Any],
    progress: Callable[[int, int, float], None],
) -> dict[str, Any]:
    """Grow a kept load to ``--extend-to`` passports (numbers after the loaded ones), and record it."""
    have = int(loaded["passports"])
    log(f"extending the load of {have:,} passports to {args.extend_to:,}")
    more = bulk_load(
        engine, args.extend_to - have, start=have + 1, workers=args.workers, chunk=args.chunk, progress=progress, **kw
    )
    for key, value in (
        ("extra_passports", more.extra_passports),
        ("versions", more.versions),
        ("dynamic_values", more.dynamic_values),
        ("links", more.links),
    ):
        loaded[key] = int(loaded[key]) + value
    for key, counts in (("statuses", more.statuses), ("categories", more.categories)):
        merged = Counter(loaded[key])
        merged.update(counts)
        loaded[key] = dict(merged)
    loaded["passports"] = args.extend_to
    loaded.setdefault("extensions", []).append(
        {
            "from": have,
            "passports": more.passports,
            "copy_seconds": more.copy_seconds,
            "index_seconds": more.index_seconds,
            "analyze_seconds": more.analyze_seconds,
            "rate": more.rate,
        }
    )
    meta_put(engine, "load", loaded)
    return loaded


def setup_grants(engine: Engine, n: int, grants: int) -> int:
    """``grants`` grants of the repurposer on passports 1 + (k * 7919) mod N, k = 1..G (in SQL, as the service
    writes them: issued by the responsible operator's account, expiring in a year)."""
    grants = min(grants, n)
    with engine.begin() as conn:
        have = conn.execute(text("select count(*) from grants")).scalar_one()
        if have >= grants:
            return int(have)
        acc = conn.execute(text("select id from accounts where name = 'repurposer'")).scalar_one()
        pid = sql_passport_id(f"1 + (k::bigint * {GRANT_STEP}) % {n}", load_mix())
        conn.execute(
            text(  # the identifier expression is built from integers and the GTINs of the mix
                "insert into grants (passport_id, account_id, issued_by, issued_at, expires_at, purpose) "  # noqa: S608
                f"select {pid}, :acc, 'maker', now(), now() + interval '365 days', 'benchmark' "
                f"from generate_series(1, :g) k where exists (select 1 from passports p where p.id = {pid})"
            ),
            {"acc": acc, "g": grants},
        )
        conn.execute(text("analyze grants"))
        return int(conn.execute(text("select count(*) from grants")).scalar_one())


def verify_sample(engine: Engine, n: int, k: int, seed: int = 11) -> dict[str, Any]:
    """Verify ``k`` passports drawn at random as an exported bundle is verified (hashes, chain links, signatures,
    signers, the newest data against attributes.csv, and the predecessors of a second-life battery)."""
    import random

    from batteryloop.passport.bundle import export_bundle, verify_bundle

    mix = load_mix()
    rng = random.Random(seed)
    failures: list[str] = []
    versions = 0
    t0 = time.perf_counter()
    factory = make_session_factory(engine)
    with factory() as session:
        for _ in range(k):
            pid = passport_id_for(rng.randint(1, n), mix)
            bundle = export_bundle(session, pid)
            versions += len(bundle["versions"])
            report = verify_bundle(bundle)
            failures += [f"{pid}: {c}" for c in report.failures]
    return {"passports": k, "versions": versions, "failures": failures[:20], "seconds": time.perf_counter() - t0}


def issue_tokens(engine: Engine, settings: Settings) -> dict[str, str]:
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        return {name: svc.issue_token(svc.account(name)) for name, *_ in ACCOUNTS}


# ---------------------------------------------------------------------------------------------------------------------
# Scenarios: requests, captured SQL, pgbench scripts


def scenario_requests(n: int, grants: int) -> dict[str, dict[str, Any]]:
    """Per scenario: how wrk builds a request (Lua) and how pgbench draws the same values."""
    return {
        "public": {"token": None, "pick": "read"},
        "recycler": {"token": "recycler", "pick": "read"},
        "granted": {"token": "repurposer", "pick": "granted"},
        "search": {"token": "maker", "pick": "search"},
        "broad": {"token": None, "pick": "broad"},
    }


def lua_id_function(n: int) -> str:
    mix = load_mix()
    branches = []
    for bound, key in mix.thresholds():
        branches.append(f"if b < {bound} then return '01{GTIN14[key]}21B' .. string.format('%09d', n) end")
    return (
        "local function pid(n)\n  local b = n % " + str(BUCKETS) + "\n  " + "\n  ".join(branches) + "\nend\n"
        "local function granted(k) return 1 + (k * " + str(GRANT_STEP) + ") % " + str(n) + " end\n"
    )


def lua_script(n: int, grants: int, tokens: dict[str, str], scenarios: list[str], seed: int) -> str:
    parts = [lua_id_function(n), f"math.randomseed({seed})", "local reqs = {}"]
    for name in scenarios:
        spec = scenario_requests(n, grants)[name]
        token = tokens[spec["token"]] if spec["token"] else ""
        headers = f'{{["Authorization"] = "Bearer {token}"}}' if token else "{}"
        if spec["pick"] == "read":
            path = f'"/api/v1/passports/" .. pid(math.random({n}))'
        elif spec["pick"] == "granted":
            path = f'"/api/v1/passports/" .. pid(granted(math.random({grants})))'
        elif spec["pick"] == "broad":
            path = f'"/api/v1/passports?category=lmt&offset=" .. math.random(0, {BROAD_MAX_OFFSET})'
        else:
            path = f'"/api/v1/passports?category=ev&soh_min=" .. lo .. "&soh_max=" .. (lo + {SOH_WIDTH})'
        parts.append(
            "reqs[#reqs + 1] = function()\n"
            f"  local lo = math.random({SOH_LOW}, {SOH_HIGH})\n"
            f"  return wrk.format('GET', {path}, {headers})\nend"
        )
    parts.append("request = function() return reqs[math.random(#reqs)]() end")
    return "\n".join(parts) + "\n"


class SQLCapture:
    """The statements (with their parameters) and transaction boundaries the app issues, in order."""

    def __init__(self, engine: Engine) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.in_tx = False
        event.listen(engine, "before_cursor_execute", self._execute)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def _execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        if not autocommit and not self.in_tx:
            self.events.append(("begin", "", None))
            self.in_tx = True
        self.events.append(("execute", statement, parameters))

    def _commit(self, conn: Any) -> None:
        if self.in_tx:
            self.events.append(("commit", "", None))
            self.in_tx = False

    def _rollback(self, conn: Any) -> None:
        if self.in_tx:
            self.events.append(("rollback", "", None))
            self.in_tx = False


def capture_sql(engine: Engine, settings: Settings, path: str, token: str | None) -> list[tuple[str, str, Any]]:
    from fastapi.testclient import TestClient

    from batteryloop.api.app import create_app

    cap = SQLCapture(engine)
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client.get(path, headers=headers)  # warm-up (caches of the app)
        cap.events.clear()
        r = client.get(path, headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"capture of {path} answered {r.status_code}: {r.text[:300]}")
    event.remove(engine, "before_cursor_execute", cap._execute)
    event.remove(engine, "commit", cap._commit)
    event.remove(engine, "rollback", cap._rollback)
    return cap.events


def literal(value: Any, pg: Any) -> str:
    from psycopg import sql

    return sql.Literal(value).as_string(pg)


def pgbench_script(events: list[tuple[str, str, Any]], replace: dict[Any, str], pg: Any, header: list[str]) -> str:
    """The captured statements with their parameters as literals, those in ``replace`` as pgbench expressions."""
    lines = list(header)
    for kind, statement, params in events:
        if kind == "begin":
            lines.append("BEGIN;")
        elif kind == "commit":
            lines.append("COMMIT;")
        elif kind == "rollback":
            lines.append("ROLLBACK;")
        else:
            # executemany (the access log of a search page): psycopg runs the statement once per parameter set
            sets = params if isinstance(params, (list, tuple)) else [params]
            for one in sets:

                def sub(m: re.Match[str], one: Any = one) -> str:
                    value = one[m.group(1)]
                    for key, expr in replace.items():
                        if value == key and type(value) is type(key):
                            return expr
                    return literal(value, pg)

                sql_text = re.sub(r"%\((\w+)\)s", sub, statement).replace("%%", "%")
                lines.append(" ".join(sql_text.split()) + ";")
    return "\n".join(lines) + "\n"


def build_pgbench_scripts(
    engine: Engine, settings: Settings, n: int, grants: int, tokens: dict[str, str], tmp: Path
) -> dict[str, Path]:
    mix = load_mix()
    raw = engine.raw_connection()
    pg = raw.driver_connection
    out: dict[str, Path] = {}
    n_read = 4242 % n + 1
    k_granted = 17 % grants + 1
    n_granted = 1 + (k_granted * GRANT_STEP) % n
    lo = 71
    cases = {
        "public": (f"/api/v1/passports/{passport_id_for(n_read, mix)}", None, n_read),
        "recycler": (f"/api/v1/passports/{passport_id_for(n_read, mix)}", tokens["recycler"], n_read),
        "granted": (f"/api/v1/passports/{passport_id_for(n_granted, mix)}", tokens["repurposer"], n_granted),
        "search": (f"/api/v1/passports?category=ev&soh_min={lo}&soh_max={lo + SOH_WIDTH}", tokens["maker"], None),
        "broad": (f"/api/v1/passports?category=lmt&offset={BROAD_SAMPLE_OFFSET}", None, None),
    }
    for name, (path, token, number) in cases.items():
        events = capture_sql(engine, settings, path, token)
        replace: dict[Any, str] = {}
        if name == "granted":
            header = [f"\\set k random(1, {grants})", f"\\set n 1 + (:k * {GRANT_STEP}) % {n}"]
        elif name == "broad":
            header = [f"\\set off random(0, {BROAD_MAX_OFFSET})"]
            replace[BROAD_SAMPLE_OFFSET] = ":off"
        elif name == "search":
            header = [f"\\set lo random({SOH_LOW}, {SOH_HIGH})", f"\\set hi :lo + {SOH_WIDTH}"]
            replace[float(lo)] = "(:lo)::float8"
            replace[float(lo + SOH_WIDTH)] = "(:hi)::float8"
        else:
            header = [f"\\set n random(1, {n})"]
        if number is not None:
            replace[passport_id_for(number, mix)] = sql_passport_id(":n", mix)
        script = pgbench_script(events, replace, pg, header)
        path_ = tmp / f"{name}.sql"
        path_.write_text(script)
        out[name] = path_
        log(f"  pgbench script {name}: {sum(1 for e in events if e[0] == 'execute')} statement(s)")
    raw.close()
    return out


def explain(engine: Engine, scripts: dict[str, Path], n: int, grants: int) -> dict[str, str]:
    """EXPLAIN of each SELECT of each scenario, with sample values for the pgbench variables."""
    values = {"n": str(4242 % n + 1), "k": "18", "lo": "71", "hi": "76", "off": str(BROAD_SAMPLE_OFFSET)}
    plans: dict[str, str] = {}
    with engine.connect() as conn:
        for name, path in scripts.items():
            out = []
            for line in path.read_text().splitlines():
                if not line.upper().startswith("SELECT"):
                    continue
                q = line.rstrip(";")
                if name == "granted":
                    q = q.replace(":n", f"(1 + (18 * {GRANT_STEP}) % {n})")
                for var, val in values.items():
                    q = re.sub(rf":{var}\b", val, q)
                rows = conn.execute(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + q)).all()
                out.append("\n".join(r[0] for r in rows))
            plans[name] = "\n---\n".join(out)
    return plans


# ---------------------------------------------------------------------------------------------------------------------
# Running wrk, pgbench and the server


def pgbench(url: str, script: Path, duration: int, clients: int, tmp: Path) -> dict[str, Any]:
    u = make_url(url)
    logdir = tmp / f"pgbench-{script.stem}-{time.time_ns()}"
    logdir.mkdir()
    conn = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432)] + (["-U", u.username] if u.username else [])
    base = ["pgbench", "-n", *conn, "-f", str(script), "-c", str(clients), "-j", "2"]
    subprocess.run([*base, "-T", "3", DB], capture_output=True, text=True, cwd=tmp)  # warm-up
    cmd = [*base, "-T", str(duration), "-l", "--log-prefix", str(logdir / "log"), DB]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{out.stdout[-1500:]}\n{out.stderr[-1500:]}")
    m = re.search(r"tps = ([\d.]+)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    lat = []
    for f in logdir.iterdir():
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]) / 1000)
    lat.sort()
    shutil.rmtree(logdir, ignore_errors=True)
    if not m or not lat:
        raise SystemExit(f"pgbench printed no rate:\n{out.stdout}")
    return {
        "tps": float(m.group(1)),
        "p50_ms": lat[len(lat) // 2],
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "transactions": len(lat),
        "failed": int(failed.group(1)) if failed else 0,
    }


def tree_rss(pid: int) -> int:
    """Resident memory [bytes] of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def memory_run(
    port: int, proc: subprocess.Popen[bytes], script: Path, minutes: float, connections: int, threads: int
) -> dict[str, Any]:
    seconds = int(minutes * 60)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script)]
    w = subprocess.Popen([*cmd, f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True)
    t0 = time.time()
    ts: list[float] = []
    rss: list[float] = []
    while w.poll() is None:
        ts.append((time.time() - t0) / 60)
        rss.append(tree_rss(proc.pid) / 2**20)
        if len(rss) % 12 == 1:
            log(f"  memory {ts[-1]:5.1f} min  {rss[-1]:7.1f} MiB")
        time.sleep(5)
    o = w.stdout.read() if w.stdout else ""
    m = re.search(r"Requests/sec:\s+([\d.]+)", o)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", o)
    return {
        "minutes": minutes,
        "samples": len(rss),
        "start_mib": rss[0],
        "end_mib": rss[-1],
        "max_mib": max(rss),
        "slope_mib_per_min": slope(ts, rss),
        "slope_second_half_mib_per_min": slope(ts[len(ts) // 2 :], rss[len(rss) // 2 :]),
        "rps": float(m.group(1)) if m else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "series_mib": [round(x, 1) for x in rss],
    }


# ---------------------------------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    """The timed part (runs under the benchmark lock)."""
    tmp = Path(ctx["tmp"])
    n, grants, tokens = ctx["n"], ctx["grants"], ctx["tokens"]
    scripts = {k: Path(v) for k, v in ctx["scripts"].items()}
    env = {
        **os.environ,
        "BATTERYLOOP_DATABASE_URL": ctx["url"],
        "PYTHONPATH": str(ROOT / "src"),
        "BATTERYLOOP_DATA_DIR": str(tmp),
        "BATTERYLOOP_PUBLIC_BASE_URL": "https://passport.example.nl",
    }
    results: dict[str, Any] = {}
    port = free_port()
    proc = serve("batteryloop.api.app:create_app", port, env, args.workers)
    try:
        wait_up(port, "/api/v1/passports?limit=1")
        for name in SCENARIOS:
            lua = tmp / f"{name}.lua"
            lua.write_text(lua_script(n, grants, tokens, [name], seed=42))
            api = wrk(port, lua, args.duration, args.connections, args.threads)
            db = pgbench(ctx["url"], scripts[name], args.duration, args.connections, tmp)
            ratio = api["rps"] / db["tps"] if db["tps"] else 0.0
            results[name] = {"api": api, "pgbench": db, "ratio": ratio}
            log(
                f"  {name:9s} API {api['rps']:8.0f} req/s p50 {api['p50_ms']:7.2f} p99 {api['p99_ms']:7.2f} ms "
                f"(non-2xx {api['non_2xx']})  pgbench {db['tps']:8.0f} tps p50 {db['p50_ms']:7.2f} "
                f"p99 {db['p99_ms']:7.2f} ms  ratio {ratio:5.2f}"
            )
        memory = None
        if args.memory_minutes > 0:
            mixed = tmp / "mixed.lua"
            mixed.write_text(lua_script(n, grants, tokens, list(SCENARIOS), seed=7))
            log(f"memory: {args.memory_minutes:g} min of mixed load")
            memory = memory_run(port, proc, mixed, args.memory_minutes, args.connections, args.threads)
            log(
                f"  memory start {memory['start_mib']:.1f} MiB, end {memory['end_mib']:.1f}, "
                f"max {memory['max_mib']:.1f}, slope {memory['slope_mib_per_min']:+.2f} MiB/min "
                f"(second half {memory['slope_second_half_mib_per_min']:+.2f}); {memory['rps']} req/s"
            )
    finally:
        stop(proc)
    return {"scenarios": results, "memory": memory}


def main() -> None:
    global DB
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passports", type=int, default=10_000_000)
    parser.add_argument("--duration", type=int, default=30, help="seconds per measured run (wrk and pgbench)")
    parser.add_argument("--memory-minutes", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--grants", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="keep a complete earlier load")
    parser.add_argument(
        "--extend-to", type=int, default=0, help="with --reuse: grow the kept load to this many passports first"
    )
    parser.add_argument("--max-gb", type=float, default=70.0, help="disk budget of the database [GB]")
    parser.add_argument(
        "--load-minutes", type=float, default=0, help="time budget of the load; 0: none (N is capped by --max-gb only)"
    )
    parser.add_argument("--probe", type=int, default=100_000, help="passports loaded first to measure the size")
    parser.add_argument("--chunk", type=int, default=2000, help="passports per COPY chunk")
    parser.add_argument("--load-workers", dest="workers_load", type=int, default=2)
    parser.add_argument("--load-only", action="store_true", help="load (and EXPLAIN), measure nothing")
    parser.add_argument("--postgres-url", default=os.environ.get("BATTERYLOOP_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--database", default="batteryloop_scale", help="name of the bench database on the server")
    parser.add_argument("--measure-context", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DB = args.database
    args.workers_load = max(1, args.workers_load)

    if args.measure_context:  # the timed part, re-run under flock
        ctx = json.loads(Path(args.measure_context).read_text())
        out = measure(args, ctx)
        Path(args.measure_context).with_suffix(".out.json").write_text(json.dumps(out))
        return

    for tool in ("wrk", "pgbench", "flock"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (Debian: apt-get install wrk postgresql-client util-linux)")
    url = server_url(args.postgres_url, DB)
    kept = ensure_database(args.postgres_url, args.reuse)
    log(f"database {DB} {'kept' if kept else 'created'}")
    engine = make_engine(url, pool_size=4)
    upgrade(engine)
    settings = Settings(public_base_url="https://passport.example.nl")
    load_args = argparse.Namespace(**{**vars(args), "workers": args.workers_load})
    loaded = load(load_args, engine, settings)
    n = int(loaded["passports"])
    size = sizes(engine)
    log(
        "sizes: "
        + ", ".join(
            f"{t} {v['total'] / 1e9:.2f} GB (indexes {v['indexes'] / 1e9:.2f})" for t, v in size.items() if t in TABLES
        )
        + f"; database {size['database']['total'] / 1e9:.2f} GB"
    )
    sample = verify_sample(engine, n, 500)
    log(
        f"verified {sample['passports']} random passports ({sample['versions']} versions): {sample['failures'] or 'ok'}"
    )
    grants = setup_grants(engine, n, args.grants)
    log(f"grants: {grants:,} to the repurposer")
    tokens = issue_tokens(engine, settings)
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    scripts = build_pgbench_scripts(engine, settings, n, grants, tokens, tmp)
    plans = explain(engine, scripts, n, grants)
    for name, plan in plans.items():
        log(f"EXPLAIN {name}:\n{plan}")
    result: dict[str, Any] = {
        "database": DB,
        "load": loaded,
        "sizes": size,
        "grants": grants,
        "verified_sample": sample,
        "explain": plans,
        "pgbench_scripts": {k: v.read_text() for k, v in scripts.items()},
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "connections": args.connections,
        "duration_s": args.duration,
        "workers": args.workers,
    }
    if not args.load_only:
        ctx_file = tmp / "context.json"
        ctx_file.write_text(
            json.dumps(
                {
                    "tmp": str(tmp),
                    "n": n,
                    "grants": grants,
                    "tokens": tokens,
                    "url": url,
                    "scripts": {k: str(v) for k, v in scripts.items()},
                }
            )
        )
        log(f"waiting for {LOCK} ...")
        cmd = ["flock", LOCK, sys.executable, __file__, "--measure-context", str(ctx_file), *sys.argv[1:]]
        subprocess.run(cmd, check=True)
        measured = json.loads(ctx_file.with_suffix(".out.json").read_text())
        result.update(measured)
        result["loadavg_after"] = os.getloadavg()
        print()
        print(
            f"Registry at scale: {n:,} passports (+{loaded['extra_passports']:,} superseded originals), "
            f"{args.connections} connections, {args.workers} uvicorn worker(s), {args.duration} s per run, "
            f"{os.cpu_count()} CPUs"
        )
        print("ratio = API requests/s over pgbench transactions/s with the same SQL")
        print(
            f"{'scenario':10s} {'API req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'pgbench tps':>12s} "
            f"{'p50 ms':>8s} {'p99 ms':>8s} {'ratio':>6s}"
        )
        for name, r in measured["scenarios"].items():
            a, d = r["api"], r["pgbench"]
            print(
                f"{name:10s} {a['rps']:10.0f} {a['p50_ms']:8.2f} {a['p99_ms']:8.2f} {d['tps']:12.0f} "
                f"{d['p50_ms']:8.2f} {d['p99_ms']:8.2f} {r['ratio']:6.2f}"
            )
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "registry_scale.json").write_text(json.dumps(result, indent=2, default=str))
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
