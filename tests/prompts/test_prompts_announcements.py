"""Queue announcements: wording in both languages and how the wait is rounded."""

from __future__ import annotations

import pytest

from prompts import PromptError, queue_position_text, round_wait_minutes


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [
        (0, 0),
        (59, 0),
        (60, 1),
        (89, 1),
        (90, 2),
        (569, 9),
        (600, 10),
        (14 * 60, 15),
        (12 * 60, 10),
        (3600, 60),
        (3601, None),
    ],
)
def test_wait_is_rounded_to_minutes_then_fives(seconds: float, minutes: int | None) -> None:
    assert round_wait_minutes(seconds) == minutes


@pytest.mark.parametrize(
    ("position", "wait_s", "zh", "en"),
    [
        (
            4,
            110,
            "您前面还有3位客户，预计等待2分钟。",
            "You are number 4 in the queue. The expected wait is about 2 minutes.",
        ),
        (
            1,
            20,
            "您是下一位接听的客户，预计等待不到1分钟。",
            "You are next in the queue. The expected wait is less than a minute.",
        ),
        (
            2,
            60,
            "您前面还有1位客户，预计等待1分钟。",
            "You are number 2 in the queue. The expected wait is about 1 minute.",
        ),
        (
            30,
            7200,
            "您前面还有29位客户，预计等待超过1小时。",
            "You are number 30 in the queue. The expected wait is more than an hour.",
        ),
        (3, None, "您前面还有2位客户。", "You are number 3 in the queue."),
    ],
)
def test_sentences(position: int, wait_s: float | None, zh: str, en: str) -> None:
    assert queue_position_text(position, wait_s, "zh") == zh
    assert queue_position_text(position, wait_s, "en") == en


@pytest.mark.parametrize("position", [0, -1, True])
def test_position_starts_at_one(position: int) -> None:
    with pytest.raises(ValueError, match="queue position"):
        queue_position_text(position, 60, "en")


def test_negative_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="expected wait"):
        queue_position_text(1, -5, "en")


def test_unknown_language_is_refused() -> None:
    with pytest.raises(PromptError, match="unknown prompt language 'fr'"):
        queue_position_text(1, 60, "fr")
