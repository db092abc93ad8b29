"""Consult and intercept reserve their target at the ACD: the driver's logic against
fakes (as in test_driver_logic.py), and the ringback tone. The same paths with every
process real are in test_intercept_via_acd.py.

The fake controller below answers `consult`, `intercept` and friends with the events
the real service publishes for them (docs/call-control.md, sections 4 and 5).
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from acd_api.v1 import acd_pb2 as pb
from controller._ringback import (
    ON_S,
    SAMPLE_RATE,
    ringback_file,
    ringback_samples,
    ringback_tone,
)
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_NO_ANSWER,
    CALL_RINGING,
    CALL_TRANSFERRED,
    Event,
)
from tests.controller.acd_driver.test_driver_logic import CID, World, action, enqueued_with, offer
from tests.controller.test_call_control_rules import CID as SCID
from tests.controller.test_call_control_rules import World as Service
from tests.controller.test_service import sdp


class FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    """No replica answered."""


CONSULT_ID = f"{CID}.consult1"
INTERCEPT_ID = f"{CID}.intercept1"


class Controller(World):
    """World, with a controller that also knows consult and intercept."""

    def __init__(self) -> None:
        super().__init__()
        self.state = "new"
        self.side_leg: str | None = None
        self.refuse_check: str | None = None

    def execute(self, request: Mapping[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        if cmd == "connect":
            self.state = "ringing"
        elif cmd.startswith("check_"):
            self.commands.append(dict(request))
            if self.refuse_check:
                return {"ok": False, "error": self.refuse_check}
            return {"ok": True, "result": {"cid": CID}}
        elif cmd == "call":
            return {"ok": True, "result": {"cid": CID, "state": self.state}}
        elif cmd in ("consult", "intercept"):
            self.commands.append(dict(request))
            if cmd == "intercept" and self.state == "ringing":
                for leg, agent in list(self.ringing.items()):
                    del self.ringing[leg]
                    self.emit(CALL_NO_ANSWER, agent=agent, leg_id=leg)
            else:
                self.state = "consult_ringing" if cmd == "consult" else "intercepting"
            self.legs += 1
            self.side_leg = f"L{self.legs}"
            self.emit(
                CALL_RINGING, agent=request["agent"], seat="", leg_id=self.side_leg, attempt="2"
            )
            return {"ok": True, "result": {"cid": CID}}
        elif cmd in ("cancel_consult", "cancel_intercept") or (
            cmd == "release" and self.side_leg is not None
        ):
            self.commands.append(dict(request))
            self.side_gone()
            return {"ok": True, "result": {"cid": CID}}
        return super().execute(request)

    def side_gone(self) -> None:
        assert self.side_leg is not None
        self.emit(CALL_NO_ANSWER, agent="2001", leg_id=self.side_leg)
        self.side_leg = None

    def command(self, **request: Any) -> dict[str, Any]:
        """What the control socket's thread does: the driver's gate, the loop inline."""
        reply = self.driver.command({"cid": CID, **request}, lambda fn: fn())
        self.run()
        return reply

    def bridged_with_1001(self) -> None:
        self.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
        self.arrive()
        self.ringing.clear()
        self.emit(CALL_ANSWERED, agent="1001", seat="1", leg_id="L2")
        self.state = "bridged"
        self.run()

    def reserves(self, rid: str, eid: int = 2001, commit: str = "7-0") -> None:
        self.replies["ReserveForInternalCall"] = lambda r: pb.ReserveForInternalCallResponse(
            actions=[offer(commit, eid, cid=rid)]
        )


def _methods(w: World) -> list[tuple[str, str]]:
    return [(m, r.call_id) for m, r in w.rpcs() if m != "Enqueue"]


def test_consult_reserves_the_target_first_and_rings_it_for_less_than_the_acd() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.reserves(CONSULT_ID, 1002)
    assert w.driver.acd_call_ids() == []
    w.driver.calls[CID].call_data = {"ivr_path": "main>agent"}  # as the IVR handed it over
    reply = w.command(cmd="consult", agent="1002", ring_timeout_s=30)
    assert reply["ok"], reply
    (reserve,) = w.rpcs("ReserveForInternalCall")
    assert dict(reserve.call_data) == {"ivr_path": "main>agent"}, "the target's desk shows it"
    assert (reserve.call_id, reserve.username, reserve.kind, reserve.caller) == (
        CONSULT_ID,
        "1002",
        pb.CALL_KIND_INTERNAL,
        "1001",
    )
    # Checked first (nothing reserved for a command the call refuses), then rung for
    # the ACD's 20 s less the margin, not the 30 s asked for.
    assert [c["cmd"] for c in w.commands][-2:] == ["check_consult", "consult"]
    assert w.commands[-1]["ring_timeout_s"] == 19.5
    assert w.commands[-1]["acd_call_id"] == CONSULT_ID  # the target phone's X-Huaan-Call-Id
    assert w.driver.acd_call_ids() == [CONSULT_ID]


class MusicHold:
    """Music on hold that knows one file per queue (QueueMedia.music)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def parked(self, cid: str, queue: str, language: str | None = None) -> None:
        return None

    def music(self, queue: str) -> Path | None:
        return self.files.get(queue)

    def observe(self, event: Event) -> None:
        return None

    def close(self) -> None:
        return None


def test_the_caller_parked_by_a_consult_hears_its_queues_music_unless_a_file_is_given() -> None:
    """A desk's consult (desktop/_controllers.py) names no hold file: the caller hears its
    queue's music; a command that names one keeps it; without music, none is sent."""
    music = Path("/var/lib/music/billing.wav")
    for hold, given, played in (
        (MusicHold({"billing": music}), None, str(music)),
        (MusicHold({"billing": music}), "/tmp/own.wav", "/tmp/own.wav"),
        (MusicHold({}), None, None),
        (None, None, None),
    ):
        w = Controller()
        w.driver.hold = hold
        w.bridged_with_1001()
        w.reserves(CONSULT_ID, 1002)
        request = {"cmd": "consult", "agent": "1002"} | ({"hold_file": given} if given else {})
        assert w.command(**request)["ok"]
        assert w.commands[-1]["cmd"] == "consult"
        assert w.commands[-1].get("hold_file") == played, (hold, given)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (pb.ERROR_CODE_AGENT_NOT_AVAILABLE, "AGENT_NOT_AVAILABLE"),
        (pb.ERROR_CODE_NOT_LOGGED_IN, "NOT_LOGGED_IN"),
    ],
)
def test_a_refused_reservation_is_the_commands_error_and_rings_nobody(code: int, name: str) -> None:
    w = Controller()
    w.bridged_with_1001()
    w.replies["ReserveForInternalCall"] = lambda r: pb.ReserveForInternalCallResponse(
        error=pb.Error(code=code, message="employee 2001 is talking")
    )  # type: ignore[arg-type]
    reply = w.command(cmd="intercept", agent="2001")
    assert reply == {
        "ok": False,
        "acd_error": name,
        "error": f"the ACD refused 2001 for the intercept: {name} (employee 2001 is talking)",
    }
    assert [c["cmd"] for c in w.commands][-1] == "check_intercept"
    assert _methods(w)[-1] == ("ReserveForInternalCall", INTERCEPT_ID)
    assert w.driver.acd_call_ids() == [] and w.driver.calls[CID].side is None


def test_a_command_the_call_refuses_never_reaches_the_acd() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.refuse_check = f"call {CID} is ringing; this needs bridged"
    assert w.command(cmd="consult", agent="1002") == {"ok": False, "error": w.refuse_check}
    assert w.rpcs("ReserveForInternalCall") == []


def test_an_unanswered_reservation_is_undone_and_refused() -> None:
    w = Controller()
    w.bridged_with_1001()

    def unreachable(request: Any) -> Message:
        raise FakeRpcError

    w.replies["ReserveForInternalCall"] = unreachable
    reply = w.command(cmd="consult", agent="1002")
    assert not reply["ok"] and "did not reserve 1002" in reply["error"]
    # It may have committed before the reply was lost: undone.
    assert _methods(w)[-1] == ("Abandon", CONSULT_ID)
    assert w.cmds("consult") == []


def test_consult_answered_completed_the_agent_wraps_up_and_the_target_carries_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "controller.acd")
    w = Controller()
    w.bridged_with_1001()
    w.reserves(CONSULT_ID, 1002)
    w.command(cmd="consult", agent="1002")
    w.driver.consult_answered(CID, "L3", "1002")  # the service's hook
    w.run()
    assert _methods(w)[-1] == ("Answered", CONSULT_ID)
    # complete_transfer: the agent's ACD call ends (it wraps up), the target's goes on.
    w.emit(CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="1002", mode="attended")
    w.emit(CALL_ANSWERED, agent="1002", seat="", leg_id="L3")
    w.run()
    (hangup,) = w.rpcs("Hangup")
    assert (hangup.call_id, hangup.side) == (CID, pb.HANGUP_SIDE_AGENT)
    assert w.rpcs("Answered")[-1].call_id == CONSULT_ID  # not reported twice
    assert len(w.rpcs("Answered")) == 2
    w.feed(action("8-0", release=pb.Release(call_id=CID, employee_id=1001)))  # stale
    assert w.cmds("release") == []
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert _methods(w)[-1] == ("Hangup", CONSULT_ID)
    assert w.driver.acd_call_ids() == []
    assert caplog.text == ""


def test_a_cancelled_consult_is_a_no_answer_and_its_undelivered_is_no_news() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.reserves(CONSULT_ID, 1002)
    w.command(cmd="consult", agent="1002")
    w.replies["NoAnswer"] = lambda r: pb.NoAnswerResponse(
        actions=[action("9-0", undelivered=pb.Undelivered(call_id=CONSULT_ID, reason="NO_ANSWER"))]
    )
    assert w.command(cmd="cancel_consult")["ok"]
    assert _methods(w)[-1] == ("NoAnswer", CONSULT_ID)
    assert [c["cmd"] for c in w.commands][-1] == "cancel_consult"  # no hangup
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert _methods(w)[-1] == ("Hangup", CID)


def test_a_consult_target_hanging_up_after_answering_is_a_hangup_of_its_reservation() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.reserves(CONSULT_ID, 1002)
    w.command(cmd="consult", agent="1002")
    w.driver.consult_answered(CID, "L3", "1002")
    w.side_gone()  # its BYE: the caller goes back to 1001
    w.run()
    assert _methods(w)[-2:] == [("Answered", CONSULT_ID), ("Hangup", CONSULT_ID)]


def test_intercept_of_a_bridged_call_the_supervisor_answers() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.reserves(INTERCEPT_ID)
    assert w.command(cmd="intercept", agent="2001")["ok"]
    (reserve,) = w.rpcs("ReserveForInternalCall")
    assert (reserve.kind, reserve.caller) == (pb.CALL_KIND_INTERCEPT, "139")
    w.emit(CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="2001", mode="intercept")
    w.emit(CALL_ANSWERED, agent="2001", seat="", leg_id="L3")
    w.run()
    assert _methods(w)[-2:] == [("Answered", INTERCEPT_ID), ("Hangup", CID)]
    assert w.rpcs("Answered")[-1].employee_id == 2001
    w.emit(CALL_ENDED, cause="200", side="agent")
    w.run()
    assert _methods(w)[-1] == ("Hangup", INTERCEPT_ID)


def test_the_caller_hanging_up_while_the_supervisor_rings_frees_both() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.reserves(INTERCEPT_ID)
    w.command(cmd="intercept", agent="2001")
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert _methods(w)[-2:] == [("Abandon", INTERCEPT_ID), ("Hangup", CID)]
    assert w.driver.acd_call_ids() == []


def test_intercept_of_a_ringing_call_abandons_the_agents_ring_not_a_no_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = Controller()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    w.reserves(INTERCEPT_ID)
    with caplog.at_level(logging.WARNING, "controller.acd"):
        assert w.command(cmd="intercept", agent="2001")["ok"]
    assert _methods(w)[-2:] == [("ReserveForInternalCall", INTERCEPT_ID), ("Abandon", CID)]
    assert w.rpcs("NoAnswer") == []
    w.feed(offer("8-0", 1002))  # the old call's, should the ACD have re-offered it
    assert len(w.cmds("connect")) == 1
    # The supervisor does not answer: nobody has the caller, and the ACD no call for it.
    w.side_gone()
    w.run()
    assert dict(w.published[-1].data) == {"cause": "undelivered:NO_ANSWER", "side": "system"}
    assert _methods(w)[-1] == ("NoAnswer", INTERCEPT_ID)
    assert "not offered the call" not in caplog.text


def test_intercept_of_a_ringing_call_answered_then_ended() -> None:
    w = Controller()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    w.reserves(INTERCEPT_ID)
    w.command(cmd="intercept", agent="2001")
    w.emit(CALL_ANSWERED, agent="2001", seat="", leg_id="L3")
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert _methods(w)[-3:] == [
        ("Abandon", CID),
        ("Answered", INTERCEPT_ID),
        ("Hangup", INTERCEPT_ID),
    ]


def test_the_agent_leaving_for_a_target_that_does_not_answer_requeues_the_call() -> None:
    """Hang up to transfer while the target rings, and it never answers: the caller goes
    back to the front of its queue and the next agent is offered it."""
    w = Controller()
    w.bridged_with_1001()
    w.reserves(CONSULT_ID, 1002)
    w.command(cmd="consult", agent="1002")
    w.emit(CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="1002", mode="blind")
    w.run()
    assert w.rpcs("Hangup") == []  # 1001 stays on the ACD's books while 1002 rings
    w.replies["TransferToQueue"] = lambda r: pb.TransferToQueueResponse(
        actions=[
            action("9-0", release=pb.Release(call_id=CID, employee_id=1001, queue="billing")),
            offer("9-0", 1003),
        ]
    )
    w.reachable.add("1003")
    w.state = "parked"
    w.side_gone()
    w.run()
    (requeue,) = w.rpcs("TransferToQueue")
    assert (requeue.call_id, requeue.queue) == (CID, "billing")
    assert [c["cmd"] for c in w.commands][-1] == "connect"
    assert w.cmds("connect")[-1]["agents"] == ["1003"]
    assert w.cmds("release") == []


def test_cancel_ring_of_the_target_stops_its_ring_and_reports_nothing_back() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.reserves(CONSULT_ID, 1002)
    w.command(cmd="consult", agent="1002")
    w.feed(
        action(
            "9-0",
            cancel_ring=pb.CancelRing(call_id=CONSULT_ID, employee_id=1002, reason="LOGGED_OUT"),
        )
    )
    assert [c["cmd"] for c in w.commands][-1] == "cancel_consult"
    assert w.rpcs("NoAnswer") == []
    assert w.driver.acd_call_ids() == []


def test_a_call_that_ends_while_its_reservation_is_on_its_way_undoes_it() -> None:
    w = Controller()
    w.bridged_with_1001()

    def reserve_while_the_caller_leaves(request: Any) -> Message:
        w.emit(CALL_ENDED, cause="200", side="caller")
        return pb.ReserveForInternalCallResponse(actions=[offer("7-0", 2001, cid=INTERCEPT_ID)])

    w.replies["ReserveForInternalCall"] = reserve_while_the_caller_leaves
    reply = w.command(cmd="intercept", agent="2001")
    assert reply == {"ok": False, "error": f"no such call {CID}"}
    assert sorted(_methods(w)[-2:]) == [("Abandon", INTERCEPT_ID), ("Hangup", CID)]
    assert w.driver.acd_call_ids() == []


def test_blind_transfer_and_internal_calls_are_refused_on_driven_calls() -> None:
    w = Controller()
    w.bridged_with_1001()
    reply = w.command(cmd="transfer", agents=["1002"])
    assert not reply["ok"] and "TransferToAgent" in reply["error"]
    internal = Controller()
    internal.replies["ReserveForInternalCall"] = lambda r: pb.ReserveForInternalCallResponse(
        actions=[offer("5-0", 1002)]
    )
    internal.emit(CALL_ARRIVED, trunk="", caller="1001", dialled="1002", category="internal")
    internal.run()
    reply = internal.command(cmd="intercept", agent="2001")
    assert not reply["ok"] and "internal call" in reply["error"]


def test_an_internal_call_plays_the_ringback_while_the_callee_rings(tmp_path: Path) -> None:
    w = Controller()
    w.driver.ringback = str(tmp_path / "tone.wav")
    w.replies["ReserveForInternalCall"] = lambda r: pb.ReserveForInternalCallResponse(
        actions=[offer("5-0", 1002)]
    )
    w.emit(CALL_ARRIVED, trunk="", caller="1001", dialled="1002", category="internal")
    w.run()
    assert [c["cmd"] for c in w.commands] == ["connect", "play"]
    assert w.commands[-1]["file"] == str(tmp_path / "tone.wav")
    queue = Controller()
    queue.driver.ringback = "x.wav"
    queue.bridged_with_1001()
    assert queue.cmds("play") == []  # queue callers hear the music instead


def test_the_ringback_tone_is_one_second_on_four_off(tmp_path: Path) -> None:
    samples = ringback_samples(cycles=2)
    on = int(ON_S * SAMPLE_RATE)
    assert len(samples) == 2 * 5 * SAMPLE_RATE
    assert max(samples[:on]) > 10_000 and set(samples[on : 5 * SAMPLE_RATE]) == {0}
    path = ringback_tone(tmp_path)
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() >= 60 * SAMPLE_RATE
    assert ringback_tone(tmp_path) == path  # written once
    assert ringback_file(None) is None
    assert ringback_file(tmp_path) == str(path)


# ------------------------------------------------ the service's side (fakes, no ACD)


def test_cancel_intercept_stops_the_supervisors_ring_and_touches_nothing_else() -> None:

    s = Service()
    s.inbound_bridged()
    assert s.cmd("cancel_intercept", cid=SCID) == {
        "ok": False,
        "error": f"call {SCID} is bridged; this needs intercepting",
    }
    s.service.intercept(SCID, "2001")
    sip, ops = len(s.sip.actions), len(s.media.ops)
    assert s.cmd("cancel_intercept", cid=SCID)["ok"]
    assert s.sip.since(sip) == [("hangup", "L3")]
    assert s.media.since(ops) == [], "the caller never left its agent"
    assert s.call.consult is None and s.call.state.value == "bridged"
    assert s.kinds()[-2:] == ["call.ringing", "call.no_answer"]


def test_the_check_commands_refuse_as_the_commands_do_and_change_nothing() -> None:

    s = Service()
    s.inbound_bridged()
    before = (s.call.describe(), len(s.sip.actions), len(s.media.ops), len(s.events()))
    assert s.cmd("check_consult", cid=SCID, agent="1002")["ok"]
    assert s.cmd("check_intercept", cid=SCID, agent="2001")["ok"]
    refusals: list[tuple[str, dict[str, Any], str]] = [
        ("check_consult", {"agent": "1001"}, f"agent 1001 is already on call {SCID}"),
        ("check_intercept", {"agent": "x"}, "unknown agent x"),
        (
            "check_consult",
            {"agent": "1002", "hold_file": ""},
            "hold_file must be a non-empty string",
        ),
        (
            "check_intercept",
            {"agent": "2001", "ring_timeout_s": 0},
            "ring_timeout_s must be a number of seconds above 0",
        ),
    ]
    for cmd, args, error in refusals:
        assert s.cmd(cmd, cid=SCID, **args) == {"ok": False, "error": error}, cmd
    assert before == (s.call.describe(), len(s.sip.actions), len(s.media.ops), len(s.events()))


def test_the_service_tells_who_answers_a_consult() -> None:

    s = Service()
    told: list[tuple[str, str, str]] = []
    s.service.on_consult_answered = lambda *a: told.append(a)
    s.inbound_bridged()
    s.service.consult(SCID, "1002")
    assert told == []
    s.settle()
    s.service.answered(SCID, "L3", sdp(5003))
    assert told == [(SCID, "L3", "1002")]


# ------------------------------------------------------ a supervisor's Intercept at the ACD


def intercept_call(
    commit: str, cid: str = CID, username: str = "2001", ring_s: float = 20.0
) -> pb.Action:
    return action(
        commit,
        intercept_call=pb.InterceptCall(
            call_id=cid,
            username=username,
            employee_id=2001,
            ring_timeout_seconds=ring_s,
            requested_by="boss",
        ),
    )


def test_the_acds_intercept_call_runs_the_intercept_path_with_the_reservation_off_the_loop() -> (
    None
):
    """InterceptCall on the feed: the command's own check on the loop, the reservation
    as an RPC job (never run inside a loop callback), then the intercept itself."""
    w = Controller()
    w.bridged_with_1001()
    w.reserves(INTERCEPT_ID)
    w.driver._on_feed_action(intercept_call("9-0", ring_s=6.0))
    assert w.rpcs("ReserveForInternalCall") == []  # only posted to the loop so far
    while w.loop:  # the loop's turn: it checks and hands the reservation to a worker
        w.loop.pop(0)()
    assert [c["cmd"] for c in w.commands[-1:]] == ["check_intercept"]
    assert w.rpcs("ReserveForInternalCall") == [] and w.jobs
    w.run()
    (reserve,) = w.rpcs("ReserveForInternalCall")
    assert (reserve.call_id, reserve.username, reserve.kind) == (
        INTERCEPT_ID,
        "2001",
        pb.CALL_KIND_INTERCEPT,
    )
    (run,) = w.cmds("intercept")
    # The ACD's 6 s, below the Offer's ring time less the margin.
    assert (run["agent"], run["ring_timeout_s"], run["acd_call_id"]) == ("2001", 6.0, INTERCEPT_ID)
    assert w.state == "intercepting"
    w.feed(intercept_call("9-0"))  # the same action again (resumed feed): once only
    assert len(w.cmds("intercept")) == 1
    # From here on, the control socket's intercept as before.
    w.emit(CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="2001", mode="intercept")
    w.emit(CALL_ANSWERED, agent="2001", seat="", leg_id="L3")
    w.run()
    assert _methods(w)[-2:] == [("Answered", INTERCEPT_ID), ("Hangup", CID)]


def test_an_intercept_call_for_another_replicas_call_is_not_taken() -> None:
    w = Controller()
    w.bridged_with_1001()
    w.feed(intercept_call("9-0", cid="elsewhere"))
    assert w.cmds("check_intercept") == [] and w.rpcs("ReserveForInternalCall") == []


@pytest.mark.parametrize("why", ["reservation refused", "call refuses", "not its acd call"])
def test_a_refused_intercept_call_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture, why: str
) -> None:
    w = Controller()
    w.bridged_with_1001()
    if why == "reservation refused":
        w.replies["ReserveForInternalCall"] = lambda r: pb.ReserveForInternalCallResponse(
            error=pb.Error(code=pb.ERROR_CODE_AGENT_NOT_AVAILABLE, message="2001 is busy")
        )
    elif why == "call refuses":
        w.refuse_check = "call is consult_ringing"
    with caplog.at_level(logging.WARNING, "controller.acd"):
        w.feed(intercept_call("9-0", cid=INTERCEPT_ID if why == "not its acd call" else CID))
    if why == "not its acd call":  # an ID the replica does not hold: filtered out
        assert w.cmds("check_intercept") == []
        return
    assert "intercept by 2001 (requested by boss) not carried out" in caplog.text
    assert w.cmds("intercept") == [] and w.state == "bridged"
    assert w.rpcs("Abandon") == []  # a refused reservation holds nothing to undo
    assert w.driver.acd_call_ids() == []
    assert len(w.rpcs("ReserveForInternalCall")) == (why == "reservation refused")
