"""Intercept end to end: a supervisor takes a ringing or a bridged call over.

Controller + rtpengine + sipp parties + Redis; SIP seen by every party, RTP after
every move, events written, and a clean teardown.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from simulators import RtpEndpoint
from testbed import Rtpengine, media_of
from tests.controller.call_parties import (
    CALLER,
    answered,
    arrived,
    call_events,
    caller,
    controller_logging,
    ended,
    events_redis,  # noqa: F401  (module fixture)
    no_answer,
    nth_media,
    party,
    ringing,
    talk,
    transferred,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def rtp() -> Iterator[dict[str, RtpEndpoint]]:
    endpoints = {name: RtpEndpoint() for name in ("caller", "1001", "2001")}
    yield endpoints
    for endpoint in endpoints.values():
        endpoint.close()


def test_intercept_a_ringing_call_cancels_the_agent_and_bridges_the_supervisor(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        agent = party(controller, workdir, "1001", "ctl_agent_noanswer", rtp["1001"])
        supervisor = party(controller, workdir, "2001", "ctl_party", rtp["2001"])
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"], ring_timeout_s=20)
        assert f"RANG cid={cid}" in agent.wait_for_log("RANG")[0]

        controller.cmd("intercept", cid=cid, agent="2001")
        assert f"CANCELLED cid={cid}" in agent.wait_for_log("CANCELLED")[0]
        seen = supervisor.wait_for_log("CALL")[0]
        assert seen.startswith(f"CALL cid={cid} from={CALLER} to=2001 ")
        controller.wait_state(cid, "bridged")
        talk(rtp["caller"], nth_media(c, "REINVITE", 1), rtp["2001"], media_of(seen))
        assert rtp["1001"].received == [], "the cancelled agent never got media"

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, supervisor):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events == [
        arrived(),
        ringing("1001", "L2", 1),
        no_answer("1001", "L2"),
        ringing("2001", "L3", 2),
        answered("2001", "L3"),
        ended("200", "system"),
    ]


def test_intercept_a_bridged_call_moves_the_caller_to_the_supervisor(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        # The supervisor answers 3 s after its INVITE: time to check the call goes on.
        supervisor = party(controller, workdir, "2001", "ctl_party", rtp["2001"], pause_ms=3000)
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent_media = media_of(agent.wait_for_log("CALL")[0])
        bridged = nth_media(c, "REINVITE", 1)

        controller.cmd("intercept", cid=cid, agent="2001")
        supervisor_media = media_of(supervisor.wait_for_log("CALL")[0])
        assert controller.call(cid)["state"] == "intercepting"  # type: ignore[index]
        talk(
            rtp["caller"],
            bridged,
            rtp["1001"],
            agent_media,
            released=((rtp["2001"], supervisor_media),),
        )

        assert agent.wait_for_log("BYE", timeout=8)[0] == f"BYE cid={cid} reason="
        controller.wait_state(cid, "bridged")
        heard_before = len(rtp["1001"].received)
        talk(
            rtp["caller"],
            nth_media(c, "REINVITE", 2),
            rtp["2001"],
            nth_media(supervisor, "REINVITE", 1),
            released=((rtp["1001"], agent_media),),
        )
        # Not one packet, of any marker: rtpengine forwards nothing to the released agent.
        assert len(rtp["1001"].received) == heard_before

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, supervisor):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events == [
        arrived(),
        ringing("1001", "L2", 1),
        answered("1001", "L2"),
        ringing("2001", "L3", 2),
        transferred("1001", "2001", "intercept"),
        answered("2001", "L3"),
        ended("200", "system"),
    ]


@pytest.mark.parametrize("supervisor_scenario", ["ctl_agent_noanswer", "ctl_party_refuses"])
def test_an_unanswered_intercept_leaves_the_call_untouched(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
    supervisor_scenario: str,
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        supervisor = party(controller, workdir, "2001", supervisor_scenario, rtp["2001"])
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent_media = media_of(agent.wait_for_log("CALL")[0])
        bridged = nth_media(c, "REINVITE", 1)

        controller.cmd("intercept", cid=cid, agent="2001", ring_timeout_s=1.0)
        assert supervisor.wait(timeout=10) == 0, supervisor.errors()
        controller.wait_state(cid, "bridged")
        talk(rtp["caller"], bridged, rtp["1001"], agent_media)
        assert not [line for line in c.log_lines() if line.startswith("REINVITE")][1:], (
            "the caller was never moved"
        )
        assert not [line for line in agent.log_lines() if line.startswith("REINVITE")]

        controller.cmd("hangup", cid=cid)
        for run in (c, agent):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events[3:] == [ringing("2001", "L3", 2), no_answer("2001", "L3"), ended("200", "system")]
