"""The `agent.wrap_up` event: what an agent coded a call with goes to the call event
log beside the store's row, so the CDR gets it (docs/events.md)."""

from __future__ import annotations

import logging
import time

import redis

import eventlog

__all__ = ["publish_wrap_up"]

log = logging.getLogger(__name__)
WRAP_UP_KIND = "agent.wrap_up"


def publish_wrap_up(
    client: redis.Redis,
    stream: str,
    node: str,
    *,
    call_id: str,
    username: str,
    code: str,
    note: str,
) -> bool:
    """Append the event; False when the event log does not know the kind yet or Redis
    refused (the wrap-up is in the store either way)."""
    if WRAP_UP_KIND not in eventlog.KIND_FIELDS:
        return False
    fields = eventlog.KIND_FIELDS[WRAP_UP_KIND]
    values = {"agent": username, "code": code, "note": note}
    data = {name: values.get(name, "") for name in fields}
    try:
        event = eventlog.Event(
            kind=WRAP_UP_KIND, ts=time.time(), correlation_id=call_id, node=node, data=data
        )
        eventlog.EventLog(client, stream=stream).append(event)
    except (redis.RedisError, eventlog.EventError) as exc:
        log.warning("agent.wrap_up for call %s not published: %s", call_id, exc)
        return False
    return True
