"""PostgreSQL stopped and started again under load: the API answers 503 with a retry hint and recovers by itself.

The test runs a PostgreSQL of its own (initdb + pg_ctl in a temporary directory on a free port; the shared server at
127.0.0.1:5432 is not touched) and a real batteryloop server on it (uvicorn, a child process). Three client threads
read a passport, change it, and open its public page, without pause. Half a second in, the database is stopped
(``pg_ctl stop -m fast``: open sessions are ended, their transactions rolled back); it stays down for 1.5 s, then is
started again. The server is never restarted. Then:

- no request went unanswered or got anything but 2xx or 503 (no 500, no hang: the client waits at most 10 s);
- every 503 carries ``Retry-After`` and says the database is unavailable: JSON from the API, an HTML page, in the
  browser's language, for the pages;
- every request made while the database was known to be down got that 503, for the API and for the pages;
- after the database is back, the server answers 2xx again by itself within 2 s and stays so (measured: at once);
- every change the server acknowledged is stored, and the passport's hash chain verifies.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from batteryloop.config import Settings
from batteryloop.continuity.verify import verify_chains
from batteryloop.db import make_engine, make_session_factory
from batteryloop.migrate import upgrade
from batteryloop.passport.models import PassportVersion
from tests.faults.servers import EV, OwnPostgres, Server, operator_token

CLIENTS = 3
DOWN_S = 1.5
RECOVERY_BOUND_S = 2.0


@dataclass(frozen=True)
class Answer:
    sent: float
    received: float
    kind: str  # "read", "write" or "page"
    status: int  # 0: no answer (connection refused, reset or timed out)
    retry_after: str | None
    content_type: str
    body: str
    mass: float | None  # the mass a write set


def _load(base: str, token: str, pid: str, answers: list[Answer], stop: threading.Event, offset: int) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    step = offset
    with httpx.Client(base_url=base, timeout=10.0) as http:
        while not stop.is_set():
            step += 1
            kind = ("read", "write", "page")[step % 3]
            mass = None
            sent = time.monotonic()
            try:
                if kind == "read":
                    r = http.get(f"/api/v1/passports/{pid}", headers=auth)
                elif kind == "write":
                    mass = float(f"{offset}{step}.5")
                    r = http.patch(f"/api/v1/passports/{pid}", json={"data": {"battery_mass_kg": mass}}, headers=auth)
                else:
                    r = http.get(f"/p/{pid}", headers={"Accept": "text/html", "Accept-Language": "nl"})
                status, retry, ctype, body = (
                    r.status_code,
                    r.headers.get("retry-after"),
                    r.headers["content-type"],
                    r.text,
                )
            except httpx.TransportError as exc:
                status, retry, ctype, body = 0, None, "", repr(exc)
            answers.append(Answer(sent, time.monotonic(), kind, status, retry, ctype, body[:2000], mass))
            time.sleep(0.01)


def test_api_answers_503_while_postgres_is_down_and_recovers_by_itself(settings: Settings, tmp_path: Path) -> None:
    OwnPostgres.binaries_or_skip()
    pg = OwnPostgres()
    server: Server | None = None
    try:
        pg.init()
        pg.start()
        engine = make_engine(pg.url, pool_size=2)
        upgrade(engine)
        token = operator_token(engine, settings)
        engine.dispose()  # the test's own connections are not what is under test
        server = Server(pg.url, tmp_path, tmp_path / "server.log")
        server.start()
        r = httpx.post(
            server.base + "/api/v1/passports",
            json={"data": {**EV, "serial_number": "DB-RESTART-1"}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        pid = r.json()["passport_id"]
        server_pid = server.pid

        answers: list[Answer] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=_load, args=(server.base, token, pid, answers, stop, i + 1)) for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        stopping = time.monotonic()
        pg.stop()
        down = time.monotonic()  # pg_ctl -w returned: the database is down from here
        time.sleep(DOWN_S)
        starting = time.monotonic()
        pg.start()
        up = time.monotonic()  # pg_ctl -w returned: the database accepts connections from here
        time.sleep(RECOVERY_BOUND_S + 0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
            assert not thread.is_alive()
        assert server.pid == server_pid and server.alive(), "the server was restarted or died"

        # only 2xx or 503, never silence
        assert {a.status for a in answers} <= {200, 503}, sorted({(a.kind, a.status, a.body[:300]) for a in answers})
        unavailable = [a for a in answers if a.status == 503]
        for a in unavailable:
            assert a.retry_after is not None and int(a.retry_after) > 0, a
            if a.kind == "page":
                assert a.content_type.startswith("text/html"), a
                assert "database" in a.body and "niet bereikbaar" in a.body, a.body  # the page in Dutch, as asked
            else:
                assert a.content_type == "application/json", a
                error = httpx.Response(503, content=a.body).json()["error"]
                assert error["code"] == "database_unavailable" and "database is unavailable" in error["message"]
        # while the database was certainly down, every request got the 503, the API and the pages
        while_down = [a for a in answers if a.sent >= down and a.received <= starting]
        assert {a.kind for a in while_down} == {"read", "write", "page"}, while_down
        assert all(a.status == 503 for a in while_down), [a for a in while_down if a.status != 503]
        # before the stop everything was fine; after the restart the server recovers by itself and stays recovered
        assert all(a.status == 200 for a in answers if a.received < stopping)
        after = sorted((a for a in answers if a.sent >= up), key=lambda a: a.sent)
        failed_after = [a for a in after if a.status != 200]
        recovered = max((a.sent for a in failed_after), default=up)
        assert recovered - up < RECOVERY_BOUND_S, f"503 until {recovered - up:.2f} s after the database was back"
        assert {a.kind for a in after if a.sent > recovered and a.status == 200} == {"read", "write", "page"}
        print(
            f"{len(answers)} requests, {len(unavailable)} answered 503; {len(while_down)} while down; after the "
            f"restart {len(failed_after)} answered 503, the last {recovered - up:.2f} s after the database was back"
        )

        # a restart while the server is idle: its pooled connections are stale, and nothing has noticed yet. The
        # first request on one gets the 503 (the engine does not ping on checkout, see batteryloop.db.make_engine);
        # that disconnect invalidates the whole pool, so the next requests reconnect and succeed.
        pg.stop()
        pg.start()
        quiet = []
        with httpx.Client(base_url=server.base, timeout=10.0) as http:
            for _ in range(4):
                quiet.append(http.get(f"/api/v1/passports/{pid}").status_code)
            quiet.append(http.get(f"/p/{pid}", headers={"Accept": "text/html"}).status_code)
        assert quiet.count(503) <= 1 and quiet[1:] == [200] * 4, quiet
        assert server.pid == server_pid and server.alive()
        print(f"idle restart: answers {quiet}")

        # every acknowledged change is stored, and the chain verifies
        acked = {a.mass for a in answers if a.kind == "write" and a.status == 200}
        with make_session_factory(engine)() as session:
            stored = {v.content["data"].get("battery_mass_kg") for v in session.scalars(select(PassportVersion))}
            assert acked <= stored, acked - stored
            report = verify_chains(session)
            assert report.ok and report.versions >= len(acked) + 1, report
        engine.dispose()
    except (OSError, AssertionError) as exc:
        if server is not None:
            print(server.log.read_text(errors="replace")[-4000:] if server.log.exists() else "")
        if isinstance(exc, OSError):
            pytest.fail(f"could not run the database: {exc}")
        raise
    finally:
        if server is not None:
            server.close()
        pg.destroy()
