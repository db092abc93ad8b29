"""Every replica tails the commit stream: actions go to its WatchActions streams, and
each commit wakes its WatchSnapshot streams. So a controller or dashboard may
connect to any replica, and a resuming watcher replays from Redis.

The leader does not read back what it just wrote: its engine hands each committed
batch to `publish()`, with the stream's id before the batch; if that is not the
last commit delivered here (another leader wrote in between), the gap is read
from Redis first. While leading, the reader only polls, every 0.1 s, as a backstop
(a deposed leader that has not noticed yet still delivers the new leader's commits).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from acd_api.v1 import acd_pb2 as pb

from ._convert import action_from_dict, action_to_proto
from ._store import StateStore

__all__ = ["Fanout", "Subscription", "stream_id"]

log = logging.getLogger(__name__)
_QUEUE_LIMIT = 10_000


def stream_id(value: str) -> tuple[int, int]:
    """A Redis stream id as a comparable pair; malformed ids sort first."""
    ms, _, seq = value.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


def _wanted(action: pb.Action, employee_id: int) -> bool:
    if not employee_id:
        return True
    which = action.WhichOneof("kind")
    if which == "offer":
        return action.offer.employee_id == employee_id
    if which == "cancel_ring":
        return action.cancel_ring.employee_id == employee_id
    if which == "release":  # the agent's desk learns it is off the call
        return action.release.employee_id == employee_id
    return False


@dataclass(eq=False)
class Subscription:
    employee_id: int
    queue: queue.Queue[pb.Action | None] = field(default_factory=lambda: queue.Queue(_QUEUE_LIMIT))
    overflowed: bool = False

    def offer(self, action: pb.Action) -> None:
        if self.overflowed or not _wanted(action, self.employee_id):
            return
        try:
            self.queue.put_nowait(action)
        except queue.Full:
            # A watcher this far behind is cut off; it resumes from its last commit_id.
            self.overflowed = True
            self.queue.put(None)


class Fanout:
    def __init__(self, store: StateStore, *, local: Callable[[], bool] = lambda: False) -> None:
        self._store = store
        self._local = local  # True while this replica's engine publishes its own commits
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self.version = 0  # commits seen; WatchSnapshot waits for it to move
        self.last_commit = "0-0"  # the newest commit id read from the stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acd-fanout", daemon=True)

    def start(self) -> None:
        self.last_commit = self._store.last_commit_id()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout=5)

    def subscribe(self, employee_id: int = 0) -> tuple[Subscription, str]:
        """A new subscription, and the last commit before it: it gets every later one."""
        sub = Subscription(employee_id)
        with self._lock:
            self._subs.add(sub)
            return sub, self.last_commit

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def replay(self, after: str, employee_id: int) -> tuple[list[pb.Action], str]:
        """Actions committed after `after`, and the last commit id read."""
        out: list[pb.Action] = []
        last = after
        while True:
            entries = self._store.commits_between(last)
            if not entries:
                return out, last
            for commit_id, actions in entries:
                out += [
                    a
                    for a in (action_to_proto(action_from_dict(d), commit_id) for d in actions)
                    if _wanted(a, employee_id)
                ]
                last = commit_id

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until a commit after version `seen` (or timeout / stop); the new version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen or self._stop.is_set(), timeout)
            return self.version

    def publish(self, prev: str, entries: list[tuple[str, list[dict[str, Any]]]]) -> None:
        """Commits this replica just made (oldest first); `prev`: the stream's last id
        before them."""
        if not entries:
            return
        with self._lock:
            contiguous = self.last_commit == prev or stream_id(self.last_commit) >= stream_id(
                entries[0][0]
            )
            if contiguous:
                delivered = self._deliver(entries)
        if not contiguous:  # commits we have not seen come first: read them from Redis
            delivered = 0
            while True:
                more = self._store.commits_between(self.last_commit)
                if not more:
                    break
                with self._lock:
                    delivered += self._deliver(more)
        self._bump(delivered)

    def _deliver(self, entries: list[tuple[str, list[dict[str, Any]]]]) -> int:
        """Hand commits after `last_commit` to the subscribers (caller holds the lock)."""
        count = 0
        last = stream_id(self.last_commit)
        for commit_id, actions in entries:
            position = stream_id(commit_id)
            if position <= last:
                continue  # already delivered (by the reader or by publish)
            if self._subs:  # nobody watching: skip building messages
                protos = [action_to_proto(action_from_dict(d), commit_id) for d in actions]
                for sub in self._subs:
                    for action in protos:
                        sub.offer(action)
            self.last_commit, last = commit_id, position
            count += 1
        return count

    def _bump(self, count: int) -> None:
        if count:
            with self._changed:
                self.version += count
                self._changed.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            local = self._local()
            try:
                entries = self._store.read_commits(
                    self.last_commit, block_ms=None if local else 500
                )
            except redis.RedisError as exc:
                log.warning("commit stream: %s", exc)
                self._stop.wait(0.2)
                continue
            if entries:
                # Under the lock, so subscribe() sees last_commit and the delivered set agree.
                with self._lock:
                    delivered = self._deliver(entries)
                self._bump(delivered)
            if local:
                self._stop.wait(0.1)
