"""Two registries: the origin A (SQLite) and the mirror B (the ``engine`` fixture: SQLite, then PostgreSQL).

A issues passports; B keeps them under an escrow agreement with A's operator. ``Pair.push`` runs the origin's push
against B's application in process (a Starlette TestClient is an httpx client).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from tests.passport.fixtures import full_passport_data

from batteryloop.api.app import create_app
from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory, transaction
from batteryloop.escrow.push import PushSummary, push
from batteryloop.escrow.service import EscrowService
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService

ORIGIN = "Maker B.V."
BASE_URL = "https://passport.example.nl"


@dataclass
class Pair:
    a_factory: sessionmaker[Session]
    a_engine: Engine
    a_settings: Settings
    a_client: TestClient
    b_factory: sessionmaker[Session]
    b_client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, account: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[account]}"} if account else {}

    def issue(self, serial: str, **extra: Any) -> str:
        data = {**full_passport_data("ev"), "serial_number": serial, **extra}
        with transaction(self.a_factory) as session:
            service = PassportService(session, self.a_settings)
            return service.create(self.operator(service), data).id

    def operator(self, service: PassportService) -> Viewer:
        org = service.organisation(ORIGIN)
        return Viewer(Role.ECONOMIC_OPERATOR, account="maker-op", organisation_id=org.id)

    def update(self, passport_id: str, remaining_Ah: float) -> None:
        with transaction(self.a_factory) as session:
            service = PassportService(session, self.a_settings)
            service.update_dynamic(
                self.operator(service),
                passport_id,
                {"remaining_capacity_Ah": remaining_Ah},
                measured_at=datetime.now(UTC),
                method="capacity test",
            )

    def push(self, *, token: str = "depositor", **selection: Any) -> PushSummary:  # noqa: S107 - an account
        self.b_client.headers["Authorization"] = f"Bearer {self.tokens[token]}"
        try:
            with transaction(self.a_factory) as session:
                # Starlette's TestClient is an httpx2 client with the same interface as httpx's
                return push(session, cast(httpx.Client, self.b_client), **selection)
        finally:
            del self.b_client.headers["Authorization"]

    def export(self, passport_id: str) -> dict[str, Any]:
        from batteryloop.passport.bundle import export_bundle

        with transaction(self.a_factory) as session:
            return export_bundle(session, passport_id)


@pytest.fixture
def pair(engine: Engine, tmp_path: Path) -> Iterator[Pair]:
    a_settings = Settings(data_dir=tmp_path / "a", public_base_url=BASE_URL)
    b_settings = Settings(data_dir=tmp_path / "b", public_base_url=BASE_URL)
    a_engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'origin.db'}")
    from batteryloop.migrate import upgrade

    upgrade(a_engine)
    a_factory = make_session_factory(a_engine)
    b_factory = make_session_factory(engine)
    tokens: dict[str, str] = {}
    with transaction(a_factory) as session:
        service = PassportService(session, a_settings)
        service.create_organisation(ORIGIN, identifier="ID-MAKER")
        service.create_organisation("Authority", kind="authority")
        service.create_organisation("Repair B.V.", kind="other")
        for name, role, org in (
            ("maker-op", Role.ECONOMIC_OPERATOR, ORIGIN),
            ("authority", Role.MARKET_SURVEILLANCE_AUTHORITY, "Authority"),
            ("repairer", Role.REPAIRER, "Repair B.V."),
        ):
            tokens[f"a:{name}"] = service.issue_token(service.create_account(name, role, org))
        origin_key = service.organisation(ORIGIN).public_key
    with transaction(b_factory) as session:
        service = PassportService(session, b_settings)
        service.create_organisation("Backup Provider B.V.", kind="other")
        service.create_organisation("Authority", kind="authority")
        service.create_organisation("Repair B.V.", kind="other")
        service.create_organisation("Other Maker B.V.", identifier="ID-OTHER")
        accounts: tuple[tuple[str, Role, str | None], ...] = (
            ("authority", Role.MARKET_SURVEILLANCE_AUTHORITY, "Authority"),
            ("repairer", Role.REPAIRER, "Repair B.V."),
            ("other-op", Role.ECONOMIC_OPERATOR, "Other Maker B.V."),
            ("depositor", Role.ECONOMIC_OPERATOR, None),
            ("stranger", Role.ECONOMIC_OPERATOR, None),
        )
        for name, role, org_name in accounts:
            tokens[name] = service.issue_token(service.create_account(name, role, org_name))
        EscrowService(session, b_settings).agree(
            ORIGIN, [origin_key], "depositor", provider="Backup Provider B.V.", note="agreement 2026-17"
        )
    a_app = create_app(a_settings, engine=a_engine)
    b_app = create_app(b_settings, engine=engine)
    with TestClient(a_app) as a_client, TestClient(b_app, base_url="http://mirror.test") as b_client:
        yield Pair(a_factory, a_engine, a_settings, a_client, b_factory, b_client, tokens)
    a_engine.dispose()
