"""A registry with an organisation and an account (with a token) for every role, and an API client on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import transaction
from batteryloop.passport.access import Role
from batteryloop.passport.service import PassportService

ORGANISATIONS = {
    "maker": "Maker B.V.",
    "other_maker": "Other Maker B.V.",
    "repairer": "Repair B.V.",
    "remanufacturer": "Reman B.V.",
    "repurposer": "Second Life B.V.",
    "recycler": "Recycling B.V.",
    "aggregator": "Aggregator B.V.",
    "pro": "PRO (test)",
    "authority": "Authority",
}


@dataclass
class Landscape:
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, account: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[account]}"} if account else {}


ACCOUNTS: list[tuple[str, Role, str]] = [
    ("maker-op", Role.ECONOMIC_OPERATOR, "maker"),
    ("other-op", Role.ECONOMIC_OPERATOR, "other_maker"),
    ("pro-op", Role.ECONOMIC_OPERATOR, "pro"),
    ("repairer", Role.REPAIRER, "repairer"),
    ("remanufacturer", Role.REMANUFACTURER, "remanufacturer"),
    ("repurposer", Role.REPURPOSER, "repurposer"),
    ("recycler", Role.RECYCLER, "recycler"),
    ("aggregator", Role.AGGREGATOR, "aggregator"),
    ("repairer-2", Role.REPAIRER, "repairer"),
    ("remanufacturer-2", Role.REMANUFACTURER, "remanufacturer"),
    ("repurposer-2", Role.REPURPOSER, "repurposer"),
    ("recycler-2", Role.RECYCLER, "recycler"),
    ("aggregator-2", Role.AGGREGATOR, "aggregator"),
    ("notified-body", Role.NOTIFIED_BODY, "authority"),
    ("market-surveillance", Role.MARKET_SURVEILLANCE_AUTHORITY, "authority"),
    ("commission", Role.COMMISSION, "authority"),
]


@pytest.fixture
def landscape(session_factory: sessionmaker[Session], settings: Settings) -> Landscape:
    land = Landscape()
    with transaction(session_factory) as session:
        svc = PassportService(session, settings)
        kinds = {"pro": "producer_responsibility_organisation", "recycler": "recycler", "authority": "authority"}
        for key, name in ORGANISATIONS.items():
            svc.create_organisation(name, identifier=f"ID-{key.upper()}", kind=kinds.get(key, "manufacturer"))
        for account, role, org in ACCOUNTS:
            acc = svc.create_account(account, role, ORGANISATIONS[org])
            land.tokens[account] = svc.issue_token(acc)
    return land


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine)
    with TestClient(app) as c:
        yield c


def create(client: TestClient, land: Landscape, data: dict[str, Any], account: str = "maker-op", **extra: Any) -> str:
    response = client.post("/api/v1/passports", json={"data": data, **extra}, headers=land.auth(account))
    assert response.status_code == 201, response.text
    passport_id: str = response.json()["passport_id"]
    return passport_id
