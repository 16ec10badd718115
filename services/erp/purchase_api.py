"""The `/api` routes of purchasing: one per PurchasingPort operation, plus reads for tests
and operators (each list carries its count).

Writes go through `api.write_in`, so they have the Idempotency-Key semantics of every other
write, and the fault injection and bearer auth of every other `/api` route.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from domain.erp import PurchaseChangePage
from domain.purchasing.models import Requisition
from services.erp import feeds, purchasing, receiving, supplier_invoices, supplier_payments
from services.erp.api import ERROR_RESPONSES, Key, Limit, read_in, write_in
from services.erp.purchase_schemas import (
    ConfirmRequest,
    ErpReceiptList,
    ErpReceiptRecord,
    ErpSupplierInvoiceList,
    ErpSupplierInvoiceRecord,
    GoodsReceiptRequest,
    PurchaseDocuments,
    PurchaseOrderList,
    PurchaseOrderRecord,
    SupplierInvoiceRequest,
    SupplierList,
    SupplierPaymentList,
    SupplierPaymentRecord,
    SupplierPaymentRequest,
    SupplierRecord,
)
from services.erp.store import Database, Tx

T = TypeVar("T")

RequisitionFilter = Annotated[str, Query(min_length=1, description="the requisition id")]


def purchasing_router(db: Database) -> APIRouter:
    router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

    async def read(query: Callable[[Tx], T]) -> T:
        return await read_in(db, query)

    async def write(
        request: Request,
        key: str,
        payload: BaseModel | None,
        status: int,
        operation: Callable[[Tx], BaseModel],
    ) -> Response:
        return await write_in(db, request, key, payload, status, operation)

    # --- suppliers ----------------------------------------------------------------------------

    @router.get("/suppliers", tags=["suppliers"])
    async def list_suppliers() -> SupplierList:
        def query(tx: Tx) -> SupplierList:
            items = purchasing.suppliers(tx)
            return SupplierList(items=items, count=len(items))

        return await read(query)

    @router.get("/suppliers/{supplier_id}", tags=["suppliers"])
    async def get_supplier(supplier_id: str) -> SupplierRecord:
        return await read(lambda tx: purchasing.supplier(tx, supplier_id))

    # --- purchase orders ----------------------------------------------------------------------

    @router.post(
        "/purchase-orders",
        status_code=201,
        response_model=PurchaseOrderRecord,
        tags=["purchase orders"],
    )
    async def create_purchase_order(body: Requisition, key: Key, request: Request) -> Response:
        """Creates the order and sends it to the supplier."""
        return await write(request, key, body, 201, lambda tx: purchasing.create(tx, body))

    @router.post(
        "/purchase-orders/{purchase_order_id}/confirm",
        response_model=PurchaseOrderRecord,
        tags=["purchase orders"],
    )
    async def confirm_purchase_order(
        purchase_order_id: str, body: ConfirmRequest, key: Key, request: Request
    ) -> Response:
        return await write(
            request,
            key,
            body,
            200,
            lambda tx: purchasing.confirm(tx, purchase_order_id, body.supplier_reference),
        )

    @router.post(
        "/purchase-orders/{purchase_order_id}/remind",
        response_model=PurchaseOrderRecord,
        tags=["purchase orders"],
    )
    async def remind_supplier(purchase_order_id: str, key: Key, request: Request) -> Response:
        return await write(
            request, key, None, 200, lambda tx: purchasing.remind(tx, purchase_order_id)
        )

    @router.post(
        "/purchase-orders/{purchase_order_id}/cancel",
        response_model=PurchaseOrderRecord,
        tags=["purchase orders"],
    )
    async def cancel_purchase_order(purchase_order_id: str, key: Key, request: Request) -> Response:
        return await write(
            request, key, None, 200, lambda tx: purchasing.cancel(tx, purchase_order_id)
        )

    @router.get("/purchase-orders", tags=["purchase orders"])
    async def list_purchase_orders(requisition_id: RequisitionFilter) -> PurchaseOrderList:
        def query(tx: Tx) -> PurchaseOrderList:
            items = purchasing.find(tx, requisition_id)
            return PurchaseOrderList(items=items, count=len(items))

        return await read(query)

    @router.get("/purchase-orders/{purchase_order_id}", tags=["purchase orders"])
    async def get_purchase_order(purchase_order_id: str) -> PurchaseOrderRecord:
        return await read(lambda tx: purchasing.get(tx, purchase_order_id))

    @router.get("/requisitions/{requisition_id}/documents", tags=["purchase orders"])
    async def count_documents(requisition_id: str) -> PurchaseDocuments:
        """How many purchase orders, receipts, invoices and payments a requisition has."""
        return await read(lambda tx: purchasing.documents(tx, requisition_id))

    # --- goods receipts -----------------------------------------------------------------------

    @router.post(
        "/goods-receipts", status_code=201, response_model=ErpReceiptRecord, tags=["receiving"]
    )
    async def record_goods_receipt(
        body: GoodsReceiptRequest, key: Key, request: Request
    ) -> Response:
        return await write(request, key, body, 201, lambda tx: receiving.record(tx, body))

    @router.post(
        "/goods-receipts/{erp_receipt_id}/return",
        response_model=ErpReceiptRecord,
        tags=["receiving"],
    )
    async def return_goods(erp_receipt_id: str, key: Key, request: Request) -> Response:
        return await write(
            request, key, None, 200, lambda tx: receiving.return_goods(tx, erp_receipt_id)
        )

    @router.get("/goods-receipts", tags=["receiving"])
    async def list_goods_receipts(requisition_id: RequisitionFilter) -> ErpReceiptList:
        def query(tx: Tx) -> ErpReceiptList:
            items = receiving.find(tx, requisition_id)
            return ErpReceiptList(items=items, count=len(items))

        return await read(query)

    # --- supplier invoices and payments -------------------------------------------------------

    @router.post(
        "/supplier-invoices",
        status_code=201,
        response_model=ErpSupplierInvoiceRecord,
        tags=["payables"],
    )
    async def post_supplier_invoice(
        body: SupplierInvoiceRequest, key: Key, request: Request
    ) -> Response:
        return await write(request, key, body, 201, lambda tx: supplier_invoices.post(tx, body))

    @router.post(
        "/supplier-invoices/{erp_invoice_id}/cancel",
        response_model=ErpSupplierInvoiceRecord,
        tags=["payables"],
    )
    async def cancel_supplier_invoice(erp_invoice_id: str, key: Key, request: Request) -> Response:
        return await write(
            request, key, None, 200, lambda tx: supplier_invoices.cancel(tx, erp_invoice_id)
        )

    @router.get("/supplier-invoices", tags=["payables"])
    async def list_supplier_invoices(requisition_id: RequisitionFilter) -> ErpSupplierInvoiceList:
        def query(tx: Tx) -> ErpSupplierInvoiceList:
            items = supplier_invoices.find(tx, requisition_id)
            return ErpSupplierInvoiceList(items=items, count=len(items))

        return await read(query)

    @router.post(
        "/supplier-payments",
        status_code=201,
        response_model=SupplierPaymentRecord,
        tags=["payables"],
    )
    async def pay_supplier(body: SupplierPaymentRequest, key: Key, request: Request) -> Response:
        return await write(request, key, body, 201, lambda tx: supplier_payments.pay(tx, body))

    @router.get("/supplier-payments", tags=["payables"])
    async def list_supplier_payments(requisition_id: RequisitionFilter) -> SupplierPaymentList:
        def query(tx: Tx) -> SupplierPaymentList:
            items = supplier_payments.find(tx, requisition_id)
            return SupplierPaymentList(items=items, count=len(items))

        return await read(query)

    # --- change feed --------------------------------------------------------------------------

    @router.get("/changes/purchases", tags=["change feeds"])
    async def purchase_changes(
        updated_since: datetime | None = None, cursor: str | None = None, limit: Limit = 500
    ) -> PurchaseChangePage:
        return await read(lambda tx: feeds.purchase_changes(tx, updated_since, cursor, limit))

    return router
