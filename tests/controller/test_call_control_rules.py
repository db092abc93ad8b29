"""Transfer, consult, intercept and originate decided on fakes: the state rules, the SIP
and media actions each step takes, the events it writes, and every refusal.

The media fake mimics what shaped the design on rtpengine 10.5: each pairing of two
tags has its own ports, stable across re-pairings, so a party is re-INVITEd exactly
when its peer changes. End-to-end runs on real processes are in test_transfer.py,
test_intercept.py and test_originate.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from analytics import build_records
from controller import CallPhase, CallService, Commands, InvalidTransitionError, MemoryPublisher
from controller._call import Call, CallLeg, LegRole, LegState
from controller._sdp import media_endpoint
from tests.controller.test_service import sdp

CID = "e" * 32
NODE = "ctl-rules"
T0 = 1_700_000_000.0
EDGE = ("127.0.0.1", 5060)


@dataclass
class Sip:
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    acd_call_ids: list[str] = field(default_factory=list)  # per INVITE: X-Huaan-Call-Id

    def answer(self, cid: str, leg_id: str, sdp_: str) -> None:
        self.actions.append(("answer", leg_id))

    def originate(
        self,
        cid: str,
        leg_id: str,
        *,
        address: tuple[str, int],
        user: str,
        sdp: str,
        caller: str | None,
        acd_call_id: str = "",
    ) -> None:
        self.acd_call_ids.append(acd_call_id)
        self.actions.append(("invite", leg_id, user, caller, address))

    def update(self, cid: str, leg_id: str, sdp_: str) -> None:
        self.actions.append(("update", leg_id))

    def answer_update(self, cid: str, leg_id: str, sdp_: str) -> None:
        self.actions.append(("answer_update", leg_id))

    def reject_update(self, cid: str, leg_id: str, code: int, reason: str) -> None:
        self.actions.append(("reject_update", leg_id, code))

    def hangup(self, cid: str, leg_id: str, reason: tuple[int, str] | None = None) -> None:
        self.actions.append(("hangup", leg_id) if reason is None else ("hangup", leg_id, reason))

    def since(self, mark: int) -> list[tuple[Any, ...]]:
        return self.actions[mark:]


@dataclass
class Media:
    """rtpengine's pairing model: port(tag, peer) is fixed per pairing."""

    ops: list[tuple[str, ...]] = field(default_factory=list)
    ports: dict[tuple[str, str], int] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)

    def _port(self, tag: str, peer: str) -> int:
        return self.ports.setdefault((tag, peer), 40000 + 2 * len(self.ports))

    def _check(self, op: str) -> None:
        if op in self.fail:
            from controller import MediaError

            raise MediaError(f"{op} failed")

    def offer(self, call_id: str, from_tag: str, to_tag: str | None, sdp_: str) -> str:
        self._check("offer")
        assert to_tag is not None
        self.sessions.add(call_id)
        self.ops.append(("offer", from_tag, to_tag))
        return sdp(self._port(to_tag, from_tag))

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp_: str) -> str:
        self._check("answer")
        self.ops.append(("answer", from_tag, to_tag))
        return sdp(self._port(from_tag, to_tag))

    def play(self, call_id: str, tag: str, file: str) -> None:
        self._check("play")
        self.ops.append(("play", tag, file))

    def stop_media(self, call_id: str, tag: str) -> None:
        self.ops.append(("stop", tag))

    def block(self, call_id: str, tag: str) -> None:
        self.ops.append(("block", tag))

    def delete(self, call_id: str) -> None:
        self.ops.append(("delete",))
        self.sessions.discard(call_id)

    def list_calls(self) -> list[str]:
        return sorted(self.sessions)

    def since(self, mark: int) -> list[tuple[str, ...]]:
        return self.ops[mark:]


@dataclass
class Timer:
    delay_s: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def leg_id(self) -> str:
        return str(self.callback.args[1])  # type: ignore[attr-defined]


@dataclass
class Timers:
    all: list[Timer] = field(default_factory=list)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(delay_s, callback)
        self.all.append(timer)
        return timer

    def live(self) -> list[Timer]:
        return [t for t in self.all if not t.cancelled]

    def fire(self, leg_id: str) -> None:
        (timer,) = [t for t in self.live() if t.leg_id == leg_id]
        timer.cancelled = True
        timer.callback()


class World:
    """The service on fakes; without an edge, agents outside `agents` are unknown."""

    def __init__(self, *, edge: tuple[str, int] | None = None) -> None:
        self.sip, self.media, self.timers = Sip(), Media(), Timers()
        self.published = MemoryPublisher()
        ticks = itertools.count()
        self.service = CallService(
            self.sip,
            self.media,
            self.timers,
            edge=edge,
            agents={"1001": ("h", 1), "1002": ("h", 2), "2001": ("h", 3)},
            events=self.published,
            node=NODE,
            clock=lambda: T0 + next(ticks),
        )
        self.commands = Commands(self.service, self.media, lambda: {})

    @property
    def call(self) -> Call:
        return self.service.calls[CID]

    def leg(self, leg_id: str) -> CallLeg:
        leg = self.call.leg(leg_id)
        assert leg is not None
        return leg

    def events(self) -> list[tuple[str, dict[str, str]]]:
        for event in self.published.events:
            assert (event.correlation_id, event.node) == (CID, NODE)
        return [(e.kind, dict(e.data)) for e in self.published.events]

    def kinds(self, start: int = 0) -> list[str]:
        return [kind for kind, _ in self.events()[start:]]

    def cmd(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self.commands.execute({"cmd": cmd, **args})

    def settle(self) -> None:
        """Every party answers the re-INVITEs it has, with the SDP it had."""
        while True:
            pending = [leg for leg in self.call.legs() if leg.pending_update]
            if not pending:
                return
            for leg in pending:
                self.service.answered(CID, leg.leg_id, leg.remote_sdp)

    def inbound_bridged(self, agent: str = "1001") -> None:
        self.service.incoming(CID, sdp(4000), "13912345678", "95598", "billing")
        self.service.connect(CID, [agent])
        self.service.answered(CID, "L2", sdp(5002))
        self.settle()
        assert self.call.state is CallPhase.BRIDGED


@pytest.fixture
def w() -> World:
    return World()


@pytest.fixture
def out() -> World:
    """A world with an edge, which originated calls need."""
    return World(edge=EDGE)


def ev(kind: str, **data: str) -> tuple[str, dict[str, str]]:
    return (f"call.{kind}", data)


def transferred(from_agent: str, to: str, mode: str) -> tuple[str, dict[str, str]]:
    return ev("transferred", from_agent=from_agent, to_kind="agent", to=to, mode=mode)


def port_of(text: str) -> int:
    endpoint = media_endpoint(text)
    assert endpoint is not None
    return endpoint[1]


# ------------------------------------------------------------------ the pure model
def test_transition_table_has_the_new_states_and_nothing_more() -> None:
    call = Call(CID, CallLeg("L1", LegRole.CALLER, LegState.ANSWERED), state=CallPhase.BRIDGED)
    for target in (CallPhase.CONSULT_RINGING, CallPhase.INTERCEPTING, CallPhase.PARKED):
        call.state = CallPhase.BRIDGED
        call.transition(target)
    refused = [
        (CallPhase.PARKED, CallPhase.CONSULTING),
        (CallPhase.RINGING, CallPhase.CONSULT_RINGING),
        (CallPhase.CONSULTING, CallPhase.RINGING),
        (CallPhase.CONSULTING, CallPhase.CONSULT_RINGING),
        (CallPhase.INTERCEPTING, CallPhase.CONSULTING),
        (CallPhase.ORIGINATING, CallPhase.BRIDGED),
        (CallPhase.DIALING, CallPhase.PARKED),
        (CallPhase.NEW, CallPhase.ORIGINATING),
    ]
    for start, target in refused:
        call.state = start
        with pytest.raises(InvalidTransitionError, match="is not allowed"):
            call.transition(target)
    call.state = CallPhase.CONSULT_RINGING
    call.transition(CallPhase.RINGING)  # the agent hung up; the target rings for the caller


def test_who_hears_whom_per_state_and_the_consult_slot() -> None:
    call = Call(CID, CallLeg("L1", LegRole.CALLER, LegState.ANSWERED), state=CallPhase.BRIDGED)
    agent = call.new_agent_leg("1001")
    target = call.new_consult_leg("1002")
    assert (agent.leg_id, target.leg_id) == ("L2", "L3")
    assert call.peer_of(call.caller) is agent and call.peer_of(target) is None
    call.state = CallPhase.CONSULT_RINGING
    assert call.peer_of(call.caller) is None and call.peer_of(agent) is None
    call.state = CallPhase.CONSULTING
    assert call.peer_of(agent) is target and call.peer_of(call.caller) is None
    assert [leg["role"] for leg in call.describe()["legs"]] == [  # type: ignore[index]
        "caller",
        "agent",
        "consult",
    ]
    assert call.promote_consult() is target and call.agent is target and call.consult is None
    with pytest.raises(InvalidTransitionError, match="no consult leg"):
        call.promote_consult()


# --------------------------------------------------------------- blind transfer
def test_blind_transfer_hangs_up_the_agent_parks_the_caller_and_rings_the_target(w: World) -> None:
    w.inbound_bridged()
    sip, ops = len(w.sip.actions), len(w.media.ops)
    reply = w.cmd("transfer", cid=CID, agents=["1002"], ring_timeout_s=5)
    assert reply["ok"], reply
    assert w.sip.since(sip) == [
        ("hangup", "L2"),
        ("update", "L1"),
        ("invite", "L3", "1002", "13912345678", ("h", 2)),
    ]
    assert w.media.since(ops) == [
        ("block", "L2"),
        ("offer", "L1", "park"),
        ("answer", "L1", "park"),
        ("offer", "L1", "L3"),
    ]
    assert w.call.state is CallPhase.RINGING and w.timers.live()[0].delay_s == 5
    w.service.answered(CID, "L1", sdp(4000))  # the caller takes the park re-INVITE
    w.service.answered(CID, "L3", sdp(5003))
    assert w.call.state is CallPhase.BRIDGED and w.call.agent is w.leg("L3")
    w.settle()
    w.service.ended(CID, "L1")
    assert w.events()[1:] == [
        ev("ringing", agent="1001", seat="", leg_id="L2", attempt="1"),
        ev("answered", agent="1001", seat="", leg_id="L2"),
        transferred("1001", "1002", "blind"),
        ev("ringing", agent="1002", seat="", leg_id="L3", attempt="2"),
        ev("answered", agent="1002", seat="", leg_id="L3"),
        ev("ended", cause="200", side="caller"),
    ]
    (cdr,) = build_records(w.published.events).cdrs
    assert (cdr.agent, cdr.transfers, cdr.disposition) == ("1001", 1, "answered")


def test_blind_transfer_nobody_answers_leaves_the_caller_parked(w: World) -> None:
    w.inbound_bridged()
    w.service.transfer(CID, ["1002", "nobody"])
    w.timers.fire("L3")
    assert w.call.state is CallPhase.PARKED
    assert w.call.attempts[-2:] == [("1002", "no answer"), ("nobody", "unknown agent")]
    assert w.kinds()[-2:] == ["call.ringing", "call.no_answer"]


# --------------------------------------------------------------- attended transfer
def start_consult(w: World, **args: Any) -> None:
    w.inbound_bridged()
    reply = w.cmd("consult", cid=CID, agent="1002", **args)
    assert reply["ok"], reply
    assert w.call.state is CallPhase.CONSULT_RINGING


def test_consult_parks_the_caller_and_offers_the_target_the_agents_media(w: World) -> None:
    w.inbound_bridged()
    sip, ops = len(w.sip.actions), len(w.media.ops)
    w.service.consult(CID, "1002", hold_file="/prompts/hold.wav")
    assert w.media.since(ops) == [
        ("play", "L1", "/prompts/hold.wav"),
        ("offer", "L1", "park"),
        ("answer", "L1", "park"),
        ("offer", "L2", "L3"),
    ]
    # The caller's port moves back to the park's; the target sees the agent calling.
    assert w.sip.since(sip) == [("update", "L1"), ("invite", "L3", "1002", "1001", ("h", 2))]
    w.settle()
    sip, ops = len(w.sip.actions), len(w.media.ops)
    w.service.answered(CID, "L3", sdp(5003))
    assert w.call.state is CallPhase.CONSULTING
    assert w.media.since(ops) == [("answer", "L2", "L3")]
    assert w.sip.since(sip) == [("update", "L2")], "the agent's port moved to the consult"
    assert w.call.peer_of(w.leg("L2")) is w.leg("L3")


def test_complete_transfer_bridges_caller_and_target_and_hangs_up_the_agent(w: World) -> None:
    start_consult(w, hold_file="/prompts/hold.wav")
    w.service.answered(CID, "L3", sdp(5003))
    w.settle()
    sip, ops = len(w.sip.actions), len(w.media.ops)
    assert w.cmd("complete_transfer", cid=CID)["ok"]
    assert w.media.since(ops) == [
        ("offer", "L1", "L3"),
        ("answer", "L1", "L3"),
        ("stop", "L1"),
        ("block", "L2"),
    ]
    assert w.sip.since(sip) == [("update", "L3"), ("update", "L1"), ("hangup", "L2")]
    assert w.call.state is CallPhase.BRIDGED and w.call.agent is w.leg("L3")
    assert w.call.consult is None and not w.call.held_by
    w.settle()
    w.service.hangup(CID)
    assert w.events()[3:] == [
        ev("hold"),
        ev("ringing", agent="1002", seat="", leg_id="L3", attempt="2"),
        ev("resume"),
        transferred("1001", "1002", "attended"),
        ev("answered", agent="1002", seat="", leg_id="L3"),
        ev("ended", cause="200", side="system"),
    ]
    records = build_records(w.published.events)
    (cdr,) = records.cdrs
    assert (cdr.agent, cdr.transfers, cdr.hold_s) == ("1001", 1, 2.0)
    legs = sorted(records.legs, key=lambda leg: leg.seq)
    assert [(leg.agent, leg.outcome, leg.mode) for leg in legs] == [
        ("1001", "answered", ""),
        ("1002", "answered", ""),
        ("1001", "transferred", "attended"),
    ]
    assert legs[0].ended_at == T0 + 6, "the transferring agent's leg ends with the transfer"
    assert (legs[0].talk_s, legs[0].hold_s) == (2.0, 2.0), "the consult is its hold"


def test_cancel_consult_hangs_up_the_target_and_rebridges_the_agent(w: World) -> None:
    start_consult(w)
    w.service.answered(CID, "L3", sdp(5003))
    w.settle()
    sip, ops = len(w.sip.actions), len(w.media.ops)
    assert w.cmd("cancel_consult", cid=CID)["ok"]
    assert w.media.since(ops) == [
        ("block", "L3"),
        ("offer", "L1", "L2"),
        ("answer", "L1", "L2"),
        ("stop", "L1"),
    ]
    # Both return to the ports of their first bridge: each is re-INVITEd back to it.
    assert w.sip.since(sip) == [("hangup", "L3"), ("update", "L2"), ("update", "L1")]
    assert port_of(w.leg("L1").local_sdp or "") == w.media.ports[("L1", "L2")]
    assert w.call.state is CallPhase.BRIDGED and w.call.consult is None
    assert w.kinds()[3:] == ["call.hold", "call.ringing", "call.no_answer", "call.resume"]
    assert w.call.attempts[-2:] == [("1002", "consult answered"), ("1002", "consult cancelled")]


@pytest.mark.parametrize("how", ["timeout", "refused", "cancelled"])
def test_an_unanswered_consult_goes_back_to_the_agent(w: World, how: str) -> None:
    start_consult(w)
    w.settle()
    if how == "timeout":
        w.timers.fire("L3")
        assert ("hangup", "L3") in w.sip.actions  # CANCEL
    elif how == "refused":
        w.service.failed(CID, "L3", 486, "Busy Here")
    else:
        w.service.cancel_consult(CID)
        assert ("hangup", "L3") in w.sip.actions
    assert w.call.state is CallPhase.BRIDGED and w.call.peer_of(w.call.caller) is w.leg("L2")
    assert ("block", "L3") not in w.media.ops, "an unanswered leg has no media to block"
    assert w.kinds()[-3:] == ["call.ringing", "call.no_answer", "call.resume"]
    assert not w.timers.live()


def test_the_agent_hanging_up_after_the_target_answered_completes_the_transfer(w: World) -> None:
    start_consult(w)
    w.service.answered(CID, "L3", sdp(5003))
    w.settle()
    w.service.ended(CID, "L2")
    assert w.call.state is CallPhase.BRIDGED and w.call.agent is w.leg("L3")
    assert ("hangup", "L2") not in w.sip.actions, "the agent's BYE ended its leg"
    assert w.kinds()[-3:] == ["call.resume", "call.transferred", "call.answered"]
    assert w.events()[-2][1]["mode"] == "attended"


@pytest.mark.parametrize("how", ["agent hangs up", "complete while ringing"])
def test_the_agent_leaving_before_the_target_answered_makes_it_blind(w: World, how: str) -> None:
    start_consult(w)
    w.settle()
    if how == "agent hangs up":
        w.service.ended(CID, "L2")
    else:
        w.service.complete_transfer(CID)
        assert ("hangup", "L2") in w.sip.actions
    assert w.call.state is CallPhase.RINGING and w.call.agent is w.leg("L3")
    assert w.events()[-2:] == [transferred("1001", "1002", "blind"), ev("resume")]
    ops = len(w.media.ops)
    w.service.answered(CID, "L3", sdp(5003))
    # The target was offered the agent's media: it is paired with the caller now.
    assert w.media.since(ops)[:2] == [("offer", "L1", "L3"), ("answer", "L1", "L3")]
    assert w.call.state is CallPhase.BRIDGED
    assert w.kinds()[-1] == "call.answered"


def test_the_target_hanging_up_during_the_consult_returns_the_caller_to_the_agent(w: World) -> None:
    start_consult(w)
    w.service.answered(CID, "L3", sdp(5003))
    w.settle()
    w.service.ended(CID, "L3")
    assert w.call.state is CallPhase.BRIDGED and w.call.peer_of(w.call.caller) is w.leg("L2")
    assert w.kinds()[-2:] == ["call.no_answer", "call.resume"]


def test_the_caller_hanging_up_during_a_consult_ends_every_leg(w: World) -> None:
    start_consult(w)
    w.service.answered(CID, "L3", sdp(5003))
    w.service.ended(CID, "L1")
    assert ("hangup", "L2") in w.sip.actions and ("hangup", "L3") in w.sip.actions
    assert not w.service.calls and not w.media.sessions and not w.timers.live()
    assert w.events()[-1] == ev("ended", cause="200", side="caller")


def test_reinvites_during_a_consult_go_to_the_right_party(w: World) -> None:
    start_consult(w)
    w.settle()
    w.service.reinvite(CID, "L2", sdp(5002))  # the agent alone: nobody to answer it
    assert w.sip.actions[-1] == ("reject_update", "L2", 488)
    w.service.reinvite(CID, "L1", sdp(4000))  # the parked caller: the park side answers
    assert w.sip.actions[-1] == ("answer_update", "L1")
    w.service.answered(CID, "L3", sdp(5003))
    w.settle()
    w.service.reinvite(CID, "L3", sdp(5003).replace("sendrecv", "sendonly"))
    assert w.sip.actions[-1] == ("update", "L2"), "consulting: relayed between the agents"
    result = w.cmd("complete_transfer", cid=CID)
    assert result == {
        "ok": False,
        "error": f"call {CID}: a re-INVITE between the legs is in progress; try again",
    }
    w.service.answered(CID, "L2", sdp(5002).replace("sendrecv", "recvonly"))
    assert w.sip.actions[-1] == ("answer_update", "L3")
    assert "call.hold" not in w.kinds()[4:], "the agents' own hold is not the caller's"
    assert w.cmd("complete_transfer", cid=CID)["ok"]


# ------------------------------------------------------------------------ intercept
def test_intercept_a_ringing_call_cancels_the_agent_and_rings_the_supervisor(w: World) -> None:
    w.service.incoming(CID, sdp(4000), "13912345678", "95598")
    w.service.connect(CID, ["1001", "1002"])
    assert w.cmd("intercept", cid=CID, agent="2001", ring_timeout_s=3)["ok"]
    assert w.sip.actions[-2:] == [
        ("hangup", "L2"),
        ("invite", "L3", "2001", "13912345678", ("h", 3)),
    ]
    assert [t.delay_s for t in w.timers.live()] == [3]
    w.service.answered(CID, "L3", sdp(5003))
    assert w.call.state is CallPhase.BRIDGED and w.call.agent is w.leg("L3")
    assert w.events()[1:] == [
        ev("ringing", agent="1001", seat="", leg_id="L2", attempt="1"),
        ev("no_answer", agent="1001", leg_id="L2"),
        ev("ringing", agent="2001", seat="", leg_id="L3", attempt="2"),
        ev("answered", agent="2001", seat="", leg_id="L3"),
    ]
    assert w.call.attempts == [("1001", "intercepted"), ("2001", "answered")]


def test_intercept_a_bridged_call_moves_the_caller_when_the_supervisor_answers(w: World) -> None:
    w.inbound_bridged()
    sip, ops = len(w.sip.actions), len(w.media.ops)
    w.service.intercept(CID, "2001")
    # Offered from the supervisor's own park tag: the caller's media is not touched.
    assert w.media.since(ops) == [("offer", "park-L3", "L3")]
    assert w.sip.since(sip) == [("invite", "L3", "2001", "13912345678", ("h", 3))]
    assert w.call.state is CallPhase.INTERCEPTING
    assert w.call.peer_of(w.call.caller) is w.leg("L2"), "caller and agent talk on"
    sip, ops = len(w.sip.actions), len(w.media.ops)
    w.service.answered(CID, "L3", sdp(5003))
    assert w.media.since(ops) == [("offer", "L1", "L3"), ("answer", "L1", "L3"), ("block", "L2")]
    assert w.sip.since(sip) == [("update", "L3"), ("update", "L1"), ("hangup", "L2")]
    assert w.events()[3:] == [
        ev("ringing", agent="2001", seat="", leg_id="L3", attempt="2"),
        transferred("1001", "2001", "intercept"),
        ev("answered", agent="2001", seat="", leg_id="L3"),
    ]


@pytest.mark.parametrize("how", ["timeout", "refused"])
def test_an_unanswered_intercept_leaves_the_call_untouched(w: World, how: str) -> None:
    w.inbound_bridged()
    w.service.intercept(CID, "2001")
    sip, ops = len(w.sip.actions), len(w.media.ops)
    if how == "timeout":
        w.timers.fire("L3")
        assert w.sip.since(sip) == [("hangup", "L3")]
    else:
        w.service.failed(CID, "L3", 603, "Decline")
        assert w.sip.since(sip) == []
    assert w.media.since(ops) == [], "no re-pairing: the caller never left the agent"
    assert w.call.state is CallPhase.BRIDGED and w.call.consult is None
    assert w.kinds()[-2:] == ["call.ringing", "call.no_answer"]


def test_the_agent_hanging_up_during_an_intercept_leaves_the_caller_to_the_supervisor(
    w: World,
) -> None:
    w.inbound_bridged()
    w.service.intercept(CID, "2001")
    w.service.ended(CID, "L2")
    assert w.call.state is CallPhase.RINGING and w.call.agent is w.leg("L3")
    assert w.sip.actions[-1] == ("update", "L1"), "the caller goes to park meanwhile"
    assert w.events()[-1] == transferred("1001", "2001", "intercept")
    w.settle()
    w.service.answered(CID, "L3", sdp(5003))
    assert w.call.state is CallPhase.BRIDGED and w.call.peer_of(w.call.caller) is w.leg("L3")


# ------------------------------------------------------------------------ originate
def originate(w: World, **args: Any) -> dict[str, Any]:
    reply = w.cmd(
        "originate", agent="1001", number="+8613912345678", caller_id="95598", cid=CID, **args
    )
    assert reply["ok"], reply
    return dict(reply["result"])


def test_originate_rings_the_agent_then_dials_the_customer_and_bridges(out: World) -> None:
    call = originate(out, ring_timeout_s=7)
    assert (call["state"], call["direction"]) == ("originating", "outbound")
    assert call["legs"] == [
        {
            "id": "L1",
            "role": "caller",
            "state": "pending",
            "target": "+8613912345678",
            "updating": False,
        },
        {"id": "L2", "role": "agent", "state": "calling", "target": "1001", "updating": False},
    ]
    assert out.media.ops == [("offer", "park-L2", "L2")]
    assert out.sip.actions == [("invite", "L2", "1001", "+8613912345678", ("h", 1))]
    out.service.answered(CID, "L2", sdp(5002))
    assert out.call.state is CallPhase.DIALING
    assert out.media.ops[-1] == ("offer", "L2", "L1")
    assert out.sip.actions[-1] == ("invite", "L1", "+8613912345678", "95598", EDGE)
    assert [t.delay_s for t in out.timers.live()] == [7]
    out.service.ringing(CID, "L1")
    out.service.answered(CID, "L1", sdp(4000))
    assert out.call.state is CallPhase.BRIDGED
    assert out.media.ops[-1] == ("answer", "L2", "L1")
    assert out.sip.actions[-1] == ("update", "L2"), "the agent's media moves to the customer"
    out.settle()
    out.service.ended(CID, "L1")
    assert out.events() == [
        ev("originated", agent="1001", number="+8613912345678", caller_id="95598"),
        ev("ringing", agent="1001", seat="", leg_id="L2", attempt="1"),
        ev("answered", agent="1001", seat="", leg_id="L2"),
        ev("ended", cause="200", side="caller"),
    ]
    assert not out.media.sessions


@pytest.mark.parametrize(
    ("how", "reason", "cause", "side"),
    [
        ("busy", (486, "Busy Here"), "486", "caller"),
        ("no answer", (480, "No Answer"), "no answer", "system"),
    ],
)
def test_a_customer_who_does_not_answer_ends_the_call_and_the_agent_learns_why(
    out: World, how: str, reason: tuple[int, str], cause: str, side: str
) -> None:
    originate(out)
    out.service.answered(CID, "L2", sdp(5002))
    mark = len(out.sip.actions)
    if how == "busy":
        out.service.failed(CID, "L1", 486, "Busy Here")
        assert out.sip.since(mark) == [("hangup", "L2", reason)]
    else:
        out.timers.fire("L1")
        assert out.sip.since(mark) == [("hangup", "L1"), ("hangup", "L2", reason)]
    assert not out.service.calls and not out.timers.live()
    assert out.events()[-1] == ev("ended", cause=cause, side=side)
    assert "call.answered" not in out.kinds()


@pytest.mark.parametrize(
    ("how", "cause", "side"), [("timeout", "no answer", "system"), ("refused", "603", "agent")]
)
def test_an_agent_who_does_not_answer_ends_an_originated_call_before_dialling(
    out: World, how: str, cause: str, side: str
) -> None:
    originate(out)
    if how == "timeout":
        out.timers.fire("L2")
    else:
        out.service.failed(CID, "L2", 603, "Decline")
    assert [a for a in out.sip.actions if a[1] == "L1"] == [], "the customer is never dialled"
    assert out.events()[1:] == [
        ev("ringing", agent="1001", seat="", leg_id="L2", attempt="1"),
        ev("no_answer", agent="1001", leg_id="L2"),
        ev("ended", cause=cause, side=side),
    ]


def test_the_agent_giving_up_while_the_customer_rings_cancels_the_customer(out: World) -> None:
    originate(out)
    out.service.answered(CID, "L2", sdp(5002))
    out.service.ended(CID, "L2")
    assert out.sip.actions[-1] == ("hangup", "L1")
    assert out.events()[-1] == ev("ended", cause="200", side="agent")


def test_hangup_of_an_originated_call_before_the_customer_answers(out: World) -> None:
    originate(out)
    assert out.cmd("hangup", cid=CID)["ok"]
    assert out.sip.actions[-1] == ("hangup", "L2")
    assert out.events()[-1] == ev("ended", cause="487", side="system")


def test_an_answered_originated_call_can_be_transferred(out: World) -> None:
    originate(out)
    out.service.answered(CID, "L2", sdp(5002))
    out.service.answered(CID, "L1", sdp(4000))
    out.settle()
    out.service.transfer(CID, ["1002"])
    assert out.sip.actions[-1] == ("invite", "L3", "1002", "+8613912345678", ("h", 2))


# ------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"cmd": "transfer", "cid": "nope", "agents": ["1002"]}, "no such call nope"),
        ({"cmd": "transfer", "cid": CID}, "transfer needs 'agents': a list of agent ids"),
        ({"cmd": "transfer", "cid": CID, "agents": []}, "transfer needs at least one agent"),
        (
            {"cmd": "transfer", "cid": CID, "agents": ["1001"]},
            f"agent 1001 is already on call {CID}",
        ),
        (
            {"cmd": "transfer", "cid": CID, "agents": ["x", "y"]},
            "unknown agent(s) x,y: nobody to transfer to",
        ),
        (
            {"cmd": "transfer", "cid": CID, "agents": ["1002"], "ring_timeout_s": 0},
            "ring_timeout_s must be a number of seconds above 0",
        ),
        ({"cmd": "consult", "cid": CID}, "missing argument 'agent'"),
        ({"cmd": "consult", "cid": CID, "agent": "1001"}, f"agent 1001 is already on call {CID}"),
        ({"cmd": "consult", "cid": CID, "agent": "x"}, "unknown agent x"),
        (
            {"cmd": "consult", "cid": CID, "agent": "1002", "hold_file": ""},
            "hold_file must be a non-empty string",
        ),
        (
            {"cmd": "complete_transfer", "cid": CID},
            f"call {CID} is bridged; this needs consulting, consult_ringing",
        ),
        (
            {"cmd": "cancel_consult", "cid": CID},
            f"call {CID} is bridged; this needs consult_ringing, consulting",
        ),
        ({"cmd": "intercept", "cid": CID, "agent": "1001"}, f"agent 1001 is already on call {CID}"),
        ({"cmd": "intercept", "cid": CID, "agent": "x"}, "unknown agent x"),
        (
            {"cmd": "intercept", "cid": CID, "agent": "2001", "ring_timeout_s": "soon"},
            "ring_timeout_s must be a number of seconds above 0",
        ),
        (
            {"cmd": "hangup", "cid": CID, "code": 499},
            "code must be one of [403, 404, 480, 486, 503, 603]",
        ),
        (
            {"cmd": "hangup", "cid": CID, "code": "486"},
            "code must be one of [403, 404, 480, 486, 503, 603]",
        ),
    ],
)
def test_refused_commands_say_why_and_change_nothing(
    w: World, request_: dict[str, Any], error: str
) -> None:
    w.inbound_bridged()
    before = (w.call.describe(), len(w.sip.actions), len(w.media.ops), len(w.events()))
    assert w.commands.execute(request_) == {"ok": False, "error": error}
    assert before == (w.call.describe(), len(w.sip.actions), len(w.media.ops), len(w.events()))


@pytest.mark.parametrize(
    ("cmd", "states"),
    [("transfer", "bridged"), ("consult", "bridged"), ("intercept", "ringing, bridged")],
)
def test_transfer_consult_and_intercept_need_a_connected_call(
    w: World, cmd: str, states: str
) -> None:
    w.service.incoming(CID, sdp(4000), "139", "95598")
    w.service.answer(CID)
    reply = w.cmd(cmd, cid=CID, agent="1002", agents=["1002"])
    assert reply == {"ok": False, "error": f"call {CID} is parked; this needs {states}"}


def test_commands_on_a_consulting_or_intercepting_call_are_refused(w: World) -> None:
    start_consult(w)
    for cmd in ("transfer", "consult", "intercept", "release"):
        reply = w.cmd(cmd, cid=CID, agent="2001", agents=["2001"])
        assert not reply["ok"] and "is consult_ringing" in reply["error"], (cmd, reply)
    w.service.cancel_consult(CID)
    w.service.intercept(CID, "2001")
    reply = w.cmd("consult", cid=CID, agent="1002")
    assert reply == {"ok": False, "error": f"call {CID} is intercepting; this needs bridged"}


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"cmd": "originate", "number": "123"}, "missing argument 'agent'"),
        ({"cmd": "originate", "agent": "1001"}, "missing argument 'number'"),
        (
            {"cmd": "originate", "agent": "1001", "number": "12; drop"},
            "bad number '12; drop': digits, optionally with a leading +",
        ),
        (
            {"cmd": "originate", "agent": "1001", "number": "123", "caller_id": "x"},
            "bad caller_id 'x': digits, optionally with a leading +",
        ),
        (
            {"cmd": "originate", "agent": "1001", "number": "123", "cid": CID},
            f"call {CID} already exists",
        ),
        (
            {"cmd": "originate", "agent": "1001", "number": "123", "cid": "short"},
            "bad cid 'short': 8-64 of 0-9 A-Z a-z . _ -, not all zeros",
        ),
        (
            {"cmd": "originate", "agent": "1001", "number": "123", "ring_timeout_s": -1},
            "ring_timeout_s must be a number of seconds above 0",
        ),
    ],
)
def test_refused_originates_say_why_and_create_nothing(
    out: World, request_: dict[str, Any], error: str
) -> None:
    originate(out)  # the call CID exists
    calls, events = len(out.service.calls), len(out.events())
    assert out.commands.execute(request_) == {"ok": False, "error": error}
    assert (len(out.service.calls), len(out.events())) == (calls, events)


def test_originate_without_an_edge_is_refused() -> None:
    w = World(edge=None)
    assert w.cmd("originate", agent="1001", number="123") == {
        "ok": False,
        "error": "originate needs the SIP edge (--edge): external numbers are dialled through it",
    }
    assert not w.service.calls and not w.published.events


def test_a_hold_file_rtpengine_cannot_play_refuses_the_consult(w: World) -> None:
    w.inbound_bridged()
    w.media.fail.add("play")
    assert w.cmd("consult", cid=CID, agent="1002", hold_file="/nope.wav") == {
        "ok": False,
        "error": "play failed",
    }
    assert w.call.state is CallPhase.BRIDGED and w.call.consult is None


def test_a_media_failure_during_a_consult_ends_the_call_cleanly(w: World) -> None:
    start_consult(w)
    w.service.answered(CID, "L3", sdp(5003))
    w.media.fail.add("offer")
    w.service.complete_transfer(CID)
    assert not w.service.calls and not w.timers.live()
    assert {("hangup", "L2"), ("hangup", "L3")} <= set(w.sip.actions)
    assert w.events()[-1] == ev("ended", cause="media failure", side="system")


def test_a_hold_ends_when_the_agent_leaves_an_intercepted_caller_parked(w: World) -> None:
    w.inbound_bridged()
    w.service.reinvite(CID, "L1", sdp(4000).replace("sendrecv", "sendonly"))  # caller holds
    w.service.answered(CID, "L2", sdp(5002).replace("sendrecv", "recvonly"))
    assert w.call.held_by == {"L1"}
    w.service.intercept(CID, "2001")
    w.service.ended(CID, "L2")
    assert w.call.state is CallPhase.RINGING and not w.call.held_by
    assert w.kinds()[-3:] == ["call.ringing", "call.transferred", "call.resume"]


@pytest.mark.parametrize(
    ("args", "final", "cause"),
    [
        ({}, None, "480"),  # the default refusal; the adapter sends 480
        ({"code": 486}, (486, "Busy Here"), "486"),
    ],
)
def test_hangup_refuses_an_unanswered_caller_with_the_code_given(
    w: World, args: dict[str, Any], final: tuple[int, str] | None, cause: str
) -> None:
    w.service.incoming(CID, sdp(4000), "1001", "1002", "internal")
    assert w.cmd("hangup", cid=CID, **args)["ok"]
    assert w.sip.actions[-1] == (("hangup", "L1") if final is None else ("hangup", "L1", final))
    assert w.events()[-1] == ("call.ended", {"cause": cause, "side": "system"})


def test_hangup_code_does_not_apply_once_the_caller_is_answered(w: World) -> None:
    w.inbound_bridged()
    assert w.cmd("hangup", cid=CID, code=486)["ok"]
    assert ("hangup", "L1") in w.sip.actions  # a plain BYE
    assert w.events()[-1] == ("call.ended", {"cause": "200", "side": "system"})


# ------------------------------------------------------------- X-Huaan-Call-Id
def test_each_agent_invite_names_the_acd_call_it_rings_for(w: World, out: World) -> None:
    """The `acd_call_id` of connect, transfer, consult, intercept and originate goes on
    the INVITE (X-Huaan-Call-Id); a command without one sends none."""
    w.service.incoming(CID, sdp(4000), "13912345678", "95598", "billing")
    assert w.cmd("connect", cid=CID, agents=["1001"], acd_call_id=CID)["ok"]
    w.service.answered(CID, "L2", sdp(5002))
    w.settle()
    assert w.cmd("consult", cid=CID, agent="1002", acd_call_id=f"{CID}.consult1")["ok"]
    assert w.cmd("cancel_consult", cid=CID)["ok"]
    w.settle()
    assert w.cmd("intercept", cid=CID, agent="2001", acd_call_id=f"{CID}.intercept2")["ok"]
    assert w.cmd("cancel_intercept", cid=CID)["ok"]
    w.settle()
    assert w.cmd("transfer", cid=CID, agents=["1002"])["ok"]  # an operator's: no ID
    assert w.sip.acd_call_ids == [CID, f"{CID}.consult1", f"{CID}.intercept2", ""]
    originate(out, acd_call_id="r-out-1")
    assert out.sip.acd_call_ids == ["r-out-1"]
    bad = w.cmd("connect", cid=CID, agents=["1001"], acd_call_id="x\r\nVia: evil")
    assert not bad["ok"] and "acd_call_id must be" in bad["error"]
