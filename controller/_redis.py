"""The controller's Redis clients: each fails fast and never retries by itself.

Every writer to Redis here (the event publisher, the live-call registry, the IVR's
state) runs on a thread of its own that retries on its own schedule while Redis is
away, keeping what it still has to write; a client that retried, or waited long for a
connection, would only hold the newer writes up behind the old.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["fail_fast_redis"]


def fail_fast_redis(host: str, port: int, *, timeout_s: float) -> redis.Redis:
    """A client whose connect and each command give up after `timeout_s`, with no retry."""
    return redis.Redis(
        host=host,
        port=port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
