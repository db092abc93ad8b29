"""Draining a replica, end to end: controller + rtpengine + sipp on loopback. The
dispatcher's probe and a new call get 503 (Kamailio then sends calls to a sibling),
the call in progress runs to its end, and `drain` off takes calls again."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from callcenter._health import sip_options_ping
from simulators import RtpEndpoint, start_sipp
from testbed import Controller, final_code, non_silent, track, wait_until

pytestmark = pytest.mark.integration


def test_a_draining_replica_refuses_new_calls_and_finishes_its_own(
    controller: Controller, workdir: Path, tone: Path
) -> None:
    assert sip_options_ping(controller.sip) == 200
    caller_rtp = RtpEndpoint()
    cid = secrets.token_hex(16)
    try:
        caller = start_sipp(
            "caller",
            "ctl_caller",
            controller.sip,
            workdir=workdir,
            keys={"rtp_port": caller_rtp.port, "cidhdr": "X-CC-Correlation-ID", "cid": cid},
            service="95598",
            timeout_s=30,
        )
        track(caller)
        controller.wait_new_call()
        controller.cmd("answer", cid=cid)
        caller.wait_for_log("ANSWERED")

        drained = controller.cmd("drain")
        assert drained["draining"] is True and drained["calls"] == 1
        assert sip_options_ping(controller.sip) == 503
        newcomer = start_sipp(
            "newcomer",
            "trunk_call_refused",
            controller.sip,
            workdir=workdir,
            service="95598",
            keys={"caller": "13800138000", "rtp_port": 9},
            timeout_s=20,
        )
        track(newcomer)
        assert final_code(newcomer) == 503
        assert newcomer.wait(timeout=15) == 0, newcomer.errors()
        status = controller.cmd("status")
        assert (status["draining"], status["calls"]) == (True, 1)

        # The call it had goes on as before: a prompt, then its end.
        controller.cmd("play", cid=cid, file=str(tone))
        wait_until(lambda: non_silent(caller_rtp) >= 25, timeout=5, what="the caller hears")
        controller.cmd("hangup", cid=cid)
        assert caller.wait(timeout=10) == 0, caller.errors()
        wait_until(lambda: controller.cmd("status")["calls"] == 0, timeout=5, what="no call left")

        assert controller.cmd("drain", on=False)["draining"] is False
        assert sip_options_ping(controller.sip) == 200
        assert controller.cmd("drain", on=False)["refused"] == 1
    finally:
        caller_rtp.close()
