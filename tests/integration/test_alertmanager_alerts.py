"""Alertmanager → the gateway → the durable Alert workflows, on the real stack (dev server,
gateway process with its token and the watchdog's routes) with the real Alert workflow and its
log delivery on the ops queue: a firing alert pages once however often Alertmanager resends it,
the resolved one resolves it and tells everyone paged, a late resend of the resolution finds
nothing open, and a bad webhook starts nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from continuum.client import connect
from continuum.stack import Stack
from domain.alerts.contract import (
    AlertState,
    AlertStatus,
    Message,
    Severity,
    fingerprint,
    workflow_id,
)
from tests.integration.alert_ops import alert_worker

pytestmark = pytest.mark.integration
END = "2026-12-07T09:40:00Z"


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): this module only adds its own alerts, one of them
    TemporalNoPollers on continuum-orders, which nothing else raises there."""
    return shared_stack


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    client = await connect(stack.temporal_address, stack.data_converter())
    async with alert_worker(client, stack.data_dir / "alerts.log"):
        yield client


def webhook(status: str, queue: str) -> dict[str, Any]:
    labels = {
        "alertname": "TemporalNoPollers",
        "severity": "critical",
        "namespace": "default",
        "task_queue": queue,
        "poller_type": "workflow_task",
    }
    return {
        "version": "4",
        "status": status,
        "receiver": "continuum-gateway",
        "groupKey": '{}:{alertname="TemporalNoPollers"}',
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": f"No workflow_task poller on {queue} for 5 minutes",
                    "runbook": "type=order running",
                },
                "startsAt": "2026-12-07T09:20:00Z",
                "endsAt": "2026-12-07T09:40:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
            }
        ],
    }


async def post(stack: Stack, body: dict[str, Any] | bytes) -> httpx.Response:
    token = stack.client_env()["GATEWAY_ALERTMANAGER_TOKEN"]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{stack.url('gateway')}/alertmanager",
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )


async def state_of(client: Client, alert: str) -> AlertState:
    state: AlertState = await client.get_workflow_handle(alert).query(
        Message.STATE, result_type=AlertState
    )
    return state


async def until(client: Client, alert: str, status: AlertStatus, within: float = 30) -> AlertState:
    deadline = time.monotonic() + within
    while (state := await state_of(client, alert)).status is not status:
        assert time.monotonic() < deadline, f"{alert} is {state.status}, never {status}"
        await asyncio.sleep(0.2)
    return state


def pages(log: Path, alert: str) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [line for line in lines if line["alert_id"] == alert]


async def test_a_prometheus_alert_pages_once_and_resolves(stack: Stack, client: Client) -> None:
    queue = "continuum-orders"
    alert = workflow_id(
        fingerprint(
            "TemporalNoPollers",
            f"namespace=default, poller_type=workflow_task, task_queue={queue}",
        )
    )
    answer = await post(stack, webhook("firing", queue))
    assert answer.status_code == 200, answer.text
    [taken] = answer.json()["alerts"]
    assert taken == {
        "rule": "TemporalNoPollers",
        "subject": f"namespace=default, poller_type=workflow_task, task_queue={queue}",
        "severity": "critical",
        "workflow_id": alert,
        "observed": "firing",
        "result": "observed",
    }
    state = await until(client, alert, AlertStatus.FIRING)
    assert state.input.source == "alertmanager" and state.input.severity is Severity.CRITICAL
    assert state.input.responders == ["olga", "oscar"]  # the watchdog config's
    assert len(state.input.route.levels) == 3  # its critical route
    assert state.input.runbook == "type=order running"

    # Alertmanager resends it (repeat_interval, or its own retry): still one alert, one page.
    assert (await post(stack, webhook("firing", queue))).status_code == 200
    log = stack.data_dir / "alerts.log"

    async def paged_once() -> bool:
        return [p["kind"] for p in pages(log, alert)] == ["firing"]

    deadline = time.monotonic() + 30
    while not await paged_once():
        assert time.monotonic() < deadline, pages(log, alert)
        await asyncio.sleep(0.2)
    runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{alert}'")]
    assert len(runs) == 1
    state = await state_of(client, alert)
    assert [e.event for e in state.timeline].count("fired") == 1

    # Resolved: the alert resolves at once (Prometheus already waited) and tells who was paged.
    answer = await post(stack, webhook("resolved", queue))
    assert answer.json()["alerts"][0]["observed"] == "clear"
    state = await until(client, alert, AlertStatus.RESOLVED)
    assert state.resolved_at is not None
    handle = client.get_workflow_handle(alert)
    await handle.result()
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert [p["kind"] for p in pages(log, alert)] == ["firing", "resolved"]

    # A late resend of the resolution finds nothing open and starts nothing.
    late = await post(stack, webhook("resolved", queue))
    assert late.status_code == 200 and late.json()["alerts"][0]["result"] == "not-open"
    assert len([wf async for wf in client.list_workflows(f"WorkflowId = '{alert}'")]) == 1


async def test_a_resolution_of_an_alert_never_raised_starts_nothing(
    stack: Stack, client: Client
) -> None:
    answer = await post(stack, webhook("resolved", "never-raised"))
    assert answer.status_code == 200
    [taken] = answer.json()["alerts"]
    assert taken["result"] == "not-open"
    found = [wf async for wf in client.list_workflows(f"WorkflowId = '{taken['workflow_id']}'")]
    assert found == []


async def test_one_bad_alert_refuses_the_webhook_and_starts_nothing(
    stack: Stack, client: Client
) -> None:
    good = webhook("firing", "refused-queue")["alerts"][0]
    bad = {**good, "labels": {**good["labels"], "alertname": "not a rule"}}
    answer = await post(stack, {**webhook("firing", "refused-queue"), "alerts": [good, bad]})
    assert answer.status_code == 422
    assert answer.json()["error"]["message"].startswith("alerts.1.labels.alertname")
    subject = "namespace=default, poller_type=workflow_task, task_queue=refused-queue"
    alert = workflow_id(fingerprint("TemporalNoPollers", subject))
    assert [wf async for wf in client.list_workflows(f"WorkflowId = '{alert}'")] == []
