"""Signing in and out of the web pages with an access key (see :mod:`batteryloop.web.layout`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from batteryloop.errors import AuthenticationError
from batteryloop.passport.service import PassportService
from batteryloop.web.layout import check_csrf, clear_session, read_session, render, set_session, settings_of

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an absolute or protocol-relative address would make this an open redirect."""
    if not target:
        return "/console"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/console"
    return target


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str | None = None) -> Response:
    return render(request, "signin.html", {"next": _safe_next(next), "error": None})


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    key = str(form.get("key", "")).strip()
    target = _safe_next(str(form.get("next", "")) or None)
    session = read_session(request)
    try:
        viewer = PassportService(session, settings_of(request)).authenticate(key) if key else None
    except AuthenticationError:
        viewer = None
    finally:
        session.close()
    if viewer is None:
        return render(request, "signin.html", {"next": target, "error": "signin_failed"}, 401)
    response = RedirectResponse(target, status_code=303)
    set_session(response, request, key)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    response = RedirectResponse("/", status_code=303)
    clear_session(response)
    return response
