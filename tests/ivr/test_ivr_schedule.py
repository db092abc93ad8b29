"""Open hours: weekly intervals in a time zone, holidays, adjusted workdays, and
intervals that cross midnight; the spec an operator writes (configuration)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from configuration import ScheduleSpec
from ivr import Schedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

SPEC = """\
timezone: Asia/Shanghai
weekly:
  mon-fri: ["08:30-17:30"]
  sat: ["09:00-12:00"]
  fri: ["22:00-02:00"]
holidays: [2026-10-01..2026-10-07, 2027-01-01]
workdays: [2026-09-27, 2026-10-10]
"""


@pytest.fixture
def office() -> Schedule:
    return Schedule.from_spec(ScheduleSpec.model_validate(yaml.safe_load(SPEC)))


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (shanghai(2026, 12, 9, 8, 29, 59), False),  # a Wednesday
        (shanghai(2026, 12, 9, 8, 30), True),
        (shanghai(2026, 12, 9, 17, 29, 59), True),
        (shanghai(2026, 12, 9, 17, 30), False),
        (shanghai(2026, 12, 12, 10, 0), True),  # Saturday morning
        (shanghai(2026, 12, 12, 13, 0), False),
        (shanghai(2026, 12, 13, 10, 0), False),  # Sunday
    ],
)
def test_weekly_hours(office: Schedule, moment: datetime, open_: bool) -> None:
    assert office.is_open(moment) is open_


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (shanghai(2026, 12, 11, 21, 59), False),  # Friday
        (shanghai(2026, 12, 11, 23, 0), True),
        (shanghai(2026, 12, 12, 1, 59), True),  # Saturday, still Friday's interval
        (shanghai(2026, 12, 12, 2, 0), False),
        (shanghai(2026, 12, 10, 23, 0), False),  # Thursday has no night interval
    ],
)
def test_an_interval_crosses_midnight(office: Schedule, moment: datetime, open_: bool) -> None:
    assert office.is_open(moment) is open_


def test_holidays_close_the_day_and_the_intervals_that_start_on_it(office: Schedule) -> None:
    assert not office.is_open(shanghai(2026, 10, 1, 10, 0))  # a Thursday in Golden Week
    assert not office.is_open(shanghai(2026, 10, 2, 23, 0))  # Friday night, a holiday
    assert not office.is_open(shanghai(2026, 10, 3, 1, 0))  # ... and its tail on Saturday
    assert office.is_open(shanghai(2026, 10, 8, 10, 0))  # after the range
    assert not office.is_open(shanghai(2027, 1, 1, 10, 0))


def test_an_interval_of_the_evening_before_runs_into_a_holiday() -> None:
    schedule = Schedule(SHANGHAI, {4: [(22 * 60, 26 * 60)]}, holidays=[date(2026, 12, 12)])
    assert schedule.is_open(shanghai(2026, 12, 12, 1, 0))


def test_workdays_open_with_mondays_hours(office: Schedule) -> None:
    assert office.is_open(shanghai(2026, 9, 27, 8, 30))  # a Sunday worked
    assert not office.is_open(shanghai(2026, 9, 27, 17, 30))
    assert office.is_open(shanghai(2026, 10, 10, 16, 0))  # a Saturday with Monday's hours
    spec = ScheduleSpec.model_validate(
        {**yaml.safe_load(SPEC), "workdays_as": "sat", "workdays": ["2026-09-27"]}
    )
    assert not Schedule.from_spec(spec).is_open(shanghai(2026, 9, 27, 16, 0))


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (datetime(2026, 12, 9, 0, 30, tzinfo=UTC), True),  # 08:30 in Shanghai
        (datetime(2026, 12, 9, 0, 29, tzinfo=UTC), False),
        (datetime(2026, 12, 8, 19, 30, tzinfo=NEW_YORK), True),  # Wednesday 08:30 there
        (datetime(2026, 12, 11, 14, 0, tzinfo=UTC), True),  # Friday 22:00 in Shanghai
        (datetime(2026, 9, 30, 17, 0, tzinfo=UTC), False),  # 1 October 01:00: a holiday
    ],
)
def test_any_time_zone_is_seen_in_the_schedules_zone(
    office: Schedule, moment: datetime, open_: bool
) -> None:
    assert office.is_open(moment) is open_


def test_a_schedule_in_a_zone_with_daylight_saving() -> None:
    nine_to_five = Schedule(NEW_YORK, {day: [(9 * 60, 17 * 60)] for day in range(5)})
    summer = datetime(2026, 7, 1, 13, 0, tzinfo=UTC)  # 09:00 EDT
    winter = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert nine_to_five.is_open(summer)
    assert not nine_to_five.is_open(winter)
    assert nine_to_five.is_open(winter + timedelta(hours=1))


def test_a_naive_moment_is_refused(office: Schedule) -> None:
    with pytest.raises(ValueError, match="aware"):
        office.is_open(datetime(2026, 12, 9, 10, 0))


def test_whole_days() -> None:
    spec = ScheduleSpec.model_validate({"weekly": {"sun": ["00:00-24:00"]}})
    always_sunday = Schedule.from_spec(spec)
    assert always_sunday.is_open(shanghai(2026, 12, 13, 0, 0))
    assert always_sunday.is_open(shanghai(2026, 12, 13, 23, 59, 59))
    assert not always_sunday.is_open(shanghai(2026, 12, 14, 0, 0))


# ------------------------------------------------------------------ the spec


def test_the_spec_keeps_its_written_form_through_a_dump() -> None:
    spec = ScheduleSpec.model_validate(yaml.safe_load(SPEC))
    assert spec.holidays == ["2026-10-01..2026-10-07", "2027-01-01"]
    again = ScheduleSpec.model_validate(spec.model_dump(mode="json"))
    assert again == spec
    assert len(spec.holiday_dates()) == 8
    assert spec.intervals()[4] == [(510, 1050), (1320, 1560)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"weekly": {"mon": ["8:30"]}}, "'8:30' is not an interval HH:MM-HH:MM"),
        ({"weekly": {"mon": ["08:30-25:00"]}}, "'25:00' is not a time HH:MM"),
        ({"weekly": {"mon": ["08:30-08:30"]}}, "is empty; a whole day is 00:00-24:00"),
        ({"weekly": {"funday": ["08:30-17:30"]}}, "'funday' is not a weekday"),
        ({"holidays": ["2026-10-07..2026-10-01"]}, "the range ends before it starts"),
        ({"holidays": ["1 October"]}, "is not a date YYYY-MM-DD"),
        ({"holidays": ["2026-10-01"], "workdays": ["2026-10-01"]}, "a holiday and a workday"),
        ({"weekly": {"mon": []}, "workdays_as": "monday"}, "workdays_as"),
        ({"opening": {}}, "opening"),
    ],
)
def test_spec_errors(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleSpec.model_validate({"weekly": {"mon": ["08:30-17:30"]}, **change})


def test_day_ranges_may_wrap() -> None:
    spec = ScheduleSpec.model_validate({"weekly": {"fri-mon": ["10:00-11:00"]}})
    assert [day for day, spans in spec.intervals().items() if spans] == [0, 4, 5, 6]
