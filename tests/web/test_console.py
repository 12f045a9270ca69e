"""The operator console through the server: what each role sees, forms with errors next to their fields, uploads,
labels, grants and the access log.

Pages are fetched with the session cookie (``bl_session``) a sign-in sets; forms send the CSRF token of the page,
as a browser does.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.attributes import attributes
from batteryloop.passport.models import AccessLogEntry, Passport
from batteryloop.passport.service import PassportService
from batteryloop.passport.transfer import export_passport
from batteryloop.web import console_forms as forms
from batteryloop.web.i18n import translator
from tests.passport.conftest import ACCOUNTS, ORGANISATIONS

EV = {
    "battery_category": "ev",
    "gtin": "6291041500213",
    "battery_model_identifier": "EV-75",
    "battery_chemistry": "NMC",
    "rated_capacity_Ah": 211.0,
    "manufacturer_name": "Maker B.V.",
    "battery_mass_kg": 450.0,
    "waste_prevention_information": [
        {"url": "https://example.nl/prevent", "title": "Prevention", "mime_type": "text/html"}
    ],
}


class World:
    """Organisations and accounts of every role, passports of two makers, and a grant to the repurposer."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.tokens: dict[str, str] = {}
        self.maker_ids: list[str] = []
        self.other_ids: list[str] = []
        with transaction(factory) as session:
            svc = PassportService(session, settings)
            for key, name in ORGANISATIONS.items():
                svc.create_organisation(name, identifier=f"ID-{key.upper()}")
            for account, role, org in ACCOUNTS:
                self.tokens[account] = svc.issue_token(svc.create_account(account, role, ORGANISATIONS[org]))
            maker = svc.viewer_for("maker-op")
            other = svc.viewer_for("other-op")
            for i in range(30):
                self.maker_ids.append(svc.create(maker, {**EV, "serial_number": f"MK-{i:03d}"}).id)
            for i in range(3):
                data = {**EV, "serial_number": f"OT-{i:03d}", "battery_model_identifier": "OTHER-9"}
                self.other_ids.append(svc.create(other, data).id)
            svc.grant(maker, self.maker_ids[1], "repurposer", days=30, purpose="second-life test")


@pytest.fixture
def world(session_factory: sessionmaker[Session], settings: Settings) -> World:
    return World(session_factory, settings)


@pytest.fixture
def app_client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def as_user(client: TestClient, world: World, account: str | None) -> TestClient:
    client.cookies.clear()
    if account:
        client.cookies.set("bl_session", world.tokens[account])
    return client


def csrf(client: TestClient, path: str) -> str:
    """The CSRF token of the form on ``path`` (the GET also sets the cookie it must match)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def listed_ids(html: str) -> set[str]:
    return {unescape(m) for m in re.findall(r'name="id" value="([^"]+)"', html)}


def field_error(html: str, key: str) -> str:
    """The error text shown next to the field of attribute ``key`` (and check the field points at it)."""
    field = re.search(rf'<(?:input|select|textarea)[^>]*id="f-{re.escape(key)}"[^>]*>', html)
    assert field, f"no field {key}"
    assert 'aria-invalid="true"' in field.group(0), f"field {key} is not marked invalid"
    assert f"f-{key}-error" in field.group(0), f"field {key} does not point at its error"
    error = re.search(rf'<p id="f-{re.escape(key)}-error" class="field-error">(.*?)</p>', html, re.S)
    assert error, f"no error next to {key}"
    return unescape(error.group(1))


# ---------------------------------------------------------------------------------------------------------------------
# Who sees what


def test_anonymous_is_sent_to_sign_in(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, None)
    for path in ("/console", "/console/new", "/console/log", f"/console/p/{world.maker_ids[0]}", "/console/import"):
        r = app_client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/signin?next=/console"), path


def test_operator_sees_only_its_own_passports(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "maker-op")
    first = app_client.get("/console")
    assert first.status_code == 200
    assert "30 passports" in first.text
    second = app_client.get("/console?page=2")
    ids = listed_ids(first.text) | listed_ids(second.text)
    assert ids == set(world.maker_ids)
    assert not ids & set(world.other_ids)
    as_user(app_client, world, "other-op")
    assert listed_ids(app_client.get("/console").text) == set(world.other_ids)


def test_repurposer_sees_only_granted_batteries(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "repurposer")
    page = app_client.get("/console")
    assert listed_ids(page.text) == {world.maker_ids[1]}
    assert "1 passports" in page.text
    # a repurposer with no grant lists nothing
    as_user(app_client, world, "repurposer-2")
    assert listed_ids(app_client.get("/console").text) == set()


def test_authorities_see_every_passport_but_not_individual_data(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "market-surveillance")
    page = app_client.get("/console?q=OT-")
    assert listed_ids(page.text) == set(world.other_ids)
    assert "33 passports" in app_client.get("/console").text
    # battery status (Annex XIII 4(c)) is not theirs to read or filter on
    assert 'value="waste"' not in page.text
    detail = app_client.get(f"/console/p/{world.maker_ids[0]}")
    assert detail.status_code == 200
    assert "Grant access" not in detail.text and "/edit" not in detail.text


@pytest.mark.parametrize("account", [a for a, _, _ in ACCOUNTS])
def test_each_role_lists_exactly_its_passports(app_client: TestClient, world: World, account: str) -> None:
    """Operators: their organisation's; grantees: those granted to the account; authorities: all."""
    expected = {
        "maker-op": set(world.maker_ids),
        "other-op": set(world.other_ids),
        "repurposer": {world.maker_ids[1]},
        "notified-body": set(world.maker_ids) | set(world.other_ids),
        "market-surveillance": set(world.maker_ids) | set(world.other_ids),
        "commission": set(world.maker_ids) | set(world.other_ids),
    }.get(account, set())
    as_user(app_client, world, account)
    shown: set[str] = set()
    for page in (1, 2):
        response = app_client.get(f"/console?page={page}")
        assert response.status_code == 200
        shown |= listed_ids(response.text)
    assert shown == expected
    assert f"{len(expected)} passports" in response.text


def test_list_filters_by_text_category_and_status(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "maker-op")
    assert listed_ids(app_client.get("/console?q=mk-007").text) == {world.maker_ids[7]}
    assert listed_ids(app_client.get("/console?category=lmt").text) == set()
    assert len(listed_ids(app_client.get("/console?status=original").text)) == 25  # one page
    assert listed_ids(app_client.get("/console?status=waste").text) == set()
    # a LIKE wildcard in the search text is a literal character
    assert listed_ids(app_client.get("/console?q=%25").text) == set()


def test_detail_shows_only_what_the_role_may_read(app_client: TestClient, world: World) -> None:
    pid = world.maker_ids[1]
    as_user(app_client, world, "maker-op")
    own = app_client.get(f"/console/p/{pid}").text
    assert "Battery mass" in own and "450 kg" in own
    assert "Annex XIII point 4" in own  # battery status, the operator's own battery
    assert "Grant access" in own and "repurposer" in own
    as_user(app_client, world, "other-op")
    other = app_client.get(f"/console/p/{pid}").text
    assert "Annex XIII point 4" not in other and "Grant access" not in other
    assert "attributes of this passport are not open to your role" in other
    as_user(app_client, world, "repurposer")
    granted = app_client.get(f"/console/p/{pid}").text
    assert "Annex XIII point 4" in granted and "Grant access" not in granted
    as_user(app_client, world, "repurposer")
    not_granted = app_client.get(f"/console/p/{world.maker_ids[2]}").text
    assert "Annex XIII point 4" not in not_granted
    assert app_client.get("/console/p/NO-SUCH-PASSPORT").status_code == 404


def test_dutch_labels_and_units(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "maker-op")
    page = app_client.get(f"/console/p/{world.maker_ids[0]}?lang=nl").text
    assert "Openbare informatie (bijlage XIII punt 1)" in page
    assert "Gewicht van de batterij" in page and "450 kg" in page
    assert '<html lang="nl">' in page


def test_reading_individual_data_is_logged_and_the_log_is_for_the_right_roles(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    pid = world.maker_ids[1]
    as_user(app_client, world, "repurposer")
    app_client.get(f"/console/p/{pid}")
    with session_factory() as session:
        entries = session.scalars(select(AccessLogEntry).where(AccessLogEntry.passport_id == pid)).all()
        assert any(e.account == "repurposer" and "battery_status" in e.attributes for e in entries)
    as_user(app_client, world, "maker-op")
    log = app_client.get("/console/log")
    assert log.status_code == 200 and "repurposer" in log.text and pid in unescape(log.text)
    as_user(app_client, world, "other-op")
    assert pid not in unescape(app_client.get("/console/log").text)
    as_user(app_client, world, "commission")
    assert pid in unescape(app_client.get("/console/log").text)
    for account in ("repurposer", "notified-body", "recycler"):
        as_user(app_client, world, account)
        assert app_client.get("/console/log").status_code == 403, account


# ---------------------------------------------------------------------------------------------------------------------
# Forms


def test_post_without_csrf_is_refused(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    as_user(app_client, world, "maker-op")
    app_client.get("/console/new?category=ev")
    r = app_client.post(
        "/console/new", data={"battery_category": "ev", "serial_number": "CSRF-1", "gtin": "6291041500213"}
    )
    assert r.status_code == 403
    r = app_client.post(
        "/console/new",
        data={"battery_category": "ev", "serial_number": "CSRF-1", "gtin": "6291041500213", "csrf": "forged"},
    )
    assert r.status_code == 403
    r = app_client.post(f"/console/p/{world.maker_ids[0]}/grants", data={"account": "repurposer"})
    assert r.status_code == 403
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Passport.serial_number == "CSRF-1")) == 0


def test_only_economic_operators_create(app_client: TestClient, world: World) -> None:
    for account in ("repurposer", "commission"):
        as_user(app_client, world, account)
        assert app_client.get("/console/new?category=ev").status_code == 403
        assert app_client.get("/console/import").status_code == 403


def test_create_form_is_generated_from_the_data_model(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "maker-op")
    page = app_client.get("/console/new?category=ev").text
    mandatory = page.index("Mandatory for this category")
    voluntary = page.index("Voluntary")
    assert mandatory < page.index('id="f-battery_mass_kg"') < voluntary  # mandatory static attribute first
    assert voluntary < page.index('id="f-battery_length_mm"')  # a voluntary one after
    assert 'id="f-state_of_charge_pct"' not in page  # dynamic data has its own form
    assert "[kg]" in page and "[°C]" in page
    assert re.search(r'<select id="f-battery_status"', page) is None  # written by the registry, not the user
    lmt = app_client.get("/console/new?category=lmt").text
    # Annex XIII 1(k) capacity threshold for exhaustion applies to EV batteries only
    assert 'id="f-capacity_threshold_exhaustion_pct"' in page
    assert 'id="f-capacity_threshold_exhaustion_pct"' not in lmt


def test_create_with_errors_keeps_input_and_shows_each_error_next_to_its_field(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    as_user(app_client, world, "maker-op")
    token = csrf(app_client, "/console/new?category=ev")
    form = {
        "csrf": token,
        "battery_category": "ev",
        "serial_number": "NEW-001",
        "gtin": "6291041500214",  # wrong check digit
        "battery_model_identifier": "EV-90",
        "battery_mass_kg": "-12",  # below the range
        "rated_capacity_Ah": "12,5,1",  # not a number
        "manufacturer_email": "not-an-address",
        "waste_prevention_information": "Leaflet | https://example.nl/leaflet",
        "hazardous_substances": '[{"name": ',  # broken JSON
    }
    r = app_client.post("/console/new", data=form)
    assert r.status_code == 422
    html = r.text
    assert "check digit" in field_error(html, "gtin")
    assert "at least 0" in field_error(html, "battery_mass_kg")
    assert "is not a number" in field_error(html, "rated_capacity_Ah")
    assert "e-mail" in field_error(html, "manufacturer_email")
    assert "not valid JSON" in field_error(html, "hazardous_substances")
    assert 'value="EV-90"' in html and 'value="-12"' in html and "Leaflet | https://example.nl/leaflet" in html
    assert '<a href="#f-gtin">' in html  # the summary links to the field
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Passport.serial_number == "NEW-001")) == 0
    # fixed: the passport is issued with exactly these values
    form.update(
        gtin="6291041500213",
        battery_mass_kg="312,5",
        rated_capacity_Ah="125",
        manufacturer_email="info@maker.example",
        hazardous_substances='[{"name": "Lithium hexafluorophosphate", "identifier": "21324-40-3"}]',
    )
    r = app_client.post("/console/new", data=form)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith("/console/p/") and location.endswith("?done=created")
    with session_factory() as session:
        passport = session.scalar(select(Passport).where(Passport.serial_number == "NEW-001"))
        assert passport is not None
        assert passport.data["battery_mass_kg"] == 312.5
        assert passport.data["rated_capacity_Ah"] == 125.0
        assert passport.data["waste_prevention_information"] == [
            {"url": "https://example.nl/leaflet", "title": "Leaflet"}
        ]
        assert passport.data["hazardous_substances"][0]["identifier_scheme"] == "CAS"
    shown = app_client.get(location).text
    assert "The passport was issued." in shown and "312.5 kg" in shown


def test_duplicate_battery_error_lands_on_the_serial_field(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "maker-op")
    token = csrf(app_client, "/console/new?category=ev")
    r = app_client.post(
        "/console/new",
        data={"csrf": token, "battery_category": "ev", "serial_number": "MK-001", "gtin": "6291041500213"},
    )
    assert r.status_code == 422
    assert "exists already" in field_error(r.text, "passport_identifier") or "passport" in field_error(
        r.text, "serial_number"
    )


def test_edit_changes_only_what_changed_and_keeps_document_details(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    pid = world.maker_ids[3]
    as_user(app_client, world, "maker-op")
    page = app_client.get(f"/console/p/{pid}/edit")
    assert page.status_code == 200
    fields = dict(re.findall(r'<input id="f-([a-z_A-Z0-9]+)" name="[^"]+"[^>]*?value="([^"]*)"', page.text))
    areas = dict(re.findall(r'<textarea id="f-([a-zA-Z_0-9]+)"[^>]*>([^<]*)</textarea>', page.text))
    assert fields["battery_mass_kg"] == "450"
    assert unescape(areas["waste_prevention_information"]) == "Prevention | https://example.nl/prevent"
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    form: dict[str, Any] = {k: unescape(v) for k, v in {**fields, **areas}.items()}
    form.update(csrf=token.group(1), battery_mass_kg="455.5", manufacturer_name="", note="weighed again")
    r = app_client.post(f"/console/p/{pid}/edit", data=form)
    assert r.status_code == 303, r.text
    with session_factory() as session:
        passport = session.get(Passport, pid)
        assert passport is not None
        assert passport.version == 2
        assert passport.data["battery_mass_kg"] == 455.5
        assert "manufacturer_name" not in passport.data
        # the document line kept the document's MIME type: an unchanged field changes nothing
        assert passport.data["waste_prevention_information"][0]["mime_type"] == "text/html"
    # an invalid correction is refused next to its field with the input kept
    form.update(battery_mass_kg="heavy")
    r = app_client.post(f"/console/p/{pid}/edit", data=form)
    assert r.status_code == 422 and "not a number" in field_error(r.text, "battery_mass_kg")
    assert 'value="heavy"' in r.text


def test_edit_is_for_the_responsible_operator_only(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "other-op")
    assert app_client.get(f"/console/p/{world.maker_ids[0]}/edit").status_code == 403
    assert app_client.get(f"/console/p/{world.maker_ids[0]}/dynamic").status_code == 403
    as_user(app_client, world, "repurposer")
    assert app_client.get(f"/console/p/{world.maker_ids[1]}/edit").status_code == 403


def test_record_measurements_needs_time_and_method(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session]
) -> None:
    pid = world.maker_ids[4]
    as_user(app_client, world, "maker-op")
    token = csrf(app_client, f"/console/p/{pid}/dynamic")
    r = app_client.post(
        f"/console/p/{pid}/dynamic",
        data={"csrf": token, "state_of_charge_pct": "180", "measured_at": "2026-01-10T10:00", "method": ""},
    )
    assert r.status_code == 422
    assert "at most 100" in field_error(r.text, "state_of_charge_pct")
    r = app_client.post(
        f"/console/p/{pid}/dynamic",
        data={"csrf": token, "state_of_charge_pct": "80", "measured_at": "2026-01-10T10:00", "method": ""},
    )
    assert r.status_code == 422 and "method" in field_error(r.text, "method")
    r = app_client.post(
        f"/console/p/{pid}/dynamic",
        data={"csrf": token, "state_of_charge_pct": "80", "measured_at": "2026-01-10T10:00", "method": "BMS read-out"},
    )
    assert r.status_code == 303
    with session_factory() as session:
        passport = session.get(Passport, pid)
        assert passport is not None and passport.data["state_of_charge_pct"] == 80.0
        # Amsterdam winter time is UTC+1
        assert passport.observations["state_of_charge_pct"]["measured_at"].startswith("2026-01-10T09:00")


# ---------------------------------------------------------------------------------------------------------------------
# Grants


def test_grant_and_revoke(app_client: TestClient, world: World) -> None:
    pid = world.maker_ids[5]
    as_user(app_client, world, "maker-op")
    token = csrf(app_client, f"/console/p/{pid}")
    r = app_client.post(f"/console/p/{pid}/grants", data={"csrf": token, "account": "commission"})
    assert r.status_code == 422 and "does not receive legitimate-interest grants" in r.text
    r = app_client.post(
        f"/console/p/{pid}/grants", data={"csrf": token, "account": "recycler", "expires": "2001-01-01"}
    )
    assert r.status_code == 422 and 'id="g-expires-error"' in r.text
    end = (date.today() + timedelta(days=200)).isoformat()
    r = app_client.post(
        f"/console/p/{pid}/grants",
        data={"csrf": token, "account": "recycler", "expires": end, "purpose": "dismantling"},
    )
    assert r.status_code == 303
    as_user(app_client, world, "recycler")
    assert pid in listed_ids(app_client.get("/console").text)
    as_user(app_client, world, "maker-op")
    page = app_client.get(f"/console/p/{pid}").text
    assert "dismantling" in page and f"{end} 23:59" in page
    token = csrf(app_client, f"/console/p/{pid}")
    r = app_client.post(f"/console/p/{pid}/grants/revoke", data={"csrf": token, "account": "recycler"})
    assert r.status_code == 303
    as_user(app_client, world, "recycler")
    assert pid not in listed_ids(app_client.get("/console").text)
    # a whole organisation: each of its grantee-role accounts
    as_user(app_client, world, "maker-op")
    token = csrf(app_client, f"/console/p/{pid}")
    r = app_client.post(f"/console/p/{pid}/grants", data={"csrf": token, "organisation": ORGANISATIONS["repurposer"]})
    assert r.status_code == 303
    as_user(app_client, world, "repurposer-2")
    assert pid in listed_ids(app_client.get("/console").text)
    as_user(app_client, world, "maker-op")
    token = csrf(app_client, f"/console/p/{pid}")
    r = app_client.post(
        f"/console/p/{pid}/grants",
        data={"csrf": token, "account": "recycler", "organisation": ORGANISATIONS["repurposer"]},
    )
    assert r.status_code == 422 and 'id="g-organisation-error"' in r.text
    r = app_client.post(f"/console/p/{pid}/grants", data={"csrf": token, "organisation": ORGANISATIONS["pro"]})
    assert r.status_code == 422 and "has no account of a role that receives grants" in r.text
    # another operator cannot grant on this passport
    as_user(app_client, world, "other-op")
    token = csrf(app_client, f"/console/p/{pid}")
    r = app_client.post(f"/console/p/{pid}/grants", data={"csrf": token, "account": "recycler"})
    assert r.status_code == 403


# ---------------------------------------------------------------------------------------------------------------------
# Upload and labels


def _catenax_export(factory: sessionmaker[Session], settings: Settings, pid: str) -> dict[str, Any]:
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        result = export_passport(svc, svc.viewer_for("maker-op"), pid, "catenax-6.1")
        doc: dict[str, Any] = next(iter(result.documents.values()))
        return doc


def _idta_export(factory: sessionmaker[Session], settings: Settings, pid: str) -> dict[str, Any]:
    with transaction(factory) as session:
        svc = PassportService(session, settings)
        result = export_passport(svc, svc.viewer_for("maker-op"), pid, "idta-02035")
        return dict(result.documents)


def _swap_serial(document: Any, old: str, new: str) -> Any:
    return json.loads(json.dumps(document).replace(old, new))


def test_upload_catenax_creates_a_passport(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    doc = _swap_serial(_catenax_export(session_factory, settings, world.maker_ids[6]), "MK-006", "UP-CX-1")
    as_user(app_client, world, "other-op")
    token = csrf(app_client, "/console/import")
    r = app_client.post(
        "/console/import",
        data={"csrf": token, "format": "catenax-6.1"},
        files={"files": ("pass.json", json.dumps(doc).encode(), "application/json")},
    )
    assert r.status_code == 201, r.text
    assert "was issued with" in r.text
    with session_factory() as session:
        passport = session.scalar(select(Passport).where(Passport.serial_number == "UP-CX-1"))
        assert passport is not None and passport.data["battery_mass_kg"] == 450.0


def test_upload_idta_parts_as_files_and_as_zip(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    parts = _swap_serial(_idta_export(session_factory, settings, world.maker_ids[7]), "MK-007", "UP-ID-1")
    as_user(app_client, world, "other-op")
    token = csrf(app_client, "/console/import")
    files = [("files", (name, json.dumps(doc).encode(), "application/json")) for name, doc in parts.items()]
    r = app_client.post("/console/import", data={"csrf": token, "format": "idta-02035"}, files=files)
    assert r.status_code == 201, r.text
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, doc in _swap_serial(parts, "UP-ID-1", "UP-ID-2").items():
            archive.writestr(f"passport/{name}", json.dumps(doc))
    r = app_client.post(
        "/console/import",
        data={"csrf": token, "format": "idta-02035"},
        files={"files": ("parts.zip", buffer.getvalue(), "application/zip")},
    )
    assert r.status_code == 201, r.text
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Passport.serial_number.in_(["UP-ID-1", "UP-ID-2"]))) == 2


def test_upload_errors_are_listed_per_field(
    app_client: TestClient, world: World, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    doc = _swap_serial(_catenax_export(session_factory, settings, world.maker_ids[8]), "MK-008", "UP-BAD-1")
    text = json.dumps(doc).replace("450000.0", "-450000.0")  # the mass, in grams in Catena-X
    assert "-450000.0" in text
    as_user(app_client, world, "other-op")
    token = csrf(app_client, "/console/import")
    r = app_client.post(
        "/console/import",
        data={"csrf": token, "format": "catenax-6.1"},
        files={"files": ("bad.json", text.encode(), "application/json")},
    )
    assert r.status_code == 422
    assert "Nothing was imported" in r.text and "battery_mass_kg" in r.text
    r = app_client.post(
        "/console/import",
        data={"csrf": token, "format": "catenax-6.1"},
        files={"files": ("broken.json", b"{not json", "application/json")},
    )
    assert r.status_code == 422 and "not JSON" in r.text and "broken.json" in r.text
    r = app_client.post(
        "/console/import",
        data={"csrf": token, "format": "idta-02035"},
        files={"files": ("TechnicalData.json", b"{}", "application/json")},
    )
    assert r.status_code == 422 and "missing" in r.text
    # with skip-invalid the rest is imported and the refused value is listed
    r = app_client.post(
        "/console/import",
        data={"csrf": token, "format": "catenax-6.1", "skip_invalid": "on"},
        files={"files": ("bad.json", text.encode(), "application/json")},
    )
    assert r.status_code == 201 and "Values refused and kept on record" in r.text
    with session_factory() as session:
        passport = session.scalar(select(Passport).where(Passport.serial_number == "UP-BAD-1"))
        assert passport is not None and "battery_mass_kg" not in passport.data


def test_labels_show_a_qr_code_per_selected_passport(app_client: TestClient, world: World) -> None:
    as_user(app_client, world, "maker-op")
    ids = world.maker_ids[:3]
    page = app_client.get("/console/labels", params=[("id", i) for i in [*ids, "NOPE-1"]])
    assert page.status_code == 200
    assert page.text.count("<svg") == 3
    assert page.text.count("<svg viewBox=") == 3  # sized by CSS, for screen and print
    assert "Not found: NOPE-1" in page.text
    assert "EV-75" in page.text and "@media print" not in page.text  # the print rules live in console.css
    css = app_client.get("/static/console.css").text
    assert "@media print" in css and "header.top" in css
    # the code resolves to the public page through the GS1 Digital Link of the battery
    assert "/01/06291041500213/21/MK-000" in unescape(page.text)


def test_value_round_trip_of_the_form_helpers() -> None:
    """Every value the forms show parses back to the stored value (an unchanged form changes nothing)."""
    t = translator("nl")
    table = attributes()
    samples = {
        "battery_mass_kg": 312.5,
        "expected_lifetime_cycles": 1500,
        "battery_category": "ev",
        "critical_raw_materials": ["cobalt", "lithium"],
        "commercial_warranty_period": "P8Y",
        "carbon_footprint_per_lifecycle_stage": [{"stage": "distribution", "kgCO2e_per_kWh": 1.5}],
    }
    for key, value in samples.items():
        text = forms.value_text(table[key], value, "nl")
        parsed, problem = forms.parse_value(table[key], text, t)
        assert problem is None and parsed == value, key
    assert forms.value_text(table["battery_mass_kg"], 312.5, "nl") == "312,5"
    assert forms.parse_value(table["battery_mass_kg"], "1 250,5", t)[0] == 1250.5
    assert forms.parse_value(table["battery_mass_kg"], "1.250,5", t)[1] is not None
    assert forms.field_key("data.hazardous_substances.0.name") == "hazardous_substances"
    assert forms.field_key("values.state_of_charge_pct.measured_at") == "state_of_charge_pct"
