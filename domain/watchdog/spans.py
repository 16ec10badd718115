"""Durations as the watchdog's configuration writes them: clock time ("90s", "10m", "1h30m", "3d",
read by `domain.durations`) or business time ("16bh" business hours, "3bd" business days of the
calendar's length).

A stalled order is judged in business time where the rule says so: "three business days" left on
a Friday afternoon are over on Wednesday afternoon, not on Monday.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from domain.business_calendar import BusinessCalendar, business_time_before
from domain.durations import DurationError, parse_duration

_ZERO = re.compile(r"0+[dhms]?")
_BUSINESS = re.compile(r"(\d+(?:\.\d+)?)(bd|bh)")
EXAMPLES = "e.g. 90s, 10m, 1h30m, 3d, or business time 16bh, 3bd"


class Span(BaseModel):
    """A clock duration, or an amount of business time counted in a calendar."""

    model_config = ConfigDict(frozen=True)

    text: str
    clock: timedelta | None = None
    business_days: float = 0.0
    business_hours: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value}s"
        if isinstance(value, timedelta):
            return {"text": f"{value.total_seconds():g}s", "clock": value}
        if not isinstance(value, str):
            return value
        return parse_span(value)

    @model_serializer
    def _as_text(self) -> str:
        return self.text

    @property
    def is_business(self) -> bool:
        return self.clock is None

    def working_time(self, calendar: BusinessCalendar) -> timedelta:
        """The amount of working time a business span stands for."""
        days = timedelta(seconds=calendar.hours_per_day.total_seconds() * self.business_days)
        return days + timedelta(hours=self.business_hours)

    def as_timedelta(self) -> timedelta:
        """A clock span's duration; a business span has none without its calendar."""
        if self.clock is None:
            raise ValueError(f"{self.text} is business time: it needs a calendar")
        return self.clock

    def cutoff(self, now: datetime, calendar: BusinessCalendar) -> datetime:
        """The instant this span before `now`: a state entered before it has lasted longer."""
        if self.clock is not None:
            return now - self.clock
        return business_time_before(calendar, now, self.working_time(calendar))

    def __str__(self) -> str:
        return self.text


def parse_span(text: str) -> dict[str, Any]:
    """The fields of a Span from its text; a ValueError names the text and shows examples."""
    compact = text.strip().lower().replace(" ", "")
    if business := _BUSINESS.fullmatch(compact):
        amount, unit = float(business.group(1)), business.group(2)
        key = "business_days" if unit == "bd" else "business_hours"
        return {"text": text.strip(), key: amount}
    if _ZERO.fullmatch(compact):  # e.g. `for = "0s"`: at once
        return {"text": text.strip(), "clock": timedelta(0)}
    try:
        clock = parse_duration(compact)  # the one parser of clock durations people type
    except DurationError:
        raise ValueError(f"not a duration: {text!r} ({EXAMPLES})") from None
    return {"text": text.strip(), "clock": clock}
