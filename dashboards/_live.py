"""The ACD's live view for the wallboard: agents, queues and monitoring sessions as
they are now.

- `EventLogLive` folds the event log's agent.state/call/monitor events from Redis
  (works without the ACD API).
- `GrpcLive` asks acd.v1 GetSnapshot; `GrpcLiveStream` holds WatchSnapshot open, one
  subscription per dashboard process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import redis

import eventlog as ev

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentLive:
    agent: str
    seat: str
    state: str
    since: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class QueueLive:
    queue: str
    waiting: int
    longest_wait_s: float


@dataclass(frozen=True, slots=True)
class MonitorLive:
    """A supervisor's monitoring session on an agent's call (docs/monitoring.md)."""

    session_id: str
    supervisor: str
    agent: str
    call_id: str
    mode: str  # listen, whisper, barge (intercept: being handed over)
    state: str  # ringing (the supervisor's phone) or active
    since: float  # epoch seconds it has been in this state (active: since answered)


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    ts: float
    agents: tuple[AgentLive, ...]
    queues: tuple[QueueLive, ...]
    source: str
    monitors: tuple[MonitorLive, ...] = ()


class LiveSource(Protocol):
    def snapshot(self) -> LiveSnapshot: ...


class EventLogLive:
    """The live view folded from the event log (works without the ACD API).

    Reads the stream incrementally (XRANGE after the last id seen); the first read
    starts `lookback_s` back, so agents logged in longer ago than that are missed
    until their next state change. A call waits from its `call.queued` until it is
    answered, ends, overflows away or goes to voicemail.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = ev.DEFAULT_STREAM,
        lookback_s: float = 12 * 3600,
        clock: Callable[[], float] = time.time,
        page: int = 5000,
    ) -> None:
        self._client = client
        self._stream = stream
        self._clock = clock
        self._page = page
        self._last = f"{int(max(0.0, clock() - lookback_s) * 1000)}-0"
        self._agents: dict[str, AgentLive] = {}
        self._waiting: dict[str, tuple[str, float]] = {}
        self._queues: set[str] = set()
        self._monitors: dict[str, MonitorLive] = {}
        self._lock = threading.Lock()

    def _fold(self, event: ev.Event) -> None:
        kind, cid = event.kind, event.correlation_id
        if kind == ev.AGENT_STATE:
            name = event["agent"]
            if event["state"] == ev.STATE_LOGGED_OUT:
                self._agents.pop(name, None)
            else:
                self._agents[name] = AgentLive(
                    name, event["seat"], event["state"], event.ts, event["reason"]
                )
        elif kind == ev.CALL_QUEUED:
            self._queues.add(event["queue"])
            self._waiting[cid] = (event["queue"], event.ts)
        elif kind in (ev.CALL_ANSWERED, ev.CALL_ENDED, ev.CALL_VOICEMAIL, ev.CALL_OVERFLOW):
            self._waiting.pop(cid, None)
        elif kind == ev.MONITOR_STARTED:
            # The controller writes it when the supervisor answers: the session is live.
            session_id = event["session"]
            self._monitors[session_id] = MonitorLive(
                session_id,
                event["supervisor"],
                event["agent"],
                cid,
                event["mode"],
                "active",
                event.ts,
            )
        elif kind == ev.MONITOR_SWITCHED:
            session = self._monitors.get(event["session"])
            if session is not None:
                self._monitors[session.session_id] = replace(
                    session, mode=event["mode"], agent=event["agent"]
                )
        elif kind == ev.MONITOR_STOPPED:
            self._monitors.pop(event["session"], None)

    def refresh(self) -> None:
        with self._lock:
            start = self._last
            while True:
                entries: Any = self._client.xrange(
                    self._stream, min=start, max="+", count=self._page
                )
                for entry_id, fields in entries:
                    eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    self._last = "(" + eid
                    try:
                        self._fold(ev.decode(fields, entry_id=eid))
                    except ev.EventError:
                        continue  # the collector dead-letters it; the wallboard skips it
                if len(entries) < self._page:
                    break
                start = self._last

    def snapshot(self) -> LiveSnapshot:
        self.refresh()
        now = self._clock()
        with self._lock:
            per_queue: dict[str, list[float]] = {q: [] for q in self._queues}
            for queue, since in self._waiting.values():
                per_queue.setdefault(queue, []).append(now - since)
            queues = tuple(
                QueueLive(q, len(w), max(w) if w else 0.0) for q, w in sorted(per_queue.items())
            )
            agents = tuple(sorted(self._agents.values(), key=lambda a: a.agent))
            monitors = tuple(sorted(self._monitors.values(), key=lambda m: m.since))
        return LiveSnapshot(now, agents, queues, "event log", monitors)


ACD_STATES = {
    0: "unknown",
    1: "logged_out",
    2: "idle",
    3: "reserved",
    4: "talking",
    5: "wrap_up",
    6: "busy",
}


class GrpcLive:
    """The ACD's own snapshot over acd.v1 GetSnapshot (authoritative when deployed)."""

    def __init__(self, address: str, *, timeout: float = 1.0, token: str | None = None) -> None:
        from acd_api.v1 import acd_pb2, acd_pb2_grpc  # noqa: PLC0415  (optional at import time)
        from acd_client import service_channel  # noqa: PLC0415

        self._pb = acd_pb2
        self._channel = service_channel(address, token)
        self._stub = acd_pb2_grpc.AcdServiceStub(self._channel)
        self._timeout = timeout

    def snapshot(self) -> LiveSnapshot:
        reply = self._stub.GetSnapshot(self._pb.GetSnapshotRequest(), timeout=self._timeout)
        return _live_snapshot(reply.snapshot)


def _live_snapshot(snap: Any) -> LiveSnapshot:
    """An acd.v1 Snapshot as the wallboard shows it."""
    from acd_client import MONITOR_MODE_NAMES, MONITOR_STATE_NAMES  # noqa: PLC0415

    now = snap.ts or time.time()
    agents = tuple(
        # Named by account, as the event log names agents (EventLogLive agrees).
        AgentLive(
            a.username or str(a.employee_id),
            str(a.seat),
            ACD_STATES.get(a.state, str(a.state)),
            now - a.time_in_state_seconds,
            a.reason,
        )
        for a in snap.agents
        if a.state != 1
    )
    queues = tuple(QueueLive(q.name, q.waiting, q.longest_wait_seconds) for q in snap.queues)
    monitors = tuple(
        MonitorLive(
            m.session_id,
            m.supervisor,
            m.agent,
            m.call_id,
            MONITOR_MODE_NAMES.get(m.mode, str(m.mode)),
            MONITOR_STATE_NAMES.get(m.state, str(m.state)),
            now - m.since_seconds,
        )
        for m in snap.monitors
        if MONITOR_STATE_NAMES.get(m.state) != "ended"  # gone from the board
    )
    return LiveSnapshot(now, agents, queues, f"ACD {snap.node}".strip(), monitors)


class GrpcLiveStream(GrpcLive):
    """The ACD's live stream (acd.v1 WatchSnapshot), for the wallboard.

    One background subscription per dashboard server, however many supervisors
    watch: the ACD pushes a snapshot on every change (at most every `max_interval_s`
    without one), and each page refresh reads the latest from memory instead of
    asking the ACD. The stream reconnects (to any replica) after an error. A snapshot
    older than `stale_s` (stream down) is not shown as live: `snapshot()` then asks
    GetSnapshot once (`GrpcLive.snapshot`), and raises if the ACD does not answer, so
    the wallboard says the live view is unavailable rather than show old states.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        max_interval_s: float = 1.0,
        stale_s: float = 3.0,
    ) -> None:
        super().__init__(address, token=token)
        self._max_interval_s = max_interval_s
        self._stale_s = stale_s
        self._latest: tuple[float, LiveSnapshot] | None = None  # (monotonic, snapshot)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._call: Any = None
        self.reconnects = 0
        self._thread = threading.Thread(target=self._run, name="acd-watch-snapshot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._call = self._stub.WatchSnapshot(
                    self._pb.WatchSnapshotRequest(max_interval_seconds=self._max_interval_s)
                )
                for reply in self._call:
                    with self._lock:
                        self._latest = (time.monotonic(), _live_snapshot(reply.snapshot))
                    backoff = 0.1
            except Exception:  # any stream failure: reconnect
                log.debug("WatchSnapshot ended; reconnecting", exc_info=True)
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 2.0)
            self.reconnects += 1

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            latest = self._latest
        if latest is not None and time.monotonic() - latest[0] <= self._stale_s:
            return latest[1]
        return super().snapshot()

    def close(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(timeout=2)
