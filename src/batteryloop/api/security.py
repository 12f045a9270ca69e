"""Security on every response: headers for the API and the pages, and a limit on failed authentications.

One ASGI middleware (:class:`SecurityMiddleware`, installed by :func:`install`) does both.

Headers
    Every response carries ``Content-Security-Policy`` (scripts only from this site; no inline script, no ``eval``;
    styles from this site plus inline style attributes, which plotly.js sets on the SVG it draws; nothing may frame
    the pages), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (for browsers without
    ``frame-ancestors``), ``Referrer-Policy: strict-origin-when-cross-origin``, ``Permissions-Policy`` (no camera,
    microphone, geolocation, payment, USB) and ``Cross-Origin-Opener-Policy: same-origin``; over https also
    ``Strict-Transport-Security``. The interactive API documentation (``/docs``, ``/redoc``) is the one exception to
    the script policy: FastAPI renders it with an inline script and loads Swagger UI / ReDoc from their CDN, so those
    two pages get a policy that allows exactly that.

Failed authentications
    A request that presents credentials (an ``Authorization`` header, or the sign-in form ``POST /signin``) and is
    answered 401 counts as one failure of its client address. When an address has made
    ``BATTERYLOOP_AUTH_FAILURE_LIMIT`` failures (default 10) within the last ``BATTERYLOOP_AUTH_FAILURE_WINDOW_S``
    seconds (default 300, a sliding window), every further request of that address that presents credentials is
    answered 429 with ``Retry-After`` (the seconds until its oldest failure leaves the window) without being checked,
    valid credentials included: otherwise a guess that happens to be right would still get through. Requests without
    credentials (the public's reads of passports) are never limited. A successful authentication does not clear the
    count, so an attacker holding one valid token cannot reset it between guesses.

    The count lives in the memory of each server process: with N worker processes an address can make up to N times
    the limit. The client address is the one the ASGI server reports; behind a reverse proxy, run uvicorn with
    ``--proxy-headers --forwarded-allow-ips=<the proxy>`` so that it is the caller's, not the proxy's.

Why the token check itself needs no constant-time comparison
    Tokens carry 256 random bits (``secrets.token_urlsafe(32)``) and are stored only as their SHA-256
    (:func:`batteryloop.passport.service.hash_token`). Authentication looks the hash of the presented token up by
    equality in a unique index. Any timing difference of that lookup depends on the *hash* of the guess, which an
    attacker cannot steer towards a stored hash without inverting SHA-256, so it leaks nothing usable about a stored
    token; no secret is compared with ``==`` in Python. The one direct comparison of secrets, the CSRF token against
    its cookie, uses :func:`hmac.compare_digest` (:func:`batteryloop.web.layout.check_csrf`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from batteryloop.config import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # plotly.js writes style attributes on the SVG elements it draws; without this the charts lose their styling
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "font-src 'self' data: https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    )
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
STATIC_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = "max-age=31536000; includeSubDomains"
"""One year (RFC 6797 section 6.1.1); sent over https only, as the RFC requires (section 7.2)."""

SIGNIN_PATH = "/signin"


class FailureLimiter:
    """Failed authentications per client address in a sliding window; thread-safe.

    Parameters
    ----------
    limit : int
        Failures an address may make within the window; the next attempt is refused.
    window_s : float
        Length of the window. [s]
    clock : callable
        Monotonic time in seconds (a parameter so that tests can move time).
    max_clients : int
        Addresses remembered at most; beyond that the one idle longest is forgotten, so that a flood of spoofed
        addresses cannot exhaust the memory.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:
        if limit < 1 or window_s <= 0 or max_clients < 1:
            raise ValueError("limit and max_clients must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _current(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds the address must wait before it may try again, or ``None`` when it may try now."""
        with self._lock:
            now = self.clock()
            times = self._current(client, now)
            if times is None or len(times) < self.limit:
                return None
            # the attempt is allowed again once enough failures have left the window to go below the limit
            release = times[len(times) - self.limit] + self.window_s
            return max(1, math.ceil(release - now))

    def record_failure(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            times = self._current(client, now)
            if times is None:
                times = self._failures[client] = deque()
            times.append(now)
            self._failures.move_to_end(client)
            while len(times) > self.limit:
                times.popleft()  # only the newest `limit` failures matter for the decision
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def failures(self, client: str) -> int:
        """Failures of the address within the window."""
        with self._lock:
            times = self._current(client, self.clock())
            return 0 if times is None else len(times)


def _presents_credentials(scope: Scope) -> bool:
    if scope["method"] == "POST" and scope["path"] == SIGNIN_PATH:
        return True
    return any(name == b"authorization" for name, _ in scope.get("headers", ()))


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class SecurityMiddleware:
    """Security headers on every HTTP response, and 429 for an address with too many failed authentications."""

    def __init__(self, app: ASGIApp, *, limiter: FailureLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentials = _presents_credentials(scope)
        client = _client(scope)
        if credentials:
            wait = self.limiter.retry_after(client)
            if wait is not None:
                await self._too_many(scope, send, wait)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if credentials and message["status"] == 401:
                    self.limiter.record_failure(client)
                _add_headers(scope, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _too_many(self, scope: Scope, send: Send, wait: int) -> None:
        text = (
            f"too many failed authentications from this address; try again in {wait} s "
            f"(at most {self.limiter.limit} within {self.limiter.window_s:g} s)"
        )
        if scope["path"] == SIGNIN_PATH:
            body = (
                '<!doctype html><html lang="nl"><meta charset="utf-8"><title>429</title>'
                f"<p>Te veel mislukte aanmeldpogingen vanaf dit adres; probeer het over {wait} s opnieuw.</p>"
                f'<p lang="en">Too many failed sign-in attempts from this address; try again in {wait} s.</p>'
            ).encode()
            content_type = b"text/html; charset=utf-8"
        else:
            body = json.dumps(
                {"error": {"code": "rate_limited", "message": text, "problems": []}}, ensure_ascii=False
            ).encode()
            content_type = b"application/json"
        start: dict[str, Any] = {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
        _add_headers(scope, MutableHeaders(scope=start))
        await send(start)
        await send({"type": "http.response.body", "body": body})


def _add_headers(scope: Scope, headers: MutableHeaders) -> None:
    policy = DOCS_CONTENT_SECURITY_POLICY if scope["path"] in DOCS_PATHS else CONTENT_SECURITY_POLICY
    if "content-security-policy" not in headers:
        headers["Content-Security-Policy"] = policy
    for name, value in STATIC_HEADERS:
        if name not in headers:
            headers[name] = value
    if scope.get("scheme") == "https":
        headers["Strict-Transport-Security"] = HSTS


def install(app: FastAPI, settings: Settings) -> None:
    """Add :class:`SecurityMiddleware` with the limits of ``settings``; the limiter is ``app.state.auth_limiter``."""
    limiter = FailureLimiter(settings.auth_failure_limit, settings.auth_failure_window_s)
    app.state.auth_limiter = limiter
    app.add_middleware(SecurityMiddleware, limiter=limiter)
