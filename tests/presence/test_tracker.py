"""The decision: what to report, from the registrations and the ACD's own view."""

from __future__ import annotations

from presence import Change, changes

AGENTS = {"1001": 1001, "1002": 1002, "1003": 1003}


def test_nothing_to_report_when_the_acd_agrees() -> None:
    assert changes(AGENTS, {"1001"}, {1001: True, 1002: False}) == []


def test_a_logged_in_agent_without_a_registration_is_reported_unreachable() -> None:
    # Also the agent who logs in with the phone unregistered: login starts phone_ok true.
    assert changes(AGENTS, set(), {1001: True}) == [Change(1001, "1001", False)]


def test_a_registered_phone_the_acd_thinks_lost_is_reported_reachable() -> None:
    assert changes(AGENTS, {"1002"}, {1002: False}) == [Change(1002, "1002", True)]


def test_agents_not_logged_in_are_left_alone() -> None:
    assert changes(AGENTS, {"1001"}, {}) == []


def test_logged_in_employees_without_an_account_here_are_left_alone() -> None:
    assert changes(AGENTS, set(), {4242: True}) == []


def test_registrations_of_non_agents_change_nothing() -> None:
    assert changes(AGENTS, {"supervisor", "1001"}, {1001: True}) == []


def test_reports_come_in_employee_order() -> None:
    assert changes(AGENTS, {"1003"}, {1003: False, 1001: True, 1002: True}) == [
        Change(1001, "1001", False),
        Change(1002, "1002", False),
        Change(1003, "1003", True),
    ]


def test_a_report_that_was_not_made_is_derived_again() -> None:
    # Nothing is remembered between polls: the next poll sees the same difference.
    first = changes(AGENTS, set(), {1001: True})
    assert changes(AGENTS, set(), {1001: True}) == first
    assert changes(AGENTS, set(), {1001: False}) == []  # once the ACD has it
