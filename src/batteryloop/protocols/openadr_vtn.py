"""A small OpenADR 3 VTN stand-in for tests, demos and benchmarks: FastAPI on loopback, state in memory.

The ``openadr3`` package is a client library and offers no server side, so this is a minimal FastAPI app with the
OpenADR 3.0.1 endpoints a VEN needs, with the 3.0.1 error format (RFC 9457 problem details,
``application/problem+json``):

- ``GET /auth/server`` (the token URL) and ``POST /auth/token``: OAuth2 client credentials (RFC 6749 section 4.4;
  a bad client gets ``401 {"error": "invalid_client"}``, section 5.2);
- ``GET /programs``, ``POST /programs`` (business logic), ``GET /events`` (``programID`` filter), ``POST /events``,
  ``PUT``/``DELETE /events/{id}`` (business logic), ``GET``/``POST /reports``, ``GET``/``POST /vens``.

Events the business logic posts are checked with :func:`batteryloop.protocols.openadr_model.parse_event` (the VEN's
own reader) and rejected with 400 problem details; :meth:`Vtn.put_raw_event` stores an event without the check, to
test how a VEN meets a non-conforming VTN. :class:`VtnServer` runs the app with uvicorn in a thread, and can stop and
start again on the same port with the same state (a VTN that goes away and comes back).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import JSONResponse

from batteryloop.protocols.openadr_model import (
    PROBLEM_MEDIA_TYPE,
    EventProblem,
    EventRejectedError,
    iso,
    parse_event,
    report_problems,
)

TOKEN_LIFETIME_S = 3600
Auth = Annotated[str | None, Header()]  # the bearer token (module level: FastAPI resolves the annotation here)


def problem(status: int, title: str, detail: str, instance: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def problems_response(problems: list[EventProblem], instance: str) -> JSONResponse:
    status = max(p.status for p in problems)
    first = problems[0].as_dict()
    first["instance"] = instance
    first["status"] = status
    if len(problems) > 1:
        first["detail"] = "; ".join(p.as_dict()["detail"] for p in problems)
    return JSONResponse(first, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


@dataclass
class Vtn:
    """The VTN's state: clients (id -> secret, role ``ven`` or ``bl``), tokens, programs, events, reports, VENs."""

    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    programs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    vens: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # problems it answered
    baseline_kW: float | None = None  # for checking FLEX events posted by the business logic
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_client(self, client_id: str, secret: str, role: str = "ven") -> None:
        if role not in ("ven", "bl"):
            raise ValueError(f"role {role!r}: expected ven or bl")
        self.clients[client_id] = (secret, role)

    def _stamp(self, obj: dict[str, Any], object_type: str, prefix: str) -> dict[str, Any]:
        now = iso(datetime.now(UTC))
        out = dict(obj)
        out.setdefault("id", f"{prefix}-{next(self._ids)}")
        out["objectType"] = object_type
        out.setdefault("createdDateTime", now)
        out["modificationDateTime"] = now
        return out

    def add_program(self, program: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            p = self._stamp(program, "PROGRAM", "program")
            self.programs[p["id"]] = p
            return p

    def add_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Check and store an event (raises :class:`EventRejectedError`), as ``POST /events`` does."""
        with self._lock:
            e = self._stamp(event, "EVENT", "event")
            if e.get("programID") not in self.programs:
                raise EventRejectedError(
                    [EventProblem("Bad Request", f"no program {e.get('programID')!r}", "programID")]
                )
            parse_event(e, baseline_kW=self.baseline_kW if self.baseline_kW is not None else 0.0)
            self.events[e["id"]] = e
            return e

    def put_raw_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Store an event without checking it: a non-conforming VTN, for the VEN's error handling."""
        with self._lock:
            e = self._stamp(event, "EVENT", "event")
            self.events[e["id"]] = e
            return e

    def delete_event(self, event_id: str) -> bool:
        with self._lock:
            return self.events.pop(event_id, None) is not None

    def app(self) -> FastAPI:
        return build_app(self)


def build_app(vtn: Vtn) -> FastAPI:
    app = FastAPI(title="batteryloop OpenADR 3 VTN stand-in", version="3.0.1")

    def who(authorization: str | None) -> tuple[str, str] | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        entry = vtn.tokens.get(authorization[len("Bearer ") :])
        if entry is None or entry[2] < time.time():
            return None
        return entry[0], entry[1]

    def denied(request: Request, authorization: str | None, role: str | None = None) -> JSONResponse | None:
        caller = who(authorization)
        if caller is None:
            return problem(401, "Unauthorized", "a valid bearer token is required", request.url.path)
        if role is not None and caller[1] != role:
            return problem(403, "Forbidden", f"client {caller[0]} ({caller[1]}) may not do this", request.url.path)
        return None

    @app.get("/auth/server")
    def auth_server(request: Request) -> dict[str, str]:
        return {"tokenURL": str(request.base_url).rstrip("/") + "/auth/token"}

    @app.post("/auth/token", response_model=None)
    def token(
        grant_type: Annotated[str, Form()],
        client_id: Annotated[str, Form()],
        client_secret: Annotated[str, Form()],
    ) -> dict[str, Any] | JSONResponse:
        if grant_type != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        known = vtn.clients.get(client_id)
        if known is None or not secrets.compare_digest(known[0], client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        tok = secrets.token_urlsafe(24)
        vtn.tokens[tok] = (client_id, known[1], time.time() + TOKEN_LIFETIME_S)
        return {"access_token": tok, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S}

    @app.get("/programs", response_model=None)
    def get_programs(request: Request, authorization: Auth = None) -> list[dict[str, Any]] | JSONResponse:
        return denied(request, authorization) or list(vtn.programs.values())

    @app.post("/programs", response_model=None, status_code=201)
    async def post_program(request: Request, authorization: Auth = None) -> dict[str, Any] | JSONResponse:
        if (no := denied(request, authorization, "bl")) is not None:
            return no
        body = await request.json()
        if not isinstance(body, dict) or not body.get("programName"):
            return problem(400, "Bad Request", "programName: missing", request.url.path)
        return vtn.add_program(body)

    @app.get("/events", response_model=None)
    def get_events(
        request: Request, authorization: Auth = None, programID: str | None = None
    ) -> list[dict[str, Any]] | JSONResponse:
        if (no := denied(request, authorization)) is not None:
            return no
        return [e for e in vtn.events.values() if programID is None or e.get("programID") == programID]

    @app.post("/events", response_model=None, status_code=201)
    async def post_event(request: Request, authorization: Auth = None) -> dict[str, Any] | JSONResponse:
        if (no := denied(request, authorization, "bl")) is not None:
            return no
        try:
            return vtn.add_event(await request.json())
        except EventRejectedError as exc:
            vtn.rejected.extend(p.as_dict() for p in exc.problems)
            return problems_response(exc.problems, request.url.path)
        except ValueError:
            return problem(400, "Bad Request", "the body is not JSON", request.url.path)

    @app.delete("/events/{event_id}", response_model=None)
    def delete_event(event_id: str, request: Request, authorization: Auth = None) -> dict[str, Any] | JSONResponse:
        if (no := denied(request, authorization, "bl")) is not None:
            return no
        gone = vtn.events.get(event_id)
        if gone is None or not vtn.delete_event(event_id):
            return problem(404, "Not Found", f"no event {event_id!r}", request.url.path)
        return gone

    @app.get("/reports", response_model=None)
    def get_reports(request: Request, authorization: Auth = None) -> list[dict[str, Any]] | JSONResponse:
        return denied(request, authorization) or list(vtn.reports)

    @app.post("/reports", response_model=None, status_code=201)
    async def post_report(request: Request, authorization: Auth = None) -> dict[str, Any] | JSONResponse:
        if (no := denied(request, authorization, "ven")) is not None:
            return no
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "Bad Request", "the body is not JSON", request.url.path)
        found = report_problems(body, set(vtn.events))
        if found:
            vtn.rejected.extend(p.as_dict() for p in found)
            return problems_response(found, request.url.path)
        with vtn._lock:
            stored = vtn._stamp(body, "REPORT", "report")
            vtn.reports.append(stored)
        return stored

    @app.get("/vens", response_model=None)
    def get_vens(request: Request, authorization: Auth = None) -> list[dict[str, Any]] | JSONResponse:
        return denied(request, authorization) or list(vtn.vens.values())

    @app.post("/vens", response_model=None, status_code=201)
    async def post_ven(request: Request, authorization: Auth = None) -> dict[str, Any] | JSONResponse:
        if (no := denied(request, authorization)) is not None:
            return no
        body = await request.json()
        name = body.get("venName") if isinstance(body, dict) else None
        if not name:
            return problem(400, "Bad Request", "venName: missing", request.url.path)
        if any(v.get("venName") == name for v in vtn.vens.values()):
            return problem(409, "Conflict", f"venName {name!r} exists", request.url.path)
        with vtn._lock:
            ven = vtn._stamp(body, "VEN", "ven")
            vtn.vens[ven["id"]] = ven
        return ven

    return app


class VtnServer:
    """Serve a :class:`Vtn` with uvicorn in a background thread on ``host:port`` (0 = a free port)."""

    def __init__(self, vtn: Vtn, host: str = "127.0.0.1", port: int = 0) -> None:
        self.vtn = vtn
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> VtnServer:
        config = uvicorn.Config(self.vtn.app(), host=self.host, port=self.port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="openadr-vtn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the VTN did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        if self.port == 0:
            self.port = int(server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10.0)
        self._server = self._thread = None
