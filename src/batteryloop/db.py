"""SQLAlchemy 2.0 engine and session factory, and the declarative base every table derives from.

SQLite (the embedded default) and PostgreSQL (production) are both first-class. SQLite gets WAL journaling, foreign
keys and a busy timeout so that the API and the CLI can write to the same file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# One naming convention so that Alembic migrations name constraints the same way on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, *, echo: bool = False, schema: str | None = None, pool_size: int = 10) -> Engine:
    """Create an engine for ``url``.

    ``schema`` (PostgreSQL only) puts every table in that schema via the connection's search_path; the tests use it
    to run in a schema of their own that they drop afterwards.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    # No pre-ping: it costs a round trip on every checkout (measured 40-90 us on loopback, 2-4 % of a passport read).
    # Recovery from a database restart rests on invalidate-on-disconnect instead: a connection broken by the restart
    # raises a disconnect error once (the API answers 503 with Retry-After, api/errors.py), SQLAlchemy then
    # invalidates every connection of the pool older than that error, and the next checkouts connect afresh. Under
    # load the requests made while the database is down already do this; after a restart while idle, one request
    # per server process gets the 503 (tests/faults/test_database_restart.py).
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max(2, pool_size // 4),
        pool_timeout=30,
        connect_args=connect_args,
    )


def _mark_flushed(session: Session, _context: Any) -> None:
    session.info["flushed"] = True


def _clear_flushed(session: Session, *_args: Any) -> None:
    session.info.pop("flushed", None)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that remember whether they wrote anything (``session.info["flushed"]``) until they end."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    event.listen(factory, "after_flush", _mark_flushed)
    event.listen(factory, "after_commit", _clear_flushed)
    event.listen(factory, "after_rollback", _clear_flushed)
    return factory


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed when the block ends and rolled back entirely when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
