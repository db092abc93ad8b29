"""The controller writes the call event log: real controller, rtpengine, sipp and redis-server.

Each test reads the stream back with `eventlog.replay` and folds it with the
analytics CDR builder, as the CDR collector would.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from analytics import build_records
from eventlog import Event, replay
from simulators import RtpEndpoint, SippRun, start_sipp
from testbed import (
    Controller,
    Rtpengine,
    assert_clean,
    redis_server,
    running_controller,
    track,
    wait_until,
)
from tests.eventlog.conftest import redis_url  # noqa: F401  (session redis-server)

pytestmark = pytest.mark.integration

NODE = "ctl-e2e"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:  # noqa: F811
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@contextmanager
def controller_with(workdir: Path, engine: Rtpengine, *extra: str) -> Iterator[Controller]:
    """The `controller` fixture of conftest.py with extra arguments; same clean-teardown checks."""
    with running_controller(workdir, engine, ("1001", "1002"), *extra) as running:
        yield running
        assert_clean(running, engine)
        running.close()
        running.process.terminate()
        assert running.process.wait(timeout=10) == 0
        assert "Traceback" not in running.log_text(), running.log_text()[-3000:]


def logging_to(r: redis.Redis, stream: str) -> tuple[str, ...]:
    host, port = (
        r.connection_pool.connection_kwargs["host"],
        r.connection_pool.connection_kwargs["port"],
    )
    return ("--redis", f"{host}:{port}", "--node", NODE, "--event-stream", stream)


def caller(
    controller: Controller,
    workdir: Path,
    scenario: str,
    rtp: RtpEndpoint,
    cid: str,
    *,
    pause_ms: int | None = None,
    category: str = "",
) -> SippRun:
    run = start_sipp(
        "caller",
        scenario,
        controller.sip,
        workdir=workdir,
        keys={
            "rtp_port": rtp.port,
            "cidhdr": "X-CC-Correlation-ID",
            "cid": cid,
            "category": category,
        },
        service="95598",
        pause_ms=pause_ms,
        timeout_s=30,
    )
    track(run)
    return run


def agent(
    controller: Controller, workdir: Path, name: str, scenario: str, rtp: RtpEndpoint
) -> SippRun:
    run = start_sipp(
        f"agent{name}",
        scenario,
        controller.sip,
        workdir=workdir,
        port=controller.agents[name],
        keys={"rtp_port": rtp.port},
        pause_ms=100,
        timeout_s=30,
    )
    track(run)
    return run


def call_events(r: redis.Redis, stream: str, cid: str) -> list[Event]:
    """The call's events from the stream, once its call.ended is there."""

    def read() -> list[Event]:
        return [d.event for d in replay(r, stream=stream) if d.event.correlation_id == cid]

    wait_until(
        lambda: any(e.kind == "call.ended" for e in read()),
        timeout=5,
        what=f"call.ended of {cid} in {stream}",
    )
    events = read()
    assert all(e.node == NODE for e in events)
    ts = [e.ts for e in events]
    assert ts == sorted(ts), "the controller appends in the order things happened"
    return events


def shape(events: list[Event]) -> list[tuple[str, dict[str, str]]]:
    return [(e.kind, dict(e.data)) for e in events]


def test_answered_held_and_hung_up_by_the_caller(
    workdir: Path, engine: Rtpengine, r: redis.Redis
) -> None:
    stream = f"cc:events:{secrets.token_hex(4)}"
    cid = secrets.token_hex(16)
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    try:
        with controller_with(workdir, engine, *logging_to(r, stream)) as controller:
            a = agent(controller, workdir, "1001", "ctl_agent_hold", agent_rtp)
            c = caller(
                controller,
                workdir,
                "ctl_caller_hold_hangup",
                caller_rtp,
                cid,
                pause_ms=300,
                category="billing",
            )
            controller.wait_new_call()
            controller.cmd("connect", cid=cid, agents=["1001"])
            c.wait_for_log("HUNG_UP", timeout=10)
            assert c.wait(timeout=10) == 0, c.errors()
            assert f"BYE cid={cid}" in a.wait_for_log("BYE")[0]
            assert a.wait(timeout=10) == 0, a.errors()
            events = call_events(r, stream, cid)
    finally:
        caller_rtp.close()
        agent_rtp.close()

    assert shape(events) == [
        (
            "call.arrived",
            {"trunk": "", "caller": "13912345678", "dialled": "95598", "category": "billing"},
        ),
        ("call.ringing", {"agent": "1001", "seat": "", "leg_id": "L2", "attempt": "1"}),
        ("call.answered", {"agent": "1001", "seat": "", "leg_id": "L2"}),
        ("call.hold", {}),
        ("call.resume", {}),
        ("call.ended", {"cause": "200", "side": "caller"}),
    ]
    records = build_records(events)
    (cdr,) = records.cdrs
    assert (
        cdr.correlation_id,
        cdr.disposition,
        cdr.agent,
        cdr.category,
        cdr.caller,
        cdr.hangup_side,
        cdr.hangup_cause,
    ) == (cid, "answered", "1001", "billing", "13912345678", "caller", "200")
    assert cdr.wait_s == 0.0  # no queue in this slice: the ACD writes call.queued
    # The caller held for one pause (300 ms) and talked for two.
    assert 0.25 <= cdr.hold_s < 3.0, cdr
    assert 0.5 <= cdr.talk_s < 6.0, cdr
    assert cdr.arrived_at <= cdr.answered_at <= cdr.ended_at  # type: ignore[operator]
    (leg,) = records.legs
    assert (leg.agent, leg.attempt, leg.outcome, leg.leg_id) == ("1001", 1, "answered", "L2")


def test_ring_no_answer_then_answered_and_hung_up_by_the_system(
    workdir: Path, engine: Rtpengine, r: redis.Redis
) -> None:
    stream = f"cc:events:{secrets.token_hex(4)}"
    cid = secrets.token_hex(16)
    rtps = [RtpEndpoint(), RtpEndpoint(), RtpEndpoint()]
    try:
        with controller_with(workdir, engine, *logging_to(r, stream)) as controller:
            first = agent(controller, workdir, "1001", "ctl_agent_noanswer", rtps[1])
            second = agent(controller, workdir, "1002", "ctl_agent", rtps[2])
            c = caller(controller, workdir, "ctl_caller_bridged", rtps[0], cid)
            controller.wait_new_call()
            controller.cmd(
                "connect",
                cid=cid,
                agents=["1001", "1002"],
                ring_timeout_s=1.0,
                seats={"1002": "S-7"},
            )
            controller.wait_state(cid, "bridged", timeout=10)
            c.wait_for_log("REINVITE1")
            controller.cmd("hangup", cid=cid)
            for party in (c, first, second):
                assert party.wait(timeout=10) == 0, party.errors()
            events = call_events(r, stream, cid)
            assert controller.cmd("events")["dropped"] == 0
    finally:
        for rtp in rtps:
            rtp.close()

    assert shape(events) == [
        (
            "call.arrived",
            {"trunk": "", "caller": "13912345678", "dialled": "95598", "category": ""},
        ),
        ("call.ringing", {"agent": "1001", "seat": "", "leg_id": "L2", "attempt": "1"}),
        ("call.no_answer", {"agent": "1001", "leg_id": "L2"}),
        ("call.ringing", {"agent": "1002", "seat": "S-7", "leg_id": "L3", "attempt": "2"}),
        ("call.answered", {"agent": "1002", "seat": "S-7", "leg_id": "L3"}),
        ("call.ended", {"cause": "200", "side": "system"}),
    ]
    records = build_records(events)
    (cdr,) = records.cdrs
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.hangup_side) == (
        "answered",
        "1002",
        "S-7",
        "system",
    )
    assert cdr.talk_s >= 0.0 and cdr.hold_s == 0.0
    legs = sorted(records.legs, key=lambda leg: leg.seq)
    assert [(leg.agent, leg.attempt, leg.outcome) for leg in legs] == [
        ("1001", 1, "no_answer"),
        ("1002", 2, "answered"),
    ]
    rang = legs[0].ended_at - legs[0].started_at
    assert 0.9 <= rang < 3.0, f"the first agent rang for the ring timeout (1 s), not {rang}"


@contextmanager
def blackhole() -> Iterator[socket.socket]:
    """A TCP port that takes connections (kernel backlog) and never answers: a hung Redis.
    Closing the socket early frees the port for a real one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock


def test_a_hung_redis_does_not_stall_calls_and_its_events_arrive_when_it_is_back(
    workdir: Path, engine: Rtpengine
) -> None:
    """Redis takes connections and never answers for a whole call: the call goes on
    at full speed, its four events wait in the publisher's buffer, and once a real
    Redis answers on that port they are all written, once, in order."""
    cid = secrets.token_hex(16)
    stream = f"cc:events:{secrets.token_hex(4)}"
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    timeout_s = 1.5  # each Redis request would hold the SIP loop this long if it blocked it
    try:
        with blackhole() as hung:
            port = int(hung.getsockname()[1])
            with controller_with(
                workdir,
                engine,
                "--redis",
                f"127.0.0.1:{port}",
                "--node",
                NODE,
                "--event-stream",
                stream,
                "--redis-timeout",
                str(timeout_s),
            ) as controller:
                a = agent(controller, workdir, "1001", "ctl_agent", agent_rtp)
                c = caller(controller, workdir, "ctl_caller_bridged", caller_rtp, cid)
                controller.wait_new_call()

                def timed(cmd: str, **args: Any) -> float:
                    start = time.monotonic()
                    controller.cmd(cmd, **args)
                    return time.monotonic() - start

                assert timed("connect", cid=cid, agents=["1001"]) < timeout_s / 2
                controller.wait_state(cid, "bridged", timeout=5)
                c.wait_for_log("REINVITE1")
                assert timed("hangup", cid=cid) < timeout_s / 2
                assert c.wait(timeout=10) == 0, c.errors()
                assert a.wait(timeout=10) == 0, a.errors()

                # arrived, ringing, answered, ended: each held back, none lost; the
                # first send has timed out (the call may be quicker than the timeout).
                def held_back() -> bool:
                    stats = controller.cmd("events")
                    return bool(stats["backlog"] == 4 and stats["buffered"] >= 1)

                wait_until(
                    held_back,
                    timeout=15,
                    what=f"4 events in the backlog (now {controller.cmd('events')})",
                )
                stats = controller.cmd("events")
                assert (stats["published"], stats["dropped"]) == (0, 0), stats
                assert "Timeout" in stats["last_error"], stats
                assert controller.log_text().count("buffering events and retrying") == 1

                hung.close()  # Redis answers again, on the same port: the backlog goes out
                with redis_server(workdir / "redis", port=port):
                    r = redis.Redis(port=port)
                    try:
                        wait_until(
                            lambda: controller.cmd("events")["backlog"] == 0,
                            timeout=15,
                            what=f"the backlog written (now {controller.cmd('events')})",
                        )
                        stats = controller.cmd("events")
                        assert (stats["published"], stats["dropped"]) == (4, 0), stats
                        assert stats["buffered"] == 4 and stats["retried"] >= 1, stats
                        assert "redis is back" in controller.log_text()
                        events = call_events(r, stream, cid)
                    finally:
                        r.close()
    finally:
        caller_rtp.close()
        agent_rtp.close()
    assert [e.kind for e in events] == [
        "call.arrived",
        "call.ringing",
        "call.answered",
        "call.ended",
    ]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.agent, cdr.hangup_side) == ("answered", "1001", "system")
