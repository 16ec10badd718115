"""Helpers for the procure-to-pay tests: a requisition, the people and tolerances of a test
policy, documents by line, starting a purchase and waiting on its visible state with a bound."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from continuum.approvals.client import ApprovalClient, UnknownApproval
from domain.approvals.models import ApprovalState, Person
from domain.purchasing.contract import ProcureToPayInput, workflow_id
from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    InvoiceLine,
    PurchaseResult,
    PurchaseStatus,
    ReceiptKind,
    ReceiptLine,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
    Tolerance,
)
from domain.purchasing.policy import PurchasingPolicy, TolerancePolicy
from workflows.purchasing.procure_to_pay import ProcureToPay

Handle = WorkflowHandle[ProcureToPay, PurchaseResult]
TAX = Decimal("0.19")
PEOPLE = {
    "ada": Person(name="Ada Asker"),  # requests purchases
    "bea": Person(name="Bea Buyer", roles=["buyer"]),
    "max": Person(name="Max Manager", roles=["purchasing_manager"]),
    "erin": Person(name="Erin Evans", roles=["finance"]),
    "frank": Person(name="Frank Fisher", roles=["cfo", "finance"]),
}
# (product, quantity, expected price) per line; 100 + 50 + 20 = 170 EUR: no approval needed.
SMALL = [("bolts", "100", "0.50"), ("nuts", "10", "5.00"), ("washers", "40", "0.50")]
# 1,500 EUR: above the approval threshold (1,000), a purchasing manager approves.
LARGE = [("drill", "3", "500.00")]


def policy() -> PurchasingPolicy:
    return PurchasingPolicy(
        people=PEOPLE, tolerances=TolerancePolicy(default=Tolerance(price_pct=Decimal("2")))
    )


def requisition(
    lines: list[tuple[str, str, str]] = SMALL, *, supplier_id: str = "SUP-100", **changes: object
) -> Requisition:
    req = Requisition(
        requisition_id=f"R-{uuid.uuid4().hex[:8]}",
        requested_by="ada",
        supplier_id=supplier_id,
        cost_centre="CC-7",
        currency="EUR",
        lines=[
            RequisitionLine(
                line_no=n,
                product=product,
                quantity=Decimal(qty),
                expected_price=Decimal(price),
                tax_rate=TAX,
            )
            for n, (product, qty, price) in enumerate(lines, start=1)
        ],
    )
    return req.model_copy(update=changes)


def receipt(
    req: Requisition,
    receipt_id: str,
    quantities: dict[int, str] | None = None,
    *,
    kind: ReceiptKind = ReceiptKind.RECEIPT,
) -> GoodsReceipt:
    """Everything ordered, unless `quantities` says line -> quantity."""
    wanted = quantities or {line.line_no: str(line.quantity) for line in req.lines}
    return GoodsReceipt(
        requisition_id=req.requisition_id,
        receipt_id=receipt_id,
        kind=kind,
        lines=[ReceiptLine(line_no=n, quantity=Decimal(q)) for n, q in wanted.items()],
    )


def invoice(
    req: Requisition,
    reference: str,
    lines: dict[int, tuple[str, str]],
    *,
    issued: date,
    due: date,
    kind: DocumentKind = DocumentKind.INVOICE,
    credits: str | None = None,
) -> SupplierInvoice:
    """`lines`: line -> (quantity, unit price); tax at 19 % of the net, rounded to cents."""
    items = [
        InvoiceLine(line_no=n, quantity=Decimal(q), unit_price=Decimal(p))
        for n, (q, p) in lines.items()
    ]
    net = sum((i.quantity * i.unit_price for i in items), Decimal(0))
    return SupplierInvoice(
        requisition_id=req.requisition_id,
        supplier_id=req.supplier_id,
        reference=reference,
        kind=kind,
        currency=req.currency,
        issued_on=issued,
        due_on=due,
        lines=items,
        tax=(net * TAX).quantize(Decimal("0.01")),
        credits_reference=credits,
    )


def as_ordered(req: Requisition) -> dict[int, tuple[str, str]]:
    return {line.line_no: (str(line.quantity), str(line.expected_price)) for line in req.lines}


async def today(env: WorkflowEnvironment) -> date:
    """The test server's date (earlier tests may have skipped its clock far ahead)."""
    return (await env.get_current_time()).date()


async def start(client: Client, task_queue: str, req: Requisition) -> Handle:
    payload = ProcureToPayInput(requisition=req, policy=policy())
    return await client.start_workflow(
        ProcureToPay.run, payload, id=workflow_id(req.requisition_id), task_queue=task_queue
    )


async def wait_until(
    handle: Handle, done: Callable[[PurchaseResult], bool], what: str, within: float = 15.0
) -> PurchaseResult:
    deadline = time.monotonic() + within
    while True:
        state = await handle.query(ProcureToPay.status)
        if done(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"purchase never {what}: {state}")
        await asyncio.sleep(0.05)


async def wait_status(handle: Handle, *wanted: PurchaseStatus) -> PurchaseResult:
    return await wait_until(handle, lambda s: s.status in wanted, f"reached {wanted}")


def happened(what: str) -> Callable[[PurchaseResult], bool]:
    return lambda state: what in [e.what for e in state.events]


async def approval(client: Client, subject: str, within: float = 15.0) -> ApprovalState:
    """The purchase starts a review right after it shows its status: wait for it."""
    approvals, deadline = ApprovalClient(client), time.monotonic() + within
    while True:
        try:
            return await approvals.state(subject)
        except UnknownApproval:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
