"""Dialog life cycle through the edge: CANCEL, BYE from the agent, re-INVITEs both ways,
and an internal call between agents (R-CORE-1, R-AG-12).

Every party is a sipp scenario that follows the route set; media is counted at
RTP endpoints standing behind the ports each party advertised.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators import RtpEndpoint, free_port, start_sipp
from testbed import (
    Stack,
    log_value,
    media_of,
    no_rtpengine_session,
    start_phone,
)

PACKETS = 40
CALLER = "+8613912345678"

# Each test starts from an empty registrar, so one test's phone never answers another's call.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_registrations")]


def _media_both_ways(
    caller_rtp: RtpEndpoint,
    caller_dest: tuple[str, int],
    agent_rtp: RtpEndpoint,
    agent_dest: tuple[str, int],
    *,
    caller_marker: int,
    agent_marker: int,
) -> None:
    """Send from each side to the address it was given; each must get the other's audio."""
    agent_had, caller_had = len(agent_rtp.received), len(caller_rtp.received)
    caller_rtp.send(caller_dest, marker=caller_marker, count=PACKETS)
    agent_rtp.send(agent_dest, marker=agent_marker, count=PACKETS)
    expected = int(PACKETS * 0.95)
    agent_rtp.wait_received(agent_had + PACKETS)
    caller_rtp.wait_received(caller_had + PACKETS)
    assert agent_rtp.received_from(caller_marker) >= expected, "caller -> agent audio"
    assert caller_rtp.received_from(agent_marker) >= expected, "agent -> caller audio"


def test_caller_cancels_while_the_agent_rings(stack: Stack, workdir: Path) -> None:
    ringing = start_phone(stack, "1001", workdir=workdir, scenario="agent_ring_no_answer")
    next_agent = start_phone(stack, "1002", workdir=workdir)
    carrier = start_sipp(
        "carrier",
        "trunk_call_cancel",
        stack.sip,
        workdir=workdir,
        service="95598",
        pause_ms=300,
        timeout_s=20,
        keys={"caller": CALLER, "rtp_port": 9},
    )
    try:
        (rang,) = ringing.run.wait_for_log("RANG ")
        cid = log_value(rang, "cid")
        assert carrier.wait_for_log("CANCEL-ACCEPTED")
        assert carrier.wait_for_log("FINAL ") == ["FINAL 487"]
        assert ringing.run.wait_for_log("CANCELLED ") == [f"CANCELLED cid={cid}"]
        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert ringing.run.wait(timeout=15) == 0, ringing.run.errors()
        no_rtpengine_session(stack)
        assert f"cid={cid} caller cancelled" in stack.kamailio_log()
        # A cancelled call is over: it must not hunt on to the next agent.
        assert not [ln for ln in next_agent.run.log_lines() if ln.startswith("CALL ")]
    finally:
        for run in (carrier, ringing.run, next_agent.run):
            run.stop()


def test_agent_hangs_up_and_the_bye_reaches_the_caller_through_the_edge(
    stack: Stack, workdir: Path
) -> None:
    agent_rtp, caller_rtp = RtpEndpoint(), RtpEndpoint()
    # The agent holds the answered call for 3 s, then sends BYE (answer_after_ms is -d).
    phone = start_phone(
        stack,
        "1001",
        workdir=workdir,
        scenario="agent_answer_hangup",
        answer_after_ms=3000,
        rtp_port=agent_rtp.port,
    )
    carrier = start_sipp(
        "carrier",
        "trunk_call_await_bye",
        stack.sip,
        workdir=workdir,
        service="95598",
        timeout_s=30,
        keys={"caller": CALLER, "rtp_port": caller_rtp.port},
    )
    try:
        (delivered,) = phone.run.wait_for_log("CALL ")
        (answered,) = carrier.wait_for_log("ANSWERED ")
        _media_both_ways(
            caller_rtp,
            media_of(answered),
            agent_rtp,
            media_of(delivered),
            caller_marker=0xCA,
            agent_marker=0xA6,
        )
        assert not [ln for ln in carrier.log_lines() if ln.startswith("BYE-RECEIVED")], (
            "media must be checked while the call is up; raise the agent's hold time"
        )

        (bye,) = carrier.wait_for_log("BYE-RECEIVED ", timeout=15)
        # The BYE came from the edge (its Via on top), not straight from the phone.
        assert log_value(bye, "via") == stack.sip
        (sent,) = phone.run.wait_for_log("BYE-SENT ")
        assert f"Route: <sip:{stack.sip};lr" in sent, sent
        assert phone.run.wait_for_log("BYE-ANSWERED")
        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert phone.run.wait(timeout=15) == 0, phone.run.errors()
        no_rtpengine_session(stack)
        cid = log_value(delivered, "cid")
        assert f"cid={cid} BYE from 127.0.0.1" in stack.kamailio_log()
    finally:
        carrier.stop()
        phone.run.stop()
        agent_rtp.close()
        caller_rtp.close()


def test_reinvites_both_ways_keep_media_flowing(stack: Stack, workdir: Path) -> None:
    agent_rtp, caller_rtp = RtpEndpoint(), RtpEndpoint()
    phone = start_phone(
        stack, "1001", workdir=workdir, scenario="agent_answer_reinvite", rtp_port=agent_rtp.port
    )
    # After the agent's re-INVITE the caller holds the call 3 s (-d) for media checks.
    carrier = start_sipp(
        "carrier",
        "trunk_call_reinvite",
        stack.sip,
        workdir=workdir,
        service="95598",
        pause_ms=3000,
        timeout_s=30,
        keys={"caller": CALLER, "rtp_port": caller_rtp.port},
    )
    try:
        phone.run.wait_for_log("CALL ")
        carrier.wait_for_log("ANSWERED ")
        # Hold: the agent is offered sendonly and answers recvonly.
        assert log_value(phone.run.wait_for_log("HOLD-OFFER ")[0], "dir") == "sendonly"
        assert log_value(carrier.wait_for_log("HOLD-ANSWERED ")[0], "dir") == "recvonly"
        # Resume.
        (resume_offer,) = phone.run.wait_for_log("RESUME-OFFER ")
        assert log_value(resume_offer, "dir") == "sendrecv"
        (resumed,) = carrier.wait_for_log("RESUME-ANSWERED ")
        assert log_value(resumed, "dir") == "sendrecv"
        # The agent's own re-INVITE, offered to the caller and answered back.
        (agent_offer,) = carrier.wait_for_log("AGENT-REINVITE ")
        (agent_answer,) = phone.run.wait_for_log("REINVITE-ANSWERED ")
        assert log_value(agent_offer, "dir") == "sendrecv"
        assert log_value(agent_answer, "dir") == "sendrecv"
        caller_dest, agent_dest = media_of(agent_offer), media_of(agent_answer)
        # Still anchored at rtpengine: neither party is told the other's own port.
        assert caller_dest[1] != agent_rtp.port and agent_dest[1] != caller_rtp.port
        assert stack.rtpengine_calls(), "rtpengine holds the call after the re-INVITEs"

        _media_both_ways(
            caller_rtp, caller_dest, agent_rtp, agent_dest, caller_marker=0xCB, agent_marker=0xA7
        )
        assert not [ln for ln in carrier.log_lines() if ln.startswith("HUNGUP")], (
            "media must be checked while the call is up; raise the caller's hold time"
        )

        assert carrier.wait_for_log("HUNGUP", timeout=15)
        assert phone.run.wait_for_log("HUNGUP")
        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert phone.run.wait(timeout=15) == 0, phone.run.errors()
        no_rtpengine_session(stack)
    finally:
        carrier.stop()
        phone.run.stop()
        agent_rtp.close()
        caller_rtp.close()


def test_internal_call_between_agents_is_authenticated_and_categorised(
    stack: Stack, workdir: Path
) -> None:
    callee = start_phone(stack, "1002", workdir=workdir)
    # Agents are not trunks: the calling phone sits outside 127.0.0.1/32.
    agent_ip = "127.0.0.5"
    caller = start_sipp(
        "agent-1001-calls",
        "agent_internal_call",
        stack.sip,
        workdir=workdir,
        local_ip=agent_ip,
        port=free_port(agent_ip),
        pause_ms=300,
        timeout_s=20,
        auth=("1001", stack.passwords["1001"]),
        keys={"user": "1001", "callee": "1002", "realm": stack.realm, "rtp_port": 9},
    )
    try:
        assert caller.wait_for_log("CHALLENGED")
        (delivered,) = callee.run.wait_for_log("CALL ")
        assert log_value(delivered, "category") == "internal"
        assert log_value(delivered, "caller") == "1001"
        assert log_value(delivered, "dialled") == "1002"
        assert caller.wait_for_log("ANSWERED ")
        assert caller.wait_for_log("HUNGUP")
        assert caller.wait(timeout=15) == 0, caller.errors()
        assert callee.run.wait(timeout=15) == 0, callee.run.errors()
        no_rtpengine_session(stack)
        cid = log_value(delivered, "cid")
        assert f"cid={cid} trunk= caller=1001 dialled=1002 category=internal" in (
            stack.kamailio_log()
        )
    finally:
        caller.stop()
        callee.run.stop()
