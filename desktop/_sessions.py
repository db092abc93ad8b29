"""Web sessions, server side in Redis so that any desktop replica serves any request.

A session is one JSON value under `desktop:session:<id>`, the id 32 random bytes
(URL-safe) that only the `cc_session` cookie carries. Its Redis TTL is the idle expiry,
renewed by every request (the page's heartbeat included) but never past the absolute
one, `session_max_s` after login. The session keeps the ACD's session_id, so every
agent command carries the agent's own desk session next to the desktop's service token.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

__all__ = ["KEY_PREFIX", "LoginLimiter", "Session", "SessionStore"]

KEY_PREFIX = "desktop:session:"
_LOGIN_FAILURES_PREFIX = "desktop:login_failures:"


@dataclass
class Session:
    id: str
    username: str
    employee_id: int
    seat: int
    role: str  # "agent" or "supervisor"
    skills: dict[str, int]
    acd_session: str
    lease_seconds: float
    csrf_token: str
    created_at: float
    # Absolute end (epoch seconds): created_at + session_max_s.
    ends_at: float
    display: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


class SessionStore:
    def __init__(self, client: redis.Redis, *, idle_s: int, max_s: int) -> None:
        self._redis = client
        self.idle_s = idle_s
        self.max_s = max_s

    def create(self, **fields: Any) -> Session:
        now = time.time()
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            ends_at=now + self.max_s,
            **fields,
        )
        self._redis.set(KEY_PREFIX + session.id, json.dumps(asdict(session)), ex=self.idle_s)
        return session

    def get(self, session_id: str | None, *, renew: bool = True) -> Session | None:
        """The live session with this id, its idle expiry renewed (capped at its
        absolute end); None when there is none or it has ended."""
        if not session_id or len(session_id) > 128:
            return None
        key = KEY_PREFIX + session_id
        raw = self._redis.get(key)
        if raw is None:
            return None
        session = Session(**json.loads(raw))
        left = session.ends_at - time.time()
        if left <= 0:
            self._redis.delete(key)
            return None
        if renew:
            self._redis.pexpire(key, int(min(self.idle_s, left) * 1000))
        return session

    def delete(self, session_id: str) -> None:
        self._redis.delete(KEY_PREFIX + session_id)


class LoginLimiter:
    """Failed logins per username and client address: after `max_failures` within
    `window_s` further attempts are refused until the window has passed (a password
    guesser gets nowhere; a typing agent waits a few minutes). A success clears it."""

    def __init__(self, client: redis.Redis, *, max_failures: int = 5, window_s: int = 300) -> None:
        self._redis = client
        self.max_failures = max_failures
        self.window_s = window_s

    def _key(self, username: str, address: str) -> str:
        return f"{_LOGIN_FAILURES_PREFIX}{username}:{address}"

    def blocked(self, username: str, address: str) -> bool:
        count = self._redis.get(self._key(username, address))
        return count is not None and int(count) >= self.max_failures

    def failed(self, username: str, address: str) -> None:
        key = self._key(username, address)
        with self._redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_s, nx=True)
            pipe.execute()

    def succeeded(self, username: str, address: str) -> None:
        self._redis.delete(self._key(username, address))
