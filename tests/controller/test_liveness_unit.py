"""Dead-leg detection, the pure parts: which legs are watched, and which one is dead.

The end-to-end behaviour (real rtpengine, sipp, the controller) is in
test_liveness.py; here the decisions are checked case by case with a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from controller._call import Call, CallLeg, CallPhase, LegRole, LegState
from controller._liveness import (
    Heard,
    LivenessChecker,
    ProbeError,
    judge,
    leg_packets,
    sends_media,
    watched_legs,
)

TIMEOUT = 30.0


def sdp(direction: str = "sendrecv", address: str = "192.0.2.10") -> str:
    return (
        f"v=0\r\no=x 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
    )


# -------------------------------------------------------------------------- judge
def test_a_leg_seen_for_the_first_time_gets_a_full_timeout_of_grace() -> None:
    verdict = judge({}, ["L1"], {"L1": 0}, now=100.0, timeout_s=TIMEOUT)
    assert verdict.dead_leg is None
    assert verdict.tracks == {"L1": Heard(0, 100.0)}


def test_a_leg_whose_count_stands_still_is_dead_only_after_the_timeout() -> None:
    tracks = {"L1": Heard(500, 100.0)}
    assert judge(tracks, ["L1"], {"L1": 500}, 129.9, TIMEOUT).dead_leg is None
    verdict = judge(tracks, ["L1"], {"L1": 500}, 130.0, TIMEOUT)
    assert (verdict.dead_leg, verdict.silent_s) == ("L1", 30.0)


def test_a_moving_count_keeps_the_leg_alive() -> None:
    verdict = judge({"L1": Heard(500, 100.0)}, ["L1"], {"L1": 501}, 200.0, TIMEOUT)
    assert verdict.dead_leg is None
    assert verdict.tracks["L1"] == Heard(501, 200.0)


def test_a_count_that_drops_means_new_streams_not_silence() -> None:
    # rtpengine replaces a monologue's streams when its peer changes (bridge, release).
    verdict = judge({"L1": Heard(500, 100.0)}, ["L1"], {"L1": 3}, 200.0, TIMEOUT)
    assert verdict.dead_leg is None and verdict.tracks["L1"] == Heard(3, 200.0)


def test_a_call_rtpengine_no_longer_knows_is_silence_that_goes_on_counting() -> None:
    # rtpengine's own --timeout deleted the call: nothing was heard since t=100.
    before = {"L1": Heard(500, 100.0), "L2": Heard(700, 105.0)}
    assert judge(before, ["L1", "L2"], {}, 110.0, TIMEOUT).dead_leg is None
    verdict = judge(before, ["L1", "L2"], {}, 130.0, TIMEOUT)
    assert (verdict.dead_leg, verdict.silent_s) == ("L1", 30.0)


def test_a_leg_rtpengine_never_knew_is_dead_a_timeout_after_first_sight() -> None:
    first = judge({}, ["L1"], {}, 100.0, TIMEOUT)
    assert first.dead_leg is None and first.tracks == {"L1": Heard(None, 100.0)}
    assert judge(first.tracks, ["L1"], {}, 130.0, TIMEOUT).dead_leg == "L1"
    # rtpengine has the leg after all (re-created by a re-offer): watching starts afresh.
    assert judge(first.tracks, ["L1"], {"L1": 0}, 130.0, TIMEOUT).dead_leg is None


def test_a_leg_no_longer_watched_is_forgotten_and_starts_afresh_later() -> None:
    # Silent since 100; then on hold (not watched) until 300; then watched again.
    held = judge({"L1": Heard(500, 100.0)}, [], {"L1": 500}, 250.0, TIMEOUT)
    assert held.dead_leg is None and held.tracks == {}
    resumed = judge(held.tracks, ["L1"], {"L1": 500}, 300.0, TIMEOUT)
    assert resumed.dead_leg is None and resumed.tracks["L1"] == Heard(500, 300.0)


def test_of_two_dead_legs_the_one_silent_longest_is_named() -> None:
    tracks = {"L1": Heard(10, 120.0), "L2": Heard(20, 100.0)}
    verdict = judge(tracks, ["L1", "L2"], {"L1": 10, "L2": 20}, 200.0, TIMEOUT)
    assert (verdict.dead_leg, verdict.silent_s) == ("L2", 100.0)
    tie = {"L1": Heard(10, 100.0), "L2": Heard(20, 100.0)}
    assert judge(tie, ["L1", "L2"], {"L1": 10, "L2": 20}, 200.0, TIMEOUT).dead_leg == "L1"


def test_only_the_silent_leg_is_named_when_the_other_talks() -> None:
    tracks = {"L1": Heard(10, 100.0), "L2": Heard(20, 100.0)}
    verdict = judge(tracks, ["L1", "L2"], {"L1": 900, "L2": 20}, 140.0, TIMEOUT)
    assert verdict.dead_leg == "L2"


# -------------------------------------------------------------------- leg_packets
# Trimmed from rtpengine 10.5's reply to `query` for a bridged call (L1 sent 20
# RTP packets, L2 sent 5 RTP and 2 RTCP); the park monologue never sends.
QUERY_REPLY: dict[str, Any] = {
    "created": 1795645772,
    "last signal": 1795645773,
    "result": "ok",
    "tags": {
        "L1": {
            "tag": "L1",
            "medias": [
                {
                    "index": 1,
                    "type": "audio",
                    "streams": [
                        {
                            "local port": 28220,
                            "last packet": 1795645773,
                            "flags": ["RTP", "filled"],
                            "stats": {"packets": 20, "bytes": 3440, "errors": 0},
                        },
                        {
                            "local port": 28221,
                            "last packet": 1795645772,
                            "flags": ["RTCP", "filled"],
                            "stats": {"packets": 0, "bytes": 0, "errors": 0},
                        },
                    ],
                }
            ],
        },
        "L2": {
            "tag": "L2",
            "medias": [
                {
                    "index": 1,
                    "type": "audio",
                    "streams": [
                        {
                            "local port": 28200,
                            "flags": ["RTP", "filled"],
                            "stats": {"packets": 5, "bytes": 860, "errors": 0},
                        },
                        {
                            "local port": 28201,
                            "flags": ["RTCP", "filled"],
                            "stats": {"packets": 2, "bytes": 120, "errors": 0},
                        },
                    ],
                }
            ],
        },
        "park": {
            "tag": "park",
            "medias": [
                {
                    "index": 1,
                    "streams": [
                        {"local port": 28210, "stats": {"packets": 0, "bytes": 0, "errors": 0}}
                    ],
                }
            ],
        },
    },
    "totals": {"RTP": {"packets": 25}, "RTCP": {"packets": 2}},
}


def test_packets_per_leg_from_a_query_reply_count_rtp_and_rtcp() -> None:
    assert leg_packets(QUERY_REPLY) == {"L1": 20, "L2": 7, "park": 0}


@pytest.mark.parametrize(
    "reply",
    [
        {},
        {"tags": []},
        {"tags": {"L1": "x"}},
        {
            "tags": {
                "L1": {
                    "medias": [
                        {"streams": [{"stats": {"packets": "many"}}, {"stats": None}, "junk"]}
                    ]
                }
            }
        },
    ],
)
def test_an_odd_query_reply_counts_nothing_rather_than_failing(reply: dict[str, Any]) -> None:
    assert all(count == 0 for count in leg_packets(reply).values())


# ------------------------------------------------------------------- watched_legs
def caller(remote: str | None = None, state: LegState = LegState.ANSWERED) -> CallLeg:
    return CallLeg("L1", LegRole.CALLER, state, remote_sdp=sdp() if remote is None else remote)


def agent(remote: str | None = None, state: LegState = LegState.ANSWERED) -> CallLeg:
    return CallLeg(
        "L2", LegRole.AGENT, state, target="1001", remote_sdp=sdp() if remote is None else remote
    )


def test_a_bridged_call_watches_both_legs_caller_first() -> None:
    call = Call("c" * 16, caller(), state=CallPhase.BRIDGED, agent=agent())
    assert watched_legs(call) == ["L1", "L2"]


def test_an_unanswered_caller_is_not_watched() -> None:
    assert watched_legs(Call("c" * 16, caller(state=LegState.OFFERED))) == []


@pytest.mark.parametrize("state", [CallPhase.PARKED, CallPhase.RINGING])
def test_a_parked_caller_is_watched_and_a_ringing_agent_is_not(state: CallPhase) -> None:
    call = Call(
        "c" * 16,
        caller(),
        state=state,
        agent=agent(state=LegState.RINGING) if state is CallPhase.RINGING else None,
    )
    assert watched_legs(call) == ["L1"]


def test_nothing_is_watched_while_the_call_is_on_hold() -> None:
    call = Call(
        "c" * 16,
        caller(sdp("sendonly")),
        state=CallPhase.BRIDGED,
        agent=agent(sdp("recvonly")),
        held_by={"L1"},
    )
    assert watched_legs(call) == []


@pytest.mark.parametrize(
    "remote", [sdp("recvonly"), sdp("inactive"), sdp("sendonly"), sdp(address="0.0.0.0")]
)
def test_a_leg_whose_sdp_says_it_may_not_send_is_not_watched(remote: str) -> None:
    # e.g. a parked caller's hold re-INVITE answered by the park side: no held_by.
    call = Call("c" * 16, caller(remote), state=CallPhase.PARKED)
    assert watched_legs(call) == []
    assert not sends_media(remote)


def test_an_ended_call_is_not_watched() -> None:
    assert watched_legs(Call("c" * 16, caller(), state=CallPhase.ENDED)) == []


def test_an_agent_that_answered_is_watched_whatever_the_call_does_next() -> None:
    # e.g. released: the call is parked again and the agent leg is over.
    call = Call("c" * 16, caller(), state=CallPhase.PARKED, agent=agent(state=LegState.ENDED))
    assert watched_legs(call) == ["L1"]


@pytest.mark.skipif(
    not hasattr(CallPhase, "INTERCEPTING"),
    reason="needs the controller's transfer/intercept call states",
)
def test_an_intercepting_supervisor_is_watched_once_it_answers() -> None:
    supervisor = CallLeg("L3", LegRole.AGENT, LegState.RINGING, target="2001", remote_sdp=None)
    call = Call("c" * 16, caller(), state=CallPhase.INTERCEPTING, agent=agent())
    call.consult = supervisor  # type: ignore[attr-defined,unused-ignore]
    assert watched_legs(call) == ["L1", "L2"]
    supervisor.state, supervisor.remote_sdp = LegState.ANSWERED, sdp()
    assert watched_legs(call) == ["L1", "L2", "L3"]


# ----------------------------------------- the checker's rounds, with fakes on one thread
class FakeService:
    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.timeouts: list[tuple[str, str]] = []

    def media_timeout(self, cid: str, leg_id: str) -> None:
        self.timeouts.append((cid, leg_id))
        del self.calls[cid]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def checker_with(
    service: FakeService,
    probe: Callable[[str], Mapping[str, int]],
    clock: Clock,
    interval_s: float = 5.0,
) -> LivenessChecker:
    def inline(fn: Callable[..., None], *args: object) -> None:
        fn(*args)  # the "loop" is this thread

    checker = LivenessChecker(
        service, probe, rtp_timeout_s=TIMEOUT, interval_s=interval_s, post=inline, clock=clock
    )
    checker.wait = clock.wait  # pacing advances the fake clock instead of sleeping
    return checker


def bridged(cid: str) -> Call:
    return Call(cid, caller(), state=CallPhase.BRIDGED, agent=agent())


def test_each_call_is_queried_once_a_round_spread_over_the_interval() -> None:
    service, clock = FakeService(), Clock()
    asked: list[tuple[str, float]] = []
    for cid in ("a" * 16, "b" * 16, "c" * 16, "d" * 16):
        service.calls[cid] = bridged(cid)

    def probe(cid: str) -> dict[str, int]:
        asked.append((cid, clock.now))
        return {"L1": 1, "L2": 1}

    checker = checker_with(service, probe, clock)
    checker.run_round()
    assert [cid for cid, _ in asked] == list(service.calls)
    assert [at - 1000.0 for _, at in asked] == [0.0, 1.25, 2.5, 3.75]
    assert clock.now == 1005.0  # the round takes the interval, not a burst then idle


def test_a_call_that_ends_during_the_round_is_not_queried() -> None:
    """rtpengine logs a WARNING for a query of a call it deleted (an ended call)."""
    service, clock = FakeService(), Clock()
    first, second = "a" * 16, "b" * 16
    service.calls = {first: bridged(first), second: bridged(second)}
    asked: list[str] = []

    def probe(cid: str) -> dict[str, int]:
        asked.append(cid)
        del service.calls[second]  # the other call ends while this round is under way
        return {"L1": 1, "L2": 1}

    checker_with(service, probe, clock).run_round()
    assert asked == [first]
    assert clock.now == 1005.0  # the round's pacing is unchanged


def test_a_silent_agent_ends_the_call_on_the_agent_leg() -> None:
    service, clock = FakeService(), Clock()
    cid = "a" * 16
    service.calls[cid] = bridged(cid)
    talk = {"L1": 0, "L2": 0}

    def probe(_: str) -> dict[str, int]:
        talk["L1"] += 250  # the caller talks; the agent's count stands still
        return dict(talk)

    checker = checker_with(service, probe, clock)
    while service.calls and clock.now < 1100:
        checker.run_round()
    assert service.timeouts == [(cid, "L2")]
    # Its count stood still from the first query (t=1000) until the one at t>=1030.
    assert 1030.0 <= clock.now <= 1030.0 + 2 * 5.0
    assert checker.ended == 1


def test_no_answer_from_rtpengine_decides_nothing() -> None:
    service, clock = FakeService(), Clock()
    cid = "a" * 16
    service.calls[cid] = bridged(cid)

    def probe(_: str) -> dict[str, int]:
        raise ProbeError("rtpengine did not answer 'query' in time")

    checker = checker_with(service, probe, clock)
    while clock.now < 1100:
        checker.run_round()
    assert service.timeouts == [] and cid in service.calls
    assert checker.probe_errors == 20 and checker.queries == 0


def test_a_held_call_is_not_queried_and_gets_fresh_grace_after_resume() -> None:
    service, clock = FakeService(), Clock()
    cid = "a" * 16
    call = service.calls[cid] = bridged(cid)
    asked: list[float] = []

    def probe(_: str) -> dict[str, int]:
        asked.append(clock.now)
        return {"L1": 7, "L2": 7}  # nobody sends at all

    checker = checker_with(service, probe, clock)
    checker.run_round()  # t=1000: first sight
    call.held_by.add("L1")  # on hold for 60 s, twice the timeout
    while clock.now < 1065:
        checker.run_round()
    assert asked == [1000.0] and service.timeouts == []
    call.held_by.clear()  # resumed at t=1065; both stay silent
    while service.calls and clock.now < 1200:
        checker.run_round()
    assert service.timeouts == [(cid, "L1")]
    assert clock.now >= 1065 + TIMEOUT


def test_a_hold_that_starts_while_the_query_is_in_flight_wins() -> None:
    service, clock = FakeService(), Clock()
    cid = "a" * 16
    call = service.calls[cid] = bridged(cid)

    def probe(_: str) -> dict[str, int]:
        if clock.now >= 1030:
            call.held_by.add("L2")  # the hold re-INVITE lands before the reply is applied
        return {"L1": 7, "L2": 7}

    checker = checker_with(service, probe, clock)
    while clock.now < 1100:
        checker.run_round()
    assert service.timeouts == [] and cid in service.calls


def test_timeout_and_interval_must_be_positive() -> None:
    service = FakeService()
    with pytest.raises(ValueError, match="positive"):
        LivenessChecker(service, lambda _cid: {}, rtp_timeout_s=0, interval_s=5, post=print)
