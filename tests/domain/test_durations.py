"""Durations as operators type them: what is read, what is refused, and the way back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.durations import DurationError, parse_duration, spoken


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("1d", timedelta(days=1)),
        ("90m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("1m30s", timedelta(seconds=90)),
    ],
)
def test_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "2", "h", "2 hours", "1h1h", "-1h", "1.5.h", "2w", "1h30", "1m1m"]
)
def test_refused_with_the_way_to_write_it(text: str) -> None:
    with pytest.raises(DurationError, match="is not a duration: write it like 2h"):
        parse_duration(text)


def test_zero_is_refused() -> None:
    with pytest.raises(DurationError, match="above zero"):
        parse_duration("0m")


@pytest.mark.parametrize("text", ["2h", "1h30m", "45s", "1d2h3m4s"])
def test_spoken_reads_back(text: str) -> None:
    assert spoken(parse_duration(text)) == text
