"""What the purchasing clients' tests share: documents made from the shipped samples
(samples/purchasing/*.json) under fresh ids, and waiting for a purchase to get somewhere."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from continuum.client import connect
from continuum.purchasing.client import PurchaseClient
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.purchasing.models import (
    GoodsReceipt,
    InvoiceLine,
    PurchaseResult,
    ReceiptLine,
    Requisition,
    SupplierInvoice,
)
from starters.purchase_file import load_invoice, load_receipt, load_requisition

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "purchasing"


def requisition(**changes: object) -> Requisition:
    """The sample (bruno's, 2,100 EUR: a purchasing manager approves it) under a fresh id."""
    sample = load_requisition(SAMPLES / "requisition.json")
    return sample.model_copy(update={"requisition_id": f"R-{uuid.uuid4().hex[:10]}", **changes})


def small_requisition() -> Requisition:
    """2 chairs and a monitor, 420 EUR: under the approval threshold."""
    sample = requisition()
    lines = [
        sample.lines[0].model_copy(update={"quantity": Decimal(2)}),
        sample.lines[1].model_copy(update={"quantity": Decimal(1)}),
    ]
    return sample.model_copy(update={"lines": lines})


def receipt(req: Requisition) -> GoodsReceipt:
    """Everything ordered arrived."""
    sample = load_receipt(SAMPLES / "receipt.json", "R-1001")
    rows = [ReceiptLine(line_no=line.line_no, quantity=line.quantity) for line in req.lines]
    return sample.model_copy(
        update={
            "requisition_id": req.requisition_id,
            "receipt_id": f"GR-{req.requisition_id}",
            "lines": rows,
        }
    )


def invoice(req: Requisition, prices: dict[int, str] | None = None) -> SupplierInvoice:
    """Everything ordered, at the order's prices unless `prices` says otherwise; due today
    (the purchase pays it at once), the tax as its lines add up."""
    sample = load_invoice(SAMPLES / "invoice.json", "R-1001")
    prices = prices or {}
    rows = [
        InvoiceLine(
            line_no=line.line_no,
            quantity=line.quantity,
            unit_price=Decimal(prices.get(line.line_no, str(line.expected_price))),
        )
        for line in req.lines
    ]
    rates = {line.line_no: line.tax_rate for line in req.lines}
    tax = sum((r.quantity * r.unit_price * rates[r.line_no] for r in rows), Decimal(0))
    today = datetime.now(UTC).date()
    return sample.model_copy(
        update={
            "requisition_id": req.requisition_id,
            "reference": f"INV-{req.requisition_id}",
            "lines": rows,
            "tax": tax.quantize(Decimal("0.01")),
            "issued_on": today,
            "due_on": today,
        }
    )


@pytest.fixture
async def purchases(stack: Stack) -> AsyncIterator[PurchaseClient]:
    client = await connect(stack.temporal_address, stack.data_converter())
    yield PurchaseClient(client, ORDERS_TASK_QUEUE)


async def wait_for(
    purchases: PurchaseClient,
    rid: str,
    what: str,
    ready: Callable[[PurchaseResult], bool],
    within: float = 60,
) -> PurchaseResult:
    deadline = time.monotonic() + within
    while not ready(state := await purchases.status(rid)):
        if time.monotonic() > deadline:
            raise AssertionError(f"purchase {rid} never {what}: {state.status} {state.reason}")
        await asyncio.sleep(0.1)
    return state


async def until_listed(
    purchases: PurchaseClient, rid: str, status: str, within: float = 30
) -> None:
    """Visibility lags the workflow a little."""
    deadline = time.monotonic() + within
    while (rid, status) not in [(r.requisition_id, r.status) for r in await purchases.list()]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{rid} never listed as {status}")
        await asyncio.sleep(0.1)
