"""``batteryloop escrow agree`` and ``escrow push`` against a mirror served over HTTP on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from tests.passport.fixtures import full_passport_data
from typer.testing import CliRunner, Result

from batteryloop.api.app import create_app
from batteryloop.cli import app as cli_app
from batteryloop.config import Settings, get_settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.errors import AuthenticationError, BatteryloopError, ValidationError
from batteryloop.migrate import upgrade
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from batteryloop.passport.signing import fingerprint

BASE_URL = "https://passport.example.nl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Command:
    """The ``batteryloop`` command in process, on the database of one registry."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
        self.monkeypatch = monkeypatch
        self.data_dir = data_dir

    def run(self, *args: str, expect: int | None = 0) -> Result:
        self.monkeypatch.setenv("BATTERYLOOP_DATA_DIR", str(self.data_dir))
        self.monkeypatch.setenv("BATTERYLOOP_PUBLIC_BASE_URL", BASE_URL)
        self.monkeypatch.delenv("BATTERYLOOP_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli_app, list(args))
        finally:
            get_settings.cache_clear()
        if expect is not None:
            assert result.exit_code == expect, f"{result.output}\n{result.exception!r}"
        return result


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, list[str], str]:
    """Registry A with two passports of Maker B.V.: its folder, the passport ids and the operator's public key."""
    data_dir = tmp_path / "a"
    settings = Settings(data_dir=data_dir, public_base_url=BASE_URL)
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        service = PassportService(session, settings)
        org = service.create_organisation("Maker B.V.")
        viewer = Viewer(Role.ECONOMIC_OPERATOR, "maker-op", org.id)
        ids = [service.create(viewer, {**full_passport_data("ev"), "serial_number": f"CLI-{n}"}).id for n in (1, 2)]
        key = org.public_key
    engine.dispose()
    return data_dir, ids, key


@pytest.fixture
def mirror_dir(tmp_path: Path) -> Path:
    return tmp_path / "b"


class Served:
    """A registry served by uvicorn in a thread of this process."""

    def __init__(self, data_dir: Path) -> None:
        self.url, self.server, self.thread, self.engine = _serve(data_dir)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.engine.dispose()


def _serve(data_dir: Path) -> tuple[str, uvicorn.Server, threading.Thread, Engine]:
    settings = Settings(data_dir=data_dir, public_base_url=BASE_URL)
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the mirror did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread, engine


@pytest.fixture
def served(mirror_dir: Path) -> Iterator[Served]:
    mirror_dir.mkdir(parents=True, exist_ok=True)
    mirror = Served(mirror_dir)
    yield mirror
    mirror.stop()


def test_push_to_a_served_mirror_then_the_mirror_goes_away(
    monkeypatch: pytest.MonkeyPatch,
    origin: tuple[Path, list[str], str],
    mirror_dir: Path,
    served: Served,
) -> None:
    a_dir, ids, key = origin
    a, b = Command(monkeypatch, a_dir), Command(monkeypatch, mirror_dir)
    url = served.url

    # the origin's key, fetched from the origin's registry while it is still there
    served_origin = Served(a_dir)
    try:
        agreed = b.run(
            "escrow", "agree", "--origin", "Maker B.V.", "--account", "maker-escrow", "--key-from", served_origin.url
        )
    finally:
        served_origin.stop()
    token = agreed.output.strip().splitlines()[-1]
    assert token.startswith("bl_") and f"trusted keys {fingerprint(key)}" in agreed.output
    assert b.run("escrow", "list").output.split()[:6] == ["Maker", "B.V.", "maker-escrow", "active", "0", "passport(s)"]

    pushed = a.run("escrow", "push", "--to", url, "--token", token, "--all")
    assert "2 sent, 0 unchanged, 0 refused" in pushed.output
    assert f"{ids[0]}: created (version 1)" in pushed.output
    one = a.run("escrow", "push", "--to", url, "--token", token, ids[1])
    assert "0 sent, 1 unchanged, 0 refused" in one.output
    again = a.run("escrow", "push", "--to", url, "--token", token, "--all")
    assert "0 sent, 2 unchanged, 0 refused" in again.output
    since = a.run("escrow", "push", "--to", url, "--token", token, "--since", "2000-01-01T00:00:00Z")
    assert "0 sent, 2 unchanged" in since.output

    page = httpx.get(f"{url}/p/{ids[0]}?lang=en")
    assert page.status_code == 200 and "mirrored copy" in page.text

    wrong = a.run("escrow", "push", "--to", url, "--token", "bl_not-a-token", "--all", expect=None)
    assert isinstance(wrong.exception, AuthenticationError) and "does not accept the token" in str(wrong.exception)
    unselected = a.run("escrow", "push", "--to", url, "--token", token, expect=None)
    assert isinstance(unselected.exception, ValidationError)

    served.stop()  # the mirror goes away
    gone = a.run("escrow", "push", "--to", url, "--token", token, "--all", expect=None)
    assert isinstance(gone.exception, BatteryloopError) and gone.exception.code == "mirror_unreachable"
    assert "unreachable" in gone.exception.message

    # as a script sees it: a message on stderr and exit code 2
    env = {**os.environ, "BATTERYLOOP_DATA_DIR": str(a_dir), "BATTERYLOOP_ESCROW_TOKEN": token}
    env.pop("BATTERYLOOP_DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "batteryloop.cli", "escrow", "push", "--to", url, "--all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=a_dir,
    )
    assert proc.returncode == 2 and "unreachable" in proc.stderr, proc.stderr
