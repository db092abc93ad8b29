"""The `agent.wrap_up` event: the code an agent saved for a call goes to the call event
log beside the store's row, so the call's CDR gets it (docs/events.md)."""

from __future__ import annotations

import logging
from typing import Any

import redis

import eventlog

__all__ = ["publish_wrap_up"]

log = logging.getLogger(__name__)


def publish_wrap_up(
    client: redis.Redis, stream: str, node: str, *, call_id: str, username: str, code: str
) -> bool:
    """Append the event; False when Redis refused it (the wrap-up is in the store
    either way, and the page is not failed for a CDR detail)."""
    # eventlog.wrap_up_event builds it with the envelope the CDR fold groups by.
    build: Any = getattr(eventlog, "wrap_up_event", None)
    if build is None:
        return False
    try:
        event = build(call_id, agent=username, code=code, node=node)
        eventlog.EventLog(client, stream=stream).append(event)
    except (redis.RedisError, eventlog.EventError) as exc:
        log.warning("agent.wrap_up for call %s not published: %s", call_id, exc)
        return False
    return True
