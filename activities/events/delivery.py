"""Delivers a publisher's events to one sink, in the order it received them, with personal
fields left out or encrypted as configured; and tells the publisher which sinks there are.

One sink per call, so Temporal retries each on its own and a sink that is down holds back only
its own events. Every failure is retried, without limit (the publisher's policy): a sink that
refuses (4xx) is almost always a configuration matter on one side (a secret, a URL), and
dropping the event would lose it; such a refusal waits the longest interval between attempts,
and the watchdog sees the publisher lag. A retried call resumes after the last event the sink
took (heartbeat details); one it took twice is dropped by the subscriber by its id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import to_application_error
from domain.errors import IntegrationError
from domain.events import contract
from domain.events.models import (
    BusinessEvent,
    Delivery,
    DeliveryReceipt,
    SinkList,
    SinkQuery,
)
from domain.events.privacy import Encrypt, Privacy, protect
from domain.events.sinks import EventSink

# A sink that refuses (4xx other than 408/429) is asked again at the publisher's longest interval.
REFUSED_RETRY = timedelta(minutes=1)


class EventDelivery:
    def __init__(
        self, sinks: Iterable[EventSink], privacy: Privacy, encrypt: Encrypt | None = None
    ) -> None:
        self.sinks: Mapping[str, EventSink] = {sink.name: sink for sink in sinks}
        self.privacy = privacy
        self.encrypt = encrypt

    @activity.defn(name=contract.EVENT_SINKS)
    async def event_sinks(self, query: SinkQuery) -> SinkList:
        return SinkList(names=list(self.sinks))

    @activity.defn(name=contract.DELIVER_EVENTS)
    async def deliver_events(self, delivery: Delivery) -> DeliveryReceipt:
        sink = self.sinks.get(delivery.sink)
        offsets = delivery.offsets()
        last = offsets[-1] if offsets else 0
        if sink is None:
            activity.logger.warning(
                "sink %s is no longer configured: its lane closes", delivery.sink
            )
            return DeliveryReceipt(
                sink=delivery.sink, through=last, delivered=0, skipped=0, gone=True
            )
        info = activity.info()
        details = info.heartbeat_details
        done = int(details[0]) if details else 0  # a retried call resumes after this one
        delivered = skipped = 0
        for offset, event in zip(offsets, delivery.events, strict=True):
            if offset <= done:
                continue
            if sink.wants(event.type):
                await self._deliver(sink, event)
                delivered += 1
            else:
                skipped += 1
            done = offset
            if not info.is_local:  # the publisher's quick try: one attempt, nothing to resume
                activity.heartbeat(done)
        return DeliveryReceipt(sink=sink.name, through=last, delivered=delivered, skipped=skipped)

    async def _deliver(self, sink: EventSink, event: BusinessEvent) -> None:
        data = protect(event.data, self.privacy, event.id, self.encrypt)
        try:
            await sink.deliver(event.model_copy(update={"data": data}))
        except IntegrationError as err:
            failure = to_application_error(err)
            if not err.retryable:
                raise ApplicationError(
                    failure.message,
                    *failure.details,
                    type=failure.type,
                    non_retryable=False,
                    next_retry_delay=REFUSED_RETRY,
                ) from err
            raise failure from err

    def all(self) -> list[Callable[..., Any]]:
        return [self.event_sinks, self.deliver_events]
