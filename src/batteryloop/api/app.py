"""The FastAPI application: the API under ``/api/v1`` (OpenAPI at ``/openapi.json``) and the public pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from anyio import to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from batteryloop import __version__
from batteryloop.api import errors, security
from batteryloop.api.routes import circularity, escrow, passports, registry, safety, safety_checks, sourcing
from batteryloop.config import Settings, get_settings
from batteryloop.db import make_engine, make_session_factory
from batteryloop.web import routes as web_routes

DESCRIPTION = """
The battery passport registry of batteryloop (Regulation (EU) 2023/1542, Art. 77-78 and Annex XIII).

Authenticate with `Authorization: Bearer <token>` (create tokens with `batteryloop keys create`). Without a token you
are the public and see Annex XIII point 1. Every response is filtered on the server for the caller's role, its
organisation's responsibility and the grants it holds; `GET /api/v1/access-rules` lists the rules with their citations.
"""


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    if engine is None:
        engine = make_engine(
            settings.resolved_database_url(), echo=settings.sql_echo, pool_size=settings.worker_threads
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # As many worker threads as pooled connections: more threads would only queue for a connection or open
        # short-lived overflow connections, and contend for the interpreter lock.
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="batteryloop",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "passports", "description": "Battery passports: issue, read, update, lifecycle, access."},
            {"name": "registry", "description": "The data model, the access rules, keys and the access log."},
            {"name": "circularity", "description": "Producer responsibility: reports, collection rates, compliance."},
            {"name": "sourcing", "description": "Due-diligence screening and carbon footprint (stateless checks)."},
            {"name": "safety", "description": "ADR transport and PGS 37-2 storage checks; incidents."},
            {"name": "escrow", "description": "Backup copies of another registry's passports (Art. 78)."},
        ],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    # Reads run without an explicit transaction: one round trip per statement, no BEGIN and ROLLBACK around them;
    # an access-log entry a read writes is committed by its own INSERT.
    app.state.read_session_factory = make_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
    errors.install(app)
    security.install(app, settings)
    app.include_router(passports.router)
    app.include_router(registry.router)
    app.include_router(circularity.router)
    app.include_router(sourcing.router)
    app.include_router(safety_checks.router)
    app.include_router(safety.router)
    app.include_router(escrow.router)
    web_routes.include(app)
    app.mount(
        "/static", StaticFiles(directory=str(resources.files("batteryloop.web").joinpath("static"))), name="static"
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
