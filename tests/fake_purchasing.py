"""The in-memory ERP's purchasing side (tests.fakes.InMemoryErp inherits it): suppliers,
purchase orders, receipts, supplier invoices and payments behind `domain.erp.PurchasingPort`.

It keeps the port's contract: the same idempotency key answers the same record, and a second
invoice with a supplier and reference the ERP already holds is refused (`ConflictError`).
Counters let tests prove "exactly once" (payments per invoice, reminders per order).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from domain.erp import (
    ErpReceipt,
    ErpReceiptStatus,
    ErpSupplierInvoice,
    ErpSupplierInvoiceStatus,
    PurchaseChangePage,
)
from domain.errors import ConflictError, NotFoundError
from domain.purchasing.models import (
    GoodsReceipt,
    PaymentDue,
    PurchaseOrder,
    PurchaseOrderStatus,
    Requisition,
    Supplier,
    SupplierInvoice,
    SupplierPayment,
    SupplierStatus,
)
from services.demo_data import DEMO_SUPPLIERS
from tests.scripted import Scripted

T = TypeVar("T")


def _suppliers() -> dict[str, Supplier]:
    """The reference ERP's demo suppliers: SUP-100..102 active, SUP-103 blocked, SUP-104 new."""
    return {
        sid: Supplier(
            supplier_id=sid,
            name=name,
            email=email,
            currency=currency,
            status=SupplierStatus(status),
            new=new,
        )
        for sid, name, email, currency, status, new in DEMO_SUPPLIERS
    }


def _reference(supplier_id: str, reference: str) -> tuple[str, str]:
    return supplier_id, re.sub(r"[\s\-]", "", reference).lower()


class PurchasingLedger(Scripted):
    keys: dict[str, Any]  # idempotency key -> answer, shared with the order side

    def __init__(self) -> None:
        super().__init__()
        self.suppliers = _suppliers()
        self.purchase_orders: dict[str, PurchaseOrder] = {}
        self.receipts: dict[str, ErpReceipt] = {}
        self.supplier_invoices: dict[str, ErpSupplierInvoice] = {}
        self.supplier_payments: dict[str, SupplierPayment] = {}
        # How many times each thing really happened (a repeated key adds nothing).
        self.reminders: Counter[str] = Counter()  # per purchase order
        self.paid_per_invoice: Counter[str] = Counter()  # payments per invoice reference

    def _once_as(self, key: str, make: Callable[[], T]) -> T:
        if key not in self.keys:
            self.keys[key] = make()
        return self.keys[key]  # type: ignore[no-any-return]

    def _order(self, purchase_order_id: str) -> PurchaseOrder:
        if purchase_order_id not in self.purchase_orders:
            raise NotFoundError("erp", "NotFound", f"no purchase order {purchase_order_id}")
        return self.purchase_orders[purchase_order_id]

    async def get_supplier(self, supplier_id: str) -> Supplier:
        await self.enter("get_supplier")
        if supplier_id not in self.suppliers:
            raise NotFoundError("erp", "NotFound", f"no supplier {supplier_id}", status=404)
        return self.suppliers[supplier_id]

    async def create_purchase_order(
        self, requisition: Requisition, *, idempotency_key: str
    ) -> PurchaseOrder:
        await self.enter("create_purchase_order")

        def make() -> PurchaseOrder:
            order = PurchaseOrder(
                purchase_order_id=f"PO-{requisition.requisition_id}",
                requisition_id=requisition.requisition_id,
                supplier_id=requisition.supplier_id,
                status=PurchaseOrderStatus.SENT,
                total=requisition.total,
                currency=requisition.currency,
            )
            self.purchase_orders[order.purchase_order_id] = order
            return order

        return self._once_as(idempotency_key, make)

    async def confirm_purchase_order(
        self, purchase_order_id: str, supplier_reference: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        await self.enter("confirm_purchase_order")
        order = self._order(purchase_order_id)
        order.status = PurchaseOrderStatus.CONFIRMED
        order.supplier_reference = supplier_reference or None
        return order

    async def remind_supplier(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        await self.enter("remind_supplier")
        order = self._order(purchase_order_id)

        def make() -> str:
            self.reminders[purchase_order_id] += 1
            return purchase_order_id

        self._once_as(idempotency_key, make)
        return order

    async def cancel_purchase_order(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        await self.enter("cancel_purchase_order")
        order = self._order(purchase_order_id)
        order.status = PurchaseOrderStatus.CANCELLED
        return order

    async def record_goods_receipt(
        self, purchase_order_id: str, receipt: GoodsReceipt, *, idempotency_key: str
    ) -> ErpReceipt:
        await self.enter("record_goods_receipt")
        self._order(purchase_order_id)

        def make() -> ErpReceipt:
            record = ErpReceipt(
                erp_receipt_id=f"GR-{len(self.receipts) + 1}",
                purchase_order_id=purchase_order_id,
                receipt_id=receipt.receipt_id,
                status=ErpReceiptStatus.RECORDED,
            )
            self.receipts[record.erp_receipt_id] = record
            return record

        return self._once_as(idempotency_key, make)

    async def return_goods(self, erp_receipt_id: str, *, idempotency_key: str) -> ErpReceipt:
        await self.enter("return_goods")
        record = self.receipts[erp_receipt_id]
        record.status = ErpReceiptStatus.RETURNED
        return record

    async def post_supplier_invoice(
        self, purchase_order_id: str, invoice: SupplierInvoice, *, idempotency_key: str
    ) -> ErpSupplierInvoice:
        await self.enter("post_supplier_invoice")
        self._order(purchase_order_id)
        if idempotency_key in self.keys:
            return self.keys[idempotency_key]  # type: ignore[no-any-return]
        held = {_reference(i.supplier_id, i.reference) for i in self.supplier_invoices.values()}
        if _reference(invoice.supplier_id, invoice.reference) in held:
            raise ConflictError(
                "erp",
                "DuplicateInvoice",
                f"supplier {invoice.supplier_id} invoice {invoice.reference} is already posted",
                status=409,
            )
        record = ErpSupplierInvoice(
            erp_invoice_id=f"SI-{len(self.supplier_invoices) + 1}",
            purchase_order_id=purchase_order_id,
            supplier_id=invoice.supplier_id,
            reference=invoice.reference,
            kind=invoice.kind.value,
            net=invoice.net,
            tax=invoice.tax,
            currency=invoice.currency,
            status=ErpSupplierInvoiceStatus.POSTED,
        )
        self.supplier_invoices[record.erp_invoice_id] = record
        return self._once_as(idempotency_key, lambda: record)

    async def cancel_supplier_invoice(
        self, erp_invoice_id: str, *, idempotency_key: str
    ) -> ErpSupplierInvoice:
        await self.enter("cancel_supplier_invoice")
        record = self.supplier_invoices[erp_invoice_id]
        record.status = ErpSupplierInvoiceStatus.CANCELLED
        return record

    async def pay_supplier(
        self, purchase_order_id: str, supplier_id: str, due: PaymentDue, *, idempotency_key: str
    ) -> SupplierPayment:
        await self.enter("pay_supplier")
        self._order(purchase_order_id)

        def make() -> SupplierPayment:
            payment = SupplierPayment(
                payment_id=f"PAY-{len(self.supplier_payments) + 1}",
                purchase_order_id=purchase_order_id,
                invoice_reference=due.invoice_reference,
                lines=due.lines,
                amount=due.amount,
                currency=due.currency,
                status="paid",
            )
            self.supplier_payments[payment.payment_id] = payment
            self.paid_per_invoice[due.invoice_reference] += 1
            return payment

        return self._once_as(idempotency_key, make)

    async def purchase_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> PurchaseChangePage:
        return PurchaseChangePage(items=[], next_cursor=None)
