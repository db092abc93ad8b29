"""The IVR hands a call to the ACD, every process real (conftest.py): the controller
runs a flow for a number (`--ivr-flows`, `--ivr-for`); the flow sets English and queues
the caller with a skill and a priority, after its "please hold". The ACD driver takes
the answered call over (`enqueue_answered`): it rings only the agent with the skill,
and the caller's queue announcements are in English."""

from __future__ import annotations

from pathlib import Path

from acd_api.v1 import acd_pb2 as pb
from testbed import exchange, media_of, wait_until
from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    OK,
    Rig,
    caller_call_id,
    new_cid,
    trigger,
)
from tests.controller.acd_driver.test_queue_media import announced

IVR_NUMBER = "95590"
FLOW = """\
name: to_agent
languages: [zh, en]
start: english
prompts:
  hold: {zh: 请稍候。, en: Please hold.}
nodes:
  english:
    type: set
    language: en
    next: queue
  queue:
    type: queue
    queue: billing
    priority: 1
    skills: {english: 1}
    prompt: hold
"""


def test_the_flow_queues_the_call_with_its_skill_priority_and_language(
    rig: Rig, workdir: Path
) -> None:
    agents = rig.agents("1001", "1002", busy=("1002",))
    phone_1001 = rig.phone("1001", "acd_agent", pause_ms=100)
    phone_1002 = rig.phone("1002", "acd_agent", pause_ms=100)
    flows = workdir / "flows"
    flows.mkdir()
    (flows / "to_agent.yaml").write_text(FLOW)
    cid = new_cid()
    with rig.controller(
        "--prompt-cache",
        str(workdir / "prompts"),
        "--announce-first",
        "1",
        "--ivr-flows",
        str(flows),
        "--ivr-for",
        f"{IVR_NUMBER}=to_agent",
        "--ivr-prompt-cache",
        str(workdir / "prompts"),
    ) as controller:
        caller = rig.caller(controller, cid, number=IVR_NUMBER)
        caller.run.wait_for_log("ANSWERED", timeout=10)
        wait_until(
            lambda: {"call.queued", "call.ivr_done"} <= {e.kind for e in rig.events(cid)},
            timeout=15,
            what="the call queued after the IVR's prompt",
        )
        # The controller's events in its order (the ACD's call.queued is another writer's).
        kinds = [e.kind for e in rig.events(cid) if e.node != ACD_NODE]
        assert kinds == ["call.arrived", "call.ivr_step", "call.ivr_step", "call.ivr_done"]
        steps = [e["ivr_node"] for e in rig.events(cid) if e.kind == "call.ivr_step"]
        assert steps == ["english", "queue"]
        done = [dict(e.data) for e in rig.events(cid) if e.kind == "call.ivr_done"]
        assert done == [{"ivr_node": "queue", "result": "queued"}]
        position = rig.client.get_call_position(pb.GetCallPositionRequest(call_id=cid))
        assert (position.error.code, position.waiting) == (OK, True)
        assert (position.priority, dict(position.skills)) == (1, {"english": 1})
        wait_until(
            lambda: bool(announced(controller.log_text(), cid)),
            timeout=15,
            what="a queue announcement",
        )
        assert announced(controller.log_text(), cid)[0][1] == "You are next in the queue."
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
        assert controller.cmd("ivr")["results"] == {"queued": 1}
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert phone_1002.run.wait(timeout=10) == 0, phone_1002.run.errors()
    assert phone_1001.lines("CALL") == []
    events = rig.ended_events(cid)
    assert [e.kind for e in events].count("call.ivr_done") == 1
    assert [e["agent"] for e in events if e.kind == "call.ringing"] == ["1002"]
