"""The desktop's Starlette app: the API (docs/desktop.md), the events WebSocket, the
page's static files, the security headers; the ACD feed starts with the app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from ._desk import Desk
from ._routes_agent import agent_routes
from ._routes_records import record_routes
from ._security import SecurityHeaders, content_security_policy
from ._settings import DesktopSettings
from ._ws import events_socket

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


async def healthz(request: Request) -> JSONResponse:
    desk: Desk = request.app.state.desk
    return JSONResponse({"ok": True, "acd_feed": desk.hub.subscribed})


async def no_page(request: Request) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "not_found", "message": f"no such path {request.url.path}"}},
        status_code=404,
    )


def create_app(
    settings: DesktopSettings, *, desk: Desk | None = None, static_dir: Path = STATIC_DIR
) -> Starlette:
    """The app; `static_dir`: the page's files (index.html at `/`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        the_desk = desk or Desk(settings)
        app.state.desk = the_desk
        the_desk.hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(the_desk.close)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        *agent_routes(),
        *record_routes(),
        WebSocketRoute("/api/events", events_socket),
    ]
    if static_dir.is_dir():
        routes.append(Mount("/", StaticFiles(directory=static_dir, html=True)))
    else:  # a checkout without the page built: the API still serves
        routes.append(Route("/{path:path}", no_page, methods=["GET", "HEAD"]))
    csp = content_security_policy(settings.public_url, settings.wss_url)
    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, csp=csp)],
        lifespan=lifespan,
    )
