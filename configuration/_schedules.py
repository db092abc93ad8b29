"""Open hours and holidays: the spec of one schedule, as an operator writes it.

```yaml
timezone: Asia/Shanghai
weekly:
  mon-fri: ["08:30-17:30"]
  sat: ["09:00-12:00"]
  fri: ["22:00-02:00"]          # crosses midnight: Friday 22:00 to Saturday 02:00
holidays: [2026-10-01..2026-10-07, 2027-01-01]
workdays: [2026-09-27, 2026-10-10]   # adjusted working days: open with Monday's hours
```

The fields keep the written form, so a spec survives `model_dump` and validation
again (runtime.json); `intervals()`, `holiday_dates()` and `workday_dates()` give the
parsed values the IVR's `Schedule` is built from.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ._fields import StrictModel

__all__ = ["WEEKDAYS", "ScheduleSpec", "Weekday"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)  # index = date.weekday()

MINUTES_PER_DAY = 24 * 60
# A holiday season is days, not years: a range longer than this is a typo.
MAX_RANGE_DAYS = 366

_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_RANGE_SEP = ".."


def _minutes(text: str, where: str) -> int:
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{where}: {text!r} is not a time HH:MM")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY:
        raise ValueError(f"{where}: {text!r} is after 24:00")
    return minutes


def parse_interval(text: str) -> tuple[int, int]:
    """ "08:30-17:30" as minutes after midnight, (510, 1050). An end before the start
    crosses midnight: "22:00-02:00" is (1320, 1560), into the next day."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise ValueError(f"{text!r} is not an interval HH:MM-HH:MM")
    start = _minutes(start_text, f"interval {text!r}")
    end = _minutes(end_text, f"interval {text!r}")
    if start == MINUTES_PER_DAY:
        raise ValueError(f"interval {text!r} starts at 24:00; write 00:00")
    if end == start:
        raise ValueError(f"interval {text!r} is empty; a whole day is 00:00-24:00")
    return (start, end if end > start else end + MINUTES_PER_DAY)


def parse_days(text: str) -> list[int]:
    """ "mon-fri" as [0, 1, 2, 3, 4]; "sat" as [5]. A range may wrap: "fri-mon"."""
    first, dash, last = text.strip().lower().partition("-")
    names = [first, last] if dash else [first]
    for name in names:
        if name not in WEEKDAYS:
            raise ValueError(f"{text!r}: {name!r} is not a weekday ({', '.join(WEEKDAYS)})")
    start, end = WEEKDAYS.index(names[0]), WEEKDAYS.index(names[-1])
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]


def parse_dates(text: str) -> list[date]:
    """ "2026-10-01" or the range "2026-10-01..2026-10-07" (both ends included)."""
    first, sep, last = text.strip().partition(_RANGE_SEP)
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD"
        ) from None
    days = (end - start).days
    if days < 0:
        raise ValueError(f"{text!r}: the range ends before it starts")
    if days >= MAX_RANGE_DAYS:
        raise ValueError(f"{text!r}: a range of more than {MAX_RANGE_DAYS} days")
    return [start + timedelta(days=i) for i in range(days + 1)]


class ScheduleSpec(StrictModel):
    """When something (a queue, a number, a flow's branch) is open.

    A day is open during its weekday's intervals, unless it is in `holidays` (closed
    all day) or in `workdays` (open with the hours of `workdays_as`, whatever its
    weekday: China's adjusted working days). An interval belongs to the day it
    starts on: "22:00-02:00" on a Friday still runs into a Saturday holiday.
    """

    timezone: str = "Asia/Shanghai"
    weekly: dict[str, list[str]]
    holidays: list[str] = Field(default_factory=list)
    workdays: list[str] = Field(default_factory=list)
    workdays_as: Weekday = "mon"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai"
            ) from None
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for days, intervals in value.items():
            parse_days(days)
            for interval in intervals:
                parse_interval(interval)
        return value

    @field_validator("holidays", "workdays", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        # YAML reads 2026-10-01 as a date; keep the written text form.
        if isinstance(value, list):
            return [v.isoformat() if isinstance(v, date) else v for v in value]
        return value

    @field_validator("holidays", "workdays")
    @classmethod
    def _dates(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_dates(text)
        return value

    @model_validator(mode="after")
    def _holiday_or_workday(self) -> ScheduleSpec:
        both = self.holiday_dates() & self.workday_dates()
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"a date cannot be a holiday and a workday: {listed}")
        return self

    def intervals(self) -> dict[int, list[tuple[int, int]]]:
        """Weekday (0 = Monday) -> its intervals in minutes after midnight, sorted."""
        result: dict[int, list[tuple[int, int]]] = {day: [] for day in range(7)}
        for days, intervals in self.weekly.items():
            for day in parse_days(days):
                result[day].extend(parse_interval(i) for i in intervals)
        return {day: sorted(spans) for day, spans in result.items()}

    def holiday_dates(self) -> frozenset[date]:
        return frozenset(d for text in self.holidays for d in parse_dates(text))

    def workday_dates(self) -> frozenset[date]:
        return frozenset(d for text in self.workdays for d in parse_dates(text))
