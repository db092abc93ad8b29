"""The transition table is the single source of truth for agent state changes."""

from __future__ import annotations

import pytest

from acd import REFUSAL_CODES, TRANSITIONS, AgentState, ErrorCode, Trigger, refusal_for, targets

S = AgentState


def test_every_trigger_has_a_row() -> None:
    assert set(TRANSITIONS) == set(Trigger)


def test_only_login_starts_from_logged_out() -> None:
    for trigger, rule in TRANSITIONS.items():
        assert (S.LOGGED_OUT in rule) == (trigger is Trigger.LOGIN), trigger


@pytest.mark.parametrize("trigger", list(Trigger))
@pytest.mark.parametrize("state", list(AgentState))
def test_refusal_code_follows_the_table(trigger: Trigger, state: AgentState) -> None:
    code = refusal_for(trigger, state)
    if state in TRANSITIONS[trigger]:
        assert code is None
        assert targets(trigger, state)
    elif state is S.LOGGED_OUT:
        assert code is ErrorCode.NOT_LOGGED_IN
    else:
        assert code is REFUSAL_CODES.get(trigger, ErrorCode.INVALID_TRANSITION)
        assert targets(trigger, state) == frozenset()


def test_busy_needs_on_hook() -> None:
    assert set(TRANSITIONS[Trigger.GO_BUSY]) == {S.IDLE, S.WRAP_UP, S.BUSY}
    assert refusal_for(Trigger.GO_BUSY, S.TALKING) is ErrorCode.NOT_ON_HOOK
    assert refusal_for(Trigger.GO_BUSY, S.RESERVED) is ErrorCode.NOT_ON_HOOK


def test_a_second_login_is_refused_as_already_logged_in() -> None:
    for state in AgentState:
        if state is not S.LOGGED_OUT:
            assert refusal_for(Trigger.LOGIN, state) is ErrorCode.ALREADY_LOGGED_IN


def test_only_idle_agents_can_be_reserved() -> None:
    assert TRANSITIONS[Trigger.RESERVE] == {S.IDLE: frozenset({S.RESERVED})}


def test_logout_while_talking_is_deferred_not_refused() -> None:
    assert targets(Trigger.LOGOUT, S.TALKING) == {S.TALKING}
    assert targets(Trigger.LOGOUT, S.RESERVED) == {S.LOGGED_OUT}
