"""The safety checks through the API: ADR classification (also from a passport, as the caller may see it) and the
PGS 37-2 storage check; every authenticated account may call them, the public is asked to authenticate.

Expected classifications follow ADR 2025 as summarised in the sources of ``adr_rules.csv``: a lithium ion battery
carried alone is UN3480; SP188 relieves a battery of at most 100 Wh; above it P903 applies; SP636 relieves waste
cells/batteries of at most 500 g gross each. PGS 37-2:2023 threshold A is 333 kg gross per fire compartment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.models import Passport
from batteryloop.passport.service import PassportService

EV = {
    "battery_category": "ev",
    "gtin": "6291041500213",
    "battery_model_identifier": "EV-75",
    "battery_chemistry": "NMC",
    "battery_mass_kg": 450.0,
    "rated_energy_kWh": 75.0,
}
TRANSPORT = "/api/v1/safety/transport"
STORAGE = "/api/v1/safety/storage"


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def world(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, str]:
    """Tokens of the maker and of another operator; the maker's open and closed passports."""
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        maker = svc.create_organisation("Maker", kind="manufacturer")
        svc.create_organisation("Other Maker", kind="manufacturer")
        out = {
            "maker": svc.issue_token(svc.create_account("maker-op", Role.ECONOMIC_OPERATOR, "Maker")),
            "other": svc.issue_token(svc.create_account("other-op", Role.ECONOMIC_OPERATOR, "Other Maker")),
        }
        viewer = Viewer(Role.ECONOMIC_OPERATOR, account="maker-op", organisation_id=maker.id)
        out["open"] = svc.create(viewer, EV | {"serial_number": "SAFE-1"}).id
        closed = svc.create(viewer, EV | {"serial_number": "SAFE-2"})
        out["closed"] = closed.id
    with transaction(session_factory) as session:
        found = session.get(Passport, out["closed"])
        assert found is not None
        found.state = "closed"  # as after recycling: only the responsible operator and authorities still see data
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, url: str, body: dict[str, Any], token: str | None) -> Any:
    return client.post(url, json=body, headers=bearer(token) if token else {})


def fields(response: Any) -> set[str]:
    return {p["field"] for p in response.json()["error"]["problems"]}


def test_transport_from_figures(client: TestClient, world: dict[str, str]) -> None:
    small = {"condition": "intact", "chemistry": "li-ion", "mass_kg": 0.3, "energy_Wh": 50}
    r = post(client, TRANSPORT, small, world["other"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["un_number"], body["subject_to_adr"]) == ("UN3480", False)
    assert "SP188" in body["special_provisions"]
    big = post(client, TRANSPORT, small | {"energy_Wh": 100.1}, world["other"]).json()
    assert (big["subject_to_adr"], big["packing_instructions"]) == (True, ["P903"])
    waste = post(client, TRANSPORT, small | {"condition": "waste", "mass_kg": 0.4}, world["other"]).json()
    assert "SP636" in waste["special_provisions"]
    assert waste["subject_to_adr"] is False
    heavy = post(client, TRANSPORT, small | {"condition": "waste", "mass_kg": 0.6}, world["other"]).json()
    assert "SP636" not in heavy["special_provisions"]


def test_transport_from_a_passport(client: TestClient, world: dict[str, str]) -> None:
    # 75 kWh = 75 000 Wh per battery: far above the 100 Wh of SP188, so P903 and class 9A
    r = post(client, TRANSPORT, {"condition": "intact", "passport_id": world["open"]}, world["other"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["un_number"] == "UN3480"
    assert body["input"]["energy_Wh"] == pytest.approx(75_000.0)
    assert body["input"]["mass_kg"] == pytest.approx(450.0)
    assert body["packing_instructions"] == ["P903"]


def test_withheld_attribute_is_a_refusal_naming_it(client: TestClient, world: dict[str, str]) -> None:
    body = {"condition": "intact", "passport_id": world["closed"]}
    refused = post(client, TRANSPORT, body, world["other"])
    assert refused.status_code == 403, refused.text
    assert {"battery_chemistry", "battery_mass_kg", "rated_energy_kWh"} <= fields(refused)
    # the responsible operator still sees its closed passport
    own = post(client, TRANSPORT, body, world["maker"])
    assert own.status_code == 200, own.text
    assert own.json()["input"]["energy_Wh"] == pytest.approx(75_000.0)


def test_transport_bad_input_names_the_field(client: TestClient, world: dict[str, str]) -> None:
    token = world["other"]
    r = post(client, TRANSPORT, {"condition": "intact", "chemistry": "li-ion", "mass_kg": 1}, token)
    assert r.status_code == 422
    assert fields(r) == {"energy_Wh"}
    r = post(client, TRANSPORT, {"condition": "melted", "chemistry": "li-ion", "mass_kg": 1, "energy_Wh": 5}, token)
    assert r.status_code == 422
    assert fields(r) == {"condition"}
    r = post(client, TRANSPORT, {"condition": "intact", "chemistry": "li-ion", "mass_kg": -1, "energy_Wh": 5}, token)
    assert r.status_code == 422
    assert fields(r) == {"mass_kg"}
    both = {"condition": "intact", "passport_id": world["open"], "chemistry": "li-ion"}
    r = post(client, TRANSPORT, both, token)
    assert r.status_code == 422
    assert fields(r) == {"chemistry"}
    r = post(client, TRANSPORT, {"condition": "intact", "passport_id": "NO-SUCH-PASSPORT"}, token)
    assert r.status_code == 404


def test_public_is_asked_to_authenticate(client: TestClient, world: dict[str, str]) -> None:
    r = post(client, TRANSPORT, {"condition": "intact", "chemistry": "li-ion", "mass_kg": 0.3, "energy_Wh": 5}, None)
    assert r.status_code == 401
    assert post(client, STORAGE, {"compartments": [{"id": "A", "batteries": []}]}, None).status_code == 401


@pytest.mark.parametrize(("kg", "reached"), [(332.9, False), (333.0, True)])
def test_storage_threshold_a(client: TestClient, world: dict[str, str], kg: float, reached: bool) -> None:
    site = {"site": "depot", "compartments": [{"id": "A", "batteries": [{"gross_kg": kg, "kWh": 10}]}]}
    r = post(client, STORAGE, site, world["other"])
    assert r.status_code == 200, r.text
    (comp,) = r.json()["compartments"]
    (check,) = [c for c in comp["checks"] if c["rule"] == "PGS37_2_THRESH_A"]
    assert check["reached"] is reached
    assert comp["in_scope"] is reached


def test_storage_bad_input_names_the_field(client: TestClient, world: dict[str, str]) -> None:
    r = post(client, STORAGE, {"site": "depot"}, world["other"])
    assert r.status_code == 422
    assert fields(r) == {"compartments"}
    bad = {"compartments": [{"id": "A", "batteries": [{"gross_kg": "heavy"}]}]}
    r = post(client, STORAGE, bad, world["other"])
    assert r.status_code == 422
    assert all(f.startswith("compartments[0]") for f in fields(r)), fields(r)
