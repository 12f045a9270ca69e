"""Signing in and out of the web pages, CSRF protection, the navigation per role, and the chart helpers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.service import PassportService
from batteryloop.web.auth import _safe_next
from batteryloop.web.charts import Chart
from batteryloop.web.layout import NAV, SESSION_COOKIE
from tests.passport.conftest import Landscape


def signed_in(client: TestClient, token: str) -> None:
    """The browser state after signing in: the session cookie for the test server's host."""
    client.cookies.set(SESSION_COOKIE, token, domain="testserver.local")


def _csrf(client: TestClient, path: str = "/signin") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def test_sign_in_sets_an_http_only_session_and_returns_to_the_page(client: TestClient, landscape: Landscape) -> None:
    token = _csrf(client)
    response = client.post(
        "/signin",
        data={"key": landscape.tokens["maker-op"], "next": "/monitor", "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/monitor"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    home = client.get("/")
    assert "maker-op" in home.text and "economic operator" in home.text


def test_a_wrong_key_is_refused_with_a_message_next_to_the_field(client: TestClient, landscape: Landscape) -> None:
    token = _csrf(client)
    response = client.post("/signin", data={"key": "not-a-key", "next": "/console", "csrf": token})
    assert response.status_code == 401
    assert "unknown or has been revoked" in response.text
    assert 'aria-invalid="true"' in response.text
    assert SESSION_COOKIE not in client.cookies


def test_a_form_without_the_csrf_token_is_refused(client: TestClient, landscape: Landscape) -> None:
    client.get("/signin")
    response = client.post("/signin", data={"key": landscape.tokens["maker-op"], "next": "/console"})
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    forged = client.post(
        "/signin", data={"key": landscape.tokens["maker-op"], "next": "/console", "csrf": "forged-token"}
    )
    assert forged.status_code == 403


def test_sign_out_ends_the_session(client: TestClient, landscape: Landscape) -> None:
    signed_in(client, landscape.tokens["recycler"])
    token = _csrf(client, "/")
    assert "recycler" in client.get("/").text
    response = client.post("/signout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert SESSION_COOKIE not in client.cookies
    assert "recycler" not in client.get("/").text


def test_a_revoked_key_stops_working_on_the_next_page(
    client: TestClient, landscape: Landscape, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    signed_in(client, landscape.tokens["aggregator"])
    assert "aggregator" in client.get("/").text
    with transaction(session_factory) as session:
        assert PassportService(session, settings).revoke_tokens("aggregator") == 1
    page = client.get("/")
    assert "aggregator" not in page.text
    assert 'href="/signin' in page.text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/health/abc?x=1", "/health/abc?x=1"),
        ("https://evil.example/", "/console"),
        ("//evil.example/x", "/console"),
        ("javascript:alert(1)", "/console"),
        ("", "/console"),
    ],
)
def test_the_return_address_after_sign_in_stays_on_this_site(target: str, expected: str) -> None:
    assert _safe_next(target) == expected


def test_pages_that_need_a_sign_in_send_the_browser_there_and_back(client: TestClient) -> None:
    response = client.get("/console?status=waste", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/console%3Fstatus%3Dwaste"


def test_the_menu_offers_the_signed_in_pages_only_after_sign_in(client: TestClient, landscape: Landscape) -> None:
    anonymous = client.get("/")
    assert 'href="/monitor"' in anonymous.text
    assert 'href="/console"' not in anonymous.text
    signed_in(client, landscape.tokens["market-surveillance"])
    menu = client.get("/")
    for item in NAV:
        assert f'href="{item.path}"' in menu.text


def test_plotly_is_served_from_the_installed_package(client: TestClient) -> None:
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert b"plotly.js" in response.content[:2000]
    assert len(response.content) > 1_000_000


def test_a_chart_carries_its_rows_as_csv() -> None:
    chart = Chart(
        id="rates",
        title="Collection rate",
        figure={"data": [{"type": "bar", "x": [2018, 2019], "y": [47.4, 50.6]}]},
        columns=["year", "collection_rate_pct"],
        rows=[[2018, 47.4], [2019, 50.6]],
        source="Stibat",
    )
    assert chart.csv_text() == "year,collection_rate_pct\n2018,47.4\n2019,50.6\n"
    assert '"type": "bar"' in chart.figure_json()
