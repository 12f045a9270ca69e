# ruff: noqa: F811 - the registry and browser fixtures are imported from their conftest modules
"""Authentication hardening and security headers (issue 8, "Bad input and security"), through the real app.

* failed authentications are limited per client address (API bearer tokens and the sign-in form): 429 with
  Retry-After once the limit is reached, the public's reads never limited, the window slides;
* a grant past its expiry and a revoked grant or token give no access on the very next request (API and pages);
* every response, API or page, carries the security headers; HSTS only over https.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.api.security import CONTENT_SECURITY_POLICY, FailureLimiter
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.attributes import AccessGroup, attributes
from batteryloop.passport.models import ApiKey
from batteryloop.passport.service import PassportService, hash_token
from batteryloop.web.layout import SESSION_COOKIE
from tests.passport.conftest import Landscape, client, create, landscape  # noqa: F401 - fixtures
from tests.passport.samples import every_attribute
from tests.web.conftest import Site, browser, page, sign_in, site  # noqa: F401 - fixtures

LIMIT = 3


@pytest.fixture
def limited(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    """The app with a small failure limit (3 within 60 s)."""
    settings = Settings(
        data_dir=tmp_path,
        public_base_url="https://passport.example.nl",
        auth_failure_limit=LIMIT,
        auth_failure_window_s=60,
    )
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _csrf(client: TestClient) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text)
    assert match, "the sign-in form carries a CSRF token"
    return match.group(1)


# ---------------------------------------------------------------------------------------------------------------------
# Rate limiting of failed authentications


def test_failed_tokens_are_limited_per_address_with_retry_after(limited: TestClient, landscape: Landscape) -> None:
    good = landscape.auth("maker-op")
    assert limited.get("/api/v1/me", headers=good).status_code == 200  # a success counts for nothing
    for i in range(LIMIT):
        r = limited.get("/api/v1/me", headers={"Authorization": f"Bearer bl_wrong-guess-{i}"})
        assert r.status_code == 401, r.text
    r = limited.get("/api/v1/me", headers={"Authorization": "Bearer bl_wrong-guess-x"})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # refused without being checked: a right guess now gets no answer either
    r = limited.get("/api/v1/me", headers=good)
    assert r.status_code == 429 and "Retry-After" in r.headers
    # a malformed header presents credentials as well
    assert limited.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 429
    # the public is never limited: the passport stays readable without a token
    assert limited.get("/api/v1/access-rules").status_code == 200
    assert limited.get("/healthz").status_code == 200
    # another address is not affected
    limiter: FailureLimiter = limited.app.state.auth_limiter  # type: ignore[attr-defined]
    assert limiter.failures("testclient") == LIMIT
    assert limiter.retry_after("192.0.2.7") is None


def test_failed_sign_ins_are_limited_and_share_the_count_with_the_api(
    limited: TestClient, landscape: Landscape
) -> None:
    csrf = _csrf(limited)
    for _ in range(LIMIT - 1):
        r = limited.post("/signin", data={"key": "not-a-key", "next": "/console", "csrf": csrf})
        assert r.status_code == 401
    assert limited.get("/api/v1/me", headers={"Authorization": "Bearer bl_nope"}).status_code == 401
    r = limited.post("/signin", data={"key": landscape.tokens["maker-op"], "next": "/console", "csrf": csrf})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("text/html")
    assert "Te veel mislukte aanmeldpogingen" in r.text and "Too many failed sign-in attempts" in r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    # the sign-in page itself (GET) still opens
    assert limited.get("/signin").status_code == 200


def test_a_form_refused_for_its_csrf_token_is_no_failed_authentication(
    limited: TestClient, landscape: Landscape
) -> None:
    limited.get("/signin")
    for _ in range(LIMIT + 2):
        assert limited.post("/signin", data={"key": "x", "next": "/", "csrf": "forged"}).status_code == 403
    limiter: FailureLimiter = limited.app.state.auth_limiter  # type: ignore[attr-defined]
    assert limiter.failures("testclient") == 0


def test_the_window_slides() -> None:
    now = [1000.0]
    limiter = FailureLimiter(3, 60.0, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = 1000.0 + t
        assert limiter.retry_after("a") is None
        limiter.record_failure("a")
    assert limiter.retry_after("a") == 40  # the failure at t=0 leaves the window at t=60
    assert limiter.retry_after("b") is None
    now[0] = 1059.5
    assert limiter.retry_after("a") == 1
    now[0] = 1060.0
    assert limiter.retry_after("a") is None  # one failure left the window: one more attempt
    assert limiter.failures("a") == 2
    limiter.record_failure("a")
    assert limiter.retry_after("a") == 10  # now the failure at t=10 is the one to wait for
    now[0] = 2000.0
    assert limiter.failures("a") == 0


def test_the_limiter_forgets_the_longest_idle_address_beyond_its_capacity() -> None:
    limiter = FailureLimiter(1, 60.0, clock=lambda: 0.0, max_clients=2)
    for address in ("a", "b", "c"):
        limiter.record_failure(address)
    assert limiter.failures("a") == 0
    assert limiter.retry_after("b") == 60 and limiter.retry_after("c") == 60


def test_limits_are_settings() -> None:
    assert Settings().auth_failure_limit == 10 and Settings().auth_failure_window_s == 300.0
    with pytest.raises(ValueError):
        Settings(auth_failure_limit=0)
    with pytest.raises(ValueError):
        FailureLimiter(1, 0.0)


# ---------------------------------------------------------------------------------------------------------------------
# Tokens: stored hashed; expiry and revocation on the next request


def test_tokens_are_stored_only_as_their_sha256(landscape: Landscape, session_factory: sessionmaker[Session]) -> None:
    token = landscape.tokens["recycler"]
    with session_factory() as s:
        stored = s.scalars(select(ApiKey.token_hash)).all()
    assert hash_token(token) in stored and token not in stored
    assert all(len(h) == 64 and token[10:] not in h for h in stored)


def test_a_grant_past_its_expiry_gives_no_access_on_the_next_request(
    client: TestClient,
    landscape: Landscape,
) -> None:
    pid = create(client, landscape, every_attribute("ev"))
    days = 1.5 / 86_400  # a grant of 1.5 s, left to run out in real time: no row is edited
    r = client.post(
        f"/api/v1/passports/{pid}/grants",
        json={"account": "aggregator", "days": days},
        headers=landscape.auth("maker-op"),
    )
    assert r.status_code == 201, r.text
    h = landscape.auth("aggregator")
    individual = {k for k, a in attributes().items() if a.access_group is AccessGroup.LEGITIMATE_INTEREST_INDIVIDUAL}
    seen = set(client.get(f"/api/v1/passports/{pid}", headers=h).json()["data"])
    assert seen & individual, "the grant gives the individual data while it runs"
    assert client.get(f"/api/v1/passports/{pid}/history/remaining_capacity_Ah", headers=h).status_code == 200
    time.sleep(1.6)
    seen = set(client.get(f"/api/v1/passports/{pid}", headers=h).json()["data"])
    assert not seen & individual
    assert client.get(f"/api/v1/passports/{pid}/history/remaining_capacity_Ah", headers=h).status_code == 403
    grants = client.get(f"/api/v1/passports/{pid}/grants", headers=landscape.auth("maker-op")).json()
    assert [g["active"] for g in grants] == [False]


def test_a_revoked_token_stops_on_the_next_api_request_and_the_next_page(
    client: TestClient,
    landscape: Landscape,
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    token = landscape.tokens["maker-op"]
    assert client.get("/api/v1/me", headers=landscape.auth("maker-op")).status_code == 200
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")
    assert client.get("/console", follow_redirects=False).status_code == 200
    with transaction(session_factory) as s:  # revoked by another process (the CLI), not through this app
        assert PassportService(s, settings).revoke_tokens("maker-op") == 1
    r = client.get("/api/v1/me", headers=landscape.auth("maker-op"))
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_a_revoked_grant_stops_on_the_next_request_on_every_route(
    client: TestClient,
    landscape: Landscape,
) -> None:
    pid = create(client, landscape, every_attribute("ev"))
    op = landscape.auth("maker-op")
    assert client.post(f"/api/v1/passports/{pid}/grants", json={"account": "aggregator"}, headers=op).status_code == 201
    h = landscape.auth("aggregator")
    assert "remaining_capacity_Ah" in client.get(f"/api/v1/passports/{pid}", headers=h).json()["data"]
    assert client.get("/api/v1/passports", params={"soh_min": 0}, headers=h).json()["total"] == 1
    assert client.delete(f"/api/v1/passports/{pid}/grants/aggregator", headers=op).status_code == 204
    assert "remaining_capacity_Ah" not in client.get(f"/api/v1/passports/{pid}", headers=h).json()["data"]
    assert client.get("/api/v1/passports", params={"soh_min": 0}, headers=h).json()["total"] == 0
    assert client.get(f"/api/v1/passports/{pid}/history/remaining_capacity_Ah", headers=h).status_code == 403


# ---------------------------------------------------------------------------------------------------------------------
# Security headers


COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/monitor", 200),
        ("/signin", 200),
        ("/api/v1/access-rules", 200),
        ("/api/v1/passports/no-such-passport", 404),
        ("/openapi.json", 200),
        ("/static/app.js", 200),
        ("/static/plotly.min.js", 200),
        ("/no/such/page", 404),
        ("/healthz", 200),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient,
    path: str,
    status: int,
) -> None:
    r = client.get(path)
    assert r.status_code == status
    for name, value in COMMON.items():
        assert r.headers[name] == value, (path, name)
    csp = r.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["frame-ancestors"] == "'none'"
    assert "camera=()" in r.headers["permissions-policy"]
    assert "strict-transport-security" not in r.headers  # plain http: HSTS would be ignored (RFC 6797 7.2)


def test_hsts_over_https_and_on_refusals(engine: Engine, settings: Settings, landscape: Landscape) -> None:
    with TestClient(create_app(settings, engine=engine), base_url="https://testserver") as c:
        for r in (c.get("/"), c.get("/api/v1/me", headers={"Authorization": "Bearer bl_wrong"})):
            assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
            assert r.headers["x-frame-options"] == "DENY"
        assert c.get("/api/v1/me", headers={"Authorization": "Bearer bl_wrong"}).status_code == 401


def test_the_pages_need_no_inline_script(client: TestClient, landscape: Landscape) -> None:
    """The policy forbids inline script; the pages must then have none (charts are drawn by /static/app.js)."""
    client.cookies.set(SESSION_COOKIE, landscape.tokens["maker-op"], domain="testserver.local")
    for path in ("/", "/monitor", "/signin", "/console", "/health", "/circularity"):
        html = client.get(path)
        assert html.status_code == 200, path
        for tag in re.findall(r"<script\b[^>]*>", html.text):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", html.text), path  # no inline event handlers


# ---------------------------------------------------------------------------------------------------------------------
# The policy in a real browser: the charts still draw and nothing is blocked

CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '')));
"""


@pytest.mark.e2e
def test_charts_draw_under_the_policy_and_nothing_is_blocked(site: Site, page: Any) -> None:
    page.add_init_script(CSP_LISTENER)
    sign_in(page, site, "economic_operator", "/monitor")
    for path in ("/monitor", "/monitor/battery-data", "/health", "/circularity", "/console"):
        response = page.goto(site.url(path))
        assert response is not None and response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        page.wait_for_load_state("networkidle")
        figures = page.locator("[data-figure]").count()
        if figures:
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-figure]')]"
                ".every(el => el.getAttribute('data-drawn') === 'true')"
            )
            assert page.locator(".plot .main-svg").count() >= 1, path  # Plotly drew SVG
            assert page.evaluate("typeof Plotly") == "object", path  # plotly.js loaded and ran without eval
        assert page.evaluate("window.__csp") == [], path
    # the control: an inline script is blocked, and the listener sees it
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.head.appendChild(s); }"
    )
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
    assert page.evaluate("window.__csp")[0].startswith("script-src")
