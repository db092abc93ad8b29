"""Configuration validation and live reconfiguration (R-ADM-1)."""

from __future__ import annotations

import pytest

from acd import Acd, AcdConfig, ConfigError, ErrorCode, ManualClock, QueueConfig
from tests.acd.acd_testkit import default_config, login


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ((QueueConfig("a"), QueueConfig("a")), "defined more than once"),
        ((QueueConfig(""),), "empty name"),
        ((QueueConfig("a", ring_timeout=0),), "ring_timeout"),
        ((QueueConfig("a", max_wait=0, overflow_target="vm"),), "max_wait must be"),
        ((QueueConfig("a", max_wait=10),), "needs an overflow"),
        ((QueueConfig("a", wrap_up=-1),), "wrap_up"),
        ((QueueConfig("a", max_no_answers=-1),), "max_no_answers"),
        ((QueueConfig("a", skills={"x": 0}),), "level >= 1"),
        ((QueueConfig("a", overflow_queue="b"),), "does not exist"),
        ((QueueConfig("a", overflow_queue="a"),), "overflow loop"),
        (
            (QueueConfig("a", overflow_queue="b", overflow_target="vm"), QueueConfig("b")),
            "not both",
        ),
        (
            (
                QueueConfig("a", overflow_queue="b"),
                QueueConfig("b", overflow_queue="c"),
                QueueConfig("c", overflow_queue="a"),
            ),
            "overflow loop",
        ),
    ],
)
def test_invalid_queue_config(
    clock: ManualClock, queues: tuple[QueueConfig, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Acd(default_config(*queues), clock)


@pytest.mark.parametrize(
    "overrides",
    [
        {"seat_range": (10, 1)},
        {"employee_id_range": (5, 4)},
        {"lease_seconds": 0},
        {"direct_ring_timeout": -1},
    ],
)
def test_invalid_global_config(clock: ManualClock, overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Acd(default_config(**overrides), clock)


def test_config_error_lists_every_problem(clock: ManualClock) -> None:
    with pytest.raises(ConfigError) as info:
        Acd(default_config(QueueConfig("a", ring_timeout=0, wrap_up=-1)), clock)
    assert len(info.value.problems) == 2


def test_config_from_plain_data(clock: ManualClock) -> None:
    config = AcdConfig.from_dict(
        {
            "seat_range": [1, 50],
            "lease_seconds": 20,
            "queues": [
                {
                    "name": "billing",
                    "skills": {"billing": 2},
                    "strategy": "round_robin",
                    "max_wait": 120,
                    "overflow_target": "voicemail",
                },
            ],
        }
    )
    assert config.seat_range == (1, 50)
    assert config.queues[0].skills == {"billing": 2}
    Acd(config, clock)


def test_apply_config_live(acd: Acd) -> None:
    login(acd, 1001, ready=False)
    acd.enqueue("c1", "billing")
    bigger = default_config(QueueConfig("billing", skills={"billing": 1}), QueueConfig("outage"))
    assert acd.apply_config(bigger).ok
    acd.enqueue("c2", "outage").raise_for_error()


def test_apply_config_refusals(acd: Acd) -> None:
    acd.enqueue("c1", "billing")
    result = acd.apply_config(default_config(QueueConfig("outage")))
    assert result.error is not None and result.error.code is ErrorCode.QUEUE_IN_USE
    bad = acd.apply_config(default_config(QueueConfig("billing", ring_timeout=0)))
    assert bad.error is not None and bad.error.code is ErrorCode.CONFIG_INVALID
    assert acd.waiting("billing") == ["c1"]


def test_apply_config_resorts_queues_when_priority_is_switched_off(acd: Acd) -> None:
    acd.enqueue("a", "billing", priority=0)
    acd.enqueue("b", "billing", priority=5)
    assert acd.waiting("billing") == ["b", "a"]
    fifo = default_config(QueueConfig("billing", skills={"billing": 1}, honour_priority=False))
    acd.apply_config(fifo).raise_for_error()
    assert acd.waiting("billing") == ["a", "b"]
    assert acd.check_invariants() == []
