"""Calls another component takes on arrival (`claim_arrivals`, the IVR host) and hands
back answered (`enqueue_answered`, or the `enqueue` control command): the driver's logic
against the fakes of test_driver_logic.py. The real path is in test_handover.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from acd_api.v1 import acd_pb2 as pb
from eventlog import CALL_ANSWERED, CALL_ENDED
from tests.controller.acd_driver.test_driver_logic import (
    CID,
    OPTIONS,
    World,
    enqueued_with,
    offer,
)
from tests.controller.acd_driver.test_transfer_via_acd import FakeHold, release

ENGLISH = {"english": 1}


def claiming(w: World, *, numbers: tuple[str, ...] = ("95598",)) -> list[tuple[str, str]]:
    """The IVR host's claim: calls to `numbers`; returns what it was asked."""
    asked: list[tuple[str, str]] = []

    def claim(cid: str, data: Mapping[str, str]) -> bool:
        asked.append((cid, data["dialled"]))
        return data["dialled"] in numbers

    w.driver.claim_arrivals(claim)
    return asked


IVR_DATA = {"ivr_path": "language>main>agent", "account": "12345674"}


def hand_over(w: World, **overrides: Any) -> None:
    args: dict[str, Any] = {
        "queue": "billing",
        "caller": "139",
        "category": "bill",
        "priority": 5,
        "skills": ENGLISH,
        "language": "en",
        "call_data": IVR_DATA,
        **overrides,
    }
    w.driver.enqueue_answered(CID, **args)
    w.run()


def test_a_claimed_arrival_is_neither_answered_nor_enqueued_nor_reported() -> None:
    w = World()
    asked = claiming(w)
    w.arrive()
    assert asked == [(CID, "95598")]
    assert w.commands == [] and w.sent == [] and w.timers == []
    assert CID not in w.driver.calls
    w.emit(CALL_ENDED, cause="200", side="caller")  # the caller leaves the IVR
    w.run()
    assert w.sent == [], "no Abandon for a call the ACD never had"


def test_an_arrival_not_claimed_is_the_drivers_as_before() -> None:
    w = World()
    claiming(w, numbers=("4000",))
    w.replies["Enqueue"] = enqueued_with()
    w.arrive()
    assert [c["cmd"] for c in w.commands] == ["answer"]
    (request,) = w.rpcs("Enqueue")
    assert (request.priority, dict(request.skills)) == (0, {})
    assert dict(request.call_data) == {}, "no IVR, no call data"


def test_a_claim_that_raises_leaves_the_call_to_the_driver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = World()

    def broken(cid: str, data: Mapping[str, str]) -> bool:
        raise RuntimeError("bug in the IVR host")

    w.driver.claim_arrivals(broken)
    with caplog.at_level(logging.ERROR, "controller.acd"):
        w.arrive()
    assert "the arrival claim failed; the ACD driver takes the call" in caplog.text
    assert [m for m, _ in w.rpcs()] == ["Enqueue"]


def test_a_call_handed_over_is_enqueued_with_its_priority_skills_and_language() -> None:
    w = World()
    hold = FakeHold()
    w.driver.hold = hold
    claiming(w)
    w.arrive()
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    hand_over(w)
    (request,) = w.rpcs("Enqueue")
    assert (request.call_id, request.queue, request.caller, request.category) == (
        CID,
        "billing",
        "139",
        "bill",
    )
    assert (request.priority, dict(request.skills)) == (5, ENGLISH)
    assert dict(request.call_data) == IVR_DATA
    assert request.source == OPTIONS.source
    # Not answered again: the IVR did. Music (in English) as the Enqueue goes out.
    assert [c["cmd"] for c in w.commands] == ["call", "connect"]
    assert (hold.parked_in, hold.languages) == ([(CID, "billing")], ["en"])
    call = w.driver.calls[CID]
    assert (call.priority, call.skills, call.language) == (5, ENGLISH, "en")
    # From here on it is like any call: answered, transferred (parked again, still in
    # the caller's language), hung up.
    w.ringing.clear()
    w.emit(CALL_ANSWERED, agent="1001", seat="1", leg_id="L2")
    w.run()
    w.feed(release("7-0", 1001, queue="vip"))
    assert hold.languages == ["en", "en"]
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert [m for m, _ in w.rpcs()] == ["Enqueue", "Answered", "Abandon"]


def test_a_refused_hand_over_hangs_up_with_the_acds_reason() -> None:
    w = World()
    claiming(w)
    w.arrive()
    w.replies["Enqueue"] = lambda r: pb.EnqueueResponse(
        error=pb.Error(code=pb.ERROR_CODE_UNKNOWN_QUEUE, message="no queue 'nosuch'")
    )
    hand_over(w, queue="nosuch")
    assert dict(w.published[-1].data) == {"cause": "acd refused:UNKNOWN_QUEUE", "side": "system"}
    assert CID not in w.driver.calls
    assert [m for m, _ in w.rpcs()] == ["Enqueue"]


def test_a_hand_over_the_acd_never_takes_is_hung_up_at_its_deadline() -> None:
    w = World()
    claiming(w)
    w.arrive()
    w.driver.enqueue_answered(CID, queue="billing", caller="139", category="bill")
    w.loop.clear()
    ((delay, fire),) = w.timers
    assert delay == pytest.approx(OPTIONS.enqueue_timeout_s + OPTIONS.rpc_timeout_s, abs=0.1)
    w.jobs.clear()  # every worker busy: the Enqueue never went out
    fire()
    assert dict(w.published[-1].data) == {"cause": "acd unavailable", "side": "system"}


@pytest.mark.parametrize(
    ("state", "overrides", "message"),
    [
        ("new", {}, "is new: only an answered caller who waits parked can be queued"),
        ("bridged", {}, "is bridged"),
        (None, {}, f"no such call {CID}"),
        ("parked", {"queue": ""}, "enqueue needs a queue"),
        ("parked", {"priority": "high"}, "priority must be a 32-bit integer"),
        ("parked", {"priority": 2**31}, "priority must be a 32-bit integer"),
        ("parked", {"skills": {"english": 2**31}}, "needs an integer level >= 1"),
        ("parked", {"skills": {"english": 0}}, "needs an integer level >= 1"),
        ("parked", {"skills": {"": 1}}, "a skill name is 1..64 characters"),
        ("parked", {"skills": ["english"]}, "skills must map skill names to levels"),
        ("parked", {"language": "fr"}, "language must be one of zh, en (or none)"),
        ("parked", {"call_data": {"a b": "x"}}, "call_data key 'a b' is not 1..64"),
        ("parked", {"call_data": {"ivr_path": "x" * 257}}, "at most 256 are allowed"),
        ("parked", {"call_data": ["ivr_path"]}, "call_data must map keys to texts"),
    ],
)
def test_a_hand_over_that_cannot_be_queued_is_refused_and_changes_nothing(
    state: str | None, overrides: dict[str, Any], message: str
) -> None:
    w = World()
    claiming(w)
    w.arrive()
    w.state = state
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        hand_over(w, **overrides)
    assert CID not in w.driver.calls
    assert w.sent == [] and w.timers == []


def test_a_call_the_driver_drives_already_cannot_be_handed_over() -> None:
    w = World()
    w.replies["Enqueue"] = enqueued_with()
    w.arrive()
    with pytest.raises(ValueError, match="already queued at the ACD"):
        hand_over(w)
    assert len(w.rpcs("Enqueue")) == 1


def _on_loop(fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    return fn()


def test_the_enqueue_control_command() -> None:
    w = World()
    hold = FakeHold()
    w.driver.hold = hold
    claiming(w)
    w.arrive()
    w.replies["Enqueue"] = enqueued_with()
    reply = w.driver.command(
        {
            "cmd": "enqueue",
            "cid": CID,
            "queue": "billing",
            "priority": 3,
            "skills": ENGLISH,
            "language": "en",
        },
        _on_loop,
    )
    w.run()
    assert reply == {"ok": True, "result": "billing"}
    (request,) = w.rpcs("Enqueue")
    assert (request.priority, dict(request.skills), request.caller) == (3, ENGLISH, "")
    assert hold.languages == ["en"]
    again = w.driver.command({"cmd": "enqueue", "cid": CID, "queue": "billing"}, _on_loop)
    assert again == {"ok": False, "error": f"call {CID} is already queued at the ACD"}
    for request_fields, error in (
        ({"queue": "billing"}, "missing argument 'cid'"),
        ({"cid": CID}, "missing argument 'queue'"),
        ({"cid": CID, "queue": "billing", "language": 7}, "language must be text"),
    ):
        reply = w.driver.command({"cmd": "enqueue", **request_fields}, _on_loop)
        assert reply["ok"] is False and error in reply["error"], reply
