"""The publisher's rules: each sequence once, each sink its own lane in order, an event forgotten
once every sink has it; and personal fields left out or encrypted on the way out."""

from __future__ import annotations

from typing import Any

import pytest

from continuum.defaults import WATCHDOG
from domain.business_calendar import BusinessCalendar
from domain.events import contract, publishing
from domain.events.models import EventBatch, PublisherState
from domain.events.privacy import Privacy, protect
from domain.watchdog.config import parse_config
from domain.watchdog.findings import stalled_query
from domain.watchdog.rules import StalledRule
from tests.events_samples import T0, batch, event


def _state(*sinks: str) -> PublisherState:
    state = PublisherState(process_id="order-O-1")
    publishing.open_lanes(state, list(sinks))
    return state


def test_a_sequence_received_again_is_dropped() -> None:
    state = _state("a")
    assert publishing.accept(state, batch(1, 2)) == 2
    assert publishing.accept(state, batch(2, 3)) == 1  # a retried hand-over, then one new
    assert [e.sequence for e in state.pending] == [1, 2, 3]
    assert (state.received, state.duplicates, state.last_sequence) == (3, 1, 3)


def test_each_sink_has_its_own_lane_and_an_event_goes_once_every_sink_has_it() -> None:
    state = _state("a", "b")
    publishing.accept(state, batch(1, 2, 3))
    assert [e.sequence for e in publishing.due(state, "a", limit=2)] == [1, 2]
    publishing.advance(state, "a", 3)
    assert publishing.due(state, "a") == []
    assert [e.sequence for e in publishing.due(state, "b")] == [1, 2, 3]  # b is behind
    assert [e.sequence for e in state.pending] == [1, 2, 3]
    publishing.advance(state, "b", 2)
    assert [e.sequence for e in state.pending] == [3]
    assert publishing.status(state) == (contract.DELIVERING, event(3).time)
    publishing.advance(state, "b", 3)
    assert publishing.caught_up(state) and publishing.status(state) == (contract.IDLE, None)


def test_a_fresh_run_starts_its_lanes_at_the_first_sequence_it_receives() -> None:
    """A later run (the earlier one completed when idle) never waits for sequences it never had."""
    state = PublisherState(process_id="order-O-1")
    publishing.accept(state, batch(7, 8))  # the signal comes with the start, before the lanes
    publishing.open_lanes(state, ["a"])
    assert [e.sequence for e in publishing.due(state, "a")] == [7, 8]


def test_a_new_sink_gets_what_is_held_and_a_removed_one_holds_nothing_back() -> None:
    state = _state("a", "b")
    publishing.accept(state, batch(1, 2))
    publishing.advance(state, "a", 2)
    publishing.open_lanes(state, ["a", "c"])  # b left the configuration, c joined
    assert set(state.lanes) == {"a", "c"}
    assert [e.sequence for e in publishing.due(state, "c")] == [1, 2]
    publishing.close_lane(state, "c")
    assert publishing.caught_up(state)


def test_without_any_sink_nothing_is_held() -> None:
    state = _state()
    publishing.accept(state, batch(1))
    publishing.forget_delivered(state)
    assert publishing.caught_up(state)


def test_batches_are_capped() -> None:
    state = _state("a")
    publishing.accept(state, EventBatch(events=[event(n) for n in range(1, 251)]))
    assert len(publishing.due(state, "a")) == publishing.BATCH


DATA: dict[str, Any] = {
    "order_id": "O-1",
    "email": "ada@example.com",
    "customer": {"id": "C-1", "name": "Ada", "address": {"city": "Berlin"}},
    "lines": [{"sku": "A", "name": "widget"}],
}


def test_personal_fields_are_left_out_at_any_depth() -> None:
    out = protect(DATA, Privacy(), "order-O-1/1")
    assert out == {"order_id": "O-1", "customer": {"id": "C-1"}, "lines": [{"sku": "A"}]}
    assert DATA["email"] == "ada@example.com"  # the event's own data is untouched


def test_personal_fields_are_encrypted_when_configured() -> None:
    seen: list[tuple[str, str]] = []

    def encrypt(event_id: str, name: str, value: Any) -> str:
        seen.append((event_id, name))
        return f"sealed({name})"

    out = protect(DATA, Privacy(mode="encrypt", personal_fields=["email", "name"]), "e/1", encrypt)
    assert out["email"] == "sealed(email)" and out["customer"]["name"] == "sealed(name)"
    assert out["customer"]["address"] == {"city": "Berlin"}  # not named: left as it is
    assert seen == [("e/1", "email"), ("e/1", "name"), ("e/1", "name")]
    with pytest.raises(ValueError, match="codec key"):
        protect(DATA, Privacy(mode="encrypt"), "e/1")


def test_the_shipped_watchdog_sees_a_lagging_publisher() -> None:
    """Delivering since its oldest undelivered event's time, for longer than the rule allows."""
    config = parse_config(WATCHDOG.read_text(), str(WATCHDOG))
    rule = config.rule("events-publisher-lagging")
    assert isinstance(rule, StalledRule)
    query = stalled_query(rule, T0, BusinessCalendar())
    assert query.startswith("WorkflowType = 'EventPublisher' AND ExecutionStatus = 'Running'")
    assert "ProcessStatus IN ('Delivering')" in query and "StateSince < '" in query
