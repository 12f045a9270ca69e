"""All web pages: one router per page module, and the handlers that turn a missing sign-in into the sign-in page."""

from __future__ import annotations

from fastapi import FastAPI

from batteryloop.web import (
    auth,
    charts,
    circularity_page,
    console,
    energy_page,
    health_page,
    layout,
    market,
    monitor,
    pages,
)


def include(app: FastAPI) -> None:
    layout.install(app)
    for module in (auth, charts, console, health_page, market, energy_page, circularity_page, monitor, pages):
        app.include_router(module.router)
