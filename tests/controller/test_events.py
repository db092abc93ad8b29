"""The call event log as the service writes it: exact sequences on fakes, folded into CDRs.

The service runs on the fakes of test_service.py with a `MemoryPublisher` and a
clock that ticks one second per event, so every `ts` is known.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from analytics import build_records
from analytics._records import Cdr, Leg
from controller import CallPhase, CallService, MediaError, MemoryPublisher
from eventlog import Event
from tests.controller.test_service import OFFER, FakeMedia, FakeSip, FakeTimers, sdp

CID = "c" * 32
NODE = "ctl-test"
T0 = 1_700_000_000.0
HOLD = sdp(4100).replace("sendrecv", "sendonly")


class Parts:
    def __init__(self) -> None:
        self.sip, self.media, self.timers = FakeSip(), FakeMedia(), FakeTimers()
        self.published = MemoryPublisher()
        ticks = itertools.count()
        self.service = CallService(
            self.sip,
            self.media,
            self.timers,
            agents={"1001": ("h", 1), "1002": ("h", 2)},
            events=self.published,
            node=NODE,
            clock=lambda: T0 + next(ticks),
        )

    def incoming(self, category: str | None = "billing") -> str:
        cid, _ = self.service.incoming(CID, sdp(4000), "13912345678", "95598", category)
        return cid

    @property
    def events(self) -> list[tuple[Any, ...]]:
        """(kind, fields...) in order, with the envelope checked once for all."""
        out = []
        for i, event in enumerate(self.published.events):
            assert (event.correlation_id, event.node, event.ts) == (CID, NODE, T0 + i)
            out.append((event.kind, dict(event.data)))
        return out

    def cdr(self) -> tuple[Cdr, list[Leg]]:
        records = build_records(list(self.published.events))
        assert len(records.cdrs) == 1
        return records.cdrs[0], sorted(records.legs, key=lambda leg: leg.seq)


@pytest.fixture
def p() -> Parts:
    return Parts()


def arrived(category: str = "billing") -> tuple[str, dict[str, str]]:
    return (
        "call.arrived",
        {"trunk": "", "caller": "13912345678", "dialled": "95598", "category": category},
    )


def ringing(agent: str, leg: str, attempt: int, seat: str = "") -> tuple[str, dict[str, str]]:
    return ("call.ringing", {"agent": agent, "seat": seat, "leg_id": leg, "attempt": str(attempt)})


def answered(agent: str, leg: str, seat: str = "") -> tuple[str, dict[str, str]]:
    return ("call.answered", {"agent": agent, "seat": seat, "leg_id": leg})


def no_answer(agent: str, leg: str) -> tuple[str, dict[str, str]]:
    return ("call.no_answer", {"agent": agent, "leg_id": leg})


def ended(cause: str, side: str) -> tuple[str, dict[str, str]]:
    return ("call.ended", {"cause": cause, "side": side})


def bridge(p: Parts, leg: str = "L2") -> None:
    """The agent answers; the caller takes the re-INVITE that follows the bridge."""
    p.service.answered(CID, leg, sdp(5000))
    assert p.sip.actions[-1] == ("update", "L1")
    p.service.answered(CID, "L1", sdp(4000))


def test_answered_then_the_caller_hangs_up(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["1001"])
    bridge(p)
    p.service.ended(CID, "L1")
    assert p.events == [
        arrived(),
        ringing("1001", "L2", 1),
        answered("1001", "L2"),
        ended("200", "caller"),
    ]
    cdr, legs = p.cdr()
    assert (cdr.disposition, cdr.agent, cdr.category, cdr.hangup_side) == (
        "answered",
        "1001",
        "billing",
        "caller",
    )
    assert (cdr.answered_at, cdr.ended_at, cdr.talk_s) == (T0 + 2, T0 + 3, 1.0)
    assert [(leg.agent, leg.attempt, leg.outcome) for leg in legs] == [("1001", 1, "answered")]


def test_ring_no_answer_then_the_next_agent_answers(p: Parts) -> None:
    p.incoming(category=None)
    p.service.connect(CID, ["1001", "1002"], ring_timeout_s=2, seats={"1002": "S-7"})
    p.timers.fire()  # 1001's ring timer
    bridge(p, "L3")
    p.service.hangup(CID)
    assert p.events == [
        arrived(""),
        ringing("1001", "L2", 1),
        no_answer("1001", "L2"),
        ringing("1002", "L3", 2, "S-7"),
        answered("1002", "L3", "S-7"),
        ended("200", "system"),
    ]
    cdr, legs = p.cdr()
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.hangup_side) == (
        "answered",
        "1002",
        "S-7",
        "system",
    )
    assert [(leg.leg_id, leg.attempt, leg.outcome) for leg in legs] == [
        ("L2", 1, "no_answer"),
        ("L3", 2, "answered"),
    ]


def test_a_refusing_or_unknown_agent_is_a_no_answer_or_nothing(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["nobody", "1001", "1002"])
    p.service.failed(CID, "L2", 486, "Busy Here")
    p.timers.fire()
    assert p.service.calls[CID].state is CallPhase.PARKED
    p.service.ended(CID, "L1")
    assert p.events == [
        arrived(),
        ringing("1001", "L2", 1),
        no_answer("1001", "L2"),
        ringing("1002", "L3", 2),
        no_answer("1002", "L3"),
        ended("200", "caller"),
    ]


def test_the_caller_hangs_up_while_an_agent_rings(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["1001"])
    p.service.ended(CID, "L1")
    assert p.sip.actions[-1] == ("hangup", "L2")
    # No no_answer: the ring did not time out, the caller left (the fold says so).
    assert p.events == [arrived(), ringing("1001", "L2", 1), ended("200", "caller")]
    cdr, legs = p.cdr()
    assert (cdr.disposition, cdr.agent, cdr.hangup_side) == ("abandoned_ringing", "", "caller")
    assert [leg.outcome for leg in legs] == ["abandoned"]


def test_the_caller_cancels_before_anything_answered(p: Parts) -> None:
    p.incoming()
    p.service.ended(CID, "L1")
    assert p.events == [arrived(), ended("487", "caller")]
    assert p.cdr()[0].disposition == "abandoned_ivr"


def test_released_agent_then_prompt_then_system_hang_up(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["1001"])
    bridge(p)
    p.service.release(CID)
    assert p.sip.actions[-2:] == [("hangup", "L2"), ("update", "L1")]
    p.service.answered(CID, "L1", sdp(4000))
    p.service.play(CID, "goodbye.wav")
    p.service.hangup(CID)
    # Schema v1 has no kind for "agent leg released, call goes on" (see docs/events.md).
    assert p.events == [
        arrived(),
        ringing("1001", "L2", 1),
        answered("1001", "L2"),
        ended("200", "system"),
    ]
    assert p.cdr()[0].hangup_side == "system"


def test_release_while_ringing_is_a_no_answer_and_reconnect_counts_on(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["1001"])
    p.service.release(CID)
    p.service.connect(CID, ["1002"])
    bridge(p, "L3")
    p.service.ended(CID, "L3")
    assert p.events == [
        arrived(),
        ringing("1001", "L2", 1),
        no_answer("1001", "L2"),
        ringing("1002", "L3", 2),
        answered("1002", "L3"),
        ended("200", "agent"),
    ]
    assert p.cdr()[0].hangup_side == "agent"


def test_hold_and_resume_by_the_caller_then_the_agent_hangs_up(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["1001"])
    bridge(p)
    p.service.reinvite(CID, "L1", HOLD)
    assert p.sip.actions[-1] == ("update", "L2")
    assert len(p.published.events) == 3, "no hold until the agent accepted it"
    p.service.answered(CID, "L2", sdp(5000).replace("sendrecv", "recvonly"))
    p.service.reinvite(CID, "L1", sdp(4000))
    p.service.answered(CID, "L2", sdp(5000))
    p.service.ended(CID, "L2")
    assert p.events == [
        arrived(),
        ringing("1001", "L2", 1),
        answered("1001", "L2"),
        ("call.hold", {}),
        ("call.resume", {}),
        ended("200", "agent"),
    ]
    cdr, _ = p.cdr()
    assert (cdr.hold_s, cdr.talk_s, cdr.hangup_side) == (1.0, 2.0, "agent")


def test_hold_lasts_until_the_last_side_resumes_and_ends_with_the_release(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["1001"])
    bridge(p)
    p.service.reinvite(CID, "L2", HOLD)  # the agent holds
    p.service.answered(CID, "L1", sdp(4000).replace("sendrecv", "recvonly"))
    p.service.reinvite(CID, "L1", HOLD.replace("sendonly", "inactive"))  # the caller too
    p.service.answered(CID, "L2", sdp(5000).replace("sendrecv", "inactive"))
    p.service.reinvite(CID, "L1", sdp(4000))  # the caller resumes; the agent still holds
    p.service.answered(CID, "L2", sdp(5000))
    assert [e[0] for e in p.events][-1] == "call.hold"
    p.service.release(CID)  # the hold ends with the agent leg
    p.service.answered(CID, "L1", sdp(4000))
    p.service.hangup(CID)
    assert [kind for kind, _ in p.events] == [
        "call.arrived",
        "call.ringing",
        "call.answered",
        "call.hold",
        "call.resume",
        "call.ended",
    ]


def test_a_refused_hold_is_no_hold(p: Parts) -> None:
    p.incoming()
    p.service.connect(CID, ["1001"])
    bridge(p)
    p.service.reinvite(CID, "L1", HOLD)
    p.service.failed(CID, "L2", 488, "Not Acceptable Here")
    assert p.sip.actions[-1] == ("reject_update", "L1", "488")
    p.service.ended(CID, "L1")
    assert [kind for kind, _ in p.events] == [
        "call.arrived",
        "call.ringing",
        "call.answered",
        "call.ended",
    ]


def test_system_ends_media_failure_and_shutdown(p: Parts) -> None:
    p.incoming()
    p.service.answer(CID)

    def broken(*_: object) -> str:
        raise MediaError("rtpengine timed out")

    p.media.offer = broken  # type: ignore[method-assign]
    p.service.connect(CID, ["1001"])
    assert p.events[-1] == ended("media failure", "system")
    p.published.events.clear()
    second, _ = p.service.incoming("d" * 32, OFFER, None, None)
    p.service.shutdown()
    assert [(e.correlation_id, e.kind, dict(e.data)) for e in p.published.events] == [
        (second, "call.arrived", {"trunk": "", "caller": "", "dialled": "", "category": ""}),
        (second, "call.ended", {"cause": "shutdown", "side": "system"}),
    ]


def test_a_failing_publisher_never_breaks_the_call() -> None:
    class Broken:
        def publish(self, event: Event) -> None:
            raise RuntimeError("redis adapter bug")

    sip, media, timers = FakeSip(), FakeMedia(), FakeTimers()
    service = CallService(sip, media, timers, agents={"1001": ("h", 1)}, events=Broken())
    cid, caller = service.incoming(None, OFFER, "139", "95598")
    service.connect(cid, ["1001"])
    service.answered(cid, "L2", sdp(5000))
    assert service.calls[cid].state is CallPhase.BRIDGED
    service.ended(cid, caller)
    assert not service.calls and not media.sessions
    assert service.events_failed == 4
