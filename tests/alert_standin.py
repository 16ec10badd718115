"""A stand-in `Alert` workflow that keeps the contract (domain/alerts/contract.py) until the real
one lands: fires at once on `observe(firing)`, resolves on `observe(clear)`, `acknowledge` and
`silence` with validators, `state` query, the alert's search attributes."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.alerts.contract import (
        WORKFLOW_NAME,
        Acknowledgement,
        AlertInput,
        AlertState,
        AlertStatus,
        Message,
        Observation,
        Silence,
        TimelineEntry,
    )
    from workflows import search_attributes as sa


@workflow.defn(name=WORKFLOW_NAME)
class StandInAlert:
    def __init__(self) -> None:
        self.state: AlertState | None = None

    @workflow.run
    async def run(self, given: AlertInput) -> AlertState:
        now = workflow.now()
        self.state = self.state or AlertState(
            input=given, status=AlertStatus.PENDING, first_observed=now
        )
        await workflow.wait_condition(lambda: self._current().status is AlertStatus.RESOLVED)
        return self._current()

    def _current(self) -> AlertState:
        assert self.state is not None
        return self.state

    def _move(self, status: AlertStatus, at: datetime) -> None:
        state = self._current()
        state.status = status
        workflow.upsert_search_attributes(
            [
                sa.PROCESS_STATUS.value_set(status.value),
                sa.STATE_SINCE.value_set(at),
                sa.ALERT_SEVERITY.value_set(state.input.severity.value),
                sa.ALERT_RULE.value_set(state.input.rule),
            ]
        )

    @workflow.signal(name=Message.OBSERVE)
    async def observe(self, seen: Observation) -> None:
        await workflow.wait_condition(lambda: self.state is not None)
        state, now = self._current(), workflow.now()
        state.last_detail = seen.detail or state.last_detail
        if seen.firing and state.status is AlertStatus.PENDING:
            state.fired_at, state.level = now, 1
            receiver = state.input.route.levels[0].receivers[0].name
            state.timeline += [
                TimelineEntry(at=now, event="fired", detail=seen.detail),
                TimelineEntry(at=now, event="notified", level=1, receiver=receiver),
            ]
            self._move(AlertStatus.FIRING, now)
        elif not seen.firing and state.status.is_open:
            state.resolved_at = now
            state.timeline.append(TimelineEntry(at=now, event="resolved"))
            self._move(AlertStatus.RESOLVED, now)

    def _may_act(self, by: str) -> None:
        state = self._current()
        if not state.status.is_open:
            raise ValueError(f"the alert is already {state.status.value.lower()}")
        if by not in state.input.responders:
            raise ValueError(f"{by} is not one of this alert's responders")

    @workflow.update(name=Message.ACKNOWLEDGE)
    async def acknowledge(self, ack: Acknowledgement) -> AlertState:
        state, now = self._current(), workflow.now()
        state.acknowledged_at, state.acknowledged_by = now, ack.by
        state.timeline.append(
            TimelineEntry(at=now, event="acknowledged", by=ack.by, detail=ack.comment)
        )
        self._move(AlertStatus.ACKNOWLEDGED, now)
        return state

    @acknowledge.validator
    def _check_ack(self, ack: Acknowledgement) -> None:
        self._may_act(ack.by)

    @workflow.update(name=Message.SILENCE)
    async def silence(self, silence: Silence) -> AlertState:
        state, now = self._current(), workflow.now()
        state.silenced_until = now + silence.duration
        state.timeline.append(
            TimelineEntry(at=now, event="silenced", by=silence.by, detail=silence.reason)
        )
        self._move(AlertStatus.SILENCED, now)
        return state

    @silence.validator
    def _check_silence(self, silence: Silence) -> None:
        self._may_act(silence.by)
        if not silence.reason.strip():
            raise ValueError("a silence needs a reason")

    @workflow.query(name=Message.STATE)
    def current(self) -> AlertState:
        return self._current()
