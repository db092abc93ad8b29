"""Blind transfers the ACD makes (TransferToAgent, TransferToQueue), carried out by the
controller: the ACD's `Release` drops the agent's leg and parks the caller (music
again), and the next agent comes as an ordinary Offer.

A desk asks for a transfer with the ACD's own RPCs; the tests call them over gRPC as
a desk would. First the driver's logic against fakes, then every process real
(conftest.py): the caller and the phones are sipp, the audio goes through rtpengine.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from acd_api.v1 import acd_pb2 as pb
from analytics import build_records
from eventlog import CALL_ANSWERED, CALL_ENDED, CALL_NO_ANSWER, Event
from simulators import free_port
from testbed import Controller, exchange, media_of, wait_until
from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    CTL_NODE,
    OK,
    QUEUE,
    Party,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)
from tests.controller.acd_driver.test_driver_logic import CID, World, action, enqueued_with, offer
from tests.controller.acd_driver.test_queue_media import heard

# ---------------------------------------------------------------- driver logic (fakes)


def release(commit: str, eid: int, queue: str = "billing") -> pb.Action:
    return action(
        commit,
        release=pb.Release(
            call_id=CID,
            employee_id=eid,
            seat=eid - 1000,
            reason="TRANSFERRED",
            username=str(eid),
            queue=queue,
        ),
    )


class FakeHold:
    def __init__(self) -> None:
        self.parked_in: list[tuple[str, str]] = []
        self.languages: list[str | None] = []  # the caller's language at each parking

    def parked(self, cid: str, queue: str, language: str | None = None) -> None:
        self.parked_in.append((cid, queue))
        self.languages.append(language)

    def music(self, queue: str) -> Path | None:
        return None

    def observe(self, event: Event) -> None:
        return None

    def close(self) -> None:
        return None


def _bridged_with_1001(w: World) -> None:
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    w.ringing.clear()
    w.emit(CALL_ANSWERED, agent="1001", seat="1", leg_id="L2")
    w.run()


def test_a_transfer_to_an_agent_releases_the_leg_then_rings_the_offer() -> None:
    w = World()
    w.driver.hold = FakeHold()
    _bridged_with_1001(w)
    w.feed(release("7-0", 1001), offer("7-0", 1002))
    assert [c["cmd"] for c in w.commands] == ["answer", "connect", "release", "connect"]
    assert w.cmds("connect")[1]["agents"] == ["1002"]
    # Parked at the arrival, and again at the release: music while 1002 rings.
    assert w.driver.hold.parked_in == [(CID, "billing")] * 2
    w.ringing.clear()
    w.emit(CALL_ANSWERED, agent="1002", seat="2", leg_id="L3")
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    # 1001 was moved on by the ACD itself: only 1002's answer and the one Hangup.
    assert [(m, getattr(r, "employee_id", None)) for m, r in w.rpcs()] == [
        ("Enqueue", None),
        ("Answered", 1001),
        ("Answered", 1002),
        ("Hangup", None),
    ]
    assert [e.kind for e in w.published].count("call.transferred") == 0  # the ACD's


def test_a_transfer_to_a_queue_with_nobody_idle_parks_the_caller_in_that_queue() -> None:
    w = World()
    w.driver.hold = FakeHold()
    _bridged_with_1001(w)
    w.feed(release("7-0", 1001, queue="vip"))
    assert [c["cmd"] for c in w.commands][-1] == "release"
    assert w.driver.hold.parked_in == [(CID, "billing"), (CID, "vip")]
    assert w.driver.calls[CID].queue == "vip"
    w.emit(CALL_ENDED, cause="200", side="caller")  # gone before anyone took it
    w.run()
    assert [m for m, _ in w.rpcs()][-1] == "Abandon"


def test_a_release_for_another_agent_or_an_unanswered_call_is_ignored() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    w.feed(release("6-0", 1001))  # 1001 only rings: not a transfer of ours
    w.feed(release("7-0", 1003))
    assert w.cmds("release") == []


def test_cancel_ring_of_the_transfer_target_releases_its_ring_and_reports_nothing() -> None:
    w = World()
    _bridged_with_1001(w)
    w.feed(release("7-0", 1001), offer("7-0", 1002))
    w.feed(action("8-0", cancel_ring=pb.CancelRing(call_id=CID, employee_id=1002)))
    assert [c["cmd"] for c in w.commands][-2:] == ["connect", "release"]
    assert [e.kind for e in w.published][-1] == CALL_NO_ANSWER
    assert w.rpcs("NoAnswer") == []


def test_a_release_the_controller_cannot_carry_out_is_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = World()
    _bridged_with_1001(w)

    def refuse(request: Any) -> dict[str, Any]:
        w.commands.append(dict(request))
        return {"ok": False, "error": "call c is consulting; this needs bridged, ringing"}

    w.driver.bind(refuse)
    with caplog.at_level(logging.ERROR, "controller.acd"):
        w.feed(release("7-0", 1001))
    assert "cannot release agent 1001 (call c is consulting" in caplog.text


# ---------------------------------------------------------------- real processes


def _bridged_to(controller: Controller, cid: str, agent: str) -> bool:
    call = next((c for c in controller.cmd("calls") if c["cid"] == cid), None)
    return (
        call is not None
        and call["state"] == "bridged"
        and any(
            leg["role"] == "agent" and leg["target"] == agent and leg["state"] == "answered"
            for leg in call["legs"]
        )
    )


def _settled_media(caller: Party) -> tuple[str, int]:
    """Where the caller sends now: its last re-INVITE, once every one is ACKed."""
    wait_until(
        lambda: len(caller.lines("SETTLED")) == len(caller.lines("REINVITE ")),
        timeout=10,
        what="the caller's re-INVITEs done",
    )
    return media_of(caller.lines("REINVITE ")[-1])


def _talking_with_1001(rig: Rig, controller: Controller, cid: str, first: Party) -> Party:
    caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
    (rang,) = first.run.wait_for_log("CALL", timeout=10)
    bridged = caller.wait_bridged()
    rig.wait_agent("1001", "TALKING")
    to_agent, to_caller = exchange(caller.rtp, media_of(bridged), first.rtp, media_of(rang))
    assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)
    return caller


def _in_time_order(events: list[Event]) -> list[Event]:
    """The controller appends its events from a background thread and the ACD in its
    commit, so the log's order across the two may differ from the order things
    happened in; their `ts` (one host clock here) does not (the CDR folds by it too)."""
    return sorted(events, key=lambda e: e.ts)


def _transferred(events: list[Event]) -> list[tuple[str, dict[str, str]]]:
    return [(e.node, dict(e.data)) for e in events if e.kind == "call.transferred"]


def test_transfer_to_an_agent_the_old_leg_ends_the_new_agent_answers(rig: Rig) -> None:
    """(c) A queue call bridged to 1001; a desk asks TransferToAgent(1002): 1001's phone
    gets BYE, 1002's rings and answers, the caller hears 1002 (and only 1002); 1001
    wraps up, 1002 talks; one call.transferred, the ACD's."""
    agents = rig.agents("1001", "1002")
    first = rig.phone("1001", "acd_agent", pause_ms=200)
    second = rig.phone("1002", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, first)
        reply = rig.client.transfer_to_agent(
            pb.TransferToAgentRequest(call_id=cid, employee_id=1002)
        )
        assert reply.error.code == OK, reply
        assert [a.WhichOneof("kind") for a in reply.actions] == ["release", "offer"]
        first.run.wait_for_log("BYE", timeout=10)  # 1001's leg ends (the controller's BYE)
        (rang,) = second.run.wait_for_log("CALL", timeout=10)
        assert f"cid={cid}" in rang and "caller=13912345678" in rang
        wait_until(
            lambda: _bridged_to(controller, cid, "1002"),
            timeout=10,
            what="the caller bridged to 1002",
        )
        rig.wait_agent("1002", "TALKING")
        assert rig.state_of("1001") in ("WRAP_UP", "IDLE")
        caller.rtp.received.clear()
        to_agent, to_caller = exchange(
            caller.rtp, _settled_media(caller), second.rtp, media_of(rang)
        )
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)
        assert len(caller.rtp.received) == to_caller, "the caller hears only 1002"
        assert first.run.wait(timeout=10) == 0, first.run.errors()

        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        second.run.wait_for_log("BYE", timeout=10)
        rig.wait_agent("1002", "WRAP_UP")
        rig.wait_agent("1001", "IDLE")

    events = _in_time_order(rig.ended_events(cid))
    assert [(k, n) for k, n, _ in calls(events)] == [
        ("call.arrived", CTL_NODE),
        ("call.queued", ACD_NODE),
        ("call.ringing", CTL_NODE),
        ("call.answered", CTL_NODE),
        ("call.transferred", ACD_NODE),
        ("call.ringing", CTL_NODE),
        ("call.answered", CTL_NODE),
        ("call.ended", CTL_NODE),
    ]
    assert _transferred(events) == [
        (ACD_NODE, {"from_agent": "1001", "to_kind": "agent", "to": "1002", "mode": "blind"})
    ]
    rung = [d for k, _, d in calls(events) if k in ("call.ringing", "call.answered")]
    assert rung[2:] == [
        {"agent": "1002", "seat": "2", "leg_id": "L3", "attempt": "2"},
        {"agent": "1002", "seat": "2", "leg_id": "L3"},
    ]
    assert agent_states(events, "1001") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]
    assert agent_states(events, "1002")[:3] == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.transfers, cdr.queue) == ("answered", 1, QUEUE)
    assert [o.username for o in agents.offers] == ["1001", "1002"]


def test_transfer_to_the_queue_music_then_the_next_idle_agent(rig: Rig, workdir: Path) -> None:
    """(d) TransferToQueue with nobody idle (1002 not ready, 1001 wrapping up then on a
    break): 1001's leg ends, the call waits in billing and the caller hears the music
    again; 1002 becomes ready and is offered the call, answers, and talks."""
    agents = rig.agents("1001", "1002", busy=("1002",))
    first = rig.phone("1001", "acd_agent", pause_ms=200)
    second = rig.phone("1002", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller(
        "--prompt-cache", str(workdir / "prompts"), "--announce-every", "0"
    ) as controller:
        caller = _talking_with_1001(rig, controller, cid, first)
        reply = rig.client.transfer_to_queue(pb.TransferToQueueRequest(call_id=cid, queue=QUEUE))
        assert reply.error.code == OK, reply
        assert [a.WhichOneof("kind") for a in reply.actions] == ["release"]
        # 1001 wraps up for 1.5 s; on a break after it, so the call waits for 1002.
        assert (
            rig.client.set_busy(
                pb.SetBusyRequest(
                    employee_id=1001, session_id=agents.agents[1001].session, reason="BREAK"
                )
            ).error.code
            == OK
        )
        first.run.wait_for_log("BYE", timeout=10)
        wait_until(
            lambda: rig.queue_view().waiting == 1, timeout=5, what="the call waits in billing again"
        )
        assert controller.cmd("call", cid=cid)["state"] == "parked"
        assert rig.state_of("1001") == "BUSY"  # wrap-up cut short by its own break
        caller.rtp.received.clear()
        wait_until(
            lambda: heard(caller.rtp).count("music") >= 25,
            timeout=10,
            what="the caller hears the music on hold again",
        )

        assert (
            rig.client.set_idle(
                pb.SetIdleRequest(employee_id=1002, session_id=agents.agents[1002].session)
            ).error.code
            == OK
        )
        (rang,) = second.run.wait_for_log("CALL", timeout=10)
        wait_until(
            lambda: _bridged_to(controller, cid, "1002"),
            timeout=10,
            what="the caller bridged to 1002",
        )
        caller.rtp.received.clear()
        to_agent, to_caller = exchange(
            caller.rtp, _settled_media(caller), second.rtp, media_of(rang)
        )
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)
        assert len(caller.rtp.received) == to_caller, "the music stopped at the answer"
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        rig.wait_agent("1002", "WRAP_UP")

    events = _in_time_order(rig.ended_events(cid))
    assert [(k, n) for k, n, _ in calls(events)] == [
        ("call.arrived", CTL_NODE),
        ("call.queued", ACD_NODE),
        ("call.ringing", CTL_NODE),
        ("call.answered", CTL_NODE),
        ("call.transferred", ACD_NODE),
        ("call.queued", ACD_NODE),
        ("call.ringing", CTL_NODE),
        ("call.answered", CTL_NODE),
        ("call.ended", CTL_NODE),
    ]
    assert _transferred(events) == [
        (ACD_NODE, {"from_agent": "1001", "to_kind": "queue", "to": QUEUE, "mode": "blind"})
    ]
    assert agent_states(events, "1001")[-1] == ("talking", "wrap_up")
    assert [o.username for o in agents.offers] == ["1001", "1002"]


def test_a_transfer_into_a_queue_that_overflows_releases_the_agent_then_routes(rig: Rig) -> None:
    """Route during a transfer: `sales` has nobody with its skill and overflows to
    voicemail, so the one commit is Release then Route: 1001's leg ends first, then the
    caller is hung up with cause overflow:voicemail (no route targets yet)."""
    rig.agents("1001")
    first = rig.phone("1001", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, first)
        reply = rig.client.transfer_to_queue(pb.TransferToQueueRequest(call_id=cid, queue="sales"))
        assert [a.WhichOneof("kind") for a in reply.actions] == ["release", "route"]
        first.run.wait_for_log("BYE", timeout=10)
        caller.run.wait_for_log("BYE", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        rig.wait_agent("1001", "WRAP_UP")
    events = _in_time_order(rig.ended_events(cid))
    assert [(k, d) for k, _, d in calls(events)][-4:] == [
        (
            "call.transferred",
            {"from_agent": "1001", "to_kind": "queue", "to": "sales", "mode": "blind"},
        ),
        ("call.queued", {"queue": "sales", "priority": "0"}),
        ("call.overflow", {"from_queue": "sales", "to": "voicemail"}),
        ("call.ended", {"cause": "overflow:voicemail", "side": "system"}),
    ]


def test_cancel_ring_during_a_transfer_the_call_goes_back_to_the_queue(rig: Rig) -> None:
    """CancelRing during a transfer: 1002's phone rings for the transferred call and
    1002 logs out: the controller cancels that ring, the ACD puts the call back at the
    front of billing, and the next agent to be ready (1003) gets it and answers."""
    rig.agent_ports["1003"] = free_port()
    agents = rig.agents("1001", "1002", "1003", busy=("1003",))
    first = rig.phone("1001", "acd_agent", pause_ms=200)
    silent = rig.phone("1002", "ctl_agent_noanswer")
    third = rig.phone("1003", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, first)
        assert (
            rig.client.transfer_to_agent(
                pb.TransferToAgentRequest(call_id=cid, employee_id=1002)
            ).error.code
            == OK
        )
        assert (
            rig.client.set_busy(
                pb.SetBusyRequest(
                    employee_id=1001, session_id=agents.agents[1001].session, reason="BREAK"
                )
            ).error.code
            == OK
        )
        assert f"cid={cid}" in silent.run.wait_for_log("RANG", timeout=10)[0]
        assert (
            rig.client.logout(
                pb.LogoutRequest(employee_id=1002, session_id=agents.agents[1002].session)
            ).error.code
            == OK
        )
        silent.run.wait_for_log("CANCELLED", timeout=10)
        wait_until(
            lambda: rig.queue_view().waiting == 1, timeout=5, what="the call back in billing"
        )
        assert (
            rig.client.set_idle(
                pb.SetIdleRequest(employee_id=1003, session_id=agents.agents[1003].session)
            ).error.code
            == OK
        )
        (rang,) = third.run.wait_for_log("CALL", timeout=10)
        wait_until(
            lambda: _bridged_to(controller, cid, "1003"),
            timeout=10,
            what="the caller bridged to 1003",
        )
        to_agent, to_caller = exchange(
            caller.rtp, _settled_media(caller), third.rtp, media_of(rang)
        )
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        rig.wait_agent("1003", "WRAP_UP")
    events = _in_time_order(rig.ended_events(cid))
    assert [
        (k, d.get("agent"))
        for k, _, d in calls(events)
        if k in ("call.ringing", "call.no_answer", "call.answered")
    ] == [
        ("call.ringing", "1001"),
        ("call.answered", "1001"),
        ("call.ringing", "1002"),
        ("call.no_answer", "1002"),
        ("call.ringing", "1003"),
        ("call.answered", "1003"),
    ]
    assert len(_transferred(events)) == 1
