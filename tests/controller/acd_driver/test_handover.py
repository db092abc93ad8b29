"""A call another component claims on arrival (the IVR host) and hands to the ACD once
answered, every process real (conftest.py): the controller runs with an arrival claim
(`claiming_controller.py`), the test plays the IVR's part through the control socket
(`answer`, then `enqueue` with a skill and the caller's language)."""

from __future__ import annotations

from pathlib import Path

from acd_api.v1 import acd_pb2 as pb
from testbed import exchange, media_of, wait_until
from tests.controller.acd_driver.claiming_controller import CLAIMED_NUMBER
from tests.controller.acd_driver.conftest import (
    OK,
    QUEUE,
    Rig,
    agent_states,
    caller_call_id,
    new_cid,
    trigger,
)
from tests.controller.acd_driver.test_queue_media import announced, heard

CLAIMING = "tests.controller.acd_driver.claiming_controller"


def test_a_claimed_call_is_left_to_its_claimant_then_queued_with_its_skill_and_language(
    rig: Rig, workdir: Path
) -> None:
    """1001 (billing) is idle the longest, 1002 (billing and English) not ready. The
    claimed caller is neither answered nor enqueued by the driver; answered and handed
    over with English as a skill and as its language, it waits although 1001 is idle,
    hears its place in English (the queue's own language is Mandarin), and rings 1002
    once 1002 is ready."""
    agents = rig.agents("1001", "1002", busy=("1002",))
    phone_1001 = rig.phone("1001", "acd_agent", pause_ms=100)
    phone_1002 = rig.phone("1002", "acd_agent", pause_ms=100)
    cid = new_cid()
    with rig.controller(
        "--prompt-cache",
        str(workdir / "prompts"),
        "--announce-first",
        "1",
        module=CLAIMING,
    ) as controller:
        caller = rig.caller(controller, cid, number=CLAIMED_NUMBER)
        wait_until(lambda: controller.call(cid) is not None, timeout=10, what="the call arrives")
        # The `call` command runs on the SIP loop after anything the driver could have
        # posted for the arrival: had it taken the call, the call would be parked by now.
        assert (controller.call(cid) or {})["state"] == "new"
        assert f"cid={cid} claimed on arrival by another component" in controller.log_text()
        unknown = rig.client.get_call_position(pb.GetCallPositionRequest(call_id=cid))
        assert unknown.error.code == pb.ERROR_CODE_UNKNOWN_CALL, "not enqueued"
        wait_until(lambda: rig.events(cid), timeout=5, what="the call's call.arrived")
        assert [e.kind for e in rig.events(cid)] == ["call.arrived"]

        # The IVR's part: answer, (serve,) then hand the call over.
        controller.cmd("answer", cid=cid)
        caller.run.wait_for_log("ANSWERED", timeout=10)
        refused = controller.try_cmd("enqueue", cid=cid, queue=QUEUE, skills={"english": 0})
        assert refused["ok"] is False and "level >= 1" in refused["error"], refused
        assert (
            controller.cmd(
                "enqueue", cid=cid, queue=QUEUE, priority=1, skills={"english": 1}, language="en"
            )
            == QUEUE
        )
        wait_until(
            lambda: bool(announced(controller.log_text(), cid)),
            timeout=15,
            what="an announcement to the caller",
        )
        assert announced(controller.log_text(), cid)[0][1] == "You are next in the queue."
        wait_until(lambda: "loud" in heard(caller.rtp), timeout=10, what="the caller hears it")
        position = rig.client.get_call_position(pb.GetCallPositionRequest(call_id=cid))
        assert (position.error.code, position.waiting, position.position) == (OK, True, 1)
        assert (position.priority, dict(position.skills)) == (1, {"english": 1})
        assert rig.state_of("1001") == "IDLE", "1001 has no English: not offered the call"

        assert (
            rig.client.set_idle(
                pb.SetIdleRequest(employee_id=1002, session_id=agents.agents[1002].session)
            ).error.code
            == OK
        )
        (call,) = phone_1002.run.wait_for_log("CALL", timeout=10)
        bridged = caller.wait_bridged()
        to_agent, to_caller = exchange(
            caller.rtp, media_of(bridged), phone_1002.rtp, media_of(call)
        )
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert phone_1002.run.wait(timeout=10) == 0, phone_1002.run.errors()
    assert phone_1001.lines("CALL") == []
    events = rig.ended_events(cid)
    ringing = [e["agent"] for e in events if e.kind == "call.ringing"]
    assert ringing == ["1002"]
    queued = [dict(e.data) for e in events if e.kind == "call.queued"]
    assert queued == [{"queue": QUEUE, "priority": "1"}]
    assert agent_states(events, "1001") == [], "1001 was never reserved for the call"
    assert ("idle", "reserved") in agent_states(events, "1002")
