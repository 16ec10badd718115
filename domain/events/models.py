"""A business event as a process hands it to its publisher (CloudEvents 1.0 attributes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BusinessEvent(BaseModel):
    """One CloudEvent before it is bound to a transport. `data` is the `model_dump(mode="json")`
    of the type's pydantic model; personal fields are stripped or encrypted on delivery, by
    configuration, never here (the workflow's history is already encrypted by the codec)."""

    model_config = ConfigDict(frozen=True)

    id: str  # contract.event_id(process_id, sequence)
    source: str  # "/continuum/orders", "/continuum/purchases", ...
    type: str  # versioned: "order.paid.v1"
    subject: str  # the business key: order id, requisition id, alert fingerprint
    time: datetime  # workflow.now() when the process emitted it
    process_id: str  # the emitting workflow's id
    sequence: int = Field(ge=1)  # 1, 2, 3... per process, across continue-as-new
    data: dict[str, Any]


class EventBatch(BaseModel):
    """Events handed over at once, in sequence order (signal `publish`)."""

    events: list[BusinessEvent]


class Handover(BaseModel):
    """The local activity's input: which publisher, which events."""

    publisher_id: str
    batch: EventBatch


class HandoverResult(BaseModel):
    handed_over: int  # 0 when this worker publishes nothing (no sinks configured)


class PublisherState(BaseModel):
    """What a publisher holds: the events not yet delivered to every sink, in sequence order,
    and how far each sink has got. Carried across continue-as-new whole."""

    process_id: str
    pending: list[BusinessEvent] = []
    last_sequence: int = 0  # the highest sequence received (this chain of runs)
    # sink name → the last sequence it has (delivered, or not wanted by its filter)
    lanes: dict[str, int] = {}
    received: int = 0
    duplicates: int = 0  # sequences received again (a retried hand-over) and dropped
    runs: int = 1


class PublisherStart(BaseModel):
    """The publisher's start input (signal-with-start carries only `process_id`); a
    continued-as-new run carries its state, and tests shorten the thresholds."""

    process_id: str
    state: PublisherState | None = None
    # Continue as new past this many history events (or when Temporal suggests it).
    continue_after_events: int = Field(2_000, ge=100)
    # Every sink has everything and nothing arrived for this long: the run completes (a later
    # hand-over starts a fresh one; consumers drop a repeated id).
    idle_after: timedelta = timedelta(minutes=10)
    # Before continuing as new, deliveries under way get this long to finish; one still
    # retrying then (its sink is down) is cancelled and sent again by the next run.
    grace: timedelta = timedelta(seconds=30)


class SinkQuery(BaseModel):
    process_id: str


class SinkList(BaseModel):
    names: list[str]


class Delivery(BaseModel):
    """One batch of events, in sequence order, for one sink (the activity's input)."""

    sink: str
    events: list[BusinessEvent]


class DeliveryReceipt(BaseModel):
    sink: str
    through: int  # the last sequence the sink now has (delivered or not wanted)
    delivered: int
    skipped: int  # not wanted by the sink's type filter
    gone: bool = False  # the sink is no longer configured: its lane closes
