"""Alert: one condition (rule + subject), from the first firing observation to its resolution.

The watchdog (or the gateway, for Alertmanager) signals `observe` on every evaluation; the alert
fires once firing has held for `for_`, pages level 1 at once and the next levels on durable
timers until someone acknowledges, reminds at the route's interval, and resolves once clear has
held for `clear_after`, telling everyone it paged. Each page is its own activity, so a failing
channel is retried by Temporal without holding back the next level. The rules live in
`domain.alerts.lifecycle`; this file waits and tells.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.alerts.delivery import AlertDelivery
    from domain.alerts import lifecycle, notices
    from domain.alerts.contract import (
        WORKFLOW_NAME,
        Acknowledgement,
        AlertInput,
        AlertState,
        Message,
        Observation,
        Receiver,
        Silence,
    )
    from domain.alerts.lifecycle import Action
    from domain.alerts.notices import NoticeKind
    from domain.events import alerts as events
    from workflows import search_attributes as sa
    from workflows.events import Events
    from workflows.failures import reason
    from workflows.policies import ALERT_DELIVERY

# Alerts started before it hand over no business events (their histories have no markers).
EVENTS_PATCH = "alert-events"


@workflow.defn(name=WORKFLOW_NAME)
class Alert:
    @workflow.init
    def __init__(self, source: AlertInput) -> None:
        self._state = lifecycle.new_state(source, workflow.now())
        self._changes = 0  # bumped by every signal and update: the main loop looks again
        self._sending: set[asyncio.Task[None]] = set()
        self._reopen: Observation | None = None  # firing seen after it resolved
        self._published: list[Any] | None = None
        info = workflow.info()
        # An alert that fires again after it ended reuses the id: events are numbered per chain.
        process = events.process_id(info.workflow_id, info.first_execution_run_id)
        self._events = Events(process, events.SOURCE, EVENTS_PATCH, source.events_sequence)

    @workflow.run
    async def run(self, source: AlertInput) -> AlertState:
        state = self._state
        self._publish()
        while state.status.is_open:
            if self._history_is_long() and not self._sending:
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._events.flush()
                workflow.continue_as_new(self._numbered(lifecycle.carried(state)))
            now = workflow.now()
            if step := lifecycle.due(state, now):
                self._act(step, now)
                self._publish()
                continue
            await self._wait(lifecycle.wake_at(state))
        # Resolved or dismissed: the last pages go out (and are answered) before it ends.
        await workflow.wait_condition(
            lambda: not self._sending and workflow.all_handlers_finished()
        )
        await self._events.flush()
        if self._reopen is not None:
            # The condition came back while the resolution went out: a new occurrence.
            seen = self._reopen
            reopened = lifecycle.reopened(state, workflow.now(), seen.detail)
            workflow.continue_as_new(self._numbered(reopened))
        return state

    def _numbered(self, next_run: AlertInput) -> AlertInput:
        """The next run's input numbers its business events on from this run's."""
        return next_run.model_copy(update={"events_sequence": self._events.sequence})

    def _history_is_long(self) -> bool:
        info = workflow.info()
        length = info.get_current_history_length()
        return info.is_continue_as_new_suggested() or length > lifecycle.CONTINUE_AFTER_EVENTS

    async def _wait(self, until: datetime | None) -> None:
        seen = self._changes
        timeout = None if until is None else max(until - workflow.now(), _TICK)
        with contextlib.suppress(asyncio.TimeoutError):
            await workflow.wait_condition(
                lambda: self._changes != seen, timeout=timeout, timeout_summary="alert timer"
            )

    def _act(self, step: lifecycle.Due, now: datetime) -> None:
        state = self._state
        if step.action is Action.FIRE:
            lifecycle.fire(state, now)
            self._events.emit(events.FIRED, state.input.fingerprint, events.fired(state))
        elif step.action is Action.NOTIFY:
            kind = NoticeKind.FIRING if step.level == 1 else NoticeKind.ESCALATION
            event = f"{kind.value}-{step.level}"
            receivers = lifecycle.notify(state, step.level, now)
            if step.level > 1:
                escalated = events.escalated(state, step.level, receivers)
                self._events.emit(events.ESCALATED, state.input.fingerprint, escalated)
            self._tell(kind, event, step.level, receivers)
        elif step.action is Action.REPEAT:
            receivers = lifecycle.repeat(state, now)
            self._tell(NoticeKind.REPEAT, f"repeat-{state.repeats}", state.level, receivers)
        elif step.action is Action.END_SILENCE:
            lifecycle.end_silence(state, now)
        elif step.action is Action.RESOLVE:
            receivers = lifecycle.resolve(state, now)
            self._events.emit(events.RESOLVED, state.input.fingerprint, events.resolved(state))
            self._tell(NoticeKind.RESOLVED, "resolved", state.level, receivers)
        else:
            lifecycle.dismiss(state, now)

    def _tell(self, kind: NoticeKind, event: str, level: int, receivers: list[Receiver]) -> None:
        """Starts one delivery per receiver and does not wait: the escalation clock goes on."""
        state = self._state
        fired_at = state.fired_at or workflow.now()
        for receiver in receivers:
            notice = notices.notice(
                workflow.info().workflow_id,
                state.input,
                kind,
                event=event,
                level=level,
                receiver=receiver,
                fired_at=fired_at,
                detail=state.last_detail,
                resolved_at=state.resolved_at,
                acknowledged_by=state.acknowledged_by,
            )
            task = asyncio.create_task(self._deliver(notice))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _deliver(self, notice: notices.AlertNotice) -> None:
        state, name = self._state, notice.receiver.name
        try:
            receipt = await workflow.execute_activity_method(
                AlertDelivery.deliver_alert,
                notice,
                summary=f"{notice.kind.value} to {name}",
                **ALERT_DELIVERY,
            )
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            # Given up after the policy's retries: in the audit; the next level or the next
            # repeat pages again.
            lifecycle.delivery_failed(state, workflow.now(), notice.level, name, reason(err))
        else:
            lifecycle.delivered(state, workflow.now(), notice.level, name, receipt.answer)

    def _publish(self) -> None:
        """Search attributes (the Web UI, the CLI and the inbox list by them) follow the status;
        unchanged values are not re-sent."""
        state = self._state
        since = lifecycle.status_since(state)
        values = [state.status, since]
        if values == self._published:
            return
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.PROCESS_STATUS.value_set(state.status.value),
            sa.STATE_SINCE.value_set(since),
        ]
        if self._published is None:
            updates += [
                sa.ALERT_SEVERITY.value_set(state.input.severity.value),
                sa.ALERT_RULE.value_set(state.input.rule),
            ]
        self._published = values
        workflow.upsert_search_attributes(updates)
        workflow.set_current_details(lifecycle.describe(state))

    # --- the watchdog and people ------------------------------------------------------------

    @workflow.signal(name=Message.OBSERVE)
    def observe(self, seen: Observation) -> None:
        self._changes += 1
        if not self._state.status.is_open:
            if seen.firing and self._reopen is None:
                self._reopen = seen
            return
        lifecycle.observe(self._state, seen, workflow.now())

    @workflow.query(name=Message.STATE)
    def state(self) -> AlertState:
        return self._state

    @workflow.update(name=Message.ACKNOWLEDGE)
    def acknowledge(self, ack: Acknowledgement) -> AlertState:
        self._changes += 1
        lifecycle.acknowledge(self._state, ack, workflow.now())
        acknowledged = events.acknowledged(self._state)
        self._events.emit(events.ACKNOWLEDGED, self._state.input.fingerprint, acknowledged)
        self._publish()
        return self._state

    @acknowledge.validator
    def _check_acknowledge(self, ack: Acknowledgement) -> None:
        _raise(lifecycle.acknowledge_problem(self._state, ack))

    @workflow.update(name=Message.SILENCE)
    def silence(self, quiet: Silence) -> AlertState:
        self._changes += 1
        lifecycle.silence(self._state, quiet, workflow.now())
        self._publish()
        return self._state

    @silence.validator
    def _check_silence(self, quiet: Silence) -> None:
        _raise(lifecycle.silence_problem(self._state, quiet))


# A timer in the past still waits a moment, so a due time never spins the loop.
_TICK = timedelta(milliseconds=1)


def _raise(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)
