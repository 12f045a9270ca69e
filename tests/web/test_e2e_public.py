"""In a real browser: scanning a passport's QR code as the public, switching language, signing in as each role,
keyboard use and the phone layout. Screenshots go to build/screenshots/."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.attributes import AccessGroup, attributes
from batteryloop.web.layout import nav_for
from tests.web.conftest import Site, shot, sign_in

pytestmark = pytest.mark.e2e


def _passport(site: Site, label_part: str) -> dict[str, Any]:
    pid = next(pid for label, pid in site.examples.items() if label_part in label)
    response = httpx.get(site.url(f"/api/v1/passports/{pid}"))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_scanning_the_qr_code_opens_the_public_passport(site: Site, phone: Any) -> None:
    passport = _passport(site, "EV")
    link = passport["digital_link"]
    assert link and link.startswith(site.base_url + "/01/")
    phone.goto(link)
    assert phone.url.endswith(f"/p/{passport['passport_id']}")
    assert phone.locator("h1").inner_text() == passport["data"]["battery_model_identifier"]
    shown = phone.locator("table.attrs th").all_inner_texts()
    public = [a for a in attributes().values() if a.access_group is AccessGroup.PUBLIC and a.key in passport["data"]]
    assert len(shown) == len(public)
    assert not [k for k in passport["data"] if attributes()[k].access_group is not AccessGroup.PUBLIC]
    assert phone.locator("[data-status]").get_attribute("data-status") in ("original", "repurposed", "re_used")
    assert phone.locator("figure.qr svg").count() == 1
    # the page fits the phone: nothing wider than the viewport
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "public-passport-phone")


def test_the_language_switch_changes_labels_and_is_remembered(site: Site, page: Any) -> None:
    passport = _passport(site, "EV")
    page.goto(site.url(f"/p/{passport['passport_id']}"))
    assert page.locator("html").get_attribute("lang") == "en"
    english = page.locator("table.attrs th").first.inner_text()
    page.get_by_role("link", name="NL", exact=True).click()
    page.wait_for_url("**lang=nl")
    assert page.locator("html").get_attribute("lang") == "nl"
    dutch = page.locator("table.attrs th").first.inner_text()
    assert dutch != english
    page.goto(site.url("/"))
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.get_by_role("link", name="Inloggen").count() == 1
    shot(page, "home-nl")


@pytest.mark.parametrize("role", [r.value for r in Role if r is not Role.ANONYMOUS])
def test_each_role_signs_in_and_gets_its_menu(site: Site, page: Any, role: str) -> None:
    if role not in site.tokens:
        pytest.fail(f"the demo landscape has no account for the role {role}")
    sign_in(page, site, role, next_path="/monitor")
    header = page.locator("header.top .who").inner_text()
    assert site.accounts[role] in header
    assert role.replace("_", " ") in header
    menu = page.locator("nav.main a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert menu == [item.path for item in nav_for(Viewer(Role(role)))]
    page.locator("form[action='/signout'] button").click()
    page.wait_for_url(site.url("/"))
    assert page.locator("header.top .who").count() == 0


def test_a_wrong_key_shows_the_error_at_the_field(site: Site, page: Any) -> None:
    page.goto(site.url("/signin"))
    page.get_by_label("Access key").fill("bl_not-a-real-key")
    page.locator("form[action='/signin'] button[type=submit]").click()
    assert page.get_by_role("alert").inner_text().startswith("This access key is unknown")
    assert page.get_by_label("Access key").get_attribute("aria-invalid") == "true"
    shot(page, "signin-error")


def test_the_keyboard_reaches_the_content_first(site: Site, page: Any) -> None:
    page.goto(site.url("/"))
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    # every form field on the front page has a label
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !e.labels || e.labels.length === 0).length"
    )
    assert unlabelled == 0
