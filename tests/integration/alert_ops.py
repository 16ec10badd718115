"""The ops queue's real Alert workflows and their delivery in the test's process, as the ops
worker registers them (workers/alerts.py), with LOG receivers writing beside `log_file`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.alerts.delivery import AlertDelivery, DeliveryConfig
from activities.events.handover import EventHandover
from domain.alerts.contract import TASK_QUEUE, AlertInput, Severity
from tests.integration.alert_desk import alert_input
from workers.alerts import ALERT_WORKFLOWS


@asynccontextmanager
async def alert_worker(client: Client, log_file: Path) -> AsyncIterator[Worker]:
    delivery = AlertDelivery(DeliveryConfig(log_file=log_file))
    # The alerts hand their business events over (a no-op: events are off).
    steps = [*delivery.all(), *EventHandover(client, False).all()]
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=list(ALERT_WORKFLOWS), activities=steps
    ) as worker:
        yield worker


def prompt_alert(rule: str, severity: Severity = Severity.CRITICAL) -> AlertInput:
    """An alert that resolves on its first clear observation (no `clear_after` to wait out)."""
    return alert_input(rule, severity).model_copy(update={"clear_after": timedelta(0)})
