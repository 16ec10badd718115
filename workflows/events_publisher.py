"""EventPublisher: one per shard of processes (`contract.publisher_id`), it takes their business
events (signal `publish`, by signal-with-start from each process's hand-over) and delivers them
to every sink in the order received (so each process's in sequence order), each sink on its
own lane: a subscriber down for an hour delays only its own deliveries.

Deliveries are activities on the events worker's queue, retried by Temporal without limit, a
batch of a sink's waiting events per call, across the shard's processes (while one delivery is
under way, what arrives joins the next). A process's sequence received twice is dropped. The run
continues as new when its history grows, carrying what it still holds, and completes once every
sink has everything and nothing came for `idle_after`; a later hand-over starts a fresh run.
ProcessStatus/StateSince say whether events wait and since when (the watchdog's lag rule).
The rules live in `domain.events.publishing`; this file waits and delivers.

Since the "quick-delivery" patch a delivery is first tried once as a local activity (one
marker in the history instead of an activity's three events and a workflow task); a sink that
fails it or is slow goes over to the durable activity above, retried without limit, until one
succeeds. Only then is the publisher Delivering (its lag), and one timer per run tells when it
went idle, instead of one per wait: a healthy hand-over costs the shard about five events.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import exceptions, workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.events.delivery import EventDelivery
    from domain.events import contract, publishing
    from domain.events.models import (
        Delivery,
        DeliveryReceipt,
        EventBatch,
        PublisherStart,
        PublisherState,
        SinkQuery,
    )
    from workflows import search_attributes as sa

# Retried without limit (a subscriber down for a day gets everything afterwards), at most a
# minute apart; a dead worker is noticed within the heartbeat timeout.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
DELIVERY_TIMEOUT = timedelta(minutes=5)  # a batch of 100 POSTs of at most 10 s... and margin
DELIVERY_HEARTBEAT = timedelta(seconds=30)
# The quick try: one attempt, within a workflow task's time (10 s) with margin.
QUICK_TRY = timedelta(seconds=5)
QUICK = "quick-delivery"


# Outside the sandbox: entering it on every activation was a third of the events worker's CPU
# (py-spy, `benchmarks.orders --events`), paid per hand-over. The publisher keeps no module
# state and imports only pure domain rules; its recorded histories prove it deterministic.
@workflow.defn(name=contract.PUBLISHER_WORKFLOW, sandboxed=False)
class EventPublisher:
    @workflow.init
    def __init__(self, start: PublisherStart) -> None:
        self._state = start.state or PublisherState(key=start.key)
        self._changes = 0  # bumped by every signal and finished delivery: the loop looks again
        self._running: dict[str, asyncio.Task[None]] = {}
        self._shown: tuple[str, datetime | None] | None = None
        self._stopping = False  # deliveries cancelled for continue-as-new
        self._quick = False  # the "quick-delivery" patch: set by `run`
        self._slow: set[str] = set()  # sinks whose quick try failed, until a delivery succeeds
        self._last_change = workflow.now()
        self._idle = False  # nothing came for `idle_after` (set by the run's one idle timer)
        self._idle_watch: asyncio.Task[None] | None = None

    @workflow.signal(name=contract.PUBLISH)
    def publish(self, batch: EventBatch) -> None:
        if publishing.accept(self._state, batch):
            self._changes += 1
            self._last_change = workflow.now()

    @workflow.query(name=contract.STATE)
    def state(self) -> PublisherState:
        return self._state

    @workflow.run
    async def run(self, start: PublisherStart) -> PublisherState:
        state = self._state
        self._quick = workflow.patched(QUICK)
        if self._quick:
            self._idle_watch = asyncio.ensure_future(self._watch_idle(start.idle_after))
        sinks = await workflow.execute_local_activity_method(
            EventDelivery.event_sinks,
            SinkQuery(process_id=state.key),
            start_to_close_timeout=timedelta(seconds=10),
        )
        publishing.open_lanes(state, sinks.names)
        while True:
            publishing.forget_delivered(state)
            due = self._history_is_long(start)
            if not due:
                for sink in state.lanes:
                    if sink not in self._running and publishing.due(state, sink)[1]:
                        self._running[sink] = asyncio.ensure_future(self._deliver(sink))
            self._show()
            if due:
                await self._stop_deliveries(start.grace)
                await workflow.wait_condition(workflow.all_handlers_finished)
                state.runs += 1
                workflow.continue_as_new(
                    PublisherStart(
                        key=state.key,
                        state=state,
                        continue_after_events=start.continue_after_events,
                        idle_after=start.idle_after,
                        grace=start.grace,
                    )
                )
            if self._running or not publishing.caught_up(state):
                await self._next_change()
            elif self._quick:
                self._idle = False
                await self._next_change()  # the idle timer's firing counts as one
                if self._idle:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if publishing.caught_up(state) and not self._running:
                        return state
            elif not await self._next_change(idle_after=start.idle_after):
                await workflow.wait_condition(workflow.all_handlers_finished)
                if publishing.caught_up(state) and not self._running:
                    return state

    async def _stop_deliveries(self, grace: timedelta) -> None:
        """Before continuing as new: the deliveries under way get `grace` to finish; one
        still retrying then (its sink is down) is cancelled, and the next run sends its batch
        again (what the sink took of it twice, it drops by id)."""
        try:
            await workflow.wait_condition(
                lambda: not self._running, timeout=grace, timeout_summary="deliveries finish"
            )
        except TimeoutError:
            self._stopping = True
            for task in self._running.values():
                task.cancel()
            await workflow.wait_condition(lambda: not self._running)

    async def _next_change(self, idle_after: timedelta | None = None) -> bool:
        """Waits for a signal or a finished delivery; False when `idle_after` passed first."""
        seen = self._changes
        try:
            await workflow.wait_condition(
                lambda: self._changes != seen, timeout=idle_after, timeout_summary="idle"
            )
        except TimeoutError:
            return False
        return True

    async def _watch_idle(self, idle_after: timedelta) -> None:
        """One timer at a time for the whole run: when it fires, a change since it started
        sets the next one for the rest of `idle_after` after that change."""
        while True:
            quiet = workflow.now() - self._last_change
            if quiet >= idle_after:
                self._idle = True
                self._changes += 1
                # The run ends, or goes on (something came meanwhile): a fresh period then.
                await workflow.wait_condition(lambda: not self._idle)
                self._last_change = workflow.now()
                continue
            await workflow.sleep(idle_after - quiet, summary="idle")

    async def _deliver(self, sink: str) -> None:
        state = self._state
        first, batch = publishing.due(state, sink)
        delivery = Delivery(sink=sink, events=batch, first=first)
        try:
            receipt = await self._quick_try(delivery)
            if receipt is None and self._stopping:
                return  # cancelled for continue-as-new: the next run sends it
            if receipt is None:
                receipt = await workflow.execute_activity_method(
                    EventDelivery.deliver_events,
                    delivery,
                    start_to_close_timeout=DELIVERY_TIMEOUT,
                    heartbeat_timeout=DELIVERY_HEARTBEAT,
                    retry_policy=DELIVERY_RETRY,
                    summary=f"{len(batch)} event(s) to {sink}",
                )
            self._slow.discard(sink)
        except asyncio.CancelledError:
            if not self._stopping:
                raise  # the publisher itself is cancelled
            return
        finally:
            del self._running[sink]
            self._changes += 1
            self._last_change = workflow.now()
        if receipt.gone:
            publishing.close_lane(state, sink)
        else:
            publishing.advance(state, sink, receipt.through)

    async def _quick_try(self, delivery: Delivery) -> DeliveryReceipt | None:
        """One local attempt (a sink not known to be failing); None when it failed: the
        durable activity takes over, and the publisher shows the sink's lag meanwhile."""
        if not self._quick or delivery.sink in self._slow:
            return None
        try:
            receipt: DeliveryReceipt = await workflow.execute_local_activity_method(
                EventDelivery.deliver_events,
                delivery,
                start_to_close_timeout=QUICK_TRY,
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=f"{len(delivery.events)} event(s) to {delivery.sink}",
            )
        except (exceptions.ActivityError, exceptions.ApplicationError, exceptions.TimeoutError):
            # A local activity's failure comes as the activity's own error, not ActivityError.
            self._slow.add(delivery.sink)
            self._show()
            return None
        return receipt

    def _history_is_long(self, start: PublisherStart) -> bool:
        info = workflow.info()
        length = info.get_current_history_length()
        return info.is_continue_as_new_suggested() or length >= start.continue_after_events

    def _show(self) -> None:
        """ProcessStatus and StateSince, written only when they change."""
        status, since = publishing.status(self._state)
        if self._quick and not self._slow:
            # Quick deliveries are under way, not lagging: no upsert per hand-over.
            status, since = contract.IDLE, None
        if self._shown == (status, since):
            return
        self._shown = (status, since)
        updates: list[SearchAttributeUpdate[Any]] = [sa.PROCESS_STATUS.value_set(status)]
        updates.append(sa.STATE_SINCE.value_set(since or workflow.now()))
        workflow.upsert_search_attributes(updates)
