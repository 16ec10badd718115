"""A business event as a process hands it to its publisher (CloudEvents 1.0 attributes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator


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
    """The local activity's input: a process's events. The activity picks the publisher (the
    process's shard on its events queue); an input from before the shards also names one
    (`publisher_id`), which pydantic ignores."""

    batch: EventBatch


class HandoverResult(BaseModel):
    handed_over: int  # 0 when this worker publishes nothing (no sinks configured)


# Names the first publishers (one per process) wrote in the histories and states they recorded.
_KEY = AliasChoices("key", "process_id")
_LAST = AliasChoices("last_offset", "last_sequence")


class PublisherState(BaseModel):
    """What a publisher (a shard of processes) holds: the events not yet delivered to every
    sink, in the order received, and how far each sink has got. Every event received gets the
    next offset; the pending ones have the last `len(pending)` offsets. Carried across
    continue-as-new whole."""

    key: str = Field(validation_alias=_KEY)  # the publisher's id
    pending: list[BusinessEvent] = []
    last_offset: int = Field(0, validation_alias=_LAST)  # offsets given (this chain of runs)
    # sink name → the last offset it has (delivered, or not wanted by its filter)
    lanes: dict[str, int] = {}
    # process id → the highest sequence received from it, the most recent process last: a
    # sequence received again (a retried hand-over) is dropped. Bounded (publishing.REMEMBER).
    seen: dict[str, int] = {}
    received: int = 0
    duplicates: int = 0  # sequences received again (a retried hand-over) and dropped
    runs: int = 1

    @model_validator(mode="before")
    @classmethod
    def _one_process(cls, data: Any) -> Any:
        """A state carried by a publisher of one process (before the shards): its offsets were
        that process's sequences."""
        if isinstance(data, dict) and "last_sequence" in data and "seen" not in data:
            return {**data, "seen": {data["process_id"]: data["last_sequence"]}}
        return data


class PublisherStart(BaseModel):
    """The publisher's start input (signal-with-start carries only `key`, its id); a
    continued-as-new run carries its state, and tests shorten the thresholds."""

    key: str = Field(validation_alias=_KEY)
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
    process_id: str  # the asking publisher's id (its name from before the shards)


class SinkList(BaseModel):
    names: list[str]


class Delivery(BaseModel):
    """One batch of events for one sink, in the order the publisher received them, with
    consecutive offsets from `first` (the activity's input). `first` None: a publisher of one
    process (before the shards), whose offsets were the events' sequences."""

    sink: str
    events: list[BusinessEvent]
    first: int | None = None

    def offsets(self) -> list[int]:
        if self.first is None:
            return [e.sequence for e in self.events]
        return list(range(self.first, self.first + len(self.events)))


class DeliveryReceipt(BaseModel):
    sink: str
    through: int  # the last offset the sink now has (delivered or not wanted)
    delivered: int
    skipped: int  # not wanted by the sink's type filter
    gone: bool = False  # the sink is no longer configured: its lane closes
