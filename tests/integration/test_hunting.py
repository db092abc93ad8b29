"""R-CORE-1 hunt group: 95598 rings 1001, then 1002 (ring_timeout 1500 ms per agent).

Each agent is a sipp phone with its own behaviour (rings out, busy, answers);
the carrier is a sipp caller. The tests check what each party saw: who rang,
who was cancelled, who answered, and that one correlation ID follows the call.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from simulators import AgentPhone, SippRun, start_sipp
from testbed import (
    Stack,
    final_code,
    log_value,
    no_rtpengine_session,
    start_phone,
)

RING_TIMEOUT_S = 1.5

# Each test starts from an empty registrar, so one test's phone never answers another's call.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_registrations")]


def _phone(stack: Stack, workdir: Path, user: str, scenario: str) -> AgentPhone:
    return start_phone(stack, user, workdir=workdir, scenario=scenario)


def _carrier(stack: Stack, workdir: Path, scenario: str = "trunk_call") -> SippRun:
    return start_sipp(
        "carrier",
        scenario,
        stack.sip,
        workdir=workdir,
        service="95598",
        pause_ms=300,
        timeout_s=30,
        keys={"caller": "+8613912345678", "rtp_port": 9},
    )


def test_ring_no_answer_moves_to_the_next_agent_after_the_ring_timeout(
    stack: Stack, workdir: Path
) -> None:
    first = _phone(stack, workdir, "1001", "agent_ring_no_answer")
    second = _phone(stack, workdir, "1002", "agent_answer")
    carrier = _carrier(stack, workdir)
    try:
        (rang,) = first.run.wait_for_log("RANG ")
        rang_at = time.monotonic()
        (delivered,) = second.run.wait_for_log("CALL ", timeout=15)
        waited = time.monotonic() - rang_at
        carrier.wait_for_log("ANSWERED ")

        cid = log_value(rang, "cid")
        assert log_value(delivered, "cid") == cid, "the hunt keeps one correlation ID"
        assert first.run.wait_for_log("CANCELLED ") == [f"CANCELLED cid={cid}"]
        # 1001 kept ringing for the ring timeout before the edge gave up on it.
        assert waited >= RING_TIMEOUT_S - 0.3, waited
        assert log_value(delivered, "category") == "electricity-billing"

        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert first.run.wait(timeout=15) == 0, first.run.errors()
        assert second.run.wait(timeout=15) == 0, second.run.errors()
        log = stack.kamailio_log()
        assert (
            f"cid={cid} agent sip:1001@127.0.0.1:{first.sip_port} gave 408; hunting on ['1002']"
        ) in log
        no_rtpengine_session(stack)
    finally:
        for run in (carrier, first.run, second.run):
            run.stop()


def test_busy_agent_moves_to_the_next_agent_at_once(stack: Stack, workdir: Path) -> None:
    first = _phone(stack, workdir, "1001", "agent_busy")
    second = _phone(stack, workdir, "1002", "agent_answer")
    carrier = _carrier(stack, workdir)
    try:
        (busy,) = first.run.wait_for_log("BUSY ")
        busy_at = time.monotonic()
        (delivered,) = second.run.wait_for_log("CALL ", timeout=15)
        waited = time.monotonic() - busy_at
        carrier.wait_for_log("ANSWERED ")

        cid = log_value(busy, "cid")
        assert log_value(delivered, "cid") == cid
        # No ring timeout spent on a busy agent.
        assert waited < RING_TIMEOUT_S - 0.3, waited

        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert first.run.wait(timeout=15) == 0, first.run.errors()
        assert second.run.wait(timeout=15) == 0, second.run.errors()
        gave = f"cid={cid} agent sip:1001@127.0.0.1:{first.sip_port} gave 486"
        assert gave in stack.kamailio_log()
        no_rtpengine_session(stack)
    finally:
        for run in (carrier, first.run, second.run):
            run.stop()


def test_no_agent_answers_the_caller_gets_a_final_failure(stack: Stack, workdir: Path) -> None:
    first = _phone(stack, workdir, "1001", "agent_ring_no_answer")
    second = _phone(stack, workdir, "1002", "agent_ring_no_answer")
    carrier = _carrier(stack, workdir, scenario="trunk_call_refused")
    try:
        code = final_code(carrier, timeout=20)
        # Both agents rang out: the ring timeout answers for the group (408).
        assert code == 408, code
        (rang1,) = first.run.wait_for_log("RANG ")
        (rang2,) = second.run.wait_for_log("RANG ")
        cid = log_value(rang1, "cid")
        assert log_value(rang2, "cid") == cid
        assert first.run.wait_for_log("CANCELLED ") == [f"CANCELLED cid={cid}"]
        assert second.run.wait_for_log("CANCELLED ") == [f"CANCELLED cid={cid}"]
        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert first.run.wait(timeout=15) == 0, first.run.errors()
        assert second.run.wait(timeout=15) == 0, second.run.errors()
        assert f"cid={cid} call failed with 408" in stack.kamailio_log()
        no_rtpengine_session(stack)
    finally:
        for run in (carrier, first.run, second.run):
            run.stop()
