"""What every route needs: the caller's request context, run as one unit of work.

A route is ``async`` and hands its blocking work to :meth:`Context.run`, which runs it in one worker thread: open a
session, authenticate the bearer token, do the work, commit (before the response is sent, so an acknowledged write
is on disk) or roll back when it raises, close. One thread hop per request keeps the server responsive under load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from batteryloop.config import Settings
from batteryloop.errors import AuthenticationError
from batteryloop.passport.access import Viewer
from batteryloop.passport.service import PassportService

T = TypeVar("T")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'", field="authorization")
    return token.strip()


@dataclass(frozen=True)
class Context:
    factory: sessionmaker[Session]
    settings: Settings
    token: str | None
    route: str

    def call(self, work: Callable[[PassportService, Viewer], T]) -> T:
        session = self.factory()
        try:
            service = PassportService(session, self.settings)
            viewer = service.authenticate(self.token)
            result = work(service, viewer)
            if session.new or session.dirty or session.deleted or session.info.get("flushed"):
                session.commit()
            # a read-only request ends with the rollback the pool does when the connection returns
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    async def run(self, work: Callable[[PassportService, Viewer], T]) -> T:
        return await run_in_threadpool(self.call, work)


READ_METHODS = frozenset({"GET", "HEAD"})


async def get_context(request: Request) -> Context:
    """The unit of work of a request; reads (GET) get an autocommit session, writes one transaction."""
    state = request.app.state
    return Context(
        factory=state.read_session_factory if request.method in READ_METHODS else state.session_factory,
        settings=request.app.state.settings,
        token=bearer_token(request),
        route=f"{request.method} {request.url.path}",
    )


ContextDep = Annotated[Context, Depends(get_context)]
