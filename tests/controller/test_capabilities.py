"""Call-control capabilities end to end: controller + rtpengine + sipp parties on loopback.

Each test asserts what every party saw in SIP, counts RTP at each party, and (in
the `controller` fixture) that no call, dialog or rtpengine session is left.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from simulators import RtpEndpoint, SippRun, start_sipp
from testbed import Controller, exchange, media_of, non_silent, track, wait_until

pytestmark = pytest.mark.integration

CID_HEADER = "X-CC-Correlation-ID"


def _caller(
    controller: Controller,
    workdir: Path,
    scenario: str,
    rtp: RtpEndpoint,
    cid: str | None,
    *,
    pause_ms: int | None = None,
) -> SippRun:
    keys = {
        "rtp_port": rtp.port,
        "cidhdr": CID_HEADER if cid else "X-Nothing",
        "cid": cid or "none",
    }
    run = start_sipp(
        "caller",
        scenario,
        controller.sip,
        workdir=workdir,
        keys=keys,
        service="95598",
        pause_ms=pause_ms,
        timeout_s=30,
    )
    track(run)
    return run


def _agent(
    controller: Controller,
    workdir: Path,
    agent: str,
    scenario: str,
    rtp: RtpEndpoint,
    *,
    pause_ms: int = 100,
) -> SippRun:
    run = start_sipp(
        f"agent{agent}",
        scenario,
        controller.sip,
        workdir=workdir,
        port=controller.agents[agent],
        keys={"rtp_port": rtp.port},
        pause_ms=pause_ms,
        timeout_s=30,
    )
    track(run)
    return run


def test_answer_locally_play_prompt_and_hang_up(
    controller: Controller, workdir: Path, tone: Path
) -> None:
    caller_rtp = RtpEndpoint()
    cid = secrets.token_hex(16)
    try:
        caller = _caller(controller, workdir, "ctl_caller", caller_rtp, cid)
        call = controller.wait_new_call()
        assert call["cid"] == cid and call["state"] == "new"

        controller.cmd("answer", cid=cid)
        answered = caller.wait_for_log("ANSWERED")[0]
        assert media_of(answered)[1] != caller_rtp.port, "media must be anchored at rtpengine"
        controller.cmd("play", cid=cid, file=str(tone))
        wait_until(
            lambda: non_silent(caller_rtp) >= 50,
            timeout=5,
            what="the caller hears the tone (non-silent PCMU)",
        )

        controller.cmd("hangup", cid=cid)
        caller.wait_for_log("BYE")
        assert caller.wait(timeout=10) == 0, caller.errors()
    finally:
        caller_rtp.close()


def test_bridge_caller_to_agent_with_media_both_ways(controller: Controller, workdir: Path) -> None:
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    cid = secrets.token_hex(16)
    try:
        agent = _agent(controller, workdir, "1001", "ctl_agent", agent_rtp)
        caller = _caller(controller, workdir, "ctl_caller_bridged", caller_rtp, cid)
        controller.wait_new_call()
        controller.cmd("answer", cid=cid)
        caller.wait_for_log("ANSWERED")
        controller.cmd("connect", cid=cid, agents=["1001"])

        seen = agent.wait_for_log("CALL")[0]
        assert f"cid={cid}" in seen, "the agent leg carries the caller's correlation ID"
        assert "caller=13912345678" in seen
        agent_media = media_of(seen)
        assert agent_media[1] not in (caller_rtp.port, agent_rtp.port), "rtpengine's SDP"
        controller.wait_state(cid, "bridged")
        # rtpengine moves the caller-facing port on bridge, so the caller is re-INVITEd.
        caller_media = media_of(caller.wait_for_log("REINVITE1")[0])

        got_agent, got_caller = exchange(caller_rtp, caller_media, agent_rtp, agent_media)
        assert got_agent >= 48 and got_caller >= 48

        controller.cmd("hangup", cid=cid)
        assert f"BYE cid={cid}" in agent.wait_for_log("BYE")[0]
        caller.wait_for_log("BYE")
        assert caller.wait(timeout=10) == 0, caller.errors()
        assert agent.wait(timeout=10) == 0, agent.errors()
    finally:
        caller_rtp.close()
        agent_rtp.close()


def test_ring_no_answer_cancels_and_tries_next_agent(controller: Controller, workdir: Path) -> None:
    caller_rtp, first_rtp, second_rtp = RtpEndpoint(), RtpEndpoint(), RtpEndpoint()
    try:
        first = _agent(controller, workdir, "1001", "ctl_agent_noanswer", first_rtp)
        second = _agent(controller, workdir, "1002", "ctl_agent", second_rtp)
        caller = _caller(controller, workdir, "ctl_caller_bridged", caller_rtp, None)
        cid = controller.wait_new_call()["cid"]
        controller.cmd("connect", cid=cid, agents=["1001", "1002"], ring_timeout_s=1.0)

        assert f"RANG cid={cid}" in first.wait_for_log("RANG")[0]
        first.wait_for_log("CANCELLED", timeout=5)
        seen = second.wait_for_log("CALL", timeout=5)[0]
        assert f"cid={cid}" in seen
        call = controller.wait_state(cid, "bridged")
        assert call["attempts"] == [["1001", "no answer"], ["1002", "answered"]]
        assert first.wait(timeout=10) == 0, first.errors()

        caller_media = media_of(caller.wait_for_log("REINVITE1")[0])
        got_agent, got_caller = exchange(caller_rtp, caller_media, second_rtp, media_of(seen))
        assert got_agent >= 48 and got_caller >= 48
        assert first_rtp.received == [], "the cancelled agent got no media"

        controller.cmd("hangup", cid=cid)
        assert caller.wait(timeout=10) == 0, caller.errors()
        assert second.wait(timeout=10) == 0, second.errors()
    finally:
        for endpoint in (caller_rtp, first_rtp, second_rtp):
            endpoint.close()


def test_release_agent_then_prompt_caller_and_hang_up(
    controller: Controller, workdir: Path, tone: Path
) -> None:
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    cid = secrets.token_hex(16)
    try:
        agent = _agent(controller, workdir, "1001", "ctl_agent", agent_rtp)
        caller = _caller(controller, workdir, "ctl_caller_released", caller_rtp, cid)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        seen = agent.wait_for_log("CALL")[0]
        controller.wait_state(cid, "bridged")
        bridged = media_of(caller.wait_for_log("REINVITE1")[0])
        exchange(caller_rtp, bridged, agent_rtp, media_of(seen), count=20)

        controller.cmd("release", cid=cid)
        assert f"BYE cid={cid}" in agent.wait_for_log("BYE")[0]
        assert agent.wait(timeout=10) == 0, agent.errors()
        call = controller.wait_state(cid, "parked")
        assert [leg["role"] for leg in call["legs"]] == ["caller"]
        reparked = media_of(caller.wait_for_log("REINVITE2")[0])
        assert reparked != bridged

        caller_rtp.received.clear()
        controller.cmd("play", cid=cid, file=str(tone))
        wait_until(
            lambda: non_silent(caller_rtp) >= 50,
            timeout=5,
            what="the released caller hears the prompt",
        )
        controller.cmd("hangup", cid=cid)
        assert caller.wait(timeout=10) == 0, caller.errors()
    finally:
        caller_rtp.close()
        agent_rtp.close()


def test_hold_and_resume_by_reinvite_from_the_caller(controller: Controller, workdir: Path) -> None:
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    cid = secrets.token_hex(16)
    try:
        agent = _agent(controller, workdir, "1001", "ctl_agent_hold", agent_rtp)
        caller = _caller(controller, workdir, "ctl_caller_hold", caller_rtp, cid, pause_ms=300)
        controller.wait_new_call()
        controller.cmd("connect", cid=cid, agents=["1001"])
        agent.wait_for_log("CALL")

        held = caller.wait_for_log("HELD", timeout=10)[0]
        assert "dir=recvonly" in held, "the agent's answer to hold reaches the caller"
        assert "dir=sendonly" in agent.wait_for_log("REINVITE1")[0]
        resumed = caller.wait_for_log("RESUMED", timeout=10)[0]
        assert "dir=sendrecv" in resumed
        agent_line = agent.wait_for_log("REINVITE2")[0]
        assert "dir=sendrecv" in agent_line
        assert controller.call(cid)["state"] == "bridged"  # type: ignore[index]

        got_agent, got_caller = exchange(
            caller_rtp, media_of(resumed), agent_rtp, media_of(agent_line)
        )
        assert got_agent >= 48 and got_caller >= 48

        controller.cmd("hangup", cid=cid)
        assert caller.wait(timeout=10) == 0, caller.errors()
        assert agent.wait(timeout=10) == 0, agent.errors()
    finally:
        caller_rtp.close()
        agent_rtp.close()


def test_correlation_id_generated_when_absent_and_on_every_log_line(
    controller: Controller, workdir: Path
) -> None:
    caller_rtp, agent_rtp = RtpEndpoint(), RtpEndpoint()
    try:
        agent = _agent(controller, workdir, "1001", "ctl_agent", agent_rtp)
        caller = _caller(controller, workdir, "ctl_caller_bridged", caller_rtp, None)
        cid = controller.wait_new_call()["cid"]
        assert re.fullmatch(r"[0-9a-f]{32}", cid)
        controller.cmd("connect", cid=cid, agents=["1001"])
        assert f"cid={cid}" in agent.wait_for_log("CALL")[0]
        controller.wait_state(cid, "bridged")
        caller.wait_for_log("REINVITE1")
        controller.cmd("hangup", cid=cid)
        assert caller.wait(timeout=10) == 0, caller.errors()
        assert agent.wait(timeout=10) == 0, agent.errors()
    finally:
        caller_rtp.close()
        agent_rtp.close()
    call_lines = [
        line
        for line in controller.log_text().splitlines()
        if re.search(r" (INFO|WARNING|ERROR) controller ", line) and " ready " not in line
    ]
    assert call_lines, "the controller logged the call"
    assert all(f"cid={cid}" in line for line in call_lines), call_lines
    sip_lines = [
        line
        for line in controller.log_text().splitlines()
        if " controller.sip " in line and "cid=-" not in line
    ]
    assert sip_lines and all(f"cid={cid}" in line for line in sip_lines)
