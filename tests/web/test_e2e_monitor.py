"""The national monitor in a real browser, as the public: charts drawn, CSV download, language switch, the phone
layout and the accessibility basics. Screenshots go to build/screenshots/."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from batteryloop.web.monitor import THEMES
from tests.web.audit import audit
from tests.web.conftest import Site, shot

pytestmark = pytest.mark.e2e


def _wait_for_charts(page: Any) -> int:
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-figure]')].every(el => el.getAttribute('data-drawn') === 'true')"
    )
    drawn = page.locator('[data-figure][data-drawn="true"]').count()
    assert drawn == page.locator("[data-figure]").count()
    return int(drawn)


def test_the_monitor_opens_without_sign_in_and_draws_its_charts(site: Site, page: Any) -> None:
    page.goto(site.url("/monitor"))
    assert page.url.endswith("/monitor")  # no redirect to the sign-in page
    assert page.get_by_role("heading", level=1).inner_text() == "National battery monitor"
    assert "no sign-in needed" in page.locator(".monitor-public").inner_text()
    assert _wait_for_charts(page) >= 1
    assert page.locator(".plot .main-svg").count() >= 1  # Plotly drew SVG
    assert page.locator(".theme-card").count() == len(THEMES) + 1
    assert audit(page) == []
    shot(page, "monitor-overview")
    for theme in THEMES:
        page.goto(site.url(f"/monitor/{theme.slug}"))
        assert _wait_for_charts(page) >= 1, theme.slug
        assert page.locator(".chart-meta").count() == page.locator("[data-figure]").count()
        assert audit(page) == [], theme.slug
        shot(page, f"monitor-{theme.slug}")
    page.goto(site.url("/monitor/actions"))
    assert page.locator("li.action").count() == 14
    assert audit(page) == []
    shot(page, "monitor-actions")


def test_a_chart_downloads_as_csv(site: Site, page: Any, tmp_path: Path) -> None:
    page.goto(site.url("/monitor/battery-data"))
    _wait_for_charts(page)
    with page.expect_download() as info:
        page.locator("#chart-soh-distribution .chart-meta a[download]").click()
    download = info.value
    assert download.suggested_filename == "soh-distribution.csv"
    target = tmp_path / "soh.csv"
    download.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows and set(rows[0]) == {"category", "soh_band_pct", "batteries"}
    # aggregates only: each cell is a count of batteries or a suppression mark, never a battery's value
    assert all(r["batteries"].isdigit() or r["batteries"].startswith("suppressed") for r in rows)


def test_the_language_switch_turns_the_monitor_dutch(site: Site, page: Any) -> None:
    page.goto(site.url("/monitor/collection"))
    _wait_for_charts(page)
    english = page.locator("h1").inner_text()
    page.get_by_role("link", name="NL", exact=True).click()
    page.wait_for_url("**lang=nl")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.locator("h1").inner_text() == "Inzameling en hergebruik" != english
    _wait_for_charts(page)
    # the chart's legend speaks Dutch too
    assert "gepubliceerd" in (page.locator("#chart-collection-rates .legend").first.text_content() or "")
    shot(page, "monitor-collection-nl")
    page.get_by_role("link", name="EN", exact=True).click()
    page.wait_for_url("**lang=en")
    assert page.locator("h1").inner_text() == english


def test_the_monitor_fits_a_phone(site: Site, phone: Any) -> None:
    for path, name in (("/monitor", "monitor-overview-phone"), ("/monitor/energy", "monitor-energy-phone")):
        phone.goto(site.url(path))
        _wait_for_charts(phone)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
        shot(phone, name)
    phone.goto(site.url("/monitor/actions"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "monitor-actions-phone")
