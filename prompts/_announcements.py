"""The sentences the ACD plays to a caller waiting in a queue.

Wording lives here, not in the ACD, so the media issue can add announcements
next to these and translators have one file to read. Numbers stay as Arabic
digits: `render` turns them into Chinese numerals, and logs stay readable.
"""

from __future__ import annotations

from typing import Final

from ._languages import Language, check_language

_MINUTE: Final = 60
_HOUR: Final = 3600
# Past ten minutes a caller does not care about 13 versus 14, and a precise
# figure that turns out wrong does more harm than a round one.
_FINE_UNTIL_MIN: Final = 10
_COARSE_STEP_MIN: Final = 5


def round_wait_minutes(expected_wait_s: float) -> int | None:
    """Minutes to announce; 0 means "less than a minute", None "more than an hour".

    To the nearest minute up to ten minutes, then to the nearest five.
    """
    if expected_wait_s < _MINUTE:
        return 0
    if expected_wait_s > _HOUR:
        return None
    minutes = expected_wait_s / _MINUTE
    if minutes < _FINE_UNTIL_MIN:
        return max(1, int(minutes + 0.5))  # half up: 90 s is "2 minutes", as people say it
    return int(minutes / _COARSE_STEP_MIN + 0.5) * _COARSE_STEP_MIN


def queue_position_text(
    position: int, expected_wait_s: float | None, language: Language | str
) -> str:
    """The announcement for a caller at `position` (1 = answered next).

    `expected_wait_s` None (no estimate yet) leaves the wait sentence out.

    >>> queue_position_text(4, 110, "zh")
    '您前面还有3位客户，预计等待2分钟。'
    >>> queue_position_text(3, 110, "en")
    'You are number 3 in the queue. The expected wait is about 2 minutes.'
    """
    lang = check_language(language)
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise ValueError(f"queue position must be an int >= 1, got {position!r}")
    if expected_wait_s is not None and expected_wait_s < 0:
        raise ValueError(f"expected wait must be >= 0 seconds, got {expected_wait_s!r}")
    minutes = None if expected_wait_s is None else round_wait_minutes(expected_wait_s)
    if lang == "zh":
        return _zh(position, expected_wait_s is not None, minutes)
    return _en(position, expected_wait_s is not None, minutes)


def _zh(position: int, has_wait: bool, minutes: int | None) -> str:
    # Mandarin queues announce how many are ahead, not the caller's own place.
    ahead = position - 1
    first = f"您前面还有{ahead}位客户" if ahead else "您是下一位接听的客户"
    if not has_wait:
        return f"{first}。"
    if minutes is None:
        wait = "预计等待超过1小时"
    elif minutes == 0:
        wait = "预计等待不到1分钟"
    else:
        wait = f"预计等待{minutes}分钟"
    return f"{first}，{wait}。"


def _en(position: int, has_wait: bool, minutes: int | None) -> str:
    first = (
        "You are next in the queue."
        if position == 1
        else (f"You are number {position} in the queue.")
    )
    if not has_wait:
        return first
    if minutes is None:
        wait = "The expected wait is more than an hour."
    elif minutes == 0:
        wait = "The expected wait is less than a minute."
    else:
        unit = "minute" if minutes == 1 else "minutes"
        wait = f"The expected wait is about {minutes} {unit}."
    return f"{first} {wait}"
