"""Business time: working hours on working days in one time zone, minus holidays.

SLAs are counted in business time, so "three business days" started on a Friday afternoon ends
on Wednesday afternoon, not on Monday. Pure: callers pass the instants (workflow.now() in a
workflow); zoneinfo only reads the time-zone rules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NO_TIME = timedelta(0)
# A calendar that has no working time for this many days in a row is refused as broken.
_MAX_IDLE_DAYS = 366


class BusinessCalendar(BaseModel):
    model_config = ConfigDict(frozen=True)

    time_zone: str = "Europe/Berlin"
    day_starts: time = time(9, 0)
    day_ends: time = time(17, 0)
    # ISO weekdays: 1 = Monday ... 7 = Sunday.
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    holidays: list[date] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from None
        return value

    @field_validator("weekdays")
    @classmethod
    def _iso_weekdays(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one working weekday is needed")
        if bad := [d for d in value if not 1 <= d <= 7]:
            raise ValueError(f"weekdays are 1 (Monday) to 7 (Sunday), got {bad}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _day_has_hours(self) -> BusinessCalendar:
        if self.day_starts >= self.day_ends:
            raise ValueError(
                f"day_starts {self.day_starts} must be before day_ends {self.day_ends}"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def hours_per_day(self) -> timedelta:
        day = date(2000, 1, 3)
        return datetime.combine(day, self.day_ends) - datetime.combine(day, self.day_starts)

    def is_working_day(self, day: date) -> bool:
        return day.isoweekday() in self.weekdays and day not in self.holidays

    def working_window(self, day: date) -> tuple[datetime, datetime] | None:
        """That day's working hours as aware instants, or None on a day off."""
        if not self.is_working_day(day):
            return None
        zone = self.zone
        opens = datetime.combine(day, self.day_starts, tzinfo=zone)
        return opens, datetime.combine(day, self.day_ends, tzinfo=zone)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"business time needs an aware datetime, got naive {instant}")
    return instant


def add_business_time(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant when `duration` of working time has passed after `start` (in UTC)."""
    if duration < _NO_TIME:
        raise ValueError(f"duration must not be negative, got {duration}")
    if duration == _NO_TIME:
        return _aware(start).astimezone(UTC)
    start = _aware(start).astimezone(calendar.zone)
    left, day, idle = duration, start.date(), 0
    while True:
        window = calendar.working_window(day)
        if window is None:
            idle += 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"no working day within a year after {start.date()}")
        else:
            idle = 0
            opens, closes = max(window[0], start), window[1]
            if opens < closes:
                # Wall-clock arithmetic across a DST change is done in UTC to stay exact.
                opens_utc, closes_utc = opens.astimezone(UTC), closes.astimezone(UTC)
                if left <= closes_utc - opens_utc:
                    return opens_utc + left
                left -= closes_utc - opens_utc
        day += timedelta(days=1)


def business_time_before(
    calendar: BusinessCalendar, end: datetime, duration: timedelta
) -> datetime:
    """The latest instant from which `duration` of working time has passed by `end` (in UTC):
    the mirror of `add_business_time`, for "in this state longer than N business hours"."""
    if duration < _NO_TIME:
        raise ValueError(f"duration must not be negative, got {duration}")
    end = _aware(end).astimezone(calendar.zone)
    if duration == _NO_TIME:
        return end.astimezone(UTC)
    left, day, idle = duration, end.date(), 0
    while True:
        window = calendar.working_window(day)
        if window is None:
            idle += 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"no working day within a year before {end.date()}")
        else:
            idle = 0
            opens, closes = window[0], min(window[1], end)
            if opens < closes:
                opens_utc, closes_utc = opens.astimezone(UTC), closes.astimezone(UTC)
                if left <= closes_utc - opens_utc:
                    return closes_utc - left
                left -= closes_utc - opens_utc
        day -= timedelta(days=1)


def business_time_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """Working time from `start` to `end` (zero when `end` is not after `start`)."""
    start = _aware(start).astimezone(calendar.zone)
    end = _aware(end).astimezone(calendar.zone)
    total, day = _NO_TIME, start.date()
    while day <= end.date():
        window = calendar.working_window(day)
        if window is not None:
            opens, closes = max(window[0], start), min(window[1], end)
            if opens < closes:
                total += closes.astimezone(UTC) - opens.astimezone(UTC)
        day += timedelta(days=1)
    return total


def is_business_time(calendar: BusinessCalendar, instant: datetime) -> bool:
    local = _aware(instant).astimezone(calendar.zone)
    window = calendar.working_window(local.date())
    return window is not None and window[0] <= local < window[1]


def business_hours(hours: float) -> timedelta:
    """A duration of business time given in hours, as configuration writes it."""
    if hours < 0:
        raise ValueError(f"business hours must not be negative, got {hours}")
    return timedelta(hours=hours)
