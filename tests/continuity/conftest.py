"""Databases for the backup and restore tests: fresh, migrated SQLite files and PostgreSQL schemas, several per test
(a backup made on one is restored into another), and a registry filled by the demo landscape."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from batteryloop.config import Settings
from batteryloop.db import make_engine
from batteryloop.migrate import upgrade
from tests.conftest import _postgres_or_skip, postgres_url

NewDb = Callable[[str], Engine]


@pytest.fixture
def new_db(tmp_path: Path) -> Iterator[NewDb]:
    """``new_db("sqlite")`` or ``new_db("postgres")``: a new, migrated, empty database; all are dropped afterwards."""
    engines: list[Engine] = []
    schemas: list[str] = []
    admin: list[Engine] = []

    def make(kind: str) -> Engine:
        if kind == "sqlite":
            eng = make_engine(f"sqlite:///{tmp_path / f'db-{len(engines)}.db'}")
        else:
            if not admin:
                admin.append(_postgres_or_skip())
            schema = f"t_{uuid.uuid4().hex[:12]}"
            with admin[0].begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            eng = make_engine(postgres_url(), schema=schema, pool_size=2)
        upgrade(eng)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.dispose()
    if admin:
        with admin[0].begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin[0].dispose()


def demo_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", public_base_url="https://passport.example.nl")
