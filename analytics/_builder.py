"""The CDR builder: a pure, incremental fold of the event log into records.

It groups call events by correlation_id and folds a call when its call.ended
arrives (see `_fold.fold_call`); it turns agent.state changes into closed state
intervals; and it attaches wrap-up intervals to the call they follow. No I/O: the
collector feeds it batches and writes what `drain()` returns.

Re-emission: a CDR is emitted at call.ended, and again (with a higher `version`)
when something arrives later: the agent's wrap-up ends, or a late event of that call
(a recording reference, an event from a node with a slow link). The store keeps the
highest version per call, so the re-emission replaces rather than adds.

Exactly-once effect: duplicate events (same event_id, from at-least-once delivery
or an overlapping replay) are dropped, so a call's version and fields depend only on
the set of events seen.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace

from eventlog import (
    AGENT_STATE,
    CALL_ENDED,
    MONITOR_STARTED,
    MONITOR_STOPPED,
    MONITOR_SWITCHED,
    RECORDING_FAILED,
    RECORDING_RESUMED,
    RECORDING_STOPPED,
    RECORDING_STORED,
    STATE_LOGGED_OUT,
    STATE_WRAP_UP,
    VOICEMAIL_DELETED,
    VOICEMAIL_HEARD,
    VOICEMAIL_LEFT,
    Event,
)

from ._fold import fold_call
from ._monitor_fold import fold_session
from ._records import AgentInterval, Cdr, Leg, MonitorSession, Records

# Kinds no CDR column reads (docs/analytics.md): dropped on arrival, so they neither
# re-emit an ended call's CDR (the recorder's stored/failed come after the hang-up,
# voicemail.heard/deleted days later, under the message's call) nor open a call that
# never ends for a correlation ID the builder has forgotten (the disk-full
# recording.failed has no call at all). Never written before schema 008, so leaving
# them out of `version` changes no stored CDR's version.
NOT_IN_CDR = frozenset(
    {
        RECORDING_RESUMED,
        RECORDING_STOPPED,
        RECORDING_STORED,
        RECORDING_FAILED,
        VOICEMAIL_HEARD,
        VOICEMAIL_DELETED,
    }
)
# Kinds that only annotate a call after it: kept for a call the builder knows, dropped
# for one it has forgotten, which they would otherwise open and never end.
ONLY_FOR_KNOWN_CALLS = frozenset({VOICEMAIL_LEFT})
# Monitoring sessions (docs/monitoring.md) are rows of their own (`monitor_sessions`),
# folded per session ID; they are no part of the call's CDR or its version.
MONITOR_KINDS = frozenset({MONITOR_STARTED, MONITOR_SWITCHED, MONITOR_STOPPED})


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(slots=True)
class _Call:
    events: list[Event] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    first_entry: str = ""
    wrapup_s: float = 0.0
    updates: int = 0  # wrap-up attributions, part of the version
    ended: bool = False
    # Sort-key columns of the first emission; later versions keep them (see 001_cdr.sql).
    key: tuple[str, float] | None = None


@dataclass(slots=True)
class _Session:
    events: list[Event] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    first_entry: str = ""
    call_ended_at: float | None = None  # its call ended (a stop may still come)
    ended: bool = False
    # Sort-key columns of the first emission (supervisor, started_at); kept after.
    key: tuple[str, float] | None = None


@dataclass(slots=True)
class _AgentNow:
    seat: str
    state: str
    since: float
    reason: str
    correlation_id: str
    entry_id: str


class CdrBuilder:
    """Incremental event → record fold. Not thread-safe; one per collector.

    `closed_capacity` bounds how many ended calls are kept for late updates
    (wrap-up, late events); older ones are forgotten and a late event for them
    starts a new, incomplete call record that will never end (visible as an open
    call in `open_calls`). `agent_dedup_capacity` bounds the memory of agent event
    ids used to drop duplicates.
    """

    def __init__(
        self, *, closed_capacity: int = 100_000, agent_dedup_capacity: int = 200_000
    ) -> None:
        self._open: dict[str, _Call] = {}
        self._closed: OrderedDict[str, _Call] = OrderedDict()
        self._closed_capacity = closed_capacity
        self._agents: dict[str, _AgentNow] = {}
        # The call whose work an agent did last: where an untagged wrap-up belongs.
        self._last_call: dict[str, str] = {}
        self._agent_seen: set[str] = set()
        self._agent_seen_order: deque[str] = deque()
        self._agent_dedup_capacity = agent_dedup_capacity
        self._out_cdrs: dict[str, Cdr] = {}
        self._out_legs: dict[tuple[str, int], Leg] = {}
        self._out_intervals: list[AgentInterval] = []
        self._sessions: dict[str, _Session] = {}
        self._ended_sessions: OrderedDict[str, _Session] = OrderedDict()
        self._sessions_of_call: dict[str, set[str]] = {}
        self._out_sessions: dict[str, MonitorSession] = {}

    # -- feeding -----------------------------------------------------------------

    def add(self, event: Event, entry_id: str = "") -> None:
        """Fold one event. `entry_id` (the stream id) feeds `low_water_mark()`."""
        kind = event.kind
        if kind == AGENT_STATE:
            self._agent_event(event, entry_id)
            return
        if kind in MONITOR_KINDS:
            self._monitor_event(event, entry_id)
            return
        if kind in NOT_IN_CDR:
            return
        cid = event.correlation_id
        if kind == CALL_ENDED and cid in self._sessions_of_call:
            self._end_sessions_with_call(cid, event.ts)
        call = self._open.get(cid)
        if call is None:
            call = self._closed.get(cid)
            if call is None:
                if kind in ONLY_FOR_KNOWN_CALLS:
                    return
                call = self._open[cid] = _Call(first_entry=entry_id)
        seen = call.seen
        event_id = event.event_id
        if event_id in seen:
            return
        seen.add(event_id)
        call.events.append(event)
        if call.ended:
            self._emit(cid, call)  # a late event: fold again with everything known
        elif kind == CALL_ENDED:
            call.ended = True
            del self._open[cid]
            self._closed[cid] = call
            if len(self._closed) > self._closed_capacity:
                self._closed.popitem(last=False)
            self._emit(cid, call)

    def add_many(self, events: list[Event]) -> None:
        for event in events:
            self.add(event)

    # -- output --------------------------------------------------------------------

    def drain(self) -> Records:
        """Records produced since the last drain; the newest version of each."""
        out = Records(
            cdrs=list(self._out_cdrs.values()),
            legs=list(self._out_legs.values()),
            intervals=self._out_intervals,
            sessions=list(self._out_sessions.values()),
        )
        self._out_sessions = {}
        self._out_cdrs = {}
        self._out_legs = {}
        self._out_intervals = []
        return out

    @property
    def open_calls(self) -> int:
        return len(self._open)

    def low_water_mark(self) -> str | None:
        """The oldest stream id still needed to rebuild the open state, or None.

        A restarted collector replays from here (duplicates are dropped, records are
        idempotent) to recover calls and agent states that were open when it stopped.
        """
        ids = [c.first_entry for c in self._open.values() if c.first_entry]
        ids += [a.entry_id for a in self._agents.values() if a.entry_id]
        ids += [s.first_entry for s in self._sessions.values() if s.first_entry]
        return min(ids, key=_entry_key) if ids else None

    # -- internals -----------------------------------------------------------------

    def _emit(self, cid: str, call: _Call) -> None:
        folded = fold_call(
            call.events, wrapup_s=call.wrapup_s, version=len(call.events) + call.updates
        )
        if folded is None:
            return
        cdr, legs = folded
        if call.key is None:
            call.key = (cdr.queue, cdr.arrived_at)
        elif call.key != (cdr.queue, cdr.arrived_at):
            cdr = replace(cdr, queue=call.key[0], arrived_at=call.key[1])
        self._out_cdrs[cid] = cdr
        for leg in legs:
            self._out_legs[(cid, leg.seq)] = leg
            if leg.answered_at is not None:
                # Legs come in time order, so the agent's latest call wins.
                self._last_call[leg.agent] = cid

    def _monitor_event(self, event: Event, entry_id: str) -> None:
        """Fold a monitor.* event into its session; the row goes out at monitor.stopped
        (or when its call ends without one) and again for a later event, as a CDR does.

        A switch or stop of a session never started here is dropped: after a restart the
        replay begins at the low-water mark, which an open session holds at its start,
        so a session whose start lies before the replay had ended, and its row is stored.
        """
        sid = event.data["session"]
        session = self._sessions.get(sid) or self._ended_sessions.get(sid)
        if session is None:
            if event.kind != MONITOR_STARTED:
                return
            session = self._sessions[sid] = _Session(first_entry=entry_id)
            self._sessions_of_call.setdefault(event.correlation_id, set()).add(sid)
        if event.event_id in session.seen:
            return
        session.seen.add(event.event_id)
        session.events.append(event)
        if session.ended:
            self._emit_session(sid, session)
        elif event.kind == MONITOR_STOPPED:
            self._end_session(sid, session)

    def _end_sessions_with_call(self, cid: str, ended_at: float) -> None:
        for sid in sorted(self._sessions_of_call.get(cid, ())):
            session = self._sessions.get(sid)
            if session is not None:
                session.call_ended_at = ended_at
                self._end_session(sid, session)

    def _end_session(self, sid: str, session: _Session) -> None:
        session.ended = True
        self._sessions.pop(sid, None)
        self._ended_sessions[sid] = session
        if len(self._ended_sessions) > self._closed_capacity:
            self._ended_sessions.popitem(last=False)
        cid = session.events[0].correlation_id
        of_call = self._sessions_of_call.get(cid)
        if of_call is not None:
            of_call.discard(sid)
            if not of_call:
                del self._sessions_of_call[cid]
        self._emit_session(sid, session)

    def _emit_session(self, sid: str, session: _Session) -> None:
        row = fold_session(
            session.events, call_ended_at=session.call_ended_at, version=len(session.seen)
        )
        if row is None:
            return
        if session.key is None:
            session.key = (row.supervisor, row.started_at)
        elif session.key != (row.supervisor, row.started_at):
            row = replace(row, supervisor=session.key[0], started_at=session.key[1])
        self._out_sessions[sid] = row

    def _agent_event(self, event: Event, entry_id: str) -> None:
        if event.event_id in self._agent_seen:
            return
        self._agent_seen.add(event.event_id)
        self._agent_seen_order.append(event.event_id)
        if len(self._agent_seen_order) > self._agent_dedup_capacity:
            self._agent_seen.discard(self._agent_seen_order.popleft())
        d = event.data
        agent = d["agent"]
        now = self._agents.pop(agent, None)
        if now is not None:
            interval = AgentInterval(
                agent=agent,
                seat=now.seat,
                state=now.state,
                start=now.since,
                end=max(event.ts, now.since),
                reason=now.reason,
                correlation_id=now.correlation_id,
                version=1,
            )
            self._out_intervals.append(interval)
            if now.state == STATE_WRAP_UP:
                self._attribute_wrapup(interval)
        if d["state"] != STATE_LOGGED_OUT:
            cid = event.correlation_id
            if d["state"] == STATE_WRAP_UP and not cid:
                cid = self._last_call.get(agent, "")
            self._agents[agent] = _AgentNow(
                seat=d["seat"],
                state=d["state"],
                since=event.ts,
                reason=d["reason"],
                correlation_id=cid,
                entry_id=entry_id,
            )

    def _attribute_wrapup(self, interval: AgentInterval) -> None:
        cid = interval.correlation_id
        call = self._closed.get(cid) or self._open.get(cid)
        if call is None:
            return
        call.wrapup_s += interval.duration_s
        call.updates += 1
        if call.ended:
            self._emit(cid, call)


def build_records(events: list[Event]) -> Records:
    """Fold a finite list of events (e.g. a test fixture or a replay) in one go."""
    builder = CdrBuilder()
    builder.add_many(events)
    return builder.drain()
