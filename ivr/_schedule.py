"""Open hours: is a schedule open at a given moment (the flow's `open:` branches and a
queue node's `hours:`). The clock is the caller's: `is_open` takes the moment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from configuration import ScheduleSpec

_DAY_SECONDS = 24 * 3600


class Schedule:
    """Weekly open intervals in a time zone, with holidays (closed all day) and
    adjusted workdays (open with the hours of `workdays_as` whatever their weekday).

    `weekly`: weekday (0 = Monday) -> intervals in minutes after midnight; an end past
    1440 runs into the next day ("22:00-02:00" is (1320, 1560)). An interval belongs to
    the day it starts on, so a holiday closes the intervals that start on it, and an
    interval from the evening before still runs into it.
    """

    def __init__(
        self,
        timezone: str | ZoneInfo,
        weekly: Mapping[int, Iterable[tuple[int, int]]],
        *,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        workdays_as: int = 0,
    ) -> None:
        self.timezone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self._weekly = {day: tuple(sorted(weekly.get(day, ()))) for day in range(7)}
        for spans in self._weekly.values():
            for start, end in spans:
                if not 0 <= start < end <= start + 24 * 60 or start >= 24 * 60:
                    raise ValueError(f"not an interval of one day: {start}-{end} minutes")
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        if self._holidays & self._workdays:
            raise ValueError("a date cannot be a holiday and a workday")
        if not 0 <= workdays_as < 7:
            raise ValueError(f"workdays_as is a weekday 0-6, not {workdays_as}")
        self._workdays_as = workdays_as

    @classmethod
    def from_spec(cls, spec: ScheduleSpec) -> Schedule:
        from configuration import WEEKDAYS  # noqa: PLC0415 - only when a spec is given

        return cls(
            spec.timezone,
            spec.intervals(),
            holidays=spec.holiday_dates(),
            workdays=spec.workday_dates(),
            workdays_as=WEEKDAYS.index(spec.workdays_as),
        )

    def is_open(self, at: datetime) -> bool:
        """Open at the moment `at` (an aware datetime, in any zone)?"""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("is_open needs an aware datetime (a naive one has no zone)")
        local = at.astimezone(self.timezone)
        second = local.hour * 3600 + local.minute * 60 + local.second
        today = local.date()
        yesterday = today - timedelta(days=1)
        return any(start * 60 <= second < end * 60 for start, end in self._intervals(today)) or any(
            start * 60 <= second + _DAY_SECONDS < end * 60
            for start, end in self._intervals(yesterday)
        )

    def _intervals(self, day: date) -> tuple[tuple[int, int], ...]:
        """The intervals that start on `day`."""
        if day in self._holidays:
            return ()
        if day in self._workdays:
            return self._weekly[self._workdays_as]
        return self._weekly[day.weekday()]
