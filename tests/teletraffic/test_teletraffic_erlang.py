"""Erlang B/C, service level, ASA and staffing against the DESIGN.md check numbers."""

from __future__ import annotations

import math

import pytest

from teletraffic import (
    agents_for_service_level,
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    occupancy,
    offered_load,
    service_level,
    staffing,
)

AHT = 180.0
TARGET = 20.0


def test_offered_load_of_the_design_example() -> None:
    # 100 calls in 30 minutes at 180 s each.
    assert offered_load(100, 1800, AHT) == pytest.approx(10.0)


def test_erlang_b_four_lines_one_erlang() -> None:
    assert erlang_b(1.0, 4) == pytest.approx(0.0154, abs=5e-5)
    assert erlang_b(1.0, 4) == pytest.approx(1 / 65)  # (1/24) / (1 + 1 + 1/2 + 1/6 + 1/24)


def test_design_check_14_agents() -> None:
    point = staffing(10.0, 14, AHT, TARGET)
    assert point.service_level == pytest.approx(0.888, abs=5e-4)
    assert point.asa == pytest.approx(7.84, abs=5e-3)
    assert point.p_wait == pytest.approx(0.174, abs=5e-4)
    assert point.occupancy == pytest.approx(10 / 14)


@pytest.mark.parametrize(("agents", "sl"), [(13, 0.796), (14, 0.888), (15, 0.941)])
def test_design_check_service_levels(agents: int, sl: float) -> None:
    assert service_level(10.0, agents, AHT, TARGET) == pytest.approx(sl, abs=5e-4)


def test_agents_needed_for_80_in_20() -> None:
    assert agents_for_service_level(10.0, AHT, TARGET, 0.80) == 14
    assert agents_for_service_level(10.0, AHT, TARGET, 0.795) == 13  # SL(13) = 0.7956
    assert agents_for_service_level(10.0, AHT, TARGET, 0.90) == 15


def test_agents_needed_respects_max_occupancy() -> None:
    assert agents_for_service_level(10.0, AHT, TARGET, 0.5, max_occupancy=0.6) == 17


def textbook_erlang_b(a: float, n: int) -> float:
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


@pytest.mark.parametrize(("a", "n"), [(0.5, 1), (2.0, 3), (7.3, 10), (20.0, 25), (40.0, 38)])
def test_recurrence_matches_the_closed_form(a: float, n: int) -> None:
    assert erlang_b(a, n) == pytest.approx(textbook_erlang_b(a, n), rel=1e-12)
    b = textbook_erlang_b(a, n)
    if a < n:
        assert erlang_c(a, n) == pytest.approx(n * b / (n - a * (1 - b)), rel=1e-12)


def test_stable_for_large_groups() -> None:
    # A^N/N! overflows a float long before N = 5000; the recurrence does not.
    b = erlang_b(4800.0, 5000)
    c = erlang_c(4800.0, 5000)
    assert 0.0 < b < c < 1.0
    assert math.isfinite(average_speed_of_answer(4800.0, 5000, AHT))
    n = agents_for_service_level(4800.0, AHT, TARGET, 0.8)
    assert service_level(4800.0, n, AHT, TARGET) >= 0.8 > service_level(4800.0, n - 1, AHT, TARGET)


def test_monotone_in_agents() -> None:
    levels = [service_level(10.0, n, AHT, TARGET) for n in range(11, 30)]
    assert levels == sorted(levels)
    waits = [erlang_c(10.0, n) for n in range(11, 30)]
    assert waits == sorted(waits, reverse=True)


def test_overloaded_and_empty_systems() -> None:
    assert erlang_c(10.0, 10) == 1.0
    assert service_level(10.0, 9, AHT, TARGET) == 0.0
    assert average_speed_of_answer(10.0, 10, AHT) == math.inf
    assert erlang_c(0.0, 3) == 0.0
    assert erlang_b(5.0, 0) == 1.0
    assert occupancy(30.0, 10) == 1.0
    assert agents_for_service_level(0.0, AHT, TARGET, 0.8) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang_b(-1.0, 3),
        lambda: erlang_b(float("nan"), 3),
        lambda: erlang_b(1.0, -1),
        lambda: erlang_b(1.0, 2.5),  # type: ignore[arg-type]
        lambda: erlang_c(1.0, True),  # type: ignore[arg-type]
        lambda: service_level(1.0, 2, -5.0, TARGET),
        lambda: offered_load(10, 0, AHT),
        lambda: occupancy(1.0, 0),
        lambda: agents_for_service_level(10.0, AHT, TARGET, 1.0),
        lambda: agents_for_service_level(10.0, AHT, TARGET, 0.8, max_occupancy=0),
    ],
)
def test_bad_inputs_are_rejected(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]
