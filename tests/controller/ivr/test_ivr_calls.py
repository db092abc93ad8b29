"""IVR calls on a real controller: the caller's audio is recorded and the prompts found
in it by cross-correlation with the WAVs the controller rendered; the events and the
state come from the controller's Redis (tests/controller/ivr/conftest.py)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis

from simulators import RtpEndpoint, start_sipp
from testbed import Rtpengine, exchange, media_of, prompt_present, track, wait_until

from .conftest import CLOSED_NUMBER, NUMBER, PROBE, IvrRig, ivr_controller, new_cid

pytestmark = pytest.mark.integration


def test_a_call_goes_through_its_flow_and_hears_each_prompt(rig: IvrRig) -> None:
    cid = new_cid()
    rtp = RtpEndpoint(record=True)
    try:
        caller = rig.caller(cid, rtp)
        step = rig.wait_event(cid, "call.ivr_step")
        assert step == {"ivr_node": "welcome", "input": ""}
        wait_until(rig.state_keys, timeout=5, what="the call's IVR state in Redis")
        state = json.loads(rig.r.get(f"ivr:session:{cid}") or b"{}")
        assert (state["flow"], state["dialled"], state["replica"]) == ("probe", NUMBER, "ctl-ivr")
        ivr = rig.controller.cmd("ivr")
        assert [f["name"] for f in ivr["flows"]] == ["probe"]
        assert [c["cid"] for c in ivr["calls"]] == [cid]
        assert rig.controller.cmd("status")["ivr_calls"] == 1

        # The menu times out (300 ms, no retry): goodbye, and the controller hangs up.
        done = rig.wait_event(cid, "call.ivr_done", timeout=20)
        assert done == {"ivr_node": "bye", "result": "retries_exhausted"}
        caller.run.wait_for_log("BYE", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        kinds = rig.kinds(cid)
        assert kinds[-2:] == ["call.ivr_done", "call.ended"]
        assert [e["ivr_node"] for e in rig.of(cid, "call.ivr_step")] == ["welcome", "menu", "bye"]

        heard = rig.heard(rtp)
        for text in ("您好，欢迎致电华安电力。", "请按1。", "再见。"):
            assert prompt_present(heard, rig.prompt(text)), f"the caller did not hear {text}"
        assert not prompt_present(heard, rig.prompt("Hello.", "en"))
        assert rig.state_keys() == []
        nodes = rig.controller.cmd("ivr")["nodes"]["probe"]
        assert nodes["menu"] == {"visits": 1, "now": 0}
    finally:
        rtp.close()


def test_a_caller_who_hangs_up_in_the_ivr_ends_it_as_caller_left(rig: IvrRig) -> None:
    cid = new_cid()
    rtp = RtpEndpoint()
    try:
        caller = rig.caller(cid, rtp)
        rig.wait_event(cid, "call.ivr_step")
        caller.hang_up()
        done = rig.wait_event(cid, "call.ivr_done")
        assert done == {"ivr_node": "welcome", "result": "caller_left"}
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        wait_until(lambda: "call.ended" in rig.kinds(cid), timeout=5, what="call.ended")
        kinds = rig.kinds(cid)
        assert kinds.index("call.ivr_done") < kinds.index("call.ended")
        assert kinds.count("call.ivr_done") == 1
        assert rig.of(cid, "call.ended") == [{"cause": "200", "side": "caller"}]
        wait_until(lambda: not rig.state_keys(), timeout=5, what="the state deleted")
    finally:
        rtp.close()


def test_a_flow_reloads_for_new_calls_and_a_bad_one_is_refused(rig: IvrRig) -> None:
    first, second = new_cid(), new_cid()
    rtp1, rtp2 = RtpEndpoint(), RtpEndpoint()
    path = rig.flows / "probe.yaml"
    try:
        old_version = rig.controller.cmd("ivr")["flows"][0]["version"]
        long_wait = PROBE.replace("timeout_ms: 300", "timeout_ms: 8000")
        path.write_text(long_wait)
        wait_until(
            lambda: rig.controller.cmd("ivr")["flows"][0]["version"] != old_version,
            timeout=5,
            what="the changed flow reloaded",
        )
        waiting_version = rig.controller.cmd("ivr")["flows"][0]["version"]
        caller1 = rig.caller(first, rtp1)
        rig.wait_event(first, "call.ivr_step")
        # Changed again while the call is in it: the call keeps the flow it started with.
        path.write_text(PROBE)
        wait_until(
            lambda: rig.controller.cmd("ivr")["flows"][0]["version"] == old_version,
            timeout=5,
            what="the second change reloaded",
        )
        calls = {c["cid"]: c["version"] for c in rig.controller.cmd("ivr")["calls"]}
        assert calls == {first: waiting_version}
        caller2 = rig.caller(second, rtp2)
        rig.wait_event(second, "call.ivr_done", timeout=20)  # 300 ms: done long before
        assert "call.ivr_done" not in rig.kinds(first)  # still waiting its 8 s

        # A bad flow is refused: logged at ERROR with file:line and node; the old one stays.
        path.write_text(PROBE.replace("on_failure: bye", "on_failure: nowhere"))
        wait_until(
            lambda: rig.controller.cmd("ivr")["last_reload_error"],
            timeout=5,
            what="the bad flow refused",
        )
        error = rig.controller.cmd("ivr")["last_reload_error"]
        assert f"{path}:" in error and "menu" in error and "nowhere" in error
        assert rig.controller.cmd("ivr")["flows"][0]["version"] == old_version
        assert "ERROR controller.ivr IVR flow refused" in rig.controller.log_text()
        caller1.hang_up()
        assert caller1.run.wait(timeout=10) == 0
        assert caller2.run.wait(timeout=10) == 0
    finally:
        rtp1.close()
        rtp2.close()


def test_out_of_hours_the_number_says_so_and_hangs_up(
    workdir: Path, engine: Rtpengine, events_redis: redis.Redis, prompt_cache: Path
) -> None:
    today = date.today()
    closed_all_week = {
        "timezone": "Asia/Shanghai",
        "weekly": {"mon-sun": ["00:00-24:00"]},
        "holidays": [f"{today - timedelta(days=2)}..{today + timedelta(days=2)}"],
    }
    settings = {
        "numbers": [
            {
                "number": CLOSED_NUMBER,
                "hours": "office",
                "closed": {"zh": "现在是非工作时间。", "en": "We are closed."},
            }
        ],
        "schedules": {"office": closed_all_week},
    }
    cid = new_cid()
    rtp = RtpEndpoint(record=True)
    with ivr_controller(
        workdir, engine, events_redis, prompt_cache, settings=settings, flow_for=""
    ) as rig:
        try:
            caller = rig.caller(cid, rtp, number=CLOSED_NUMBER)
            assert rig.wait_event(cid, "call.ivr_done") == {"ivr_node": "", "result": "closed"}
            caller.run.wait_for_log("BYE", timeout=15)
            assert caller.run.wait(timeout=10) == 0, caller.run.errors()
            heard = rig.heard(rtp)
            assert prompt_present(heard, rig.prompt("现在是非工作时间。"))
            assert prompt_present(heard, rig.prompt("We are closed.", "en"))
            assert "call.ivr_step" not in rig.kinds(cid)  # the flow is not entered
        finally:
            rtp.close()


TRANSFER = """\
name: transfer
languages: [zh]
start: out
prompts:
  wait: {zh: 正在为您转接。}
nodes:
  out:
    type: transfer
    number: "4008001234"
    prompt: wait
"""


def test_a_transfer_rings_the_number_and_bridges_the_caller(
    workdir: Path, engine: Rtpengine, events_redis: redis.Redis, prompt_cache: Path
) -> None:
    """The number is reached at a fixed address here (`--agents`); through the edge it
    goes to a trunk's gateway (tests/integration)."""
    cid = new_cid()
    caller_rtp, far_rtp = RtpEndpoint(), RtpEndpoint()
    with ivr_controller(
        workdir,
        engine,
        events_redis,
        prompt_cache,
        flows={"transfer": TRANSFER},
        flow_for=f"{NUMBER}=transfer",
        parties=("4008001234",),
    ) as rig:
        try:
            far = start_sipp(
                "far-end",
                "ctl_agent",
                rig.controller.sip,
                workdir=workdir / "far",
                port=rig.controller.agents["4008001234"],
                keys={"rtp_port": far_rtp.port},
                pause_ms=100,
                timeout_s=30,
            )
            track(far)
            caller = rig.caller(cid, caller_rtp)
            (ringing,) = far.wait_for_log("CALL", timeout=15)
            assert f"cid={cid}" in ringing
            caller.run.wait_for_log("SETTLED", timeout=10)
            bridged = next(ln for ln in caller.run.log_lines() if ln.startswith("REINVITE "))
            to_far, to_caller = exchange(caller_rtp, media_of(bridged), far_rtp, media_of(ringing))
            assert to_far >= 48 and to_caller >= 48, (to_far, to_caller)
            assert rig.of(cid, "call.ivr_done") == [{"ivr_node": "out", "result": "transferred"}]
            assert rig.of(cid, "call.transferred") == [
                {"from_agent": "", "to_kind": "external", "to": "4008001234", "mode": "blind"}
            ]
            caller.hang_up()
            assert caller.run.wait(timeout=10) == 0, caller.run.errors()
            assert far.wait(timeout=10) == 0, far.errors()
        finally:
            caller_rtp.close()
            far_rtp.close()
