"""The dead-letter format: the inbound message as it came, plus why, where from and when; and
the broker configuration's own check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from continuum.events.broker import (
    DEAD_CODE,
    DEAD_REASON,
    DEAD_SEQUENCE,
    DEAD_SUBJECT,
    MSG_ID,
    dead_letter,
)
from continuum.events.config import Nats


def test_a_dead_letter_keeps_the_message_and_says_why_on_one_line() -> None:
    original = {"X-Continuum-Signature": "t=1,v1=ab", MSG_ID: "evt-1"}
    subject, headers = dead_letter(
        Nats(),
        "continuum.inbound.carrier",
        original,
        42,
        "MalformedEvent",
        "data.order_id: Field required;\nbody\r\nsecond line",
        datetime(2026, 12, 7, 0, 1, 2, tzinfo=UTC),
    )
    assert subject == "continuum.deadletter.carrier"
    assert headers["X-Continuum-Signature"] == "t=1,v1=ab"  # so a re-drive still verifies
    assert headers[DEAD_CODE] == "MalformedEvent"
    assert headers[DEAD_REASON] == "data.order_id: Field required; body second line"
    assert headers[DEAD_SUBJECT] == "continuum.inbound.carrier"
    assert headers[DEAD_SEQUENCE] == "42"
    # Dead-lettered twice (a consumer died before its ack): stored once.
    assert headers[MSG_ID] == "dead-42"


def test_the_duplicate_window_must_fit_in_what_the_streams_keep() -> None:
    with pytest.raises(ValidationError, match="must not exceed max_age_days"):
        Nats(duplicate_window_seconds=8 * 86_400, max_age_days=7)
    assert Nats(duplicate_window_seconds=7 * 86_400, max_age_days=7).max_age_days == 7
