"""Originate end to end: ring an agent, dial an external number through the edge, bridge.

The edge is a sipp UAS standing for Kamailio and the carrier behind it: it takes any
Request-URI (`--edge` points at it). Controller + rtpengine + sipp + Redis; SIP seen
by both parties, RTP after the bridge, events written, and a clean teardown.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from simulators import RtpEndpoint, free_port
from testbed import Rtpengine, media_of
from tests.controller.call_parties import (
    answered,
    call_events,
    controller_logging,
    ended,
    events_redis,  # noqa: F401  (module fixture)
    no_answer,
    nth_media,
    party,
    party_at,
    ringing,
    talk,
)

pytestmark = pytest.mark.integration

NUMBER = "+8613812345678"
CALLER_ID = "95598"


@pytest.fixture
def rtp() -> Iterator[dict[str, RtpEndpoint]]:
    endpoints = {name: RtpEndpoint() for name in ("1001", "customer")}
    yield endpoints
    for endpoint in endpoints.values():
        endpoint.close()


def originated(agent: str = "1001") -> tuple[str, dict[str, str]]:
    return ("call.originated", {"agent": agent, "number": NUMBER, "caller_id": CALLER_ID})


def test_originate_rings_the_agent_dials_the_customer_and_bridges(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    edge = free_port()
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis, "--edge", f"127.0.0.1:{edge}") as (
        controller,
        stream,
    ):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        customer = party_at(
            controller,
            workdir,
            "customer",
            edge,
            scenario="ctl_party",
            rtp=rtp["customer"],
            pause_ms=300,
        )
        call = controller.cmd(
            "originate", agent="1001", number=NUMBER, caller_id=CALLER_ID, cid=cid
        )
        assert (call["cid"], call["state"], call["direction"]) == (cid, "originating", "outbound")
        seen_by_agent = agent.wait_for_log("CALL")[0]
        assert seen_by_agent.startswith(f"CALL cid={cid} from={NUMBER} to=1001 "), (
            "the agent's phone shows whom it calls"
        )
        seen = customer.wait_for_log("CALL")[0]
        assert seen.startswith(f"CALL cid={cid} from={CALLER_ID} to={NUMBER} ")
        controller.wait_state(cid, "bridged")
        # The agent's media moves from its park to the customer: one re-INVITE.
        talk(rtp["1001"], nth_media(agent, "REINVITE", 1), rtp["customer"], media_of(seen))

        controller.cmd("hangup", cid=cid)
        assert agent.wait_for_log("BYE")[0] == f"BYE cid={cid} reason="
        assert customer.wait_for_log("BYE")[0] == f"BYE cid={cid} reason="
        for run in (agent, customer):
            assert run.wait(timeout=10) == 0, run.errors()
        assert not [line for line in customer.log_lines() if line.startswith("REINVITE")]
        events = call_events(events_redis, stream, cid)
    assert events == [
        originated(),
        ringing("1001", "L2", 1),
        answered("1001", "L2"),
        ended("200", "system"),
    ]


def test_the_customer_hanging_up_ends_the_call(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    edge = free_port()
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis, "--edge", f"127.0.0.1:{edge}") as (
        controller,
        stream,
    ):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        customer = party_at(
            controller,
            workdir,
            "customer",
            edge,
            scenario="ctl_party_hangup",
            rtp=rtp["customer"],
            pause_ms=1500,
        )
        controller.cmd("originate", agent="1001", number=NUMBER, caller_id=CALLER_ID, cid=cid)
        seen = customer.wait_for_log("CALL")[0]
        controller.wait_state(cid, "bridged")
        talk(rtp["1001"], nth_media(agent, "REINVITE", 1), rtp["customer"], media_of(seen))
        customer.wait_for_log("HUNG_UP", timeout=5)
        assert agent.wait_for_log("BYE")[0] == f"BYE cid={cid} reason="
        for run in (agent, customer):
            assert run.wait(timeout=10) == 0, run.errors()
        events = call_events(events_redis, stream, cid)
    assert events[-1] == ended("200", "caller")


# customer's scenario: (the Reason on the agent's BYE, call.ended cause, side)
NOT_REACHED = {
    "ctl_party_refuses": ('SIP; cause=486; text="Busy Here"', "486", "caller"),
    "ctl_agent_noanswer": ('SIP; cause=480; text="No Answer"', "no answer", "system"),
}


@pytest.mark.parametrize("scenario", sorted(NOT_REACHED))
def test_a_customer_who_does_not_answer_hangs_up_the_agent_with_the_reason(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
    scenario: str,
) -> None:
    reason, cause, side = NOT_REACHED[scenario]
    edge = free_port()
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis, "--edge", f"127.0.0.1:{edge}") as (
        controller,
        stream,
    ):
        agent = party(controller, workdir, "1001", "ctl_party", rtp["1001"])
        customer = party_at(
            controller, workdir, "customer", edge, scenario=scenario, rtp=rtp["customer"]
        )
        controller.cmd(
            "originate",
            agent="1001",
            number=NUMBER,
            caller_id=CALLER_ID,
            cid=cid,
            ring_timeout_s=1.5,
        )
        assert agent.wait_for_log("BYE", timeout=8)[0] == f"BYE cid={cid} reason={reason}"
        for run in (agent, customer):
            assert run.wait(timeout=10) == 0, run.errors()
        assert rtp["1001"].received == [], "nobody talked to the agent"
        events = call_events(events_redis, stream, cid)
    assert events == [originated(), ringing("1001", "L2", 1), ended(cause, side)]


def test_an_agent_who_does_not_answer_ends_the_call_before_dialling(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
    rtp: dict[str, RtpEndpoint],
) -> None:
    edge = free_port()  # nobody listens: the customer must never be dialled
    cid = secrets.token_hex(16)
    with controller_logging(workdir, engine, events_redis, "--edge", f"127.0.0.1:{edge}") as (
        controller,
        stream,
    ):
        agent = party(controller, workdir, "1001", "ctl_agent_noanswer", rtp["1001"])
        controller.cmd(
            "originate",
            agent="1001",
            number=NUMBER,
            caller_id=CALLER_ID,
            cid=cid,
            ring_timeout_s=1.0,
        )
        assert f"CANCELLED cid={cid}" in agent.wait_for_log("CANCELLED", timeout=5)[0]
        assert agent.wait(timeout=10) == 0, agent.errors()
        events = call_events(events_redis, stream, cid)
        assert "-L1" not in controller.log_text(), "no INVITE to the customer"
    assert events == [
        originated(),
        ringing("1001", "L2", 1),
        no_answer("1001", "L2"),
        ended("no answer", "system"),
    ]


def test_commands_are_refused_with_a_reason_over_the_control_socket(
    workdir: Path,
    engine: Rtpengine,
    events_redis: redis.Redis,  # noqa: F811
) -> None:
    with controller_logging(workdir, engine, events_redis) as (controller, _):
        assert controller.try_cmd("originate", agent="1001", number=NUMBER) == {
            "ok": False,
            "error": "originate needs the SIP edge (--edge): external numbers "
            "are dialled through it",
        }
        for cmd in ("transfer", "consult", "complete_transfer", "cancel_consult", "intercept"):
            assert controller.try_cmd(cmd, cid="nope", agent="1002", agents=["1002"]) == {
                "ok": False,
                "error": "no such call nope",
            }, cmd
        assert controller.try_cmd("consult", cid="nope") == {
            "ok": False,
            "error": "missing argument 'agent'",
        }
