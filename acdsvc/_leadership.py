"""One leader at a time, by a Redis lease with a fencing epoch.

Every replica runs this loop. Without a leader, the first replica to take the
lease (SET NX PX, epoch = INCR) loads the state and leads. The leader renews
every quarter lease; when it cannot renew before its own conservative expiry,
or finds another's value, it stops leading at once. A leader that is paused
and wakes after losing the lease is harmless: its next commit carries the old
epoch and is refused by the commit script.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import redis

from ._engine import Engine
from ._store import LeaderInfo, StateStore

__all__ = ["Leadership"]

log = logging.getLogger(__name__)


class Leadership:
    def __init__(
        self,
        engine: Engine,
        store: StateStore,
        *,
        node: str,
        address: str,
        lease_seconds: float,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._node = node
        self._address = address
        self._ttl_ms = int(lease_seconds * 1000)
        self._period = lease_seconds / 4
        self._valid_until = 0.0  # monotonic; stop leading after this without a renewal
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acd-leadership", daemon=True)
        self.leader: LeaderInfo | None = None  # last known leader (maybe this replica)
        self.redis_ok = False

    def start(self) -> None:
        self._step()  # lead or learn the leader before serving, when Redis is up
        self._thread.start()

    def stop(self) -> None:
        """Stop leading and hand the lease back, so another replica takes over at once."""
        self._stop.set()
        self._thread.join(timeout=5)
        lease = self._engine.lease
        self._engine.step_down(stopping=True)
        if lease is not None:
            with contextlib.suppress(redis.RedisError):
                self._store.release(lease)

    def refresh(self) -> LeaderInfo | None:
        """Re-read who leads (after a forward failed)."""
        try:
            self.leader = self._store.leader()
        except redis.RedisError:
            self.leader = None
        return self.leader

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._step()

    def _step(self) -> None:
        before = self.leader
        try:
            self._lead_or_follow()
            self.redis_ok = True
        except redis.RedisError as exc:
            self.redis_ok = False
            log.warning("leadership: redis: %s", exc)
            if self._engine.is_leader and time.monotonic() > self._valid_until:
                self._engine.step_down()
        except Exception:
            log.exception("leadership step failed")
        if self.leader != before:
            self._on_change()

    def _lead_or_follow(self) -> None:
        lease = self._engine.lease
        started = time.monotonic()
        if lease is not None:
            if self._store.renew(lease, self._ttl_ms):
                # Counted from before the request: Redis may have set the TTL any time after.
                self._valid_until = started + self._ttl_ms / 1000 * 0.8
                self.leader = lease
                return
            log.warning("lease lost (holder now: %s)", self._store.leader())
            self._engine.step_down()
        won = self._store.try_acquire(self._node, self._address, self._ttl_ms)
        if won is None:
            self.leader = self._store.leader()
            return
        self._valid_until = started + self._ttl_ms / 1000 * 0.8
        try:
            self._engine.take_over(won)
        except Exception:
            log.exception("cannot lead: loading the state failed; handing the lease back")
            self._engine.step_down()
            self._store.release(won)
            self.leader = None
            return
        self.leader = won
