"""The web pages' test fixtures: a running server with the demo landscape, and headless Chromium driven by Playwright.

``site`` builds the demo landscape at small scale on an embedded database in a temporary folder and serves it with
uvicorn on a free loopback port (one per test worker). ``page`` and ``phone`` are Playwright pages in Debian's
Chromium (``BATTERYLOOP_CHROMIUM``, default ``/usr/bin/chromium``; Playwright never downloads a browser here), at
desktop and at phone width. Where no Chromium is installed the browser tests skip with a message saying how to enable
them; with ``BATTERYLOOP_REQUIRE_BROWSER=1`` (set by ``.ci/run``) that skip is a failure instead.

``shot(page, name)`` saves a full-page screenshot to ``build/screenshots/<name>.png``: the artefacts a person looks at.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory
from batteryloop.migrate import upgrade
from tests.passport.conftest import client, landscape  # noqa: F401 - the registry fixtures, for the page tests

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("BATTERYLOOP_CHROMIUM", "/usr/bin/chromium")
# Chromium as root in a container without a network beyond loopback: no sandbox (no user namespaces), and none of
# the background connections a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class Site:
    base_url: str
    tokens: dict[str, str]
    """Role value -> access key of that role's demo account."""
    accounts: dict[str, str]
    """Role value -> account name."""
    examples: dict[str, str] = field(default_factory=dict)
    settings: Settings | None = None

    def url(self, path: str) -> str:
        return self.base_url + path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from batteryloop.demo import build_demo

    data_dir = tmp_path_factory.mktemp("site")
    settings = Settings(data_dir=data_dir, public_base_url="http://127.0.0.1")
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    summary = build_demo(make_session_factory(engine), settings, scale="small")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=data_dir, public_base_url=base)
    app = create_app(settings, engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Site(
            base_url=base,
            tokens={role: token for role, (_account, token) in summary.tokens.items()},
            accounts={role: account for role, (account, _token) in summary.tokens.items()},
            examples=dict(summary.examples),
            settings=settings,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the whole session: Playwright's sync API keeps an asyncio event loop
    running in the main thread while it is started, and tests of other modules in the same worker that call
    ``asyncio.run`` (the protocol tests) would find it."""
    if not Path(CHROMIUM).exists():
        message = (
            f"no Chromium at {CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set "
            "BATTERYLOOP_CHROMIUM to run the browser tests"
        )
        if os.environ.get("BATTERYLOOP_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (BATTERYLOOP_REQUIRE_BROWSER=1 makes this a failure)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser: Any, **options: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB", **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop browser page (1280 x 900)."""
    yield from _page(browser, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized browser page (390 x 844, touch)."""
    yield from _page(
        browser, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )


def sign_in(page: Any, site: Site, role: str, next_path: str = "/console") -> None:
    """Sign in through the sign-in form with the demo account of ``role`` and land on ``next_path``."""
    page.goto(site.url(f"/signin?next={next_path}"))
    page.get_by_label("Access key").or_(page.get_by_label("Toegangssleutel")).fill(site.tokens[role])
    page.locator("form[action='/signin'] button[type=submit]").click()
    page.wait_for_url(f"**{next_path.split('?')[0]}*")


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot saved as ``build/screenshots/<name>.png`` (the tests' artefacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
