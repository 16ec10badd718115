"""A business event as a process hands it to its publisher (CloudEvents 1.0 attributes)."""

from __future__ import annotations

from datetime import datetime
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


class PublisherStart(BaseModel):
    """The publisher's start input (signal-with-start); its own state travels across
    continue-as-new in the fields the publisher adds."""

    process_id: str
