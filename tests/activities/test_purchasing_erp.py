"""The purchasing steps' idempotency keys: the same document or payment asked again is the same
request to the ERP (one record), another one is a new request; an invoice the ERP already holds
from elsewhere is refused as a duplicate, for the workflow to record, not retried."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError

from activities.purchasing.erp import DUPLICATE_INVOICE, PurchasingActivities
from domain.purchasing.models import PaymentDue
from domain.purchasing.steps import (
    InvoiceRequest,
    PurchaseOrderRef,
    PurchaseOrderRequest,
    ReceiptRequest,
    SupplierPaymentRequest,
)
from tests.fakes import InMemoryErp
from tests.workflows.purchase_support import as_ordered, invoice, receipt, requisition

DAY = date(2027, 3, 1)


async def test_a_step_asked_twice_writes_once_and_each_document_has_its_own_key() -> None:
    erp, req = InMemoryErp(), requisition()
    steps, rid = PurchasingActivities(erp), req.requisition_id
    order = await steps.create_purchase_order(PurchaseOrderRequest(requisition=req))
    assert order == await steps.create_purchase_order(PurchaseOrderRequest(requisition=req))
    po = order.purchase_order_id
    for receipt_id in ("GR-1", "GR-1", "GR-2"):
        await steps.record_goods_receipt(
            ReceiptRequest(purchase_order_id=po, receipt=receipt(req, receipt_id))
        )
    assert sorted(r.receipt_id for r in erp.receipts.values()) == ["GR-1", "GR-2"]
    bill = invoice(req, "INV-1", as_ordered(req), issued=DAY, due=DAY)
    posted = [
        await steps.post_supplier_invoice(InvoiceRequest(purchase_order_id=po, invoice=bill))
        for _ in "ab"
    ]
    assert posted[0] == posted[1] and len(erp.supplier_invoices) == 1

    def pay(lines: list[int]) -> SupplierPaymentRequest:
        due = PaymentDue(
            invoice_reference="INV-1",
            lines=lines,
            amount=Decimal("10"),
            tax=Decimal("0"),
            currency="EUR",
            due_on=DAY,
        )
        return SupplierPaymentRequest(
            requisition_id=rid, purchase_order_id=po, supplier_id=req.supplier_id, due=due
        )

    first = await steps.pay_supplier(pay([3, 1]))
    assert await steps.pay_supplier(pay([1, 3])) == first  # the same lines: the same payment
    await steps.pay_supplier(pay([2]))
    assert erp.paid_per_invoice == {"INV-1": 2}
    for attempt in (1, 1, 2):
        ref = PurchaseOrderRef(requisition_id=rid, purchase_order_id=po, attempt=attempt)
        await steps.remind_supplier(ref)
    assert erp.reminders == {po: 2}


async def test_an_invoice_the_erp_already_holds_is_refused_for_good() -> None:
    erp, req = InMemoryErp(), requisition()
    steps = PurchasingActivities(erp)
    other = requisition()
    for r in (req, other):
        await steps.create_purchase_order(PurchaseOrderRequest(requisition=r))
    theirs = invoice(other, "INV-1", as_ordered(other), issued=DAY, due=DAY)
    await steps.post_supplier_invoice(
        InvoiceRequest(purchase_order_id=f"PO-{other.requisition_id}", invoice=theirs)
    )
    mine = invoice(req, "inv-1", as_ordered(req), issued=DAY, due=DAY)
    with pytest.raises(ApplicationError) as refused:
        await steps.post_supplier_invoice(
            InvoiceRequest(purchase_order_id=f"PO-{req.requisition_id}", invoice=mine)
        )
    assert refused.value.type == DUPLICATE_INVOICE and refused.value.non_retryable
    assert refused.value.message == "supplier SUP-100 invoice inv-1 is already posted"
