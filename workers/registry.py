"""What a Continuum worker runs: the workflows and the activities bound to their connectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.crm import CrmActivities
from activities.erp import ErpActivities
from domain.crm import CrmPort
from domain.erp import ErpPort
from workflows.order_to_cash import OrderToCash

WORKFLOWS: Sequence[type] = [OrderToCash]


def activities(erp: ErpPort, crm: CrmPort) -> list[Callable[..., Any]]:
    found: list[Any] = [*ErpActivities(erp).all(), *CrmActivities(crm).all()]
    return found


def build_worker(
    client: Client,
    task_queue: str,
    erp: ErpPort,
    crm: CrmPort,
    **tuning: Any,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=activities(erp, crm),
        **tuning,
    )
