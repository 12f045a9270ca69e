"""Maps domain errors to HTTP answers: a status code and a body that names each field and what was expected."""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from batteryloop.errors import BatteryloopError
from batteryloop.web.i18n import choose_language

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
    async def database_down(request: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", exc)
        return database_unavailable(request)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            log.warning("database connection lost: %s", exc)
            return database_unavailable(request)
        log.exception("database error")
        return JSONResponse(_body("internal", "internal error", []), status_code=500)


RETRY_AFTER_S = 5
"""The retry hint of a 503 while the database is unavailable (the time a PostgreSQL restart typically takes)."""

UNAVAILABLE_MESSAGE = f"the database is unavailable; retry in {RETRY_AFTER_S} s"

UNAVAILABLE_PAGE = {
    "en": (
        "Temporarily unavailable",
        "The database of this passport registry cannot be reached at the moment. Please try again in a few seconds.",
        "Try again",
    ),
    "nl": (
        "Tijdelijk niet beschikbaar",
        "De database van dit paspoortregister is op dit moment niet bereikbaar. "
        "Probeer het over enkele seconden opnieuw.",
        "Opnieuw proberen",
    ),
}


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, which always answers JSON)."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def database_unavailable(request: Request) -> Response:
    """503 with ``Retry-After`` while the database cannot be reached: JSON for the API, a page for a browser.

    The page is written here without a template or the signed-in user, because rendering the site's layout would ask
    the database that is down. Whether a write that failed this way was stored is unknown to the server when the
    connection broke during its commit; a retry of an issue then answers 409 (the battery has its passport) and a
    retried change makes one more version, both safe.
    """
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if not wants_page(request):
        body = _body("database_unavailable", UNAVAILABLE_MESSAGE, [])
        return JSONResponse(body, status_code=503, headers=headers)
    lang = choose_language(request)
    title, text, again = UNAVAILABLE_PAGE[lang if lang in UNAVAILABLE_PAGE else "en"]
    page = (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} — batteryloop</title>"
        '<link rel="stylesheet" href="/static/style.css"></head>'
        f'<body><main><h1>{html.escape(title)}</h1><p class="notice">{html.escape(text)}</p>'
        f'<p><a href="">{html.escape(again)}</a></p></main></body></html>\n'
    )
    return HTMLResponse(page, status_code=503, headers={**headers, "Content-Language": lang})
