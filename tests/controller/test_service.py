"""The call-control service on fakes: decisions without SIP or rtpengine processes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from controller import CallPhase, CallService, InvalidTransitionError
from controller._sdp import direction, media_endpoint, park_answer, same_media
from rtpengine._bencode import BencodeError, bdecode

OFFER = (
    "v=0\r\no=c 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
)


def sdp(port: int) -> str:
    return OFFER.replace("4000", str(port)).replace("sendonly", "sendrecv")


@dataclass
class FakeSip:
    actions: list[tuple[str, ...]] = field(default_factory=list)
    acd_call_ids: list[str] = field(default_factory=list)  # per INVITE: X-Huaan-Call-Id

    def answer(self, cid: str, leg_id: str, sdp: str) -> None:
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
        self.actions.append(("originate", leg_id, user))

    def update(self, cid: str, leg_id: str, sdp: str) -> None:
        self.actions.append(("update", leg_id))

    def answer_update(self, cid: str, leg_id: str, sdp: str) -> None:
        self.actions.append(("answer_update", leg_id))

    def reject_update(self, cid: str, leg_id: str, code: int, reason: str) -> None:
        self.actions.append(("reject_update", leg_id, str(code)))

    def hangup(self, cid: str, leg_id: str, reason: tuple[int, str] | None = None) -> None:
        self.actions.append(("hangup", leg_id))


@dataclass
class FakeMedia:
    """Gives each (from, to) pairing its own port, as rtpengine 10.5 does for the offerer."""

    sessions: set[str] = field(default_factory=set)
    played: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def offer(self, call_id: str, from_tag: str, to_tag: str | None, sdp_: str) -> str:
        self.sessions.add(call_id)
        return sdp(30000 + hash((from_tag, to_tag, "offer")) % 1000)

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp_: str) -> str:
        return sdp(31000 + (0 if to_tag == "park" else int(to_tag[1:])))

    def play(self, call_id: str, tag: str, file: str) -> None:
        self.played.append(file)

    def stop_media(self, call_id: str, tag: str) -> None:
        return None

    def block(self, call_id: str, tag: str) -> None:
        self.blocked.append(tag)

    def delete(self, call_id: str) -> None:
        self.sessions.discard(call_id)

    def list_calls(self) -> list[str]:
        return sorted(self.sessions)


@dataclass
class FakeTimers:
    pending: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> FakeTimers:
        self.pending.append((delay_s, callback))
        return self

    def cancel(self) -> None:
        self.pending.clear()

    def fire(self) -> None:
        _, callback = self.pending.pop(0)
        callback()


@pytest.fixture
def parts() -> tuple[CallService, FakeSip, FakeMedia, FakeTimers]:
    sip, media, timers = FakeSip(), FakeMedia(), FakeTimers()
    service = CallService(sip, media, timers, agents={"1001": ("h", 1), "1002": ("h", 2)})
    return service, sip, media, timers


def test_ring_timeout_cancels_and_tries_next_then_parks_when_nobody_answers(parts) -> None:
    service, sip, _, timers = parts
    cid, _ = service.incoming(None, OFFER, "139", "95598")
    service.connect(cid, ["1001", "nobody", "1002"], ring_timeout_s=2)
    assert sip.actions[:2] == [("answer", "L1"), ("originate", "L2", "1001")]
    timers.fire()
    assert ("hangup", "L2") in sip.actions and ("originate", "L3", "1002") in sip.actions
    timers.fire()
    call = service.calls[cid]
    assert call.state is CallPhase.PARKED
    assert call.attempts == [
        ("1001", "no answer"),
        ("nobody", "unknown agent"),
        ("1002", "no answer"),
    ]


def test_a_late_answer_from_a_cancelled_agent_is_ignored(parts) -> None:
    service, sip, _, timers = parts
    cid, _ = service.incoming(None, OFFER, "139", "95598")
    service.connect(cid, ["1001", "1002"])
    timers.fire()
    service.answered(cid, "L2", sdp(5000))
    assert service.calls[cid].state is CallPhase.RINGING
    service.answered(cid, "L3", sdp(5002))
    assert service.calls[cid].state is CallPhase.BRIDGED
    assert ("update", "L1") in sip.actions, "the caller's rtpengine port moved: re-INVITE"


def test_caller_hangup_while_ringing_cancels_agent_and_deletes_media(parts) -> None:
    service, sip, media, _ = parts
    cid, caller = service.incoming("a" * 32, OFFER, "139", "95598")
    assert cid == "a" * 32
    service.connect(cid, ["1001"])
    service.ended(cid, caller)
    assert sip.actions[-1] == ("hangup", "L2")
    assert not service.calls and not media.sessions


def test_reinvite_glare_gets_491(parts) -> None:
    service, sip, _, _ = parts
    cid, caller = service.incoming(None, OFFER, "139", "95598")
    service.connect(cid, ["1001"])
    service.answered(cid, "L2", sdp(5000))
    assert sip.actions[-1] == ("update", "L1")  # bridge: the caller's port moved
    service.reinvite(cid, "L2", sdp(5001))  # the agent re-INVITEs before the caller answered
    assert sip.actions[-1] == ("reject_update", "L2", "491")
    service.answered(cid, caller, OFFER)
    service.reinvite(cid, caller, OFFER)  # the caller holds: relayed to the agent
    assert sip.actions[-1] == ("update", "L2")
    service.reinvite(cid, "L2", sdp(5002))  # the agent's crossing re-INVITE
    assert sip.actions[-1] == ("reject_update", "L2", "491")
    service.answered(cid, "L2", sdp(5000))
    assert sip.actions[-1] == ("answer_update", "L1")


def test_commands_check_the_call_state(parts) -> None:
    service, _, _, _ = parts
    cid, _ = service.incoming(None, OFFER, "139", "95598")
    with pytest.raises(InvalidTransitionError):
        service.release(cid)
    with pytest.raises(InvalidTransitionError):
        service.play(cid, "x.wav")
    service.answer(cid)
    with pytest.raises(InvalidTransitionError):
        service.answer(cid)


def test_duplicate_or_zero_correlation_ids_are_replaced(parts) -> None:
    service, _, _, _ = parts
    first, _ = service.incoming("b" * 32, OFFER, None, None)
    second, _ = service.incoming("b" * 32, OFFER, None, None)
    zero, _ = service.incoming("0" * 32, OFFER, None, None)
    assert first == "b" * 32 and second != first and zero != "0" * 32


def test_park_answer_mirrors_direction_and_keeps_the_offers_codecs() -> None:
    answer = park_answer(OFFER, "127.0.0.1", 9)
    assert media_endpoint(answer) == ("127.0.0.1", 9)
    assert direction(answer) == "recvonly"
    assert "m=audio 9 RTP/AVP 8 101" in answer and "PCMA/8000" in answer
    assert same_media(OFFER.replace("o=c 1 1", "o=c 1 2"), OFFER)
    assert not same_media(OFFER, sdp(4000))


def test_lenient_bencode_takes_rtpengines_unsorted_keys() -> None:
    assert bdecode(b"d6:resulti1e3:sdp1:xe") == {b"result": 1, b"sdp": b"x"}
    assert bdecode(b"d3:sdp1:x6:result2:oke") == {b"sdp": b"x", b"result": b"ok"}
    with pytest.raises(BencodeError):
        bdecode(b"d3:sdp")
