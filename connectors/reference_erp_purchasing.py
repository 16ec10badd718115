"""`PurchasingPort` over HTTP against the reference ERP: a mixin of `ReferenceErpClient`.

Composed into the client (`class ReferenceErpClient(ReferenceErpPurchasing)`), so one pooled
HTTP client, one error classification and one `Idempotency-Key` per write serve both ports.
Paths are documented in `services.erp`. A 409 (a duplicate invoice, a line paid already, a
reused key) is a `ConflictError` and never retried; 5xx and timeouts are `TransientError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from domain.erp import ErpReceipt, ErpSupplierInvoice, PurchaseChangePage
from domain.purchasing.models import (
    GoodsReceipt,
    PaymentDue,
    PurchaseOrder,
    Requisition,
    Supplier,
    SupplierInvoice,
    SupplierPayment,
)

M = TypeVar("M", bound=BaseModel)


def _segment(value: str) -> str:
    """A record id as one path segment, whatever characters it holds."""
    return quote(value, safe="")


class ReferenceErpPurchasing:
    if TYPE_CHECKING:
        # Provided by ReferenceErpClient.

        async def _call(
            self,
            method: str,
            path: str,
            result: type[M],
            *,
            json: Any = None,
            params: Any = None,
            idempotency_key: str | None = None,
        ) -> M: ...

        async def _write(self, path: str, result: type[M], key: str, body: Any = None) -> M: ...

    async def get_supplier(self, supplier_id: str) -> Supplier:
        return await self._call("GET", f"/api/suppliers/{_segment(supplier_id)}", Supplier)

    async def create_purchase_order(
        self, requisition: Requisition, *, idempotency_key: str
    ) -> PurchaseOrder:
        body = requisition.model_dump(mode="json")
        return await self._write("/api/purchase-orders", PurchaseOrder, idempotency_key, body)

    async def confirm_purchase_order(
        self, purchase_order_id: str, supplier_reference: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        path = f"/api/purchase-orders/{_segment(purchase_order_id)}/confirm"
        body = {"supplier_reference": supplier_reference}
        return await self._write(path, PurchaseOrder, idempotency_key, body)

    async def remind_supplier(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        path = f"/api/purchase-orders/{_segment(purchase_order_id)}/remind"
        return await self._write(path, PurchaseOrder, idempotency_key)

    async def cancel_purchase_order(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        path = f"/api/purchase-orders/{_segment(purchase_order_id)}/cancel"
        return await self._write(path, PurchaseOrder, idempotency_key)

    async def record_goods_receipt(
        self, purchase_order_id: str, receipt: GoodsReceipt, *, idempotency_key: str
    ) -> ErpReceipt:
        body = {**receipt.model_dump(mode="json"), "purchase_order_id": purchase_order_id}
        return await self._write("/api/goods-receipts", ErpReceipt, idempotency_key, body)

    async def return_goods(self, erp_receipt_id: str, *, idempotency_key: str) -> ErpReceipt:
        path = f"/api/goods-receipts/{_segment(erp_receipt_id)}/return"
        return await self._write(path, ErpReceipt, idempotency_key)

    async def post_supplier_invoice(
        self, purchase_order_id: str, invoice: SupplierInvoice, *, idempotency_key: str
    ) -> ErpSupplierInvoice:
        body = {**invoice.model_dump(mode="json"), "purchase_order_id": purchase_order_id}
        path = "/api/supplier-invoices"
        return await self._write(path, ErpSupplierInvoice, idempotency_key, body)

    async def cancel_supplier_invoice(
        self, erp_invoice_id: str, *, idempotency_key: str
    ) -> ErpSupplierInvoice:
        path = f"/api/supplier-invoices/{_segment(erp_invoice_id)}/cancel"
        return await self._write(path, ErpSupplierInvoice, idempotency_key)

    async def pay_supplier(
        self, purchase_order_id: str, supplier_id: str, due: PaymentDue, *, idempotency_key: str
    ) -> SupplierPayment:
        body = {
            **due.model_dump(mode="json"),
            "purchase_order_id": purchase_order_id,
            "supplier_id": supplier_id,
        }
        return await self._write("/api/supplier-payments", SupplierPayment, idempotency_key, body)

    async def purchase_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> PurchaseChangePage:
        params: dict[str, Any] = {"limit": limit}
        if updated_since is not None:
            params["updated_since"] = updated_since.isoformat()
        if cursor:
            params["cursor"] = cursor
        return await self._call("GET", "/api/changes/purchases", PurchaseChangePage, params=params)
