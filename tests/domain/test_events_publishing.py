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
    state = PublisherState(key="continuum-events-3")
    publishing.open_lanes(state, list(sinks))
    return state


def _due(state: PublisherState, sink: str, limit: int = publishing.BATCH) -> list[str]:
    return [e.id for e in publishing.due(state, sink, limit)[1]]


def _ids(*sequences: int, process: str = "order-O-1") -> list[str]:
    return [contract.event_id(process, n) for n in sequences]


def test_a_sequence_received_again_is_dropped() -> None:
    state = _state("a")
    assert publishing.accept(state, batch(1, 2)) == 2
    assert publishing.accept(state, batch(2, 3)) == 1  # a retried hand-over, then one new
    assert [e.sequence for e in state.pending] == [1, 2, 3]
    assert (state.received, state.duplicates, state.last_offset) == (3, 1, 3)


def test_the_processes_of_a_shard_are_kept_apart_and_each_in_order() -> None:
    state = _state("a")
    publishing.accept(state, batch(1, 2, process_id="order-O-1"))
    publishing.accept(state, batch(1, process_id="order-O-2"))  # its own sequence 1: new
    publishing.accept(state, batch(2, 3, process_id="order-O-1"))  # 2 again: dropped
    assert _due(state, "a") == [*_ids(1, 2), *_ids(1, process="order-O-2"), *_ids(3)]
    assert state.seen == {"order-O-2": 1, "order-O-1": 3}  # the most recent last
    first, events = publishing.due(state, "a", limit=2)
    assert first == 1 and len(events) == 2
    publishing.advance(state, "a", 2)
    assert publishing.due(state, "a")[0] == 3
    assert _due(state, "a") == [*_ids(1, process="order-O-2"), *_ids(3)]


def test_each_sink_has_its_own_lane_and_an_event_goes_once_every_sink_has_it() -> None:
    state = _state("a", "b")
    publishing.accept(state, batch(1, 2, 3))
    assert _due(state, "a", limit=2) == _ids(1, 2)
    publishing.advance(state, "a", 3)
    assert _due(state, "a") == []
    assert _due(state, "b") == _ids(1, 2, 3)  # b is behind
    assert [e.sequence for e in state.pending] == [1, 2, 3]
    publishing.advance(state, "b", 2)
    assert [e.sequence for e in state.pending] == [3]
    assert publishing.status(state) == (contract.DELIVERING, event(3).time)
    publishing.advance(state, "b", 3)
    assert publishing.caught_up(state) and publishing.status(state) == (contract.IDLE, None)


def test_a_fresh_run_starts_its_lanes_at_the_first_event_it_receives() -> None:
    """A later run (the earlier one completed when idle) never waits for events it never had."""
    state = PublisherState(key="continuum-events-3")
    publishing.accept(state, batch(7, 8))  # the signal comes with the start, before the lanes
    publishing.open_lanes(state, ["a"])
    assert _due(state, "a") == _ids(7, 8)


def test_a_new_sink_gets_what_is_held_and_a_removed_one_holds_nothing_back() -> None:
    state = _state("a", "b")
    publishing.accept(state, batch(1, 2))
    publishing.advance(state, "a", 2)
    publishing.open_lanes(state, ["a", "c"])  # b left the configuration, c joined
    assert set(state.lanes) == {"a", "c"}
    assert _due(state, "c") == _ids(1, 2)
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
    assert len(_due(state, "a")) == publishing.BATCH


def test_the_processes_remembered_are_bounded_the_oldest_forgotten_first() -> None:
    state = _state()
    for n in range(publishing.REMEMBER + 5):
        publishing.accept(state, batch(1, process_id=f"order-{n}"))
    assert len(state.seen) == publishing.REMEMBER
    assert "order-4" not in state.seen and f"order-{publishing.REMEMBER + 4}" in state.seen


def test_a_state_carried_by_a_publisher_of_one_process_reads_as_a_shard() -> None:
    """Histories recorded before the shards carry the first publishers' state."""
    old = {
        "process_id": "order-O-1",
        "pending": [event(3).model_dump(mode="json")],
        "last_sequence": 3,
        "lanes": {"a": 2},
    }
    state = PublisherState.model_validate(old)
    assert (state.key, state.last_offset, state.seen) == ("order-O-1", 3, {"order-O-1": 3})
    assert _due(state, "a") == _ids(3)
    assert publishing.accept(state, batch(3, 4)) == 1  # 3 was had already


def test_a_process_always_reaches_the_same_shard_of_its_queue() -> None:
    shards = {contract.publisher_id(f"order-O-{n}") for n in range(200)}
    assert shards == {f"continuum-events-{k}" for k in range(contract.SHARDS)}
    assert sorted(contract.publisher_ids()) == sorted(shards)
    assert contract.publisher_id("order-O-1") == contract.publisher_id("order-O-1")
    assert contract.publisher_id("order-O-1", "events-t1").startswith("events-t1-")


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
