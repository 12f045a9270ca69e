"""Maps domain errors to HTTP answers: a status code and a body that names each field and what was expected."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from batteryloop.errors import BatteryloopError

log = logging.getLogger("batteryloop.api")


def _body(code: str, message: str, problems: list[dict[str, Any]]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "problems": problems}}


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] if parts[0] == "body" else parts
    return ".".join(parts) or "body"


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route accepts on this path (Starlette names only the first route that matched)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and getattr(route, "methods", None):
            methods |= set(route.methods)
    return methods


def install(app: FastAPI) -> None:
    @app.exception_handler(BatteryloopError)
    async def domain_error(_request: Request, exc: BatteryloopError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(
            _body(exc.code, exc.message, [p.as_dict() for p in exc.problems]),
            status_code=exc.http_status,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            item: dict[str, Any] = {
                "field": _loc(err.get("loc", ())),
                "message": err.get("msg", "invalid"),
                "code": "invalid",
            }
            if err.get("type") == "extra_forbidden":
                item["code"] = "unknown_attribute"
                item["message"] = "unknown field"
            elif err.get("type") == "json_invalid":
                item["code"] = "malformed_json"
            ctx = err.get("ctx") or {}
            if "expected" in ctx:
                item["expected"] = str(ctx["expected"])
            problems.append(item)
        return JSONResponse(
            jsonable_encoder(_body("invalid", f"{len(problems)} invalid field(s) in the request", problems)),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return JSONResponse(
            _body("http_" + str(exc.status_code), str(exc.detail), []),
            status_code=exc.status_code,
            headers=headers or None,
        )

    @app.exception_handler(OperationalError)
    async def database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            _body("unavailable", "the database is not available; retry shortly", []),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DBAPIError)
    async def database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse(
                _body("unavailable", "the database connection was lost; retry shortly", []),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        log.exception("database error")
        return JSONResponse(_body("internal", "internal error", []), status_code=500)
