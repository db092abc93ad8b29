"""The leader's side: the core in memory, one command at a time, each durably committed.

Only the replica holding the leader lease has an `Acd`. A command runs under a
lock against it; the records the command touched, its call events and its
actions are then written to Redis in one fenced commit (see `_store`). If the
commit fails, the in-memory state may be ahead of Redis, so the engine drops it
and stops leading; the next leader (maybe this replica again) reloads from
Redis. A command is thus either committed or, as far as anyone can tell, never
happened.

Group commit: the lock is held only while a command is applied. Its change then
joins a queue, and the first waiting thread to get the commit lock writes every
queued change in one script (in the order the commands were applied) while
other threads apply the next commands. Nobody replies before their command is
committed. If a commit fails, every command applied after it on the same state
fails too (NotLeader: it did not happen), because the state is dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
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


@dataclass(slots=True, eq=False)
class _Leading:
    acd: Acd
    lease: LeaderInfo
    commits: int = field(default=0)
    failed: BaseException | None = None  # a commit failed: nothing after it may commit


@dataclass(slots=True, eq=False)
class _Pending:
    """One applied command waiting for its commit."""

    ticket: int
    leading: _Leading
    change: Change
    commit_id: str = ""
    error: BaseException | None = None
    done: bool = False


def _dumps(record: dict[str, Any] | None) -> str | None:
    return None if record is None else json.dumps(record, separators=(",", ":"))


def _meta(acd: Acd) -> dict[str, Any]:
    """The part of `Acd.to_dict()` that is not records (to_dict() would serialise
    every record: O(agents) per command)."""
    meta = acd.meta()
    if meta.get("version") != STATE_VERSION:  # pragma: no cover - same package
        raise RuntimeError("core and service disagree on the state version")
    return meta


def _touched(
    result: Result, agents: Iterable[int], calls: Iterable[str]
) -> tuple[set[int], set[str], set[str]]:
    """Records a command may have changed: the ones it named, and every agent, call and
    monitoring session its events and actions mention (the core reports every state
    change as an event)."""
    agent_ids, call_ids, monitor_ids = set(agents), set(calls), set()
    for event in result.events:
        sid = event.get("monitor")
        if isinstance(sid, str):
            monitor_ids.add(sid)
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
    return agent_ids, call_ids, monitor_ids


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
        self._lock = threading.Lock()  # the core, the commit queue and the tickets
        self._commit_lock = threading.Lock()  # held by the thread writing a batch
        self._leading: _Leading | None = None
        self._queue: list[_Pending] = []  # applied, not yet being committed
        self._tickets = 0  # commands applied (and queued) so far
        self._committed = 0  # every ticket up to this one is done (committed or failed)
        self.batches = 0  # commit scripts run; with `commits` per leader: the batch size
        self.on_commit: Callable[[], None] = lambda: None
        # After each committed batch, in commit order: the stream's id before it, and
        # (commit id, actions) per command. The fanout delivers these without
        # reading back what this replica just wrote.
        self.on_batch: Callable[[str, list[tuple[str, list[dict[str, Any]]]]], None] = (
            lambda prev, entries: None
        )

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
            acd = (
                Acd(self._settings.acd, self._clock)
                if data is None
                else Acd.from_dict(data, self._settings.acd, self._clock)
            )
            self._leading = _Leading(acd, lease)
        log.info(
            "leading with epoch %s: %d agents, %d calls",
            lease.epoch,
            len(data["agents"]) if data else 0,
            len(data["calls"]) if data else 0,
        )
        self.execute(lambda a: a.tick())

    def step_down(self, *, stopping: bool = False) -> None:
        """Stop leading; `stopping`: this replica is shutting down (nothing went wrong)."""
        with self._lock:
            if self._leading is not None:
                log.log(
                    logging.INFO if stopping else logging.WARNING,
                    "no longer leading (epoch %s)%s",
                    self._leading.lease.epoch,
                    ": this replica stops" if stopping else "",
                )
                # Commands applied but not yet committed will not be: they fail.
                self._drop(self._leading, NotLeader("stepped down"))

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
        reconciled: Mapping[str, bool] | None = None,
    ) -> Outcome:
        """Run one command and commit what it changed. Raises NotLeader/StoreUnavailable.

        `reconciled` goes to `to_log_events`; it is read after the command ran, so the
        command may fill it in (the reconciler decides under the lock).
        """
        with self._lock:
            leading = self._leading
            if leading is None:
                raise NotLeader("not the leader")
            acd = leading.acd
            try:
                result = command(acd)
            except BaseException:
                # A half-applied command must not survive: reload from Redis on re-election.
                self._drop(leading, NotLeader("a command failed; state dropped"))
                log.exception("command failed; dropping the in-memory state")
                raise
            agent_ids, call_ids, monitor_ids = _touched(result, agents, calls)
            if not (result.events or result.actions or agent_ids or call_ids):
                # Nothing to write, but the reply may rest on commands not yet committed.
                barrier = self._tickets
                pending = None
            else:
                calls = {cid: _dumps(acd.call(cid)) for cid in call_ids}
                change = Change(
                    agents={eid: _dumps(acd.agent(eid)) for eid in agent_ids},
                    calls=calls,
                    monitors={sid: _dumps(acd.monitor_session(sid)) for sid in monitor_ids},
                    meta=json.dumps(_meta(acd), separators=(",", ":")),
                    # Removed calls are remembered (and trimmed) in Redis as in the core,
                    # so a new leader also refuses a retried Enqueue for them.
                    ended={
                        cid: when
                        for cid, rec in calls.items()
                        if rec is None and (when := acd.ended_at(cid)) is not None
                    },
                    ended_cutoff=acd.ended_cutoff(),
                    actions=[a.to_dict() for a in result.actions],
                    events=[
                        eventlog.encode(e)
                        for e in to_log_events(
                            result.events,
                            result.actions,
                            agent=acd.agent,
                            call=acd.call,
                            node=self._settings.node,
                            side=side,
                            call_events=self._settings.section.call_events,
                            reconciled=reconciled,
                        )
                    ],
                )
                self._tickets += 1
                barrier = self._tickets
                pending = _Pending(barrier, leading, change)
                self._queue.append(pending)
        if barrier > self._committed:
            self._commit_until(barrier)
        if pending is None:
            if leading.failed is not None:
                raise NotLeader("an earlier command failed to commit; state dropped")
            return Outcome(result)
        if pending.error is not None:
            raise pending.error
        self.on_commit()
        return Outcome(result, pending.commit_id)

    def _commit_until(self, ticket: int) -> None:
        """Return once every command up to `ticket` is committed (or failed), committing
        the queued ones in one batch if no other thread is already doing it."""
        while True:
            with self._commit_lock:
                with self._lock:
                    if self._committed >= ticket or not self._queue:
                        return
                    batch, self._queue = self._queue, []
                self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Write `batch` (holding the commit lock, not the core lock)."""
        with self._lock:
            current = self._leading
        live = [p for p in batch if p.leading is current and current.failed is None]
        for p in batch:
            if not (p.leading is current and current is not None and current.failed is None):
                p.error = NotLeader("the state this command was applied to was dropped")
        if live and current is not None:
            try:
                prev, ids = self._store.commit_many(current.lease.epoch, [p.change for p in live])
            except Fenced as exc:
                log.warning("fenced out: %s", exc)
                self._fail(current, live, NotLeader, str(exc), exc)
            except redis.RedisError as exc:
                log.warning("commit failed, dropping the in-memory state: %s", exc)
                self._fail(current, live, StoreUnavailable, f"commit failed: {exc}", exc)
            except BaseException as exc:
                self._fail(current, live, StoreUnavailable, f"commit failed: {exc}", exc)
                raise
            else:
                for p, commit_id in zip(live, ids, strict=True):
                    p.commit_id = commit_id
                current.commits += len(live)
                self.batches += 1
                try:
                    self.on_batch(prev, [(p.commit_id, p.change.actions) for p in live])
                except Exception:  # watchers are a side channel: the commit stands
                    log.exception("delivering a commit to watchers failed")
        with self._lock:
            for p in batch:
                p.done = True
            if batch:
                self._committed = max(self._committed, batch[-1].ticket)
            if (
                self._verify
                and live
                and current is not None
                and current.failed is None
                and not self._queue
                and self._leading is current
            ):
                self._check_stored(current.acd)  # nothing applied but uncommitted

    def _fail(
        self,
        leading: _Leading,
        batch: list[_Pending],
        kind: type[Exception],
        message: str,
        cause: BaseException,
    ) -> None:
        for p in batch:  # one exception each: every waiting thread raises its own
            p.error = kind(message)
            p.error.__cause__ = cause
        with self._lock:
            self._drop(leading, kind(message))

    def _drop(self, leading: _Leading, error: BaseException) -> None:
        """Forget `leading`'s state (caller holds the core lock); queued commands fail."""
        leading.failed = error
        if self._leading is leading:
            self._leading = None

    def _check_stored(self, acd: Acd) -> None:
        """Test aid: the stored state must equal the in-memory state after every commit."""
        stored = self._store.load()
        mine = acd.to_dict()
        if stored is not None:
            # Redis trims ended calls at the last commit's cutoff; the core may have
            # forgotten more since (a refused command still moves the clock on).
            cutoff = acd.ended_cutoff()
            stored["ended"] = [e for e in stored.get("ended", []) if e[1] > cutoff]
        if stored is None or _canonical(stored) != _canonical(mine):
            raise AssertionError("stored ACD state differs from the leader's memory")


def _canonical(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["agents"] = sorted(data["agents"], key=lambda a: a["employee_id"])
    out["calls"] = sorted(data["calls"], key=lambda c: c["call_id"])
    out["ended"] = sorted(data.get("ended", []))
    out["monitors"] = sorted(data.get("monitors", []), key=lambda m: m["session_id"])
    canonical: dict[str, Any] = json.loads(json.dumps(out))
    return canonical
