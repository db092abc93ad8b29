"""The leader's side: the core in memory, one command at a time, each durably committed.

Only the replica holding the leader lease has an `Acd`. A command runs under a
lock against it; the records the command touched, its call events and its
actions are then written to Redis in one fenced commit (see `_store`). If the
commit fails, the in-memory state may be ahead of Redis, so the engine drops it
and stops leading; the next leader (maybe this replica again) reloads from
Redis. A command is thus either committed or, as far as anyone can tell, never
happened.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

import eventlog
from acd import STATE_VERSION, Acd, Clock, Result, SystemClock

from ._events import to_log_events
from ._settings import Settings
from ._store import Change, Fenced, LeaderInfo, StateStore

__all__ = ["Engine", "NotLeader", "Outcome", "StoreUnavailable"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Command = Callable[[Acd], Result]


class NotLeader(Exception):
    """This replica does not lead (or just lost the lease); the command did not happen."""


class StoreUnavailable(Exception):
    """Redis failed mid-commit: the command may or may not have been committed."""


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    commit_id: str = ""  # "" when nothing needed writing


@dataclass(slots=True)
class _Leading:
    acd: Acd
    lease: LeaderInfo
    commits: int = field(default=0)


def _dumps(record: dict[str, Any] | None) -> str | None:
    return None if record is None else json.dumps(record, separators=(",", ":"))


def _meta(acd: Acd) -> dict[str, Any]:
    """The part of `Acd.to_dict()` that is not records, without serialising every record.

    Reads the core's counters directly: to_dict() costs O(agents) per command,
    which at 1,000 agents is most of a command's budget.
    """
    return {
        "version": STATE_VERSION,
        "seq": acd._seq,
        "front": acd._front,
        "sessions": acd._sessions,
        "memory": {k: dict(v) for k, v in acd._memory.items()},
    }


def _touched(result: Result, agents: Iterable[int], calls: Iterable[str]
             ) -> tuple[set[int], set[str]]:
    """Records a command may have changed: the ones it named, and every agent and call
    its events and actions mention (the core reports every state change as an event)."""
    agent_ids, call_ids = set(agents), set(calls)
    for event in result.events:
        for key in ("agent", "to_agent"):
            value = event.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                agent_ids.add(value)
        cid = event.get("call")
        if isinstance(cid, str):
            call_ids.add(cid)
    for action in result.actions:
        call_ids.add(action.call_id)
        eid = getattr(action, "agent", None)
        if isinstance(eid, int):
            agent_ids.add(eid)
    return agent_ids, call_ids


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        *,
        clock: Clock | None = None,
        verify_commits: bool = False,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock or SystemClock()
        self._verify = verify_commits
        self._lock = threading.Lock()
        self._leading: _Leading | None = None
        self.on_commit: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ leadership

    @property
    def is_leader(self) -> bool:
        return self._leading is not None

    @property
    def lease(self) -> LeaderInfo | None:
        leading = self._leading
        return None if leading is None else leading.lease

    def take_over(self, lease: LeaderInfo) -> None:
        """Become leader under `lease`: load the shared state, then apply overdue timers."""
        with self._lock:
            data = self._store.load()
            acd = (Acd(self._settings.acd, self._clock) if data is None
                   else Acd.from_dict(data, self._settings.acd, self._clock))
            self._leading = _Leading(acd, lease)
        log.info("leading with epoch %s: %d agents, %d calls", lease.epoch,
                 len(data["agents"]) if data else 0, len(data["calls"]) if data else 0)
        self.execute(lambda a: a.tick())

    def step_down(self) -> None:
        with self._lock:
            if self._leading is not None:
                log.warning("no longer leading (epoch %s)", self._leading.lease.epoch)
            self._leading = None

    # ------------------------------------------------------------------ commands

    def read(self, fn: Callable[[Acd], T]) -> T:
        """Run a read-only function against the state (snapshot, next deadline...)."""
        with self._lock:
            if self._leading is None:
                raise NotLeader("not the leader")
            return fn(self._leading.acd)

    def execute(
        self,
        command: Command,
        *,
        agents: Iterable[int] = (),
        calls: Iterable[str] = (),
        side: str = "system",
    ) -> Outcome:
        """Run one command and commit what it changed. Raises NotLeader/StoreUnavailable."""
        with self._lock:
            leading = self._leading
            if leading is None:
                raise NotLeader("not the leader")
            acd = leading.acd
            try:
                result = command(acd)
            except BaseException:
                # A half-applied command must not survive: reload from Redis on re-election.
                self._leading = None
                log.exception("command failed; dropping the in-memory state")
                raise
            agent_ids, call_ids = _touched(result, agents, calls)
            if not (result.events or result.actions or agent_ids or call_ids):
                return Outcome(result)
            change = Change(
                agents={eid: _dumps(acd.agent(eid)) for eid in agent_ids},
                calls={cid: _dumps(acd.call(cid)) for cid in call_ids},
                meta=json.dumps(_meta(acd), separators=(",", ":")),
                actions=[a.to_dict() for a in result.actions],
                events=[eventlog.encode(e) for e in to_log_events(
                    result.events, result.actions, agent=acd.agent, call=acd.call,
                    node=self._settings.node, side=side,
                    emit_call_ended=self._settings.section.emit_call_ended)],
            )
            try:
                commit_id = self._store.commit(leading.lease.epoch, change)
            except Fenced as exc:
                self._leading = None
                log.warning("fenced out: %s", exc)
                raise NotLeader(str(exc)) from exc
            except redis.RedisError as exc:
                self._leading = None
                log.warning("commit failed, dropping the in-memory state: %s", exc)
                raise StoreUnavailable(f"commit failed: {exc}") from exc
            leading.commits += 1
            if self._verify:
                self._check_stored(acd)
        self.on_commit()
        return Outcome(result, commit_id)

    def _check_stored(self, acd: Acd) -> None:
        """Test aid: the stored state must equal the in-memory state after every commit."""
        stored = self._store.load()
        mine = acd.to_dict()
        if stored is None or _canonical(stored) != _canonical(mine):
            raise AssertionError("stored ACD state differs from the leader's memory")


def _canonical(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["agents"] = sorted(data["agents"], key=lambda a: a["employee_id"])
    out["calls"] = sorted(data["calls"], key=lambda c: c["call_id"])
    canonical: dict[str, Any] = json.loads(json.dumps(out))
    return canonical
