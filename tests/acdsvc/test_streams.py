"""Live views and logs: WatchSnapshot, WatchActions (resumable) and the call event log."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import grpc
import pytest
import redis

import acdsvc
import eventlog
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, ActionFeed
from configuration import load_config
from simulators import free_port
from testbed import wait_until
from tests.acdsvc.conftest import RedisServer, ReplicaFactory, password_of, write_config

OK = pb.ERROR_CODE_UNSPECIFIED


def _login(client: AcdClient, eid: int, seat: int) -> str:
    reply = client.login(
        pb.LoginRequest(
            username=f"a{eid}",
            password=password_of(f"a{eid}"),
            seat=seat,
            employee_id=eid,
            role=pb.ROLE_AGENT,
        )
    )
    assert reply.error.code == OK
    return reply.session_id


# The feed logs under its own module's name, wherever that module lives.
FEED_LOGGER = ActionFeed.__module__


def test_watch_snapshot_pushes_changes_within_two_seconds(make_replica: ReplicaFactory) -> None:
    leader = make_replica()
    follower = make_replica()
    client = AcdClient(leader.address)
    watcher = AcdClient(follower.address)  # through a follower: forwarded snapshots
    stream = watcher.watch_snapshot()
    seen: list[tuple[float, pb.Snapshot]] = []
    done = threading.Event()

    def read() -> None:
        try:
            for reply in stream:
                seen.append((time.monotonic(), reply.snapshot))
                if done.is_set():
                    return
        except grpc.RpcError:
            assert done.is_set()  # cancelled by the test, nothing else

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(lambda: seen, timeout=3, what="first snapshot")
        changed_at = time.monotonic()
        _login(client, 1001, 1)
        wait_until(
            lambda: any(s.agents for _, s in seen), timeout=2, what="the login in a pushed snapshot"
        )
        pushed_at = next(t for t, s in seen if s.agents)
        assert pushed_at - changed_at < 2.0
        # Without changes it still pushes at least every 2 s (time in state moves on).
        count = len(seen)
        wait_until(lambda: len(seen) > count, timeout=2.5, what="a periodic push")
        snap = seen[-1][1]
        assert snap.agents[0].state == pb.AGENT_STATE_IDLE
        assert snap.agents[0].time_in_state_seconds > 0
        (queue,) = snap.queues
        assert (queue.name, queue.agents_logged_in, queue.agents_idle) == ("billing", 1, 1)
    finally:
        done.set()
        stream.cancel()  # type: ignore[attr-defined]


def test_queue_view_shows_waiting_calls_and_longest_wait(make_replica: ReplicaFactory) -> None:
    client = AcdClient(make_replica().address)
    session = _login(client, 1001, 1)
    client.set_busy(pb.SetBusyRequest(employee_id=1001, session_id=session, reason="BREAK"))
    for i in range(3):
        client.enqueue(pb.EnqueueRequest(call_id=f"w{i}", queue="billing"))
    wait_until(
        lambda: client.get_snapshot().queues[0].longest_wait_seconds > 0.05,
        timeout=2,
        what="wait time to grow",
    )
    (queue,) = client.get_snapshot().queues
    assert queue.waiting == 3 and queue.agents_idle == 0


def test_watch_actions_resumes_after_a_commit_on_any_replica(make_replica: ReplicaFactory) -> None:
    leader = make_replica()
    follower = make_replica()
    client = AcdClient(leader.address)
    got: list[pb.Action] = []
    feed = AcdClient(follower.address).actions(got.append, employee_id=1001)
    _login(client, 1001, 1)
    _login(client, 1002, 2)
    client.enqueue(pb.EnqueueRequest(call_id="c1", queue="billing"))
    client.enqueue(pb.EnqueueRequest(call_id="c2", queue="billing"))
    wait_until(lambda: got, timeout=2, what="an offer for 1001")
    feed.close()
    (first,) = got
    assert first.offer.employee_id == 1001
    # While nobody watches, 1001's call is abandoned; a resumed watcher still sees it.
    client.abandon(pb.AbandonRequest(call_id=first.offer.call_id))
    missed: list[pb.Action] = []
    resumed = pb.WatchActionsRequest(after_commit=first.commit_id, employee_id=1001)
    stream = AcdClient(leader.address).stub.WatchActions(resumed)
    for reply in stream:
        missed.append(reply.action)
        break
    stream.cancel()
    assert missed[0].cancel_ring.call_id == first.offer.call_id


def test_watch_actions_started_before_the_acd_warns_only_when_a_live_stream_is_lost(
    config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`callcenter up` starts the controllers before the ACD: their feeds wait quietly
    (INFO) for it, and only a stream lost once it was up is a WARNING."""
    caplog.set_level(logging.INFO, logger=FEED_LOGGER)

    def lines(level: int) -> list[str]:
        return [
            r.getMessage() for r in caplog.records if r.name == FEED_LOGGER and r.levelno == level
        ]

    address = f"127.0.0.1:{free_port()}"
    feed = ActionFeed(AcdClient(address), lambda action: None).start(timeout=None)
    replica = None
    try:
        wait_until(lambda: feed.reconnects >= 3, timeout=10, what="three failed attempts")
        settings = acdsvc.settings_from_config(
            load_config(config_path), listen=address, node="late"
        )
        replica = acdsvc.Replica(settings).start()
        wait_until(lambda: feed.subscribed, timeout=10, what="the feed subscribed")
        assert lines(logging.WARNING) == []
        assert [m for m in lines(logging.INFO) if "no ACD on" in m] == [lines(logging.INFO)[0]], (
            "the outage before the start is logged once"
        )
        assert any(
            m.startswith(f"WatchActions subscribed on {address}") for m in lines(logging.INFO)
        )

        replica.stop(grace=0.2)
        replica = None
        wait_until(lambda: lines(logging.WARNING), timeout=10, what="a warning")
        (lost,) = lines(logging.WARNING)
        assert lost.startswith(f"WatchActions on {address} lost ")
    finally:
        feed.close()
        if replica is not None:
            replica.stop(grace=0.2)


def test_a_feed_that_never_reaches_the_acd_warns_after_its_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong address must not stay an INFO line forever."""
    caplog.set_level(logging.INFO, logger=FEED_LOGGER)
    address = f"127.0.0.1:{free_port()}"
    feed = ActionFeed(
        AcdClient(address), lambda action: None, max_backoff=0.1, startup_grace_s=0.5
    ).start(timeout=None)
    try:
        wait_until(
            lambda: any(r.levelno == logging.WARNING for r in caplog.records),
            timeout=10,
            what="the late warning",
        )
    finally:
        feed.close()
    (late,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert late.startswith(f"WatchActions: still no ACD on {address} after ")


def test_every_agent_and_call_event_reaches_the_event_log(
    make_replica: ReplicaFactory, r: redis.Redis
) -> None:
    client = AcdClient(make_replica().address)
    _login(client, 1001, 7)
    client.enqueue(
        pb.EnqueueRequest(call_id="corr-1", queue="billing", caller="1380000", priority=2)
    )
    client.answered(pb.AnsweredRequest(call_id="corr-1", employee_id=1001))
    client.hangup(pb.HangupRequest(call_id="corr-1", side=pb.HANGUP_SIDE_CALLER))
    events = [d.event for d in eventlog.replay(r)]
    kinds = [(e.kind, e.correlation_id) for e in events]
    assert kinds == [
        ("agent.state", ""),  # login: logged_out -> idle
        ("call.queued", "corr-1"),
        ("agent.state", "corr-1"),  # idle -> reserved
        ("call.ringing", "corr-1"),
        ("agent.state", "corr-1"),  # reserved -> talking
        ("call.answered", "corr-1"),
        ("agent.state", "corr-1"),  # talking -> idle (no wrap-up)
        ("call.ended", "corr-1"),
    ]
    ringing = events[3]
    # Agents are named by account in every event, as the controller names them.
    assert (ringing["agent"], ringing["seat"], ringing["attempt"]) == ("a1001", "7", "1")
    assert {e["agent"] for e in events if e.kind in ("agent.state", "call.answered")} == {"a1001"}
    assert events[1]["priority"] == "2"
    assert events[5]["seat"] == "7"
    assert (events[7]["cause"], events[7]["side"]) == ("HANGUP", "caller")
    states = [(e["previous"], e["state"]) for e in events if e.kind == "agent.state"]
    assert states == [
        ("logged_out", "idle"),
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "idle"),
    ]
    assert {e.node for e in events} == {"r1"}


def test_with_call_events_controller_the_acd_writes_only_what_it_alone_knows(
    make_replica: ReplicaFactory, redis_server: RedisServer, r: redis.Redis, tmp_path: Path
) -> None:
    """acd.call_events: controller (the default): the call controller writes ringing,
    no-answer, answered and ended with its leg IDs; the ACD writing them too would
    double every leg in the CDR (docs/events.md)."""
    path = write_config(
        tmp_path / "controller.yaml", redis_server.address, call_events="controller"
    )
    client = AcdClient(make_replica(path).address)
    _login(client, 1001, 7)
    _login(client, 1002, 8)
    client.enqueue(pb.EnqueueRequest(call_id="corr-2", queue="billing", caller="1380000"))
    assert client.no_answer(pb.NoAnswerRequest(call_id="corr-2", employee_id=1001)).error.code == OK
    client.answered(pb.AnsweredRequest(call_id="corr-2", employee_id=1002))
    client.hangup(pb.HangupRequest(call_id="corr-2", side=pb.HANGUP_SIDE_AGENT))
    client.enqueue(pb.EnqueueRequest(call_id="corr-3", queue="billing"))
    client.abandon(pb.AbandonRequest(call_id="corr-3"))
    kinds = [
        (d.event.kind, d.event.correlation_id) for d in eventlog.replay(r) if d.event.correlation_id
    ]
    assert kinds == [
        ("call.queued", "corr-2"),
        ("agent.state", "corr-2"),  # 1001 idle -> reserved
        ("agent.state", "corr-2"),  # 1001 reserved -> idle (no answer)
        ("call.queued", "corr-2"),  # back in its queue, at its old place
        ("agent.state", "corr-2"),  # 1002 idle -> reserved
        ("agent.state", "corr-2"),  # 1002 reserved -> talking
        ("agent.state", "corr-2"),  # 1002 talking -> idle
        ("call.queued", "corr-3"),
        ("agent.state", "corr-3"),  # reserved for the call, then back on the abandon
        ("agent.state", "corr-3"),
    ]
