"""Calls and registrations the edge refuses, each with the code a carrier or phone expects.

R-CORE-1 (trunk check, number routing), R-AG-1 (digest registration). Every
refusal is seen by the party that sent the request (its sipp log or the raw
reply), and nothing is left behind at rtpengine.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from simulators import start_sipp
from testbed import (
    RawSip,
    Stack,
    final_code,
    no_rtpengine_session,
    register_agent,
    registered,
    start_phone,
)

# Each test starts from an empty registrar, so one test's phone never answers another's call.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_registrations")]


def _refused_call(
    stack: Stack,
    workdir: Path,
    name: str,
    *,
    service: str,
    caller: str = "+8613912345678",
    scenario: str = "trunk_call_refused",
    local_ip: str = "127.0.0.1",
) -> int:
    run = start_sipp(
        name,
        scenario,
        stack.sip,
        workdir=workdir,
        local_ip=local_ip,
        service=service,
        keys={"caller": caller, "rtp_port": 9},
        timeout_s=20,
    )
    code = final_code(run)
    assert run.wait(timeout=15) == 0, run.errors()
    return code


def test_unknown_number_from_a_trunk_is_refused_with_404(stack: Stack, workdir: Path) -> None:
    phone = start_phone(stack, "1001", workdir=workdir)
    try:
        code = _refused_call(stack, workdir, "carrier", service="+8612345")
        assert code == 404
        assert "no route for number '12345'" in stack.kamailio_log()
        assert not [ln for ln in phone.run.log_lines() if ln.startswith("CALL ")], (
            "no agent may ring for an unknown number"
        )
    finally:
        phone.run.stop()
    no_rtpengine_session(stack)


def test_unknown_source_is_refused_with_403_and_logged(stack: Stack, workdir: Path) -> None:
    # 127.0.0.9 is on loopback but outside the trunk's 127.0.0.1/32, and the From
    # user is no account: neither a trunk nor an agent.
    code = _refused_call(
        stack, workdir, "stranger", service="95598", local_ip="127.0.0.9", caller="66668888"
    )
    assert code == 403
    log = stack.kamailio_log()
    assert "refused INVITE from 127.0.0.9: unknown source 127.0.0.9" in log
    no_rtpengine_session(stack)


def test_invite_without_sdp_from_a_trunk_is_refused_with_488(stack: Stack, workdir: Path) -> None:
    phone = start_phone(stack, "1001", workdir=workdir)
    try:
        code = _refused_call(
            stack, workdir, "carrier", service="95598", scenario="trunk_call_no_sdp"
        )
        assert code == 488
        assert "INVITE without SDP offer" in stack.kamailio_log()
        assert not [ln for ln in phone.run.log_lines() if ln.startswith("CALL ")]
    finally:
        phone.run.stop()
    no_rtpengine_session(stack)


def test_number_whose_agents_are_not_registered_gets_480(stack: Stack, workdir: Path) -> None:
    # 95599 hunts only 1003, which has no registration.
    assert not registered(stack, "1003")
    code = _refused_call(stack, workdir, "carrier", service="95599")
    assert code == 480
    assert "no registered agent of ('1003',)" in stack.kamailio_log()
    no_rtpengine_session(stack)


def test_register_with_a_wrong_password_gets_403(stack: Stack, workdir: Path) -> None:
    contact = 5999
    run = register_agent(
        stack, "1001", contact, workdir=workdir, password="not-" + stack.passwords["1001"]
    )
    assert run.process.returncode == 0, run.errors()
    lines = run.log_lines()
    # agent_register.xml jumps to its `refused` label on 403: REGISTER-DONE, no REGISTERED.
    assert "REGISTER-DONE" in lines
    assert not [ln for ln in lines if ln.startswith("REGISTERED")]
    assert "REGISTER from 1001 at 127.0.0.1: digest refused (-2)" in stack.kamailio_log()
    assert not registered(stack, "1001")

    # The right password still works afterwards.
    run = register_agent(stack, "1001", contact + 1, workdir=workdir)
    assert "REGISTERED 1001" in run.log_lines()
    assert registered(stack, "1001")


def test_register_without_credentials_is_challenged_with_401(stack: Stack) -> None:
    with RawSip(stack.sip) as raw:
        tag, call_id = secrets.token_hex(4), f"reg-{secrets.token_hex(6)}"
        sent_at = raw.send(
            f"REGISTER sip:{stack.realm} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {raw.local_ip}:{raw.local_port};branch=z9hG4bK{tag};rport\r\n"
            f"From: <sip:1002@{stack.realm}>;tag={tag}\r\n"
            f"To: <sip:1002@{stack.realm}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:1002@{raw.local_ip}:{raw.local_port}>\r\n"
            "Expires: 300\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        (reply,) = raw.replies(timeout=5, sent_at=sent_at)
    assert reply.code == 401
    challenge = reply.header("WWW-Authenticate") or ""
    assert challenge.startswith("Digest ")
    assert f'realm="{stack.realm}"' in challenge
    assert "nonce=" in challenge
    assert not registered(stack, "1002"), "a challenge must not register anything"
