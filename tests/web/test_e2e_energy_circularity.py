"""In a real browser: an aggregator runs a dispatch of a battery it was granted and of an EV fleet and sees the
revenue and the charts drawn; a producer-responsibility organisation's operator sees its collection rates against the
targets; anyone sees the material-flow scenarios. Screenshots (desktop and phone) go to build/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from batteryloop.circularity.epr_models import Report
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.passport.models import Account, Organisation
from batteryloop.passport.service import PassportService
from tests.web.conftest import Site, shot, sign_in

pytestmark = pytest.mark.e2e


def _drawn(page: Any, chart_id: str) -> None:
    page.wait_for_selector(f"#chart-{chart_id} .plot[data-drawn='true']")
    assert page.locator(f"#chart-{chart_id} .plot .main-svg").count() >= 1


def _fits(page: Any, width: int = 390) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def _pro_operator_token(site: Site) -> tuple[str, str]:
    """A new access key for an economic operator of a producer-responsibility organisation of the demo (its name and
    the key)."""
    assert site.settings is not None
    engine = make_engine(site.settings.resolved_database_url())
    try:
        with transaction(make_session_factory(engine)) as session:
            rows = session.execute(
                select(Account, Organisation)
                .join(Organisation, Account.organisation_id == Organisation.id)
                .where(Organisation.kind == "producer_responsibility_organisation")
                .where(Account.role == "economic_operator")
            ).all()
            # the one reporting most years of a category with a collection-rate target (portable, LMT)
            counts = {
                org.id: sum(
                    any(line["category"] in ("portable", "LMT") for line in report.data.get("lines", []))
                    for report in session.scalars(select(Report).where(Report.organisation_id == org.id))
                )
                for _, org in rows
            }
            account, org = max(rows, key=lambda r: (counts[r[1].id], r[1].name))
            return org.name, PassportService(session, site.settings).issue_token(account)
    finally:
        engine.dispose()


def test_an_aggregator_dispatches_a_granted_battery_and_sees_revenue_and_charts(site: Site, page: Any) -> None:
    sign_in(page, site, "aggregator", "/energy")
    options = page.locator("#f-passport option")
    assert options.count() > 1, "the aggregator has granted batteries with a state of health"
    first = options.nth(1).get_attribute("value")
    page.select_option("#f-passport", first)
    page.select_option("#f-length", "week")
    page.fill("#f-start", "2024-06-03")
    page.get_by_role("button", name="Run the dispatch").click()
    page.wait_for_selector("#result-h")
    revenue = page.locator(".card", has_text="Market revenue").locator(".value").inner_text()
    assert re.fullmatch(r"€ −?[\d,]+\.\d\d", revenue)
    assert page.locator(".card", has_text="Full equivalent cycles").count() == 1
    _drawn(page, "schedule")
    _drawn(page, "soc")
    assert "passport" in page.locator(".energy-facts").inner_text()  # the figures came from the passport
    shot(page, "energy-battery-desktop")
    # the CSV of the schedule: one row per hour of the week
    href = page.locator("#chart-schedule a[download]").get_attribute("href")
    with page.expect_download() as info:
        page.locator("#chart-schedule a[download]").click()
    assert href and "csv=schedule" in href
    assert len(Path(info.value.path()).read_text(encoding="utf-8").strip().splitlines()) == 1 + 7 * 24


def test_an_aggregator_runs_a_fleet_with_vehicle_to_grid(site: Site, page: Any) -> None:
    sign_in(page, site, "aggregator", "/energy?mode=fleet")
    page.fill("#f-evs", "80")
    page.check("#f-v2g")
    page.get_by_role("button", name="Run the fleet").click()
    page.wait_for_selector("#result-h")
    assert page.locator(".card", has_text="Saving").count() == 1
    assert page.locator(".card", has_text="V2G discharged").count() == 1
    _drawn(page, "fleet")
    shot(page, "energy-fleet-desktop")


def test_the_fleet_in_dutch_on_a_phone(site: Site, phone: Any) -> None:
    sign_in(phone, site, "aggregator", "/energy?mode=fleet&lang=nl")
    assert phone.locator("html").get_attribute("lang") == "nl"
    phone.fill("#f-evs", "40")
    phone.get_by_role("button", name="Bereken de vloot").click()
    phone.wait_for_selector("#result-h")
    assert phone.locator(".card", has_text="Besparing").count() == 1
    _drawn(phone, "fleet")
    shot(phone, "energy-fleet-phone-nl")
    _fits(phone)


def test_the_energy_form_shows_errors_next_to_the_fields_and_works_on_a_phone(site: Site, phone: Any) -> None:
    sign_in(phone, site, "aggregator", "/energy")
    # FCR without its price: the server names the field (the browser checks only ranges)
    phone.select_option("#f-passport", "")
    phone.fill("#f-energy_kWh", "500")
    phone.check("#f-fcr")
    phone.get_by_role("button", name="Run the dispatch").click()
    phone.wait_for_selector("#e-fcr_price")
    assert phone.locator("#f-fcr_price").get_attribute("aria-invalid") == "true"
    assert phone.locator("#f-energy_kWh").input_value() == "500"  # what was typed is kept
    _fits(phone)
    phone.fill("#f-fcr_price", "40")
    phone.select_option("#f-length", "day")
    phone.get_by_role("button", name="Run the dispatch").click()
    phone.wait_for_selector("#result-h")
    _drawn(phone, "schedule")
    shot(phone, "energy-battery-phone")
    _fits(phone)


def test_a_pro_operator_sees_its_collection_rates_against_the_targets(site: Site, page: Any, phone: Any) -> None:
    name, token = _pro_operator_token(site)
    site.tokens["pro_operator"] = token
    sign_in(page, site, "pro_operator", "/circularity")
    assert page.locator("h2").first.inner_text() == name
    _drawn(page, "collection")
    _drawn(page, "tonnage")
    assert "target" in page.locator("#chart-collection").inner_text()
    assert page.locator("#compliance tbody tr").count() >= 1
    assert page.locator("#reports tbody tr").count() >= 1
    assert "National figures" not in page.content()
    shot(page, "circularity-pro-desktop")
    sign_in(phone, site, "pro_operator", "/circularity")
    _drawn(phone, "collection")
    shot(phone, "circularity-pro-phone")
    _fits(phone)


def test_the_authority_sees_the_national_figures(site: Site, page: Any) -> None:
    sign_in(page, site, "market_surveillance_authority", "/circularity")
    assert page.locator("text=National figures").count() >= 1
    assert page.locator(".circ-org-list li").count() >= 3
    shot(page, "circularity-authority-desktop")


def test_the_material_flow_scenarios_are_drawn_with_the_2030_goal(site: Site, page: Any, phone: Any) -> None:
    page.goto(site.url("/circularity/mfa"))
    for element in ("Li", "Co", "Ni", "Cu"):
        _drawn(page, f"share_{element}")
        _drawn(page, f"primary_{element}")
    assert page.locator("#chart-share_Li .annotation-text", has_text="2030 goal").count() == 1
    assert page.locator("#goal tbody tr").count() == 4
    shot(page, "circularity-mfa-desktop")
    phone.goto(site.url("/circularity/mfa?lang=nl"))
    _drawn(phone, "share_Li")
    assert "scenario's voor materiaalstromen" in phone.locator("h1").inner_text()
    shot(phone, "circularity-mfa-phone")
    _fits(phone)
