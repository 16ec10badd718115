"""Alerts for the people-side tests: raise one as the watchdog does (signal-with-start of
`observe`), run the ops queue's Alert workflows in this process, wait until visibility lists it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.worker import Worker

from continuum.alert_client import listing_query
from continuum.settings import get_settings
from domain.alerts.contract import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    AlertInput,
    AlertStatus,
    Level,
    Observation,
    Receiver,
    ReceiverKind,
    Route,
    Severity,
    fingerprint,
    workflow_id,
)
from domain.operations import operators
from tests.alert_standin import StandInAlert


@asynccontextmanager
async def ops_worker(client: Client) -> AsyncIterator[Worker]:
    """The Alert workflows on the ops queue, as the ops worker registers them."""
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[StandInAlert]) as worker:
        yield worker


def alert_input(rule: str = "order-stalled", severity: Severity = Severity.CRITICAL) -> AlertInput:
    subject = f"order-O-{uuid.uuid4().hex[:8]}"
    log = Receiver(name="ops-log", kind=ReceiverKind.LOG, target="/dev/null")
    return AlertInput(
        fingerprint=fingerprint(rule, subject),
        rule=rule,
        severity=severity,
        subject=subject,
        summary=f"{subject} waits for its delivery longer than allowed",
        runbook="continuum incidents find --where \"status = 'AwaitingDelivery'\"",
        route=Route(levels=[Level(receivers=[log], people=["olga"])]),
        responders=operators(get_settings().approval_policy().people),
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
