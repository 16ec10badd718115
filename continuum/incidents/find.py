"""Find processes by business terms, and say why each one is there.

The `--where` terms (`domain.incidents.query`) become a visibility query; each running process
found is then described (its pending steps: attempt, last failure, next retry), and the terms
only a description can answer (step, error, attempt) are checked on those. Read-only: nothing
here signals, updates or changes a process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError, TimeoutError
from temporalio.service import RPCError, RPCStatusCode

from continuum import search_attributes as sa
from domain.alerts.contract import AlertInput
from domain.approvals.contract import WORKFLOW_NAME as APPROVAL
from domain.incidents.findings import Finding, PendingStep
from domain.incidents.query import Search, compile_runbook, compile_where
from domain.orders.contract import WORKFLOW_NAME as ORDER

# At most this many processes are listed (and described); more is a sign to narrow the terms.
DEFAULT_LIMIT = 500
# Descriptions in flight at once: enough to be quick, few enough to spare the server.
DESCRIBE_CONCURRENCY = 8

_STATES = {
    PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED: "Scheduled",
    PendingActivityState.PENDING_ACTIVITY_STATE_STARTED: "Started",
    PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED: "CancelRequested",
    PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED: "Paused",
    PendingActivityState.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED: "PauseRequested",
}
_EXECUTION = {
    WorkflowExecutionStatus.RUNNING: "Running",
    WorkflowExecutionStatus.COMPLETED: "Completed",
    WorkflowExecutionStatus.FAILED: "Failed",
    WorkflowExecutionStatus.CANCELED: "Canceled",
    WorkflowExecutionStatus.TERMINATED: "Terminated",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "ContinuedAsNew",
    WorkflowExecutionStatus.TIMED_OUT: "TimedOut",
}


class FindError(Exception):
    """The search could not be made; the message is one line."""


@dataclass(frozen=True)
class Found:
    search: Search  # what was asked, as run (an alert's runbook joined in)
    findings: list[Finding]
    truncated: bool  # more processes matched the visibility query than `limit`


def execution_status(status: WorkflowExecutionStatus | None) -> str:
    return _EXECUTION.get(status, "Unknown") if status is not None else "Unknown"


def business_status(execution: WorkflowExecution) -> str:
    """OrderStatus for orders, ApprovalStatus for approvals, ProcessStatus for the other kinds;
    Temporal's execution status when the process has none."""
    attrs = execution.typed_search_attributes
    key = {ORDER: sa.ORDER_STATUS, APPROVAL: sa.APPROVAL_STATUS}.get(
        execution.workflow_type, sa.PROCESS_STATUS
    )
    return attrs.get(key) or execution_status(execution.status)


async def _failure(client: Client, failure: Failure) -> tuple[str, str | None]:
    """The message and type of a step's last failure, decoded (the converter may have encoded
    them: the raw message then reads "Encoded failure")."""
    error = await client.data_converter.decode_failure(failure)
    if isinstance(error, ApplicationError):
        return error.message, error.type or None
    if isinstance(error, TimeoutError):
        return error.message, "Timeout"
    return getattr(error, "message", None) or str(error), type(error).__name__


async def pending_step(client: Client, info: PendingActivityInfo) -> PendingStep:
    message: str | None = None
    kind: str | None = None
    if info.HasField("last_failure"):
        message, kind = await _failure(client, info.last_failure)
    return PendingStep(
        name=info.activity_type.name,
        state=_STATES.get(info.state, "Scheduled"),
        attempt=info.attempt or 1,
        maximum_attempts=info.maximum_attempts or None,
        last_failure=message or None,
        failure_type=kind,
        last_failed_at=(
            info.last_attempt_complete_time.ToDatetime(tzinfo=UTC)
            if info.HasField("last_attempt_complete_time") and message
            else None
        ),
        next_retry=(
            info.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            if info.HasField("next_attempt_schedule_time")
            else None
        ),
        paused=info.paused,
    )


async def _steps(client: Client, execution: WorkflowExecution) -> list[PendingStep]:
    if execution.status is not WorkflowExecutionStatus.RUNNING:
        return []
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:  # gone since it was listed
            return []
        raise
    return [await pending_step(client, p) for p in described.raw_description.pending_activities]


def _finding(execution: WorkflowExecution, steps: list[PendingStep]) -> Finding:
    attrs = execution.typed_search_attributes
    return Finding(
        workflow_id=execution.id,
        run_id=execution.run_id,
        workflow_type=execution.workflow_type,
        execution=execution_status(execution.status),
        status=business_status(execution),
        started_at=execution.start_time,
        closed_at=execution.close_time,
        state_since=attrs.get(sa.STATE_SINCE),
        customer_id=attrs.get(sa.CUSTOMER_ID),
        steps=steps,
    )


async def alert_runbook(client: Client, alert_id: str) -> str:
    """The runbook the alert was raised with, from its start event: readable while the ops
    worker (which would answer its query) is down, as it may be in an incident."""
    handle = client.get_workflow_handle(alert_id)
    try:
        async for event in handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            [alert] = await client.data_converter.decode(started.input.payloads, [AlertInput])
            return str(alert.runbook)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise FindError(f"unknown alert {alert_id}") from None
        raise FindError(f"cannot read alert {alert_id}: {err.message}") from None
    raise FindError(f"alert {alert_id} has no history")


async def find(client: Client, where: str, now: datetime, limit: int = DEFAULT_LIMIT) -> Found:
    """The processes that match `where` at `now`, newest first, each with why it is there.
    A bad `where` raises `domain.incidents.query.QueryError` before anything is asked."""
    search = compile_where(where, now)
    if search.alert is not None:
        runbook = await alert_runbook(client, search.alert)
        search = search.joined(compile_runbook(search.alert, runbook, now))
    executions: list[WorkflowExecution] = []
    try:
        async for execution in client.list_workflows(search.query or None, limit=limit + 1):
            executions.append(execution)
    except RPCError as err:
        raise FindError(f"visibility refused the query {search.query!r}: {err.message}") from None
    truncated = len(executions) > limit
    executions = executions[:limit]
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def enrich(execution: WorkflowExecution) -> Finding | None:
        async with gate:
            steps = await _steps(client, execution)
        return _finding(execution, steps) if search.matches(steps) else None

    found = await asyncio.gather(*(enrich(e) for e in executions))
    return Found(search, [f for f in found if f is not None], truncated)
