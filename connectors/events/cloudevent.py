"""A BusinessEvent as a CloudEvent 1.0 (the `cloudevents` SDK), and back."""

from __future__ import annotations

from cloudevents.core.v1.event import CloudEvent

from domain.events.models import BusinessEvent

# Continuum's extension attributes (lower-case alphanumerics, CloudEvents 1.0 §3.1.1).
PROCESS_ID = "continuumprocess"
SEQUENCE = "continuumsequence"


def to_cloudevent(event: BusinessEvent) -> CloudEvent:
    return CloudEvent(
        {
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time,
            "datacontenttype": "application/json",
            PROCESS_ID: event.process_id,
            SEQUENCE: event.sequence,
        },
        event.data,
    )


def from_cloudevent(cloud: CloudEvent) -> BusinessEvent:
    """Raises pydantic's ValidationError (or the SDK's) for an event Continuum did not write."""
    attributes = cloud.get_attributes()
    data = cloud.get_data()
    return BusinessEvent.model_validate(
        {
            "id": attributes["id"],
            "source": attributes["source"],
            "type": attributes["type"],
            "subject": attributes.get("subject"),
            "time": attributes.get("time"),
            "process_id": attributes.get(PROCESS_ID),
            "sequence": attributes.get(SEQUENCE),
            "data": data if isinstance(data, dict) else {},
        }
    )
