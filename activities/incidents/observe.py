"""Read a process from Temporal as the incident console compares it: describe (run, statuses,
pending steps with their attempts, pause and options) and, when asked, its run's history (the
steps that completed; the marks the reset rule reads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus

from domain.incidents.observed import (
    CompletedStep,
    Execution,
    Observed,
    PendingStep,
    StepOptions,
    business_status,
)
from domain.incidents.safe_point import Kind, Mark
from domain.visibility import STATE_SINCE

_EXECUTION = {
    WorkflowExecutionStatus.RUNNING: Execution.RUNNING,
    WorkflowExecutionStatus.COMPLETED: Execution.COMPLETED,
    WorkflowExecutionStatus.FAILED: Execution.FAILED,
    WorkflowExecutionStatus.CANCELED: Execution.CANCELED,
    WorkflowExecutionStatus.TERMINATED: Execution.TERMINATED,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: Execution.CONTINUED_AS_NEW,
    WorkflowExecutionStatus.TIMED_OUT: Execution.TIMED_OUT,
}
_FAILED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
# Something the run did outside itself: a child workflow, a signal or cancel to another one.
_EFFECTS = {
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
}


def _duration(value: Duration) -> timedelta | None:
    return value.ToTimedelta() if value.seconds or value.nanos else None


def _time(holder: object, name: str) -> datetime | None:
    if not holder.HasField(name):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(holder, name)
    return stamp.ToDatetime(tzinfo=UTC)


def _options(p: PendingActivityInfo) -> StepOptions | None:
    if not p.HasField("activity_options"):
        return None
    o, retry = p.activity_options, p.activity_options.retry_policy
    return StepOptions(
        initial_interval=_duration(retry.initial_interval),
        backoff_coefficient=retry.backoff_coefficient or None,
        maximum_interval=_duration(retry.maximum_interval),
        maximum_attempts=retry.maximum_attempts,
        start_to_close_timeout=_duration(o.start_to_close_timeout),
        schedule_to_close_timeout=_duration(o.schedule_to_close_timeout),
        heartbeat_timeout=_duration(o.heartbeat_timeout),
    )


def pending_step(p: PendingActivityInfo) -> PendingStep:
    return PendingStep(
        activity_id=p.activity_id,
        step=p.activity_type.name,
        attempt=p.attempt,
        paused=p.paused,
        last_failure=p.last_failure.message if p.HasField("last_failure") else None,
        next_retry=_time(p, "next_attempt_schedule_time"),
        options=_options(p),
    )


async def describe(client: Client, workflow_id: str, run_id: str | None = None) -> Observed:
    """The process now (its current run, or `run_id`)."""
    found = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    execution = _EXECUTION.get(found.status or WorkflowExecutionStatus.RUNNING, Execution.RUNNING)
    attributes = {pair.key.name: pair.value for pair in found.typed_search_attributes}
    since = attributes.get(STATE_SINCE.name)
    return Observed(
        workflow_id=workflow_id,
        run_id=found.run_id,
        workflow_type=found.workflow_type,
        execution=execution,
        status=business_status(found.workflow_type, attributes, execution),
        state_since=since if isinstance(since, datetime) else None,
        pending=[pending_step(p) for p in found.raw_description.pending_activities],
    )


async def history(client: Client, workflow_id: str, run_id: str) -> list[HistoryEvent]:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return [event async for event in handle.fetch_history_events()]


def completed_steps(events: list[HistoryEvent]) -> list[CompletedStep]:
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    done = []
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            s = scheduled.get(e.activity_task_completed_event_attributes.scheduled_event_id)
            if s is not None:
                done.append(CompletedStep(activity_id=s.activity_id, step=s.activity_type.name))
    return done


def marks(events: list[HistoryEvent]) -> list[Mark]:
    """The events the reset rule reads (`domain.incidents.safe_point`)."""
    found: list[Mark] = []
    for e in events:
        kind = e.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            found.append(Mark(event_id=e.event_id, kind=Kind.TASK_DONE))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            found.append(
                Mark(
                    event_id=e.event_id,
                    kind=Kind.SCHEDULED,
                    step=a.activity_type.name,
                    by_task=a.workflow_task_completed_event_id,
                )
            )
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = e.activity_task_completed_event_attributes.scheduled_event_id
            found.append(Mark(event_id=e.event_id, kind=Kind.COMPLETED, scheduled=done))
        elif kind in _FAILED:
            ended = getattr(e, _FAILED[kind]).scheduled_event_id
            found.append(Mark(event_id=e.event_id, kind=Kind.FAILED, scheduled=ended))
        elif kind in _EFFECTS:
            name = EventType.Name(kind).removeprefix("EVENT_TYPE_").lower()
            found.append(Mark(event_id=e.event_id, kind=Kind.EFFECT, step=name))
    return found


def acted_by(events: list[HistoryEvent], identity: str, update_id: str) -> str | None:
    """What a signal, termination or cancel update sent as `identity` (or with `update_id`) did
    to this run, if one did: how a later try of an action tells its own earlier try's work."""
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signaled = e.workflow_execution_signaled_event_attributes
            if signaled.identity == identity:
                return f"signal {signaled.signal_name} sent"
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            if e.workflow_execution_terminated_event_attributes.identity == identity:
                return "terminated"
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted = e.workflow_execution_update_accepted_event_attributes
            if accepted.accepted_request.meta.update_id == update_id:
                return "cancel requested: compensation runs"
    return None


def reset_by(events: list[HistoryEvent]) -> str | None:
    """The reason given for the reset that made this run, if a reset made it."""
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failed = e.workflow_task_failed_event_attributes
            if failed.base_run_id and failed.new_run_id:
                return str(failed.failure.message)
    return None
