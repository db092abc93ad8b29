"""Blind and attended transfer end to end: controller + rtpengine + sipp parties + Redis.

Each test checks what every party saw in SIP (the correlation ID on every leg), the
RTP at each party after every move (the right two hear each other, a released party
hears nothing and is heard by nobody), the events written, and a clean teardown.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from simulators import RtpEndpoint
from testbed import Rtpengine, media_of, non_silent, wait_until
from tests.controller.call_parties import (
    CALLER,
    answered,
    arrived,
    call_events,
    caller,
    controller_logging,
    ended,
    events_redis,  # noqa: F401  (module fixture)
    hold_tone,  # noqa: F401  (session fixture)
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
    endpoints = {name: RtpEndpoint() for name in ("caller", "1001", "1002")}
    yield endpoints
    for endpoint in endpoints.values():
        endpoint.close()


def test_blind_transfer_rings_the_new_agent_and_releases_the_first(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        first = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        second = party(controller, workdir, "1002", "ctl_party", rtp["1002"])
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        first_media = media_of(first.wait_for_log("CALL")[0])
        talk(rtp["caller"], nth_media(c, "REINVITE", 1), rtp["1001"], first_media)

        controller.cmd("transfer", cid=cid, agents=["1002"], ring_timeout_s=5)
        assert first.wait_for_log("BYE")[0] == f"BYE cid={cid} reason="
        seen = second.wait_for_log("CALL")[0]
        assert seen.startswith(f"CALL cid={cid} from={CALLER} to=1002 ")
        call = controller.wait_state(cid, "bridged")
        assert [leg["target"] for leg in call["legs"]] == [None, "1002"]
        # Parked (re-INVITE 2), then bridged to the new agent (3).
        talk(
            rtp["caller"],
            nth_media(c, "REINVITE", 3),
            rtp["1002"],
            media_of(seen),
            released=((rtp["1001"], first_media),),
        )

        controller.cmd("hangup", cid=cid)
        for run in (c, first, second):
            assert run.wait(timeout=10) == 0, run.errors()
        assert len(c.wait_for_log("REINVITE", count=3)) == 3
        events = call_events(events_redis, stream, cid)
    assert events == [
        arrived(),
        ringing("1001", "L2", 1),
        answered("1001", "L2"),
        transferred("1001", "1002", "blind"),
        ringing("1002", "L3", 2),
        answered("1002", "L3"),
        ended("200", "system"),
    ]


def test_attended_transfer_consults_then_hands_the_caller_over(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
    hold_tone: Path,  # noqa: F811
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        target = party(controller, workdir, "1002", "ctl_party", rtp["1002"], pause_ms=300)
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent_media = media_of(agent.wait_for_log("CALL")[0])
        bridged = nth_media(c, "REINVITE", 1)
        talk(rtp["caller"], bridged, rtp["1001"], agent_media)

        controller.cmd("consult", cid=cid, agent="1002", hold_file=str(hold_tone))
        parked = nth_media(c, "REINVITE", 2)
        rtp["caller"].received.clear()
        wait_until(
            lambda: non_silent(rtp["caller"]) >= 25,
            timeout=5,
            what="the parked caller hears the hold file",
        )
        seen = target.wait_for_log("CALL")[0]
        assert seen.startswith(f"CALL cid={cid} from=1001 to=1002 "), "the agent calls"
        controller.wait_state(cid, "consulting")
        # The agent's media moved to the consult (its re-INVITE); the caller hears neither.
        talk(
            rtp["1001"],
            nth_media(agent, "REINVITE", 1),
            rtp["1002"],
            media_of(seen),
            released=((rtp["caller"], parked),),
        )

        controller.cmd("complete_transfer", cid=cid)
        assert agent.wait_for_log("BYE")[0] == f"BYE cid={cid} reason="
        controller.wait_state(cid, "bridged")
        rtp["caller"].received.clear()
        talk(
            rtp["caller"],
            nth_media(c, "REINVITE", 3),
            rtp["1002"],
            nth_media(target, "REINVITE", 1),
            released=((rtp["1001"], nth_media(agent, "REINVITE", 1)),),
        )
        assert non_silent(rtp["caller"]) == 0, "the hold file stops with the transfer"

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, target):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events == [
        arrived(),
        ringing("1001", "L2", 1),
        answered("1001", "L2"),
        ("call.hold", {}),
        ringing("1002", "L3", 2),
        ("call.resume", {}),
        transferred("1001", "1002", "attended"),
        answered("1002", "L3"),
        ended("200", "system"),
    ]


def test_cancel_consult_returns_the_caller_to_the_agent(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        target = party(controller, workdir, "1002", "ctl_party", rtp["1002"])
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent.wait_for_log("CALL")
        nth_media(c, "REINVITE", 1)
        controller.cmd("consult", cid=cid, agent="1002")
        target_media = media_of(target.wait_for_log("CALL")[0])
        controller.wait_state(cid, "consulting")
        talk(rtp["1001"], nth_media(agent, "REINVITE", 1), rtp["1002"], target_media)

        controller.cmd("cancel_consult", cid=cid)
        assert target.wait_for_log("BYE")[0] == f"BYE cid={cid} reason="
        controller.wait_state(cid, "bridged")
        # Both go back to their first bridge: the agent's re-INVITE 2, the caller's 3.
        talk(
            rtp["caller"],
            nth_media(c, "REINVITE", 3),
            rtp["1001"],
            nth_media(agent, "REINVITE", 2),
            released=((rtp["1002"], target_media),),
        )

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, target):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events[3:] == [
        ("call.hold", {}),
        ringing("1002", "L3", 2),
        no_answer("1002", "L3"),
        ("call.resume", {}),
        ended("200", "system"),
    ]


@pytest.mark.parametrize("target_scenario", ["ctl_agent_noanswer", "ctl_party_refuses"])
def test_an_unanswered_consult_rebridges_the_caller_and_the_agent(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
    target_scenario: str,
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        target = party(controller, workdir, "1002", target_scenario, rtp["1002"])
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent_media = media_of(agent.wait_for_log("CALL")[0])
        nth_media(c, "REINVITE", 1)
        controller.cmd("consult", cid=cid, agent="1002", ring_timeout_s=1.0)
        if target_scenario == "ctl_agent_noanswer":
            assert f"CANCELLED cid={cid}" in target.wait_for_log("CANCELLED", timeout=5)[0]
        assert target.wait(timeout=10) == 0, target.errors()
        controller.wait_state(cid, "bridged")
        # The agent never moved (it was not re-INVITEd); the caller is bridged again.
        talk(rtp["caller"], nth_media(c, "REINVITE", 3), rtp["1001"], agent_media)
        assert not [line for line in agent.log_lines() if line.startswith("REINVITE")]

        controller.cmd("hangup", cid=cid)
        for run in (c, agent):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events[3:] == [
        ("call.hold", {}),
        ringing("1002", "L3", 2),
        no_answer("1002", "L3"),
        ("call.resume", {}),
        ended("200", "system"),
    ]


def test_the_agent_hanging_up_during_the_consult_transfers_the_caller(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        # The agent takes the re-INVITE of the consult's answer, talks 0.5 s, hangs up.
        agent = party(
            controller, workdir, "1001", "ctl_party_reinvite_hangup", rtp["1001"], pause_ms=500
        )
        target = party(controller, workdir, "1002", "ctl_party", rtp["1002"])
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent.wait_for_log("CALL")
        nth_media(c, "REINVITE", 1)
        controller.cmd("consult", cid=cid, agent="1002")
        target.wait_for_log("CALL")
        agent.wait_for_log("HUNG_UP")
        controller.wait_state(cid, "bridged")
        talk(
            rtp["caller"],
            nth_media(c, "REINVITE", 3),
            rtp["1002"],
            nth_media(target, "REINVITE", 1),
            released=((rtp["1001"], nth_media(agent, "REINVITE", 1)),),
        )

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, target):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events[5:] == [
        ("call.resume", {}),
        transferred("1001", "1002", "attended"),
        answered("1002", "L3"),
        ended("200", "system"),
    ]


def test_the_agent_hanging_up_before_the_target_answers_makes_it_a_blind_transfer(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        # The agent hangs up 2 s after it answered; the target answers 4 s after its
        # INVITE: the consult is issued at once, so the target still rings then.
        agent = party(controller, workdir, "1001", "ctl_party_hangup", rtp["1001"], pause_ms=2000)
        target = party(controller, workdir, "1002", "ctl_party", rtp["1002"], pause_ms=4000)
        c = caller(controller, workdir, "ctl_caller_party", rtp["caller"], cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent_media = media_of(agent.wait_for_log("CALL")[0])
        nth_media(c, "REINVITE", 1)
        controller.cmd("consult", cid=cid, agent="1002")
        target.wait_for_log("CALL")
        agent.wait_for_log("HUNG_UP", timeout=5)
        call = controller.wait_state(cid, "ringing")
        assert [leg["target"] for leg in call["legs"]] == [None, "1002"]
        controller.wait_state(cid, "bridged", timeout=8)
        talk(
            rtp["caller"],
            nth_media(c, "REINVITE", 3),
            rtp["1002"],
            nth_media(target, "REINVITE", 1),
            released=((rtp["1001"], agent_media),),
        )

        controller.cmd("hangup", cid=cid)
        for run in (c, agent, target):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events[3:] == [
        ("call.hold", {}),
        ringing("1002", "L3", 2),
        transferred("1001", "1002", "blind"),
        ("call.resume", {}),
        answered("1002", "L3"),
        ended("200", "system"),
    ]


def test_the_caller_hanging_up_during_a_consult_ends_every_leg(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis) as (controller, stream):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        target = party(controller, workdir, "1002", "ctl_agent_noanswer", rtp["1002"])
        c = caller(
            controller, workdir, "ctl_caller_consult_hangup", rtp["caller"], cid, pause_ms=500
        )
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent.wait_for_log("CALL")
        nth_media(c, "REINVITE", 1)
        controller.cmd("consult", cid=cid, agent="1002")
        c.wait_for_log("HUNG_UP", timeout=5)
        assert f"CANCELLED cid={cid}" in target.wait_for_log("CANCELLED")[0]
        assert agent.wait_for_log("BYE")[0] == f"BYE cid={cid} reason="
        for run in (c, agent, target):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events[3:] == [("call.hold", {}), ringing("1002", "L3", 2), ended("200", "caller")]
