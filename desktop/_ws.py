"""The events WebSocket (`/api/events`): the page's offers, ring cancels, releases and
state changes. The Origin must be the desktop's own (`public_url`): a cookie alone
does not open it from another site. It closes (4401) once the web session has ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from ._desk import Desk
from ._http import COOKIE

__all__ = ["events_socket"]

log = logging.getLogger(__name__)
# How often an open socket checks that its session still lives.
SESSION_CHECK_S = 5.0


async def events_socket(websocket: WebSocket) -> None:
    desk: Desk = websocket.app.state.desk
    if not _same_origin(websocket, desk.settings.origin):
        await websocket.close(code=4403, reason="origin")
        return
    session = await run_in_threadpool(desk.sessions.get, websocket.cookies.get(COOKIE))
    if session is None:
        await websocket.close(code=4401, reason="no_session")
        return
    await websocket.accept()
    employee_id = session.employee_id
    queue = desk.hub.connect(employee_id)
    try:
        live = await run_in_threadpool(desk.acd.agent, employee_id, fresh=True)
        desk.hub.forget_state(employee_id)
        if live is not None:
            await run_in_threadpool(desk.hub.note_state, live)
        await _pump(websocket, desk, session.id, queue)
    except WebSocketDisconnect:
        pass
    finally:
        desk.hub.disconnect(employee_id, queue)


def _same_origin(websocket: WebSocket, public_origin: str) -> bool:
    """The page's Origin is the desktop's: `public_url`'s, or this host as the browser
    named it (127.0.0.1 or localhost in a demo). Another site's page has its own."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    return origin is not None and (
        origin == public_origin or (host is not None and origin == f"https://{host}")
    )


async def _pump(
    websocket: WebSocket, desk: Desk, session_id: str, queue: asyncio.Queue[Any]
) -> None:
    reader = asyncio.create_task(_drain_incoming(websocket))
    try:
        while not reader.done():
            try:
                event = await asyncio.wait_for(queue.get(), timeout=SESSION_CHECK_S)
            except TimeoutError:
                alive = await run_in_threadpool(desk.sessions.get, session_id, renew=False)
                if alive is None:
                    await websocket.close(code=4401, reason="no_session")
                    return
                continue
            if event.get("type") == "offer":
                event = {**event, "sent_at": time.time()}
                log.info(
                    "offer %s pushed %.1f ms after the feed delivered it",
                    event["call_id"],
                    (event["sent_at"] - event["offered_at"]) * 1000,
                )
            await websocket.send_json(event)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await reader


async def _drain_incoming(websocket: WebSocket) -> None:
    """The page sends nothing that matters; reading notices it going away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
