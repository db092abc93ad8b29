"""IVR state where a sibling replica can take it over: each IVR call's session snapshot
in Redis (docs/call-control.md, "IVR", state).

After every batch of actions the host saves the call's snapshot (`ivr.Session.snapshot`,
with the flow's name and version and the call's facts) under `<prefix><cid>`, with a
TTL, and deletes it when the IVR lets go of the call. The SIP loop only hands the
document over: one thread writes, and only the newest document of each call is
written (a call that moved on twice before the write needs only its last state). While
Redis is away the writer keeps the newest state of each call and tries again; what a
call no longer needs (it ended) is deleted instead. The loop never waits on Redis.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["DEFAULT_KEY_PREFIX", "DEFAULT_TTL_S", "RedisSnapshots"]

log = logging.getLogger("controller.ivr")

DEFAULT_KEY_PREFIX = "ivr:session:"
# Longer than any IVR call (flows have a maximum time): a key whose call was lost with
# its replica expires by itself.
DEFAULT_TTL_S = 3600.0
_DELETE = None


class RedisSnapshots:
    """`SnapshotStore` on Redis, written from a thread of its own."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_KEY_PREFIX,
        ttl_s: float = DEFAULT_TTL_S,
        max_backoff_s: float = 1.0,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._max_backoff_s = max_backoff_s
        self._pending: dict[str, str | None] = {}  # cid -> JSON, or None: delete
        self._cond = threading.Condition()
        self._closed = False
        self._failing = False
        self.written = 0
        self.deleted = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="ivr-state", daemon=True)
        self._thread.start()

    @classmethod
    def connect(
        cls, host: str, port: int, *, timeout_s: float = 0.2, **kwargs: Any
    ) -> RedisSnapshots:
        client = redis.Redis(
            host=host,
            port=port,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, **kwargs)

    def key(self, cid: str) -> str:
        return f"{self.prefix}{cid}"

    # ------------------------------------------------------------ SIP loop

    def save(self, cid: str, document: Mapping[str, Any]) -> None:
        text = json.dumps(document, separators=(",", ":"), default=str)
        with self._cond:
            self._pending[cid] = text
            self._cond.notify()

    def delete(self, cid: str) -> None:
        with self._cond:
            self._pending[cid] = _DELETE
            self._cond.notify()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            backlog = len(self._pending)
        return {
            "written": self.written,
            "deleted": self.deleted,
            "errors": self.errors,
            "backlog": backlog,
        }

    def close(self, timeout_s: float = 1.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=timeout_s)

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and (not self._pending or backoff > 0):
                    return
                batch, self._pending = self._pending, {}
            try:
                self._write(batch)
            except redis.RedisError as exc:
                self.errors += 1
                if not self._failing:
                    log.warning("IVR state: redis unavailable (%s); retrying", exc)
                    self._failing = True
                with self._cond:
                    # Newer states (or deletions) that came meanwhile win.
                    self._pending = {**batch, **self._pending}
                backoff = min(self._max_backoff_s, max(0.1, backoff * 2))
                with self._cond:
                    self._cond.wait_for(lambda: self._closed, timeout=backoff)
                continue
            if self._failing:
                log.info("IVR state: redis is back")
                self._failing = False
            backoff = 0.0

    def _write(self, batch: Mapping[str, str | None]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for cid, text in batch.items():
            if text is None:
                pipe.delete(self.key(cid))
            else:
                pipe.set(self.key(cid), text, px=self._ttl_ms)
        pipe.execute()
        for text in batch.values():
            if text is None:
                self.deleted += 1
            else:
                self.written += 1
