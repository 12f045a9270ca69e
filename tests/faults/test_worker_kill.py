"""One worker of a multi-worker server killed with SIGKILL: the other keeps serving, the supervisor replaces the dead one.

The server runs as in production: ``uvicorn batteryloop.api.app:create_app --factory --workers 2``, a supervisor
process with two worker processes that accept on the one listening socket, on a schema of its own on the PostgreSQL
server (several writer processes on one SQLite file is not a production setup). Three client threads issue passports
and change them over HTTP and note every write the server acknowledged. At a random moment one worker (never the
supervisor) gets SIGKILL; three rounds. In each round:

- requests in flight on the killed worker may lose their connection (at most one per client); every other answer is
  2xx, and writes go on being acknowledged after the kill, answered by the surviving worker (the access log names the
  process that served each request) while the replacement is still starting (the clients write at full speed until
  the survivor has answered :data:`SURVIVOR_WRITES` writes, then paced, so the replacement's startup is not starved);
- the supervisor starts a new worker within :data:`RESTART_TIMEOUT` seconds, which then finishes its startup.

Afterwards every acknowledged version is stored once with the content written, each passport's versions are numbered
1..n, each battery has one passport, and every hash chain verifies (:func:`batteryloop.continuity.verify.verify_chains`).
SIGTERM to the supervisor then stops it and its workers: no process of the server is left behind.

``CRASH_TEST_SEED=n`` replays the kill moments and victims of a run (the seed is printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy.engine import Engine

from batteryloop.config import Settings
from tests.faults.servers import EV, free_port, operator_token
from tests.faults.test_server_kill import Acks, _server_url, check_stored

WORKERS = 2
ROUNDS = 3
CLIENTS = 3
CHANGES_PER_PASSPORT = 3
RESTART_TIMEOUT = 40.0  # seconds from the SIGKILL until the supervisor has started a new worker process
# uvicorn pings each worker over a pipe and kills one that does not answer within this many seconds (default 5);
# on a machine busy with other tests a healthy worker can be slower than that. A kill that lands during a ping
# delays the replacement by up to this long, within RESTART_TIMEOUT.
HEALTHCHECK_TIMEOUT = 20
STARTUP_TIMEOUT = 90.0  # seconds for a worker to import and start the application (slow on a busy machine)
REQUEST_TIMEOUT = 30.0  # an answer later than this is a failure, not a lost connection
SURVIVOR_WRITES = 20  # writes the surviving worker answers at full load after the kill, before the clients pace
PACE = 0.1  # seconds each client then waits between requests, leaving the cores to the starting replacement

# Every log line names the process that wrote it, so the access log says which worker served a request.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"pid": {"format": "%(process)d %(name)s %(levelname)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "pid", "stream": "ext://sys.stderr"}},
    "loggers": {"uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}
ACCESS = re.compile(r'^(\d+) uvicorn\.access INFO \S+ - "(\w+) (\S+) HTTP/[\d.]+" (\d{3})$')
STARTED = re.compile(r"^(\d+) uvicorn\.error INFO Application startup complete\.$")
WRITES = {"POST", "PATCH"}

T = TypeVar("T")


def _poll(what: str, timeout: float, probe: Callable[[], T | None], interval: float = 0.05) -> T:
    """``probe()`` until it returns something other than None; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group, start time) of a process; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name in parentheses may hold spaces
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


class MultiWorkerServer:
    """``uvicorn batteryloop.api.app:create_app --factory --workers 2`` in a session of its own.

    The supervisor is the leader of its own process group, and it is not reaped before the end of :meth:`close`: its
    pid, and so the group id, cannot be taken by another process until then, so the group can be signalled safely to
    remove anything left behind. A worker is a child of the supervisor started by ``multiprocessing.spawn``.
    """

    def __init__(self, database_url: str, data_dir: Path, log: Path) -> None:
        self.log = log
        self.port = free_port()
        config = log.with_name("logging.json")
        config.write_text(json.dumps(LOG_CONFIG))
        env = {
            **os.environ,
            "BATTERYLOOP_DATABASE_URL": database_url,
            "BATTERYLOOP_DATA_DIR": str(data_dir),
            "BATTERYLOOP_PUBLIC_BASE_URL": "https://passport.example.nl",
            "BATTERYLOOP_WORKER_THREADS": "4",
        }
        command = [
            *(sys.executable, "-m", "uvicorn", "batteryloop.api.app:create_app", "--factory"),
            *("--workers", str(WORKERS), "--timeout-worker-healthcheck", str(HEALTHCHECK_TIMEOUT)),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--log-config", str(config)),
        ]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exited(self) -> bool:
        """Whether the supervisor has exited; it is left unreaped (WNOWAIT)."""
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def workers(self) -> dict[int, int]:
        """The running worker processes: pid -> start time (a pid with its start time names one process)."""
        found: dict[int, int] = {}
        for pid in _pids():
            stat = _stat(pid)
            if stat is None or stat[1] != self.pid or stat[0] == "Z":
                continue
            cmdline = _cmdline(pid)
            # a child forked a moment ago still shows the supervisor's command line until it execs the worker
            again = _stat(pid)  # the same process as the command line read: same parent, same start time
            if cmdline is not None and b"multiprocessing.spawn" in cmdline and again and again[1:] == stat[1:]:
                found[pid] = stat[3]
        return found

    def group(self) -> list[int]:
        """The processes of the server's process group that still run (zombies are gone, only not yet reaped)."""
        left = []
        for pid in _pids():
            stat = _stat(pid)
            if stat is not None and stat[2] == self.pid and stat[0] != "Z":
                left.append(pid)
        return left

    def lines(self) -> list[str]:
        """The complete lines of the log the supervisor and its workers append to."""
        return self.log.read_text(errors="replace").split("\n")[:-1]  # a line still being written is left out

    def tail(self) -> str:
        return "\n".join(self.lines()[-40:])

    def started(self, since: int = 0) -> dict[int, int]:
        """Workers that logged the end of their startup after log line ``since``: pid -> line index."""
        found = {}
        for index, line in enumerate(self.lines()[since:], start=since):
            match = STARTED.match(line)
            if match:
                found[int(match.group(1))] = index
        return found

    def wait_ready(self) -> dict[int, int]:
        """Wait for ``WORKERS`` workers that have started the application and for /healthz; the workers."""

        def probe() -> dict[int, int] | None:
            if self.exited():
                raise AssertionError(f"the supervisor exited:\n{self.tail()}")
            workers = self.workers()
            if len(workers) != WORKERS or not set(workers) <= set(self.started()):
                return None
            try:
                return workers if httpx.get(self.base + "/healthz", timeout=5.0).status_code == 200 else None
            except httpx.TransportError:
                return None

        try:
            return _poll("the server's workers ready", STARTUP_TIMEOUT, probe, interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM to the supervisor, which stops its workers; the seconds until it has exited."""
        t0 = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        _poll("the supervisor exits after SIGTERM", timeout, lambda: True if self.exited() else None)
        return time.monotonic() - t0

    def close(self) -> None:
        """SIGKILL to whatever of the server's process group is left, then reap the supervisor."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def _client_loop(
    base: str, token: str, name: str, acks: Acks, lost: list[str], stop: threading.Event, pace: threading.Event
) -> None:
    """Issue passports and change them until ``stop``, after ``pace`` at most one request per :data:`PACE` seconds.

    A lost connection abandons that passport and goes on with the next.
    """
    headers = {"Authorization": f"Bearer {token}"}
    counter = 0
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT) as http:
            while not stop.is_set():
                counter += 1
                serial = f"{name}-{counter}"
                try:
                    if pace.is_set():
                        stop.wait(PACE)
                    r = http.post("/api/v1/passports", json={"data": {**EV, "serial_number": serial}})
                    if r.status_code != 201:
                        acks.other.append(f"issue {serial}: {r.status_code} {r.text[:200]}")
                        return
                    pid = r.json()["passport_id"]
                    acks.add(pid, r.json()["version"], None, serial)
                    for change in range(CHANGES_PER_PASSPORT):
                        mass = float(f"{counter}.{change + 1}")
                        if pace.is_set():
                            stop.wait(PACE)
                        r = http.patch(f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": mass}})
                        if r.status_code != 200:
                            acks.other.append(f"change {pid}: {r.status_code} {r.text[:200]}")
                            return
                        acks.add(pid, r.json()["version"], mass)
                except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
                    lost.append(f"{serial}: {type(exc).__name__}")  # the worker died: not acknowledged, go on
    except Exception as exc:  # a timeout, a refused connection, a duplicate acknowledgement: all failures
        acks.other.append(f"{name}: {exc!r}")


def _served(lines: list[str]) -> dict[int, int]:
    """Writes answered 2xx in these access log lines, by worker pid."""
    served: dict[int, int] = {}
    for line in lines:
        match = ACCESS.match(line)
        if match and match.group(2) in WRITES and match.group(4).startswith("2"):
            served[int(match.group(1))] = served.get(int(match.group(1)), 0) + 1
    return served


def _kill_round(
    server: MultiWorkerServer, token: str, acks: Acks, rng: random.Random, round_: int, ready: dict[int, int]
) -> tuple[dict[int, int], set[str]]:
    """Clients write while one worker gets SIGKILL; the workers after the round, and the passports it issued."""
    stop, pace = threading.Event(), threading.Event()
    lost: list[str] = []
    threads = [
        threading.Thread(target=_client_loop, args=(server.base, token, f"R{round_}C{i}", acks, lost, stop, pace))
        for i in range(CLIENTS)
    ]
    serials_before = set(acks.serials)
    acked_before = len(acks.versions)
    for thread in threads:
        thread.start()
    try:
        _poll(
            f"round {round_}: a write acknowledged",
            REQUEST_TIMEOUT,
            lambda: True if len(acks.versions) > acked_before or acks.other else None,
        )
        moment = rng.uniform(0.2, 1.2)
        time.sleep(moment)  # the random kill moment
        live = server.workers()
        assert live == ready, f"round {round_}: workers {live} before the kill, expected {ready}"
        victim = rng.choice(sorted(live))
        (survivor,) = set(live) - {victim}
        acked_at_kill = len(acks.versions)
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        # once the victim is a zombie or gone it serves nothing: later log lines come from other workers
        _poll(f"worker {victim} dead", 10.0, lambda: True if victim not in server.workers() else None)
        mark = len(server.lines())
        replacement = _poll(
            f"round {round_}: a new worker after the SIGKILL of {victim}",
            RESTART_TIMEOUT,
            lambda: next(iter(set(server.workers()) - set(live)), None),
        )
        restart = time.monotonic() - t0
        _poll(
            f"round {round_}: {SURVIVOR_WRITES} writes answered by worker {survivor} after the kill",
            REQUEST_TIMEOUT,
            lambda: True if _served(server.lines()[mark:]).get(survivor, 0) >= SURVIVOR_WRITES or acks.other else None,
        )
        pace.set()
        ready_line = _poll(
            f"round {round_}: the startup of the new worker {replacement}",
            STARTUP_TIMEOUT,
            lambda: server.started(mark).get(replacement),
        )
        startup = time.monotonic() - t0
        # both workers serve once the replacement is up: wait for one more write acknowledged
        acked_at_ready = len(acks.versions)
        _poll(
            f"round {round_}: a write acknowledged after the new worker started",
            REQUEST_TIMEOUT,
            lambda: True if len(acks.versions) > acked_at_ready or acks.other else None,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2 * REQUEST_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert not acks.other, acks.other
    assert len(lost) <= CLIENTS, f"round {round_}: more connections lost than requests in flight: {lost}"
    assert len(acks.versions) > acked_at_kill, f"round {round_}: nothing acknowledged after the kill"
    served = _served(server.lines()[mark:ready_line])  # between the kill and the replacement's startup
    assert set(served) == {survivor}, f"round {round_}: writes served after the kill by {served}"
    after = server.workers()
    assert set(after) == {survivor, replacement}, f"round {round_}: workers {after} after the restart"
    print(
        f"round {round_}: SIGKILL to worker {victim} after {moment:.2f} s; {acked_at_kill - acked_before} versions "
        f"acked before the kill, {len(acks.versions) - acked_at_kill} after; {len(lost)} connections lost; "
        f"{served[survivor]} writes served by worker {survivor} alone; new worker {replacement} after {restart:.1f} s, "
        f"serving after {startup:.1f} s"
    )
    return after, set(acks.serials) - serials_before


@pytest.mark.parametrize("engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_sigkill_of_one_worker_the_other_serves_and_the_supervisor_replaces_it(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED", random.randrange(1_000_000)))
    print(f"CRASH_TEST_SEED={seed}")
    rng = random.Random(seed)
    token = operator_token(engine, settings)
    acks = Acks()
    started = time.monotonic()
    server = MultiWorkerServer(_server_url(engine), tmp_path, tmp_path / "server.log")
    try:
        workers = server.wait_ready()
        print(f"{WORKERS} workers {sorted(workers)} ready after {time.monotonic() - started:.1f} s")
        last_round: set[str] = set()
        for round_ in range(ROUNDS):
            workers, last_round = _kill_round(server, token, acks, rng, round_, workers)
        # the workers read back the passports of the last round and continue a chain written before the kills
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as http:
            for pid in sorted(last_round):
                r = http.get(f"/api/v1/passports/{pid}/versions")
                assert r.status_code == 200, r.text
                numbers = [v["version"] for v in r.json()]
                assert numbers == list(range(1, len(numbers) + 1)), f"{pid}: versions {numbers}"
                assert max(v for (p, v) in acks.versions if p == pid) <= len(numbers), (pid, numbers)
            pid = sorted(acks.serials)[0]
            r = http.patch(f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": 999.5}})
            assert r.status_code == 200, r.text
            acks.add(pid, r.json()["version"], 999.5)
        stopped = server.stop()
        try:
            _poll("the server's processes gone after SIGTERM", 15.0, lambda: None if server.group() else True)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: left behind {server.group()}\n{server.tail()}") from None
        print(f"SIGTERM: the supervisor and its workers gone after {stopped:.1f} s")
    finally:
        server.close()
    stored = check_stored(engine, acks)
    print(
        f"{len(acks.versions)} acknowledged versions, {len(acks.serials)} passports, {stored} versions stored "
        f"({stored - len(acks.versions)} in flight at a kill, each whole); {time.monotonic() - started:.1f} s"
    )
