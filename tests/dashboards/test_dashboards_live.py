"""EventLogLive: the wallboard's live view folded from the Redis event log."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

import eventlog as ev
from dashboards.queries import EventLogLive
from eventlog import Event, EventLog
from testbed import REDIS_SERVER, redis_server

pytestmark = pytest.mark.skipif(
    not Path(REDIS_SERVER).exists(), reason="redis-server binary not installed"
)

NOW = 1_800_000_000.0


def test_folds_agents_and_waiting_calls_incrementally(tmp_path: Path) -> None:
    with redis_server(tmp_path) as port:
        r = redis.Redis(port=port)
        log = EventLog(r)
        clock = [NOW]
        live = EventLogLive(r, clock=lambda: clock[0], lookback_s=10 * 365 * 86400, page=2)

        def state(agent: str, to: str, ts: float, reason: str = "") -> Event:
            return Event.new(
                ev.AGENT_STATE, ts=ts, agent=agent, seat="1", state=to, previous="", reason=reason
            )

        log.append_many(
            [
                state("1001", "idle", NOW - 60),
                state("1002", "busy", NOW - 30, "lunch"),
                Event.new(
                    ev.CALL_QUEUED, correlation_id="c1", ts=NOW - 20, queue="billing", priority="0"
                ),
                Event.new(
                    ev.CALL_QUEUED, correlation_id="c2", ts=NOW - 5, queue="billing", priority="0"
                ),
                Event.new(
                    ev.CALL_QUEUED, correlation_id="c3", ts=NOW - 9, queue="sales", priority="0"
                ),
            ]
        )
        snap = live.snapshot()
        assert [(a.agent, a.state, snap.ts - a.since, a.reason) for a in snap.agents] == [
            ("1001", "idle", 60.0, ""),
            ("1002", "busy", 30.0, "lunch"),
        ]
        assert [(q.queue, q.waiting, q.longest_wait_s) for q in snap.queues] == [
            ("billing", 2, 20.0),
            ("sales", 1, 9.0),
        ]

        clock[0] = NOW + 10
        log.append_many(
            [
                Event.new(
                    ev.CALL_ANSWERED,
                    correlation_id="c1",
                    ts=NOW + 1,
                    agent="1001",
                    seat="1",
                    leg_id="",
                ),
                state("1001", "talking", NOW + 1),
                state("1002", "logged_out", NOW + 2),
                Event.new(
                    ev.CALL_ENDED, correlation_id="c3", ts=NOW + 3, cause="487", side="caller"
                ),
            ]
        )
        r.xadd("cc:events", {"kind": "bogus"})  # undecodable: skipped, not fatal
        snap = live.snapshot()
        assert [(a.agent, a.state) for a in snap.agents] == [("1001", "talking")]
        assert [(q.queue, q.waiting, q.longest_wait_s) for q in snap.queues] == [
            ("billing", 1, 15.0),
            ("sales", 0, 0.0),
        ]
        r.close()


def test_folds_monitoring_sessions_for_the_wallboards_marker(tmp_path: Path) -> None:
    """monitor.started (the supervisor answered) shows a session, monitor.switched its
    new mode, monitor.stopped takes it off: what the wallboard marks without the ACD API."""
    with redis_server(tmp_path) as port:
        r = redis.Redis(port=port)
        log = EventLog(r)
        live = EventLogLive(r, clock=lambda: NOW, lookback_s=10 * 365 * 86400)

        def monitor(kind: str, session: str, ts: float, **fields: str) -> Event:
            return Event.new(
                kind, correlation_id="c1", ts=ts, session=session, supervisor="sup", agent="a1001",
                **fields,
            )  # fmt: skip

        started = {"by": "dashboard", "requested_by": "sup", "mixer": "mixer0", "recording_ref": ""}
        log.append_many(
            [
                monitor(ev.MONITOR_STARTED, "s1", NOW - 30, mode="listen", **started),
                monitor(ev.MONITOR_STARTED, "s2", NOW - 20, mode="listen", **started),
                monitor(
                    ev.MONITOR_SWITCHED,
                    "s1",
                    NOW - 10,
                    mode="barge",
                    previous="listen",
                    by="keypad",
                ),
                monitor(
                    ev.MONITOR_STOPPED,
                    "s2",
                    NOW - 5,
                    reason="supervisor_hangup",
                    duration_ms="15000",
                ),
            ]
        )
        (session,) = live.snapshot().monitors
        assert (session.session_id, session.supervisor, session.agent, session.call_id) == (
            "s1",
            "sup",
            "a1001",
            "c1",
        )
        assert (session.mode, session.state, NOW - session.since) == ("barge", "active", 30.0)
        r.close()
