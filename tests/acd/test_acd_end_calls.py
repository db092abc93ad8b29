"""`Acd.end_calls` and call sources: what the service's reconciler needs from the core."""

from __future__ import annotations

from collections.abc import Callable

from acd import Acd, AgentState, ManualClock, QueueConfig
from tests.acd.acd_testkit import START, login, sound

WRAPPING = QueueConfig("billing", skills={"billing": 1}, ring_timeout=15.0, wrap_up=30.0)


def test_end_calls_ends_like_a_hangup_with_the_given_reason(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(WRAPPING)
    for agent in (1001, 1002, 1003):
        login(acd, agent)
    acd.enqueue("talk", "billing", source="ctl-a#1").raise_for_error()
    acd.answered("talk", 1001).raise_for_error()
    acd.enqueue("ring", "billing", source="ctl-a#1").raise_for_error()  # rings 1002
    acd.enqueue("kept", "billing", source="ctl-b#2").raise_for_error()  # rings 1003
    acd.answered("kept", 1003).raise_for_error()
    acd.enqueue("queued", "billing", source="ctl-a#1").raise_for_error()  # nobody idle
    clock.advance(5)

    result = acd.end_calls(
        {"talk": "gone-a", "ring": "gone-a", "queued": "gone-a", "unknown": "gone-a"}
    )

    assert result.ok
    # Unlike reconcile(): the talking agent wraps up, as after a hang-up.
    assert acd.agent_state(1001) is AgentState.WRAP_UP
    assert acd.agent_state(1002) is AgentState.IDLE
    assert acd.agent_state(1003) is AgentState.TALKING
    assert acd.waiting("billing") == []
    ends = {
        e["call"]: (e["kind"], e["reason"])
        for e in result.events
        if e["kind"] in ("call.ended", "call.abandoned")
    }
    assert ends == {
        "talk": ("call.ended", "gone-a"),
        "ring": ("call.abandoned", "gone-a"),
        "queued": ("call.abandoned", "gone-a"),
    }
    wrap = [e for e in result.events if e["kind"] == "agent.state" and e["agent"] == 1001]
    assert [(e["from"], e["to"], e["reason"]) for e in wrap] == [("talking", "wrap_up", "gone-a")]
    clock.advance(30)
    acd.tick()
    assert acd.agent_state(1001) is AgentState.IDLE
    # Ended calls are remembered like any other: a retried Enqueue is refused.
    again = acd.enqueue("talk", "billing", source="ctl-a#1")
    assert again.error is not None and "already ended" in again.error.message
    sound(acd)


def test_sources_are_kept_and_listed_only_for_calls_that_have_one(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(WRAPPING)
    login(acd, 1001, ready=False)  # staffed, nobody idle: the calls wait
    acd.enqueue("c1", "billing", source="ctl-a#1").raise_for_error()
    clock.advance(1)
    acd.enqueue("c2", "billing").raise_for_error()  # a client without a registry
    assert acd.sourced_calls() == [("c1", "ctl-a#1", START)]
    assert acd.call("c1")["source"] == "ctl-a#1"  # type: ignore[index]

    # Survives a fail-over (the leader's state is rebuilt from the records)...
    copy = Acd.from_dict(acd.to_dict(), acd.config, clock)
    assert copy.sourced_calls() == [("c1", "ctl-a#1", START)]
    # ...and records written before sources existed load with none.
    data = acd.to_dict()
    for record in data["calls"]:
        del record["source"]
    assert Acd.from_dict(data, acd.config, clock).sourced_calls() == []
    sound(copy)
