"""Business time: working hours, weekends, holidays and time zones (including DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.business_calendar import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
    is_business_time,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
CAL = BusinessCalendar(time_zone="Europe/Berlin")  # Mon-Fri 09:00-17:00
HOURS = timedelta(hours=1)


def berlin(y: int, m: int, d: int, h: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=BERLIN)


def test_within_one_day() -> None:
    # Tuesday 2026-11-24, 10:00 + 3 h = 13:00 the same day.
    assert add_business_time(CAL, berlin(2026, 11, 24, 10), 3 * HOURS) == berlin(2026, 11, 24, 13)


def test_three_business_days_over_a_weekend() -> None:
    # Friday 10:00 + 24 business hours: Fri 7 h, Mon 8 h, Tue 8 h, Wed 1 h -> Wednesday 10:00.
    end = add_business_time(CAL, berlin(2026, 11, 27, 10), 24 * HOURS)
    assert end == berlin(2026, 12, 2, 10)
    assert end.tzinfo is UTC
    assert business_time_between(CAL, berlin(2026, 11, 27, 10), end) == 24 * HOURS


def test_a_holiday_is_skipped_like_a_weekend() -> None:
    holiday = BusinessCalendar(time_zone="Europe/Berlin", holidays=[date(2026, 11, 30)])
    # The Monday is off too: Fri 7, Tue 8, Wed 8, Thu 1 -> Thursday 10:00.
    assert add_business_time(holiday, berlin(2026, 11, 27, 10), 24 * HOURS) == berlin(
        2026, 12, 3, 10
    )


def test_christmas_and_new_year() -> None:
    cal = BusinessCalendar(
        time_zone="Europe/Berlin",
        holidays=[date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 31), date(2027, 1, 1)],
    )
    # Wed 23 Dec 16:00 + 2 h: 1 h that day, then Mon 28 Dec 09:00-10:00.
    assert add_business_time(cal, berlin(2026, 12, 23, 16), 2 * HOURS) == berlin(2026, 12, 28, 10)


def test_a_start_outside_working_hours_counts_from_the_next_opening() -> None:
    # Saturday night and Monday 07:00 both start counting Monday 09:00.
    assert add_business_time(CAL, berlin(2026, 11, 28, 23), HOURS) == berlin(2026, 11, 30, 10)
    assert add_business_time(CAL, berlin(2026, 11, 30, 7), HOURS) == berlin(2026, 11, 30, 10)
    # Friday 17:00 sharp is closing time: one hour is Monday 10:00.
    assert add_business_time(CAL, berlin(2026, 11, 27, 17), HOURS) == berlin(2026, 11, 30, 10)
    # Ending exactly at closing stays on that day.
    assert add_business_time(CAL, berlin(2026, 11, 27, 16), HOURS) == berlin(2026, 11, 27, 17)


def test_the_calendar_time_zone_decides_not_the_callers() -> None:
    # 15:00 UTC on a Friday in winter is 16:00 in Berlin: one hour left that day.
    start = datetime(2026, 11, 27, 15, tzinfo=UTC)
    assert add_business_time(CAL, start, 2 * HOURS) == berlin(2026, 11, 30, 10)
    # The same instant in a New York calendar is 10:00 there: two hours end at 12:00 NY.
    new_york = BusinessCalendar(time_zone="America/New_York")
    end = add_business_time(new_york, start, 2 * HOURS)
    assert end == datetime(2026, 11, 27, 12, tzinfo=NEW_YORK)
    assert is_business_time(new_york, start) and is_business_time(CAL, start)
    assert not is_business_time(CAL, datetime(2026, 11, 27, 16, 30, tzinfo=UTC))


def test_across_a_daylight_saving_change() -> None:
    # Berlin leaves summer time on Sunday 2026-10-25. Friday 16:00 CEST + 2 h = Monday 10:00 CET,
    # which is 2 days 19 hours of elapsed time, not 2 days 18.
    start, end = berlin(2026, 10, 23, 16), berlin(2026, 10, 26, 10)
    assert add_business_time(CAL, start, 2 * HOURS) == end
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=2, hours=19)


def test_custom_hours_and_weekdays() -> None:
    # A Sunday-to-Thursday week with 08:00-16:00 hours (Asia/Dubai).
    cal = BusinessCalendar(
        time_zone="Asia/Dubai", day_starts=time(8), day_ends=time(16), weekdays=[7, 1, 2, 3, 4]
    )
    dubai = ZoneInfo("Asia/Dubai")
    thursday = datetime(2026, 11, 26, 15, tzinfo=dubai)
    assert add_business_time(cal, thursday, 2 * HOURS) == datetime(2026, 11, 29, 9, tzinfo=dubai)
    assert cal.hours_per_day == 8 * HOURS


def test_zero_duration_is_the_start() -> None:
    start = berlin(2026, 11, 28, 23)
    assert add_business_time(CAL, start, timedelta(0)) == start


def test_bad_input_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_time(CAL, datetime(2026, 11, 27, 10), HOURS)
    with pytest.raises(ValueError, match="must not be negative"):
        add_business_time(CAL, berlin(2026, 11, 27, 10), -HOURS)
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        BusinessCalendar(time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="weekdays are 1 \\(Monday\\) to 7"):
        BusinessCalendar(weekdays=[0, 1])
    with pytest.raises(ValidationError, match="must be before day_ends"):
        BusinessCalendar(day_starts=time(17), day_ends=time(9))
    every_day_off = BusinessCalendar(
        weekdays=[1], holidays=[date(2026, 11, 30) + timedelta(weeks=w) for w in range(60)]
    )
    with pytest.raises(ValueError, match="no working day within a year"):
        add_business_time(every_day_off, berlin(2026, 11, 27, 10), HOURS)
