"""The Alembic migrations build exactly the tables the code declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

import batteryloop.models_all  # noqa: F401
from batteryloop.db import Base
from batteryloop.migrate import current


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert current(engine) == "0006"
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
