"""Real processes for the fault tests: the batteryloop server (uvicorn on ``create_app``) and a PostgreSQL of our own.

Both run as child processes on free loopback ports, so a test can SIGKILL the server or stop its database without
touching anything another test uses (the shared PostgreSQL server at 127.0.0.1:5432 is never stopped or restarted).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from batteryloop.config import Settings
from batteryloop.db import make_session_factory, transaction
from batteryloop.passport.access import Role
from batteryloop.passport.service import PassportService

PG_BIN = Path(os.environ.get("BATTERYLOOP_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
MAKER = "Maker B.V."
EV = {
    "battery_category": "ev",
    "gtin": "6291041500213",
    "battery_model_identifier": "EV-75",
    "battery_chemistry": "NMC",
    "rated_capacity_Ah": 211.0,
    "manufacturer_name": MAKER,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def operator_token(engine: Engine, settings: Settings) -> str:
    """An economic operator of a manufacturer, and its API token, in a migrated empty database."""
    with transaction(make_session_factory(engine)) as session:
        svc = PassportService(session, settings)
        svc.create_organisation(MAKER, identifier="ID-MAKER", kind="manufacturer")
        account = svc.create_account("maker-op", Role.ECONOMIC_OPERATOR, MAKER)
        return svc.issue_token(account)


ZYGOTE = """
import os, signal, sys
import uvicorn
import batteryloop.api.app  # imported once here; every server forked below starts without importing it again
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the killed servers
for line in sys.stdin:
    port, log = line.split()
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        uvicorn.run("batteryloop.api.app:create_app", factory=True, host="127.0.0.1", port=int(port),
                    log_level="warning")
        os._exit(0)
    print(pid, flush=True)
"""


class Server:
    """``uvicorn batteryloop.api.app:create_app --factory`` in a process of its own, the process SIGKILL reaches.

    Importing the application takes seconds on a busy machine, so a parent process imports it once and forks each
    server from there (as ``gunicorn --preload`` does); each fork runs uvicorn and builds a fresh application, engine
    and connection pool with ``create_app``. Nothing is shared with the parent after the fork but the imported code.
    """

    def __init__(self, database_url: str, data_dir: Path, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.pid: int | None = None
        env = {
            **os.environ,
            "BATTERYLOOP_DATABASE_URL": database_url,
            "BATTERYLOOP_DATA_DIR": str(data_dir),
            "BATTERYLOOP_PUBLIC_BASE_URL": "https://passport.example.nl",
            "BATTERYLOOP_WORKER_THREADS": "4",
        }
        self.zygote = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        assert self.zygote.stdin is not None and self.zygote.stdout is not None
        self.zygote.stdin.write(f"{self.port} {self.log}\n")
        self.zygote.stdin.flush()
        self.pid = int(self.zygote.stdout.readline())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"the server exited: {self._log_tail()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the server did not answer /healthz within {timeout} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return False  # reaped between the signal check and the read
        return "State:\tZ" not in status

    def _wait_gone(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"server process {self.pid} still runs {timeout} s after the signal")
            time.sleep(0.01)
        self.pid = None

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no rollback runs."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        self._wait_gone()

    def stop(self) -> None:
        if self.alive():
            assert self.pid is not None
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._wait_gone()
            except AssertionError:
                os.kill(self.pid, signal.SIGKILL)
                self._wait_gone()

    def close(self) -> None:
        """Stop the server and the process it was forked from."""
        self.stop()
        if self.zygote.stdin is not None:
            self.zygote.stdin.close()
        try:
            self.zygote.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.zygote.kill()
            self.zygote.wait(timeout=10)


class OwnPostgres:
    """A PostgreSQL cluster of this test alone (initdb in a temporary directory, pg_ctl on a free port).

    As root, the cluster runs as the ``postgres`` user (PostgreSQL refuses to run as root). Where the binaries are
    absent the test skips, naming them; with ``BATTERYLOOP_REQUIRE_POSTGRES=1`` that is a failure instead.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bl-own-pg-"))
        self.data = self.dir / "data"
        self.logfile = self.dir / "postgres.log"
        self._as: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def binaries_or_skip(cls) -> None:
        missing = [name for name in ("initdb", "pg_ctl") if not (PG_BIN / name).is_file()]
        if missing:
            message = (
                f"PostgreSQL binaries not found: {', '.join(str(PG_BIN / m) for m in missing)} (install postgresql-15 "
                "or set BATTERYLOOP_TEST_PG_BIN); this test starts and stops a PostgreSQL of its own"
            )
            if os.environ.get("BATTERYLOOP_REQUIRE_POSTGRES") == "1":
                pytest.fail(message + " (BATTERYLOOP_REQUIRE_POSTGRES=1 makes this a failure)")
            pytest.skip(message)

    def _run(self, *args: str, timeout: float = 30.0) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-o", options, "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, their transactions rolled back."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)
