"""Procure-to-pay on the real stack (dev server, reference ERP, worker processes): one purchase
end to end writes exactly one purchase order, receipt, invoice and payment; a worker SIGKILLed
while the payment is in flight leaves no second one; a duplicate invoice is refused, recorded,
and never reaches the ERP. Counted through the ERP's own read endpoints."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from continuum.client import connect
from continuum.purchasing.client import PurchaseClient
from continuum.settings import get_settings
from continuum.stack import Stack
from domain.purchasing.models import PurchaseStatus, SupplierConfirmation, SupplierInvoice
from starters.purchase_demo import (
    Item,
    demo_purchases,
    invoice,
    play,
    receipt_in_full,
    requisition,
    wait_for_status,
)
from tests.integration.conftest import erp_read, set_faults
from tests.integration.test_order_to_cash_stack import starts, wait_running

pytestmark = pytest.mark.integration

ONE_OF_EACH = {"purchase_orders": 1, "receipts": 1, "invoices": 1, "payments": 1}


@pytest.fixture
async def purchases(stack: Stack) -> AsyncIterator[PurchaseClient]:
    client = await connect(stack.temporal_address, stack.data_converter())
    yield PurchaseClient(client, get_settings().task_queue)


async def erp_documents(stack: Stack, requisition_id: str) -> dict[str, int]:
    """How many of each document the ERP holds for the requisition (its own read endpoint)."""
    counted = await erp_read(stack, f"/requisitions/{requisition_id}/documents")
    return {name: int(counted[name]) for name in ONE_OF_EACH}


def fresh(kind: str) -> str:
    """A run id no other test (or earlier run on the same data) used."""
    return f"{kind}-{uuid.uuid4().hex[:8]}"


async def test_one_purchase_end_to_end_is_one_po_receipt_invoice_and_payment(
    stack: Stack, purchases: PurchaseClient
) -> None:
    [paid, _, _] = demo_purchases(fresh("e2e"))
    rid = paid.requisition.requisition_id
    await purchases.start(paid.requisition)
    played = await play(purchases, paid)
    assert [a.accepted for a in played.answers] == [True, True]
    result = await purchases.result(rid)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert await erp_documents(stack, rid) == ONE_OF_EACH
    # Paid what the invoice says, gross, for both lines: in the result and in the ERP.
    [sent] = [d for d in paid.documents if isinstance(d, SupplierInvoice)]
    [payment] = result.payments
    assert (payment.amount, sorted(payment.lines)) == (sent.gross, [1, 2])
    [in_erp] = (await erp_read(stack, "/supplier-payments", requisition_id=rid))["items"]
    assert (Decimal(in_erp["amount"]), in_erp["invoice_reference"]) == (sent.gross, sent.reference)
    assert result.match is not None and result.match.clean


async def test_worker_killed_while_the_payment_is_in_flight_pays_once(
    stack: Stack, purchases: PurchaseClient
) -> None:
    req = requisition(
        f"P-{fresh('kill')}", "SUP-100", [Item("SKU-004", "Bean storage jar", "8", "6.50")]
    )
    rid = req.requisition_id
    await purchases.start(req)
    await purchases.confirm(SupplierConfirmation(requisition_id=rid, supplier_reference="SC-1"))
    await wait_for_status(purchases, rid, {PurchaseStatus.RECEIVING})
    assert (await purchases.receive(receipt_in_full(req))).accepted
    # Every ERP call takes 3 s from here on, so that the payment is seen running on the worker.
    set_faults(stack, "erp", latency_ms=3000)
    try:
        sent = invoice(req, f"BR-{rid}")
        # The invoice's answer may wait for its posting: sent alongside, awaited after the kill.
        answer = asyncio.create_task(purchases.invoice(sent))
        await wait_running(purchases.handle(rid), "pay_supplier")
        stack.processes["worker"].kill()  # SIGKILL: no chance to finish anything
        set_faults(stack, "erp")
        stack.start_worker()
        assert (await answer).accepted
        result = await purchases.result(rid)
    finally:
        set_faults(stack, "erp")
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert await erp_documents(stack, rid) == ONE_OF_EACH
    [payment] = result.payments
    assert payment.amount == sent.gross
    # The kill hit the payment in flight: it timed out on the dead worker and ran again, once.
    [paying] = [s for s in await starts(purchases.handle(rid)) if s.name == "pay_supplier"]
    assert paying.attempt > 1 and "timeout" in paying.last_failure.lower(), paying


async def test_a_duplicate_invoice_is_refused_recorded_and_never_reaches_the_erp(
    stack: Stack, purchases: PurchaseClient
) -> None:
    [_, _, twice] = demo_purchases(fresh("dup"))
    rid = twice.requisition.requisition_id
    await purchases.start(twice.requisition)
    played = await play(purchases, twice)
    receipt, first, again = played.answers
    assert receipt.accepted and first.accepted
    assert not again.accepted and "duplicate" in again.reason.lower(), again
    result = await purchases.result(rid)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    _, original, duplicate = twice.documents
    assert isinstance(original, SupplierInvoice) and isinstance(duplicate, SupplierInvoice)
    [refused] = result.refused
    assert (refused.reference, refused.kind) == (duplicate.reference, "invoice")
    assert f"duplicate of {original.reference}" in refused.reason
    assert await erp_documents(stack, rid) == ONE_OF_EACH
    [posted] = (await erp_read(stack, "/supplier-invoices", requisition_id=rid))["items"]
    assert posted["reference"] == original.reference
