"""Durations as people type them (`2h`, `90m`, `1h30m`, `2d`, `250ms`): one parser, one clear
refusal, for the CLI, the watchdog's rules and the incident plans' retry options alike."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """`2h`, `30m`, `1h30m`, `45s`, `1d`, `250ms`, `1.5s`: each unit at most once, above zero."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = _PART.findall(cleaned)
    units = [unit for _, unit in parts]
    if not cleaned or "".join(n + u for n, u in parts) != cleaned or len(set(units)) != len(units):
        raise DurationError(f"{text!r} is not a duration: write it like 2h, 30m, 1h30m, 45s or 1d")
    duration = timedelta(seconds=sum(float(number) * _SECONDS[unit] for number, unit in parts))
    if duration <= timedelta(0):
        raise DurationError(f"{text!r} is not a duration above zero")
    return duration


def spoken(duration: timedelta) -> str:
    """`1h30m` for 90 minutes: the form `parse_duration` reads back."""
    seconds = int(duration.total_seconds())
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"
