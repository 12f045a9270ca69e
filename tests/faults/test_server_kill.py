"""The API server killed with SIGKILL during passport writes loses no acknowledged version and leaves no half-write.

A real server (uvicorn on ``create_app``, a child process) serves a database of this test alone: SQLite in a temporary
directory, or a schema of its own on the PostgreSQL server. Three client threads issue passports and change them over
HTTP, each change a new signed version, and note every write the server acknowledged (2xx, with the version number it
reported). At a random moment the server gets SIGKILL (no shutdown, no rollback, no flush runs). It is started again
on the same database and then:

- every acknowledged version is there, once, with the content that was written (the mass each change set);
- each passport's versions are numbered 1..n without a gap or a repeat, and each battery has one passport;
- every hash chain verifies (:func:`batteryloop.continuity.verify.verify_chains`: the hashes recomputed from the
  canonical content, the chain links, the Ed25519 signatures, and the passport row pointing at its newest version);
- the restarted server continues the chains of the passports written before the kill.

Writes that were in flight when the server died may or may not be stored (the client never heard); either way they
must be whole. ``CRASH_TEST_SEED=n`` replays the kill moments of a run (the seed is printed). SIGKILL is a process
crash, not a power loss: SQLite runs with ``synchronous=NORMAL``, whose committed WAL frames survive the former.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from batteryloop.config import Settings
from batteryloop.continuity.verify import verify_chains
from batteryloop.db import make_session_factory
from batteryloop.passport.models import Passport, PassportVersion
from tests.conftest import postgres_url
from tests.faults.servers import EV, Server, operator_token

ROUNDS = 4
CLIENTS = 3
CHANGES_PER_PASSPORT = 3


@dataclass
class Acks:
    """What the server acknowledged: (passport, version) -> the battery_mass_kg that version holds (None: the issue)."""

    versions: dict[tuple[str, int], float | None] = field(default_factory=dict)
    serials: dict[str, str] = field(default_factory=dict)  # passport id -> serial number
    lock: threading.Lock = field(default_factory=threading.Lock)
    other: list[str] = field(default_factory=list)  # answers that were neither 2xx nor a lost connection

    def add(self, pid: str, version: int, mass: float | None, serial: str | None = None) -> None:
        with self.lock:
            assert (pid, version) not in self.versions, f"{pid} version {version} acknowledged twice"
            self.versions[(pid, version)] = mass
            if serial is not None:
                self.serials[pid] = serial


def _client_loop(base: str, token: str, name: str, acks: Acks, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    counter = 0
    with httpx.Client(base_url=base, headers=headers, timeout=10.0) as http:
        while not stop.is_set():
            counter += 1
            serial = f"{name}-{counter}"
            try:
                r = http.post("/api/v1/passports", json={"data": {**EV, "serial_number": serial}})
                if r.status_code != 201:
                    acks.other.append(f"issue {serial}: {r.status_code} {r.text[:200]}")
                    return
                pid = r.json()["passport_id"]
                acks.add(pid, r.json()["version"], None, serial)
                for change in range(CHANGES_PER_PASSPORT):
                    mass = float(f"{counter}.{change + 1}")
                    r = http.patch(f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": mass}})
                    if r.status_code != 200:
                        acks.other.append(f"change {pid}: {r.status_code} {r.text[:200]}")
                        return
                    acks.add(pid, r.json()["version"], mass)
            except httpx.TransportError:
                return  # the server is gone: this write was not acknowledged


def _check(server: Server, engine: Engine, acks: Acks, passports: list[str]) -> int:
    """Every acknowledged version is stored once with its content; the chains verify. Returns versions stored.

    The content of every acknowledged version is read from the database; the restarted server is asked for the version
    lists of ``passports`` (those written in the last round).
    """
    with httpx.Client(base_url=server.base, timeout=10.0) as http:
        for pid in passports:
            r = http.get(f"/api/v1/passports/{pid}/versions")
            assert r.status_code == 200, r.text
            numbers = [v["version"] for v in r.json()]
            assert numbers == list(range(1, len(numbers) + 1)), f"{pid}: versions {numbers}"
            acked = max(v for (p, v) in acks.versions if p == pid)
            assert acked <= len(numbers), f"{pid}: acknowledged version {acked}, the server lists {numbers}"
    return check_stored(engine, acks)


def check_stored(engine: Engine, acks: Acks) -> int:
    """Every acknowledged version is stored once with its content, each passport's versions are numbered 1..n, one
    passport per battery, and every chain verifies. Returns the number of versions stored."""
    with make_session_factory(engine)() as session:
        rows = session.execute(select(PassportVersion.passport_id, PassportVersion.number, PassportVersion.content))
        stored: dict[tuple[str, int], dict[str, Any]] = {}
        numbers: dict[str, list[int]] = {}
        for pid, number, content in rows:
            assert (pid, number) not in stored, f"{pid} version {number} stored twice"
            stored[(pid, number)] = content["data"]
            numbers.setdefault(pid, []).append(number)
        for pid, found in numbers.items():
            assert sorted(found) == list(range(1, len(found) + 1)), f"{pid}: versions {sorted(found)}"
        for (pid, number), mass in acks.versions.items():
            assert (pid, number) in stored, f"acknowledged {pid} version {number} is missing"
            data = stored[(pid, number)]
            assert data["serial_number"] == acks.serials[pid]
            assert data.get("battery_mass_kg") == mass, (pid, number, data)
        report = verify_chains(session)
        assert report.ok, report.failures
        duplicates = session.execute(
            select(Passport.serial_number).group_by(Passport.serial_number).having(func.count() > 1)
        ).all()
        assert not duplicates, duplicates
    return len(stored)


def _server_url(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return engine.url.render_as_string(hide_password=False)
    with engine.connect() as conn:
        schema = conn.execute(text("select current_schema()")).scalar_one()
    return f"{postgres_url()}?options=-csearch_path%3D{schema}"


def test_sigkill_during_passport_writes_loses_no_acknowledged_version(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED", random.randrange(1_000_000)))
    print(f"CRASH_TEST_SEED={seed}")
    rng = random.Random(seed)
    token = operator_token(engine, settings)
    server = Server(_server_url(engine), tmp_path, tmp_path / "server.log")
    acks = Acks()
    started = time.monotonic()
    try:
        server.start()
        for round_ in range(ROUNDS):
            stop = threading.Event()
            threads = [
                threading.Thread(target=_client_loop, args=(server.base, token, f"R{round_}C{i}", acks, stop))
                for i in range(CLIENTS)
            ]
            before = set(acks.serials)
            acked_before = len(acks.versions)
            for thread in threads:
                thread.start()
            # the kill lands at a random moment once writes are being acknowledged (on a busy machine the first
            # answer can take seconds)
            deadline = time.monotonic() + 60.0
            while len(acks.versions) == acked_before and time.monotonic() < deadline:
                time.sleep(0.02)
            moment = rng.uniform(0.0, 1.0)
            time.sleep(moment)
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
                assert not thread.is_alive()
            assert not acks.other, acks.other
            assert len(acks.versions) > acked_before, f"round {round_}: nothing was acknowledged before the kill"
            print(f"round {round_}: killed after {moment:.2f} s, {len(acks.versions) - acked_before} versions acked")
            t0 = time.monotonic()
            server.start()  # the restart, on the same database; it serves the next round
            t1 = time.monotonic()
            stored = _check(server, engine, acks, sorted(set(acks.serials) - before))
            assert stored >= len(acks.versions)
            print(
                f"  restart {t1 - t0:.1f} s, check {time.monotonic() - t1:.1f} s; {stored - len(acks.versions)} "
                "versions stored in all that were never acknowledged (in flight at a kill), each whole"
            )
        # the restarted server continues the chains written before the kills
        pid = sorted(acks.serials)[0]
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=10.0) as http:
            r = http.patch(f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": 999.5}})
            assert r.status_code == 200, r.text
            acks.add(pid, r.json()["version"], 999.5)
        _check(server, engine, acks, [pid])
    finally:
        server.close()
    print(
        f"{len(acks.versions)} acknowledged versions, {len(acks.serials)} passports, {time.monotonic() - started:.1f} s"
    )
