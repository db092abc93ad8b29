"""Faults the whole stack must ride out with the ACD driving the calls: an agent's phone
that vanishes mid-call without a BYE, and a Redis restart mid-call.

The stack is `callcenter up` with an `acd:`, one controller replica and an `analytics:`
section (testbed.running_acd_path), as in test_cdr_outcomes.py. Dead-leg detection is set
short through the YAML config (`timers.dead_leg_timeout_ms`, `media_check_interval_ms`),
the keys `callcenter up` turns into the replica's `--rtp-timeout` and
`--media-check-interval`: no command-line override, so the test goes through that
plumbing. (The defaults, 30 s and 10 s, would make a test of a minute; that every replica
`callcenter up` starts has detection on with them is checked in
test_controller_dispatch.py.) With detection on, every answered party here sends RTP
(`Talker`) for as long as it is meant to be alive.

The Redis restart is what an operator's restart is: the stack's own redis-server is
stopped (SIGTERM, so it writes its append-only file out before it exits) and started
again with the same command line `callcenter up` used (same port, data dir, AOF). The
ACD keeps its state there, and its RPCs wait for Redis while it is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import eventlog
from analytics import ServiceClient
from callcenter import _process
from callcenter._stack import _wait_healthy, plan
from eventlog import CALL_ENDED
from simulators import RtpEndpoint, free_port
from testbed import (
    AcdPath,
    Party,
    Talker,
    acd_path_config,
    agent_phone,
    agent_states,
    carrier_call,
    cdr_row,
    hang_up,
    is_null,
    media_of,
    running_acd_path,
    wait_until,
)

pytestmark = pytest.mark.integration

AGENT = "1001"
NUMBER, QUEUE = "95598", "billing"
WRAP_UP_MS = 1000
DEAD_LEG_TIMEOUT_MS = 2000
MEDIA_CHECK_INTERVAL_MS = 500
# A dead leg is found between the timeout and the timeout + 2 intervals after its last
# packet (controller/_liveness.py); the rest is slack for a busy machine.
DETECTION_DEADLINE = (DEAD_LEG_TIMEOUT_MS + 2 * MEDIA_CHECK_INTERVAL_MS) / 1000 + 3.0
CALLER_MARK, AGENT_MARK = 7, 9


@pytest.fixture(scope="module")
def running_path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AcdPath, ServiceClient]]:
    workdir = tmp_path_factory.mktemp("faults")
    config, passwords = acd_path_config(
        workdir,
        (AGENT,),
        numbers=[{"number": NUMBER, "category": "billing", "target": "controller", "queue": QUEUE}],
        queues=[
            {
                "name": QUEUE,
                "skills": {"billing": 1},
                "strategy": "longest_idle",
                "wrap_up_ms": WRAP_UP_MS,
            }
        ],
        skills={"billing": 2},
        controller_name="faults-ctl0",
    )
    config["timers"] |= {
        "dead_leg_timeout_ms": DEAD_LEG_TIMEOUT_MS,
        "media_check_interval_ms": MEDIA_CHECK_INTERVAL_MS,
    }
    config["analytics"] = {
        "data_dir": str(workdir / "chdb"),
        "listen": f"127.0.0.1:{free_port()}",
        "block_ms": 100,
    }
    with running_acd_path(request, workdir, config, passwords) as path:
        assert path.stack.config.analytics is not None
        yield path, ServiceClient(path.stack.config.analytics.url())


@pytest.fixture
def path(running_path: tuple[AcdPath, ServiceClient]) -> Iterator[AcdPath]:
    acd_path = running_path[0]
    yield acd_path
    acd_path.close()  # logs the agent out, closes the RTP endpoints


def _latest_media(party: Party, *prefixes: str) -> tuple[str, int]:
    """Where `party` is told to send its audio now: the newest of its media log lines."""
    lines = [line for line in party.run.log_lines() if line.startswith(prefixes)]
    return media_of(lines[-1])


def _talker(
    path: AcdPath, endpoint: RtpEndpoint, dest: Callable[[], tuple[str, int]], marker: int
) -> Talker:
    """A party's audio from now until it is stopped, or the test ends."""
    talker = Talker(endpoint, dest, marker)

    def stop() -> None:
        talker.stop()

    path.on_close(stop)
    return talker


def _talking_call(path: AcdPath, workdir: Path) -> tuple[str, Party, Party, Talker, Talker]:
    """A carrier call the ACD gives to AGENT, bridged, with audio both ways through
    rtpengine: (cid, caller, agent's phone, caller's talker, agent's talker). Each party
    talks from its answer on, as a phone does (detection watches it from then)."""
    path.log_in(AGENT)
    phone = agent_phone(path, workdir, AGENT, "ctl_via_edge_agent")
    caller = carrier_call(path, workdir, NUMBER)
    caller.run.wait_for_log("ANSWERED", timeout=10)
    by_caller = _talker(
        path, caller.rtp, lambda: _latest_media(caller, "ANSWERED", "REINVITE"), CALLER_MARK
    )
    cid = str(path.control.wait_new_call()["cid"])
    assert f"cid={cid} " in phone.run.wait_for_log("CALL ", timeout=10)[0]
    by_agent = _talker(path, phone.rtp, lambda: _latest_media(phone, "CALL "), AGENT_MARK)
    path.control.wait_state(cid, "bridged")
    path.wait_agent(AGENT, "TALKING")
    wait_until(
        lambda: (
            phone.rtp.received_from(CALLER_MARK) >= 25
            and caller.rtp.received_from(AGENT_MARK) >= 25
        ),
        timeout=10,
        what="audio both ways through rtpengine",
    )
    return cid, caller, phone, by_caller, by_agent


def _wrapped_up(path: AcdPath, cid: str) -> list[tuple[str, str]]:
    """AGENT's state changes in the log from this call's arrival on, once it is idle (the
    change back to idle belongs to no call, so the whole log is read)."""
    path.wait_agent(AGENT, "IDLE", timeout=WRAP_UP_MS / 1000 + 10)
    arrived = next(e.ts for e in path.ended_events(cid) if e.kind == "call.arrived")
    later = sorted(
        (d.event for d in eventlog.replay(path.events_redis) if d.event.ts >= arrived),
        key=lambda e: e.ts,
    )
    return agent_states(later, AGENT)


def test_the_yaml_timers_reach_the_replicas_dead_leg_detection(path: AcdPath) -> None:
    liveness = path.control.cmd("liveness")
    assert (liveness["enabled"], liveness["rtp_timeout_s"], liveness["check_interval_s"]) == (
        True,
        DEAD_LEG_TIMEOUT_MS / 1000,
        MEDIA_CHECK_INTERVAL_MS / 1000,
    )


def test_an_agent_phone_that_vanishes_without_a_bye_leaves_no_agent_stuck(
    path: AcdPath, workdir: Path
) -> None:
    """The agent's phone stops sending RTP and sends no BYE (power or network lost): the
    replica ends the call by detection, the caller gets a BYE, and the ACD takes the
    agent through wrap-up back to idle, as after any call."""
    cid, caller, phone, _, by_agent = _talking_call(path, workdir)
    went_silent = by_agent.stop()
    caller.run.wait_for_log("BYE", timeout=DETECTION_DEADLINE)
    ended_after = time.monotonic() - went_silent
    assert ended_after >= DEAD_LEG_TIMEOUT_MS / 1000 - 0.1, ended_after
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    # The vanished phone's SIP stack is still there in this test and gets its BYE too.
    assert f"BYE cid={cid}" in phone.run.wait_for_log("BYE", timeout=10)[0]
    assert phone.run.wait(timeout=10) == 0, phone.run.errors()

    assert _wrapped_up(path, cid) == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
        ("wrap_up", "idle"),
    ]
    ended = [dict(e.data) for e in path.events(cid) if e.kind == CALL_ENDED]
    assert ended == [{"cause": "media timeout", "side": "agent"}]
    path.wait_clean()


def test_a_redis_restart_mid_call_loses_none_of_its_events(
    path: AcdPath, running_path: tuple[AcdPath, ServiceClient], workdir: Path
) -> None:
    """Redis stops while the call is up, the caller hangs up while it is down, and Redis
    starts again: the replica's call.ended waited in its buffer and was written then,
    with the time the call ended, once; the CDR read back from the CDR service is that of
    a normal answered call, wrap-up included."""
    cdrs = running_path[1]
    stack = path.stack
    (redis_daemon,) = [d for d in plan(stack.config, stack.layout) if d.spec.name == "redis"]
    before = time.time()
    cid, caller, phone, by_caller, by_agent = _talking_call(path, workdir)
    restarted = False
    _process.stop(stack.layout, "redis", grace=5)
    try:
        hang_up(caller)
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        hung_up = time.time()
        assert f"BYE cid={cid}" in phone.run.wait_for_log("BYE", timeout=10)[0]
        by_caller.stop()
        by_agent.stop()

        def held_back() -> dict[str, Any] | None:
            stats: dict[str, Any] = path.control.cmd("events")
            return stats if stats["buffered"] >= 1 and stats["backlog"] >= 1 else None

        wait_until(
            held_back, timeout=10, what=f"call.ended held back (now {path.control.cmd('events')})"
        )
        _wait_healthy(stack.layout, redis_daemon, _process.start(stack.layout, redis_daemon.spec))
        restarted = True
        back = time.time()
    finally:
        if not restarted:  # the rest of the module needs its Redis
            _wait_healthy(
                stack.layout, redis_daemon, _process.start(stack.layout, redis_daemon.spec)
            )

    wait_until(
        lambda: path.control.cmd("events")["backlog"] == 0,
        timeout=10,
        what=f"the replica's backlog written (now {path.control.cmd('events')})",
    )
    assert path.control.cmd("events")["dropped"] == 0
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    assert phone.run.wait(timeout=10) == 0, phone.run.errors()
    assert _wrapped_up(path, cid) == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
        ("wrap_up", "idle"),
    ]
    path.wait_clean()

    ended = [e for e in path.events(cid) if e.kind == CALL_ENDED]
    assert [dict(e.data) for e in ended] == [{"cause": "200", "side": "caller"}]
    assert before < ended[0].ts <= hung_up < back, "stamped when it ended, not when written"
    cdr = cdr_row(cdrs, cid, until=lambda row: row["wrapup_s"] > 0.0, what="with the wrap-up ")
    assert (cdr["disposition"], cdr["agent"], cdr["queue"], cdr["caller"]) == (
        "answered",
        AGENT,
        QUEUE,
        "13912345678",
    )
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("200", "caller")
    assert not is_null(cdr["answered_at"])
    assert cdr["wait_s"] > 0.0 and cdr["talk_s"] > 0.0, cdr
    assert cdr["wrapup_s"] >= WRAP_UP_MS / 1000, cdr
    assert abs(cdr["ended_at"].timestamp() - ended[0].ts) < 0.0015, cdr
