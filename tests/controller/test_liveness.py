"""Capability 9, dead-leg detection, end to end: controller + rtpengine + sipp + redis.

Each party's audio is sent from its own RTP endpoint, through rtpengine, for as long
as the test says; a party that stops sending while its SIP stack stays up is the
"dead leg" (a phone that lost power or network after answering). The controller
runs with a short `--rtp-timeout` so that each test takes seconds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from eventlog import Event, replay
from simulators import RtpEndpoint, SippRun, start_sipp
from testbed import (
    Controller,
    Rtpengine,
    Talker,
    assert_clean,
    media_of,
    redis_server,
    running_controller,
    track,
    wait_until,
)

pytestmark = pytest.mark.integration

RTP_TIMEOUT = 1.5
INTERVAL = 0.25
# A dead leg is named between RTP_TIMEOUT and RTP_TIMEOUT + 2 * INTERVAL after its
# last packet (controller/_liveness.py); the rest is slack for a busy machine.
DETECTION_DEADLINE = RTP_TIMEOUT + 2 * INTERVAL + 3.0
# Packets a talker sends in longer than one detection window (20 ms each): a call
# that carried this much audio both ways outlived the timeout while talking.
OUTLIVES_TIMEOUT = int((RTP_TIMEOUT + 2 * INTERVAL) / 0.020) + 25
NODE = "ctl-liveness"


@pytest.fixture(scope="module")
def events_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    with redis_server(tmp_path_factory.mktemp("liveness-redis")) as port:
        client = redis.Redis(port=port)
        yield client
        client.close()


@contextmanager
def controller_logging(
    workdir: Path, engine: Rtpengine, r: redis.Redis, stream: str
) -> Iterator[Controller]:
    """A controller with a short RTP timeout, writing events; checks clean teardown after."""
    port = r.connection_pool.connection_kwargs["port"]
    with running_controller(
        workdir,
        engine,
        ("1001",),
        "--rtp-timeout",
        str(RTP_TIMEOUT),
        "--media-check-interval",
        str(INTERVAL),
        "--redis",
        f"127.0.0.1:{port}",
        "--node",
        NODE,
        "--event-stream",
        stream,
    ) as running:
        yield running
        assert_clean(running, engine)
        running.close()
        running.process.terminate()
        assert running.process.wait(timeout=10) == 0
        assert "Traceback" not in running.log_text(), running.log_text()[-3000:]


def parties(
    controller: Controller,
    workdir: Path,
    scenarios: tuple[str, str],
    *,
    rtp: tuple[RtpEndpoint, RtpEndpoint],
    cid: str,
    pause_ms: int = 100,
) -> tuple[SippRun, SippRun]:
    """(caller, agent) sipp parties for `scenarios` (caller's, agent's), media on `rtp`."""
    caller_scenario, agent_scenario = scenarios
    caller_rtp, agent_rtp = rtp
    agent = track(
        start_sipp(
            "agent1001",
            agent_scenario,
            controller.sip,
            workdir=workdir,
            port=controller.agents["1001"],
            keys={"rtp_port": agent_rtp.port},
            pause_ms=100,
            timeout_s=40,
        )
    )
    caller = track(
        start_sipp(
            "caller",
            caller_scenario,
            controller.sip,
            workdir=workdir,
            keys={
                "rtp_port": caller_rtp.port,
                "cidhdr": "X-CC-Correlation-ID",
                "cid": cid,
                "category": "",
            },
            service="95598",
            pause_ms=pause_ms,
            timeout_s=40,
        )
    )
    return caller, agent


def ended_event(r: redis.Redis, stream: str, cid: str) -> list[Event]:
    def read() -> list[Event]:
        return [d.event for d in replay(r, stream=stream) if d.event.correlation_id == cid]

    wait_until(
        lambda: any(e.kind == "call.ended" for e in read()), timeout=5, what=f"call.ended of {cid}"
    )
    return read()


@pytest.mark.parametrize("silent", ["agent", "caller"])
def test_a_leg_that_stops_sending_rtp_ends_the_call(
    silent: str, workdir: Path, engine: Rtpengine, events_redis: redis.Redis
) -> None:
    stream = f"cc:events:{secrets.token_hex(4)}"
    cid = secrets.token_hex(16)
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    talkers: list[Talker] = []
    try:
        with controller_logging(workdir, engine, events_redis, stream) as controller:
            caller, agent = parties(
                controller,
                workdir,
                ("ctl_caller_bridged", "ctl_agent"),
                rtp=(caller_rtp, agent_rtp),
                cid=cid,
            )
            controller.wait_new_call()
            controller.cmd("connect", cid=cid, agents=["1001"])
            agent_media = media_of(agent.wait_for_log("CALL")[0])
            controller.wait_state(cid, "bridged")
            caller_media = media_of(caller.wait_for_log("REINVITE1")[0])
            by_caller = Talker(caller_rtp, lambda: caller_media, marker=7)
            by_agent = Talker(agent_rtp, lambda: agent_media, marker=9)
            talkers += [by_caller, by_agent]

            # Both talk for longer than a dead leg takes to be found: the call stays up.
            wait_until(
                lambda: (
                    agent_rtp.received_from(7) >= OUTLIVES_TIMEOUT
                    and caller_rtp.received_from(9) >= OUTLIVES_TIMEOUT
                ),
                timeout=10,
                what="audio both ways through rtpengine for longer than the timeout",
            )
            assert controller.call(cid) is not None, "a call with audio both ways was ended"

            dead, alive = (by_agent, caller) if silent == "agent" else (by_caller, agent)
            went_silent = dead.stop()
            alive.wait_for_log("BYE", timeout=DETECTION_DEADLINE)
            ended_after = time.monotonic() - went_silent
            # Both parties got the BYE (the dead phone's SIP stack still answers it).
            assert caller.wait(timeout=10) == 0, caller.errors()
            assert agent.wait(timeout=10) == 0, agent.errors()
            events = ended_event(events_redis, stream, cid)
    finally:
        for talker in talkers:
            talker.stop()
        caller_rtp.close()
        agent_rtp.close()

    assert ended_after >= RTP_TIMEOUT - 0.1, f"ended {ended_after:.2f}s after the silence"
    assert [(e.kind, dict(e.data)) for e in events if e.kind == "call.ended"] == [
        ("call.ended", {"cause": "media timeout", "side": silent})
    ]
    assert [e.kind for e in events] == [
        "call.arrived",
        "call.ringing",
        "call.answered",
        "call.ended",
    ]


def test_a_silent_held_call_is_not_ended_and_the_timeout_restarts_at_resume(
    workdir: Path, engine: Rtpengine, events_redis: redis.Redis
) -> None:
    stream = f"cc:events:{secrets.token_hex(4)}"
    cid = secrets.token_hex(16)
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    # The caller talks for this long, holds for as long, then resumes (ctl_caller_hold).
    phase_s = RTP_TIMEOUT + 2 * INTERVAL + 1.0
    talkers: list[Talker] = []
    try:
        with controller_logging(workdir, engine, events_redis, stream) as controller:
            caller, agent = parties(
                controller,
                workdir,
                ("ctl_caller_hold", "ctl_agent_hold"),
                rtp=(caller_rtp, agent_rtp),
                cid=cid,
                pause_ms=int(phase_s * 1000),
            )
            controller.wait_new_call()
            controller.cmd("connect", cid=cid, agents=["1001"])
            agent_media = media_of(agent.wait_for_log("CALL")[0])
            controller.wait_state(cid, "bridged")
            caller_media = [media_of(caller.wait_for_log("REINVITE1")[0])]
            talkers += [
                Talker(caller_rtp, lambda: caller_media[-1], marker=7),
                Talker(agent_rtp, lambda: agent_media, marker=9),
            ]

            # On hold, neither side sends anything (the held agent answered recvonly).
            caller.wait_for_log("HELD", timeout=phase_s + 5)
            held_at = max(talker.stop() for talker in talkers)
            assert "dir=sendonly" in agent.wait_for_log("REINVITE1")[0]

            # The caller resumes after phase_s of silence, longer than a dead leg takes
            # to be found: the call must still be there to accept the resume.
            resumed = caller.wait_for_log("RESUMED", timeout=phase_s + 5)[0]
            resumed_at = time.monotonic()
            assert resumed_at - held_at >= RTP_TIMEOUT + 2 * INTERVAL
            assert "dir=sendrecv" in resumed
            assert "dir=sendrecv" in agent.wait_for_log("REINVITE2")[0]

            # After the resume the caller talks and the agent stays silent: the agent
            # leg is dead a full timeout after the resume, not at once.
            caller_media.append(media_of(resumed))
            talkers.append(Talker(caller_rtp, lambda: caller_media[-1], marker=7))
            caller.wait_for_log("BYE", timeout=DETECTION_DEADLINE)
            ended_after = time.monotonic() - resumed_at
            assert caller.wait(timeout=10) == 0, caller.errors()
            assert agent.wait(timeout=10) == 0, agent.errors()
            events = ended_event(events_redis, stream, cid)
    finally:
        for talker in talkers:
            talker.stop()
        caller_rtp.close()
        agent_rtp.close()

    assert ended_after >= RTP_TIMEOUT - 0.1, f"ended {ended_after:.2f}s after the resume"
    assert [(e.kind, dict(e.data)) for e in events if e.kind != "call.arrived"] == [
        ("call.ringing", {"agent": "1001", "seat": "", "leg_id": "L2", "attempt": "1"}),
        ("call.answered", {"agent": "1001", "seat": "", "leg_id": "L2"}),
        ("call.hold", {}),
        ("call.resume", {}),
        ("call.ended", {"cause": "media timeout", "side": "agent"}),
    ]
