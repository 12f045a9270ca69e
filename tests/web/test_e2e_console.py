"""The operator console in a real browser: create a passport with an error and fix it, switch language, grant and
revoke, upload a file, print QR labels, and every console page at desktop and phone width (screenshots in
build/screenshots/, each page checked for labels, names, contrast and width)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from batteryloop.passport.identifiers import gtin_check_digit
from tests.web.audit import audit
from tests.web.conftest import Site, shot, sign_in

pytestmark = pytest.mark.e2e

OPERATOR = "economic_operator"


def _gtin(item: int) -> str:
    body = f"87999{item:07d}"
    return body + str(gtin_check_digit(body))


def _own_passport(site: Site) -> str:
    """An active passport of the demo operator (from the API, with its key), not one of the printed examples: the other
    browser tests of the same server rely on those (a repurposer's grant on the used EV pack, say)."""
    headers = {"Authorization": f"Bearer {site.tokens[OPERATOR]}"}
    me = httpx.get(site.url("/api/v1/me"), headers=headers).json()
    assert me["role"] == OPERATOR
    body = httpx.get(site.url("/api/v1/passports"), params={"state": "active", "limit": 500}, headers=headers).json()
    examples = set(site.examples.values())
    for item in body["items"]:
        if "battery_status" in item and item["passport_id"] not in examples:  # individual data: its own passports
            return str(item["passport_id"])
    raise AssertionError("the demo operator has no active passport")


def _check(page: Any, name: str) -> None:
    problems = audit(page)
    shot(page, name)
    assert not problems, f"{name}: {problems}"


def test_operator_creates_a_passport_with_an_error_fixes_it_and_sees_it(site: Site, page: Any) -> None:
    sign_in(page, site, OPERATOR)
    page.get_by_role("link", name="New passport").click()
    page.get_by_label("Battery category").select_option("ev")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/console/new?category=ev")
    serial = "E2E-CREATE-0001"
    page.locator("#f-serial_number").fill(serial)
    page.locator("#f-gtin").fill(_gtin(1))
    page.locator("#f-battery_model_identifier").fill("E2E-75 NMC")
    page.locator("#f-manufacturer_name").fill("Amstel Battery Systems B.V.")
    page.locator("#f-battery_mass_kg").fill("-450")
    page.locator("#f-rated_capacity_Ah").fill("211")
    page.get_by_role("button", name="Issue passport").click()
    # refused: the error is next to the mass field, the field is marked, and the input is kept
    mass = page.locator("#f-battery_mass_kg")
    assert mass.get_attribute("aria-invalid") == "true"
    assert "at least 0" in page.locator("#f-battery_mass_kg-error").inner_text()
    assert mass.input_value() == "-450"
    assert page.locator("#f-serial_number").input_value() == serial
    assert page.get_by_role("alert").locator("a[href='#f-battery_mass_kg']").count() == 1
    _check(page, "console-create-error")
    # the summary link takes the keyboard to the field
    page.get_by_role("alert").locator("a[href='#f-battery_mass_kg']").click()
    assert page.url.endswith("#f-battery_mass_kg")
    mass.fill("450,5")
    page.get_by_role("button", name="Issue passport").click()
    page.wait_for_url(re.compile(r".*/console/p/[^/?]+\?done=created$"))
    assert page.get_by_role("status").first.inner_text() == "The passport was issued."
    assert page.locator("h1").inner_text() == "E2E-75 NMC"
    row = page.locator("table.attrs tr", has_text="Battery mass")
    assert "450.5 kg" in row.inner_text()
    _check(page, "console-passport-created")
    # the same page in Dutch: labels and the number in the user's language
    page.get_by_role("link", name="NL").click()
    page.wait_for_url("**lang=nl")
    assert page.locator("html").get_attribute("lang") == "nl"
    row = page.locator("table.attrs tr", has_text="Gewicht van de batterij")
    assert "450,5 kg" in row.inner_text()
    assert page.get_by_role("heading", name=re.compile("Openbare informatie")).count() == 1
    _check(page, "console-passport-nl")
    # and it is in the list
    page.goto(site.url(f"/console?q={serial}&lang=en"))
    assert page.locator("table.console-list tbody tr").count() == 1


def test_operator_grants_and_revokes_access(site: Site, page: Any) -> None:
    pid = _own_passport(site)
    sign_in(page, site, OPERATOR, next_path=f"/console/p/{pid}")
    repurposer = site.accounts["repurposer"]
    page.get_by_label("Account", exact=True).fill(repurposer)
    page.get_by_label("Purpose").fill("second-life assessment (e2e)")
    page.get_by_role("button", name="Grant access").click()
    page.wait_for_url("**done=granted*")
    row = page.locator("#grants tbody tr", has_text="second-life assessment (e2e)")
    assert "active" in row.inner_text()
    _check(page, "console-grants")
    row.get_by_role("button", name=f"Revoke the grant of {repurposer}").click()
    page.wait_for_url("**done=revoked*")
    assert "revoked" in page.locator("#grants tbody tr", has_text="second-life assessment (e2e)").inner_text()


def test_upload_a_catenax_file(site: Site, page: Any) -> None:
    pid = _own_passport(site)
    headers = {"Authorization": f"Bearer {site.tokens[OPERATOR]}"}
    exported = httpx.get(site.url(f"/api/v1/passports/{pid}/export"), params={"format": "catenax-6.1"}, headers=headers)
    assert exported.status_code == 200
    serial = httpx.get(site.url(f"/api/v1/passports/{pid}"), headers=headers).json()["data"]["serial_number"]
    # the same battery under another serial number (the serial is part of the passport identifier too)
    text = json.dumps(exported.json()).replace(serial, "E2E-UPLOAD-1")
    sign_in(page, site, OPERATOR, next_path="/console/import")
    page.get_by_label("Format").select_option("catenax-6.1")
    # a broken file first: the problem names the file
    page.get_by_label("File(s)").set_input_files(
        files=[{"name": "broken.json", "mimeType": "application/json", "buffer": b'{"a": '}]
    )
    page.get_by_role("button", name="Upload and issue").click()
    assert "broken.json" in page.locator("table.problems").inner_text()
    _check(page, "console-import-error")
    page.get_by_label("Format").select_option("catenax-6.1")
    page.get_by_label("File(s)").set_input_files(
        files=[{"name": "pass.json", "mimeType": "application/json", "buffer": text.encode()}]
    )
    page.get_by_role("button", name="Upload and issue").click()
    assert "was issued with" in page.get_by_role("status").first.inner_text()
    _check(page, "console-import-done")
    page.get_by_role("link", name="Open the passport").click()
    assert "E2E-UPLOAD-1" in page.locator("#point-1 table.attrs").inner_text()


def test_print_qr_labels_of_selected_passports(site: Site, page: Any) -> None:
    sign_in(page, site, OPERATOR)
    boxes = page.locator("table.console-list input[type=checkbox]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Print QR labels of the selected").click()
    page.wait_for_url("**/console/labels?*")
    assert page.locator("li.label svg").count() == 2
    assert page.get_by_role("button", name="Print").is_visible()
    _check(page, "console-labels")
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()
    assert not page.get_by_role("button", name="Print").is_visible()
    shot(page, "console-labels-print")


def _pages(site: Site) -> list[tuple[str, str]]:
    pid = _own_passport(site)
    return [
        ("list", "/console"),
        ("passport", f"/console/p/{pid}"),
        ("new", "/console/new"),
        ("create-form", "/console/new?category=lmt"),
        ("edit", f"/console/p/{pid}/edit"),
        ("dynamic", f"/console/p/{pid}/dynamic"),
        ("import", "/console/import"),
        ("labels", f"/console/labels?id={pid}"),
        ("log", "/console/log"),
    ]


@pytest.mark.parametrize("device", ["page", "phone"])
def test_every_console_page_at_desktop_and_phone_width(site: Site, device: str, request: pytest.FixtureRequest) -> None:
    browser_page = request.getfixturevalue(device)
    width = "desktop" if device == "page" else "phone"
    sign_in(browser_page, site, OPERATOR)
    failures = []
    for name, path in _pages(site):
        browser_page.goto(site.url(path))
        assert browser_page.locator("h1").count() == 1, path
        problems = audit(browser_page)
        if device == "phone":
            # a phone zooms out to fit a page that is too wide, which the window width then no longer shows
            wide = browser_page.evaluate("document.documentElement.scrollWidth")
            if wide > 390:
                problems.append(f"the page is {wide} px wide on a 390 px phone")
        shot(browser_page, f"console-{name}-{width}")
        if problems:
            failures.append(f"{path}: {problems}")
    assert not failures, failures


@pytest.mark.parametrize(
    ("role", "sees_all"),
    [("repurposer", False), ("market_surveillance_authority", True), ("recycler", False)],
)
def test_other_roles_list(site: Site, page: Any, role: str, sees_all: bool) -> None:
    sign_in(page, site, role)
    intro = page.locator("p.sub").first.inner_text()
    assert ("Every passport" in intro) == sees_all
    assert page.get_by_role("link", name="New passport").count() == 0
    _check(page, f"console-list-{role}")
