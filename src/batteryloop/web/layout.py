"""What every web page shares: the signed-in user, the navigation for their role, CSRF protection and rendering.

Signing in exchanges an access key (the same token the API takes, ``batteryloop keys create``) for an HttpOnly,
SameSite=Lax session cookie holding it; every request authenticates it again on the server, so a revoked key stops
working on the next page. Forms that change something carry a CSRF token that must match the ``bl_csrf`` cookie
(double-submit): a page on another site can make the browser send the cookies, but it cannot read the token.

Pages are server-rendered Jinja2 and work without JavaScript; ``static/app.js`` only draws the charts and shows a
progress indication while a long form runs.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from batteryloop.config import Settings
from batteryloop.errors import AuthenticationError
from batteryloop.passport.access import Role, Viewer
from batteryloop.passport.service import PassportService
from batteryloop.web.charts import csv_href
from batteryloop.web.i18n import choose_language, translator

templates = Jinja2Templates(directory=str(resources.files("batteryloop.web").joinpath("templates")))
templates.env.globals["csv_href"] = csv_href

SESSION_COOKIE = "bl_session"
CSRF_COOKIE = "bl_csrf"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class NavItem:
    path: str
    text: str
    """Key of the interface text (see :mod:`batteryloop.web.i18n`)."""
    roles: frozenset[Role] | None
    """Roles that see the item; ``None``: everyone, signed in or not."""


ALL_SIGNED_IN = frozenset(Role) - {Role.ANONYMOUS}
OPERATOR_ROLES = frozenset({Role.ECONOMIC_OPERATOR, Role.MARKET_SURVEILLANCE_AUTHORITY, Role.COMMISSION})

NAV: tuple[NavItem, ...] = (
    NavItem("/console", "nav_passports", ALL_SIGNED_IN),
    NavItem("/health", "nav_health", ALL_SIGNED_IN),
    NavItem("/market", "nav_market", ALL_SIGNED_IN),
    NavItem("/energy", "nav_energy", ALL_SIGNED_IN),
    NavItem("/circularity", "nav_circularity", ALL_SIGNED_IN),
    NavItem("/monitor", "nav_monitor", None),
)
"""The main navigation. Which pages a role may open is enforced by each route (``require_user``), not by hiding
links: the menu only avoids offering pages that would refuse."""


class SignInRequiredError(Exception):
    """The page needs a signed-in user; the handler sends the browser to the sign-in page and back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbiddenError(Exception):
    """The signed-in user's role may not open this page."""

    def __init__(self, roles: Iterable[Role], *, reason: str = "forbidden_text") -> None:
        super().__init__("forbidden")
        self.roles = tuple(roles)
        self.reason = reason
        """Key of the interface text that explains the refusal."""


def read_session(request: Request) -> Session:
    session: Session = request.app.state.read_session_factory()
    return session


def write_session(request: Request) -> Session:
    session: Session = request.app.state.session_factory()
    return session


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_user(request: Request) -> Viewer:
    """The signed-in user of this request, authenticated again on the server; anonymous without a valid session."""
    cached = getattr(request.state, "viewer", None)
    if isinstance(cached, Viewer):
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    viewer = Viewer.anonymous()
    if token:
        session = read_session(request)
        try:
            viewer = PassportService(session, settings_of(request)).authenticate(token)
        except AuthenticationError:
            viewer = Viewer.anonymous()
        finally:
            session.close()
    request.state.viewer = viewer
    return viewer


def require_user(request: Request, roles: Iterable[Role] | None = None) -> Viewer:
    """The signed-in user, who must hold one of ``roles`` (any signed-in role when ``None``)."""
    viewer = current_user(request)
    if viewer.role is Role.ANONYMOUS:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)
    allowed = frozenset(roles) if roles is not None else ALL_SIGNED_IN
    if viewer.role not in allowed:
        raise PageForbiddenError(allowed)
    return viewer


def csrf_token(request: Request) -> str:
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return str(token)


def check_csrf(request: Request, form: Mapping[str, Any]) -> None:
    """Refuse a form whose CSRF token does not match the cookie (raises :class:`PageForbiddenError`)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get(CSRF_FIELD, ""))
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise PageForbiddenError((), reason="csrf_failed")


def nav_for(viewer: Viewer) -> list[NavItem]:
    return [item for item in NAV if item.roles is None or viewer.role in item.roles]


def render(request: Request, template: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
    """Render ``template`` with what every page needs: language, texts, user, navigation, CSRF token."""
    lang = context.get("lang") or choose_language(request)
    viewer = current_user(request)
    full = {
        "lang": lang,
        "t": translator(lang),
        "path": request.url.path,
        "viewer": viewer,
        "signed_in": viewer.role is not Role.ANONYMOUS,
        "nav": nav_for(viewer),
        "csrf": csrf_token(request),
        **context,
    }
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    if request.query_params.get("lang") in ("nl", "en"):
        response.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="lax")
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(CSRF_COOKIE, new_csrf, httponly=True, samesite="strict", secure=_secure(request))
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), path="/")


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def install(app: FastAPI) -> None:
    """Register the handlers that turn a missing sign-in or a refused role into a page."""

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequiredError)
        return RedirectResponse(f"/signin?next={quote(exc.next_path, safe='/')}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbiddenError)
        roles = ", ".join(r.value.replace("_", " ") for r in exc.roles)
        return render(request, "forbidden.html", {"roles": roles, "reason": exc.reason}, 403)

    app.add_exception_handler(SignInRequiredError, sign_in_required)
    app.add_exception_handler(PageForbiddenError, forbidden)
