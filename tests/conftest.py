"""Shared fixtures: databases (SQLite and the real PostgreSQL server), the registry service, and the shared data.

Database tests run twice, once on SQLite and once on PostgreSQL (``BATTERYLOOP_TEST_POSTGRES_URL``, default
``postgresql+psycopg://127.0.0.1:5432/test``), each in a schema of its own that is dropped afterwards. Where no
PostgreSQL answers, the PostgreSQL runs skip with a message saying how to enable them; with
``BATTERYLOOP_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) that skip is a failure instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from batteryloop.config import Settings
from batteryloop.db import make_engine, make_session_factory
from batteryloop.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgresql+psycopg://127.0.0.1:5432/test"


def shared_data_dir() -> Path:
    return Path(os.environ.get("BATTERYLOOP_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the test skips, naming the path, where it is absent (a user's fresh clone)."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set BATTERYLOOP_SHARED_DATA to the data folder)")
    return path


def postgres_url() -> str:
    return os.environ.get("BATTERYLOOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_or_skip() -> Engine:
    url = postgres_url()
    engine = make_engine(url, pool_size=2)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        engine.dispose()
        message = (
            f"PostgreSQL at {url} does not answer ({type(exc).__name__}); start it or set "
            "BATTERYLOOP_TEST_POSTGRES_URL to run the PostgreSQL tests"
        )
        if os.environ.get("BATTERYLOOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (BATTERYLOOP_REQUIRE_POSTGRES=1 makes this a failure)")
        pytest.skip(message)
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: SQLite in a temporary file, or a fresh schema on the PostgreSQL server."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    with postgres_schema() as eng:
        yield eng


@contextmanager
def postgres_schema(pool_size: int = 4) -> Iterator[Engine]:
    """A migrated, empty schema of its own on the PostgreSQL server (skips without one), dropped afterwards."""
    admin = _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(postgres_url(), schema=schema, pool_size=pool_size)
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, public_base_url="https://passport.example.nl")
