"""Alerts for the people-side tests: raise one as the watchdog does (signal-with-start of
`observe`), run the ops queue's Alert workflows and their delivery in this process (as the ops
worker registers them), wait until visibility lists it or its state has moved."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from continuum.alert_client import listing_query
from continuum.settings import get_settings
from domain.alerts.contract import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    AlertInput,
    AlertState,
    AlertStatus,
    Level,
    Message,
    Observation,
    Receiver,
    ReceiverKind,
    Route,
    Severity,
    fingerprint,
    workflow_id,
)
from domain.operations import operators
from workers.alerts import ALERT_WORKFLOWS, alert_activities


@asynccontextmanager
async def ops_worker(client: Client, log_file: Path) -> AsyncIterator[Worker]:
    """The Alert workflows and their delivery on the ops queue; LOG receivers write `log_file`."""
    settings = get_settings().model_copy(update={"alert_log_file": log_file})
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=ALERT_WORKFLOWS,
        activities=alert_activities(client, settings, environ={}),
    ) as worker:
        yield worker


def alert_input(rule: str = "order-stalled", severity: Severity = Severity.CRITICAL) -> AlertInput:
    subject = f"order-O-{uuid.uuid4().hex[:8]}"
    log = Receiver(name="ops-log", kind=ReceiverKind.LOG, target="")  # the worker's log file
    return AlertInput(
        fingerprint=fingerprint(rule, subject),
        rule=rule,
        severity=severity,
        subject=subject,
        summary=f"{subject} waits for its delivery longer than allowed",
        runbook="continuum incidents find --where \"status = 'AwaitingDelivery'\"",
        route=Route(levels=[Level(receivers=[log], people=["olga"])]),
        responders=operators(get_settings().approval_policy().people),
        # Clear once is clear: the tests resolve alerts at once (hysteresis is the workflow's test).
        clear_after=timedelta(0),
    )


async def raise_alert(client: Client, given: AlertInput, firing: bool = True) -> str:
    """Signal-with-start, as the watchdog raises it: one workflow per fingerprint."""
    alert = workflow_id(given.fingerprint)
    seen = Observation(firing=firing, at=datetime.now(UTC), detail="seen by the test")
    await client.start_workflow(
        WORKFLOW_NAME,
        given,
        id=alert,
        task_queue=TASK_QUEUE,
        start_signal="observe",
        start_signal_args=[seen],
    )
    return alert


async def wait_listed(client: Client, alert: str, status: AlertStatus, within: float = 30) -> None:
    """Until visibility lists the alert in that status (it trails the workflow a moment)."""
    deadline = time.monotonic() + within
    query = f"{listing_query([status])} AND WorkflowId = '{alert}'"
    while not [wf async for wf in client.list_workflows(query)]:
        assert time.monotonic() < deadline, f"visibility never listed {alert} as {status.value}"
        await asyncio.sleep(0.2)


async def state_of(client: Client, alert: str) -> AlertState:
    state: AlertState = await client.get_workflow_handle(alert).query(
        Message.STATE, result_type=AlertState
    )
    return state


async def wait_state(
    client: Client, alert: str, holds: Callable[[AlertState], bool], within: float = 30
) -> AlertState:
    """Until the alert's state satisfies `holds` (e.g. its first page was delivered)."""
    deadline = time.monotonic() + within
    while not holds(state := await state_of(client, alert)):
        assert time.monotonic() < deadline, f"{alert} never got there: {state.timeline}"
        await asyncio.sleep(0.1)
    return state


def paged(state: AlertState) -> bool:
    """Fired, and level 1's page answered."""
    return any(e.event == "notified" for e in state.timeline)
