"""The `/api` routes: one per ErpPort operation, plus reads for tests and operators
(purchasing's are in `purchase_api`).

Every POST is a write and needs an `Idempotency-Key` header (see `idempotency`). Creations
answer 201, state changes 200. Store calls run in worker threads; the store serializes them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel

from domain.credit import CreditStatus
from domain.erp import CustomerChangePage, OrderChangePage
from domain.orders.models import Order
from domain.reports import ErpDayFigures
from services.erp import billing, feeds, payments, reports, sales, shipping, stock
from services.erp.errors import validation
from services.erp.idempotency import (
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    WriteRequest,
    fingerprint,
    write_once,
)
from services.erp.schemas import (
    DeliveryRequest,
    ErrorBody,
    InvoiceList,
    InvoiceRecord,
    InvoiceRequest,
    PaymentList,
    PaymentRecord,
    PaymentRequest,
    Product,
    ReservationList,
    ReservationRecord,
    ReservationRequest,
    SalesOrderList,
    SalesOrderRecord,
    ShipmentList,
    ShipmentRecord,
    ShipmentRequest,
    StockLevels,
)
from services.erp.store import Database, Tx

T = TypeVar("T")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 422)
}


# `async`: FastAPI runs a plain `def` dependency in a worker thread, a hand-over per write.
async def idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(description="required on every write; the same key means the same request"),
    ] = None,
) -> str:
    if not idempotency_key or not idempotency_key.strip():
        raise validation("the Idempotency-Key header is required on every write")
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise validation(f"Idempotency-Key: at most {MAX_KEY_LENGTH} characters")
    return idempotency_key


Key = Annotated[str, Depends(idempotency_key)]
OrderFilter = Annotated[str, Query(min_length=1, description="the business order id")]
# Defined here, not in the router function: annotations are resolved from module globals.
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]


# A request's reads and writes run on the event loop, as the CRM's do: each is one short
# SQLite transaction in WAL mode (synchronous=NORMAL, no fsync at commit), and handing it to a
# worker thread and back cost more than the work (about a third of the ERP's CPU under a burst
# of orders, most of it in the hand-over). Long jobs (bulk generation, forgetting old answers)
# still run in a thread.


async def read_in(db: Database, query: Callable[[Tx], T]) -> T:
    """Runs a read (one short transaction) on the event loop."""
    with db.reading() as tx:
        return query(tx)


async def write_in(
    db: Database,
    request: Request,
    key: str,
    payload: BaseModel | None,
    status: int,
    operation: Callable[[Tx], BaseModel],
) -> Response:
    """Runs a write exactly once per idempotency key (see `idempotency`) on the event loop."""
    target = WriteRequest(key, request.method, request.url.path, fingerprint(payload))
    answer = write_once(db, target, status, operation)
    return Response(
        answer.body,
        status_code=answer.status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"} if answer.replayed else None,
    )


def api_router(db: Database) -> APIRouter:
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

    # --- customers and stock --------------------------------------------------------------

    @router.get("/customers/{customer_id}/credit", tags=["customers"])
    async def get_credit(customer_id: str) -> CreditStatus:
        return await read(lambda tx: sales.credit(tx, customer_id))

    @router.get("/stock", tags=["stock"])
    async def check_stock(sku: Annotated[list[str], Query(min_length=1)]) -> StockLevels:
        return await read(lambda tx: stock.stock_levels(tx, sku))

    @router.get("/products/{sku}", tags=["stock"])
    async def get_product(sku: str) -> Product:
        return await read(lambda tx: stock.product(tx, sku))

    @router.post("/reservations", status_code=201, response_model=ReservationRecord, tags=["stock"])
    async def reserve_stock(body: ReservationRequest, key: Key, request: Request) -> Response:
        return await write(
            request, key, body, 201, lambda tx: stock.reserve(tx, body.order_id, body.lines)
        )

    @router.post(
        "/reservations/{reservation_id}/release", response_model=ReservationRecord, tags=["stock"]
    )
    async def release_stock(reservation_id: str, key: Key, request: Request) -> Response:
        return await write(request, key, None, 200, lambda tx: stock.release(tx, reservation_id))

    @router.get("/reservations", tags=["stock"])
    async def list_reservations(order_id: OrderFilter) -> ReservationList:
        return await read(lambda tx: ReservationList(items=stock.reservations(tx, order_id)))

    # --- sales orders -----------------------------------------------------------------------

    @router.post(
        "/sales-orders", status_code=201, response_model=SalesOrderRecord, tags=["sales orders"]
    )
    async def create_sales_order(body: Order, key: Key, request: Request) -> Response:
        return await write(request, key, body, 201, lambda tx: sales.create(tx, body))

    @router.post(
        "/sales-orders/{sales_order_id}/cancel",
        response_model=SalesOrderRecord,
        tags=["sales orders"],
    )
    async def cancel_sales_order(sales_order_id: str, key: Key, request: Request) -> Response:
        return await write(request, key, None, 200, lambda tx: sales.cancel(tx, sales_order_id))

    @router.get("/sales-orders", tags=["sales orders"])
    async def list_sales_orders(order_id: OrderFilter) -> SalesOrderList:
        return await read(lambda tx: SalesOrderList(items=sales.find(tx, order_id)))

    # --- payments ---------------------------------------------------------------------------

    @router.post("/payments", status_code=201, response_model=PaymentRecord, tags=["payments"])
    async def capture_payment(body: PaymentRequest, key: Key, request: Request) -> Response:
        return await write(request, key, body, 201, lambda tx: payments.capture(tx, body))

    @router.post("/payments/{payment_id}/refund", response_model=PaymentRecord, tags=["payments"])
    async def refund_payment(payment_id: str, key: Key, request: Request) -> Response:
        return await write(request, key, None, 200, lambda tx: payments.refund(tx, payment_id))

    @router.get("/payments", tags=["payments"])
    async def list_payments(order_id: OrderFilter) -> PaymentList:
        return await read(lambda tx: PaymentList(items=payments.find(tx, order_id)))

    # --- shipments --------------------------------------------------------------------------

    @router.post("/shipments", status_code=201, response_model=ShipmentRecord, tags=["shipments"])
    async def create_shipment(body: ShipmentRequest, key: Key, request: Request) -> Response:
        return await write(request, key, body, 201, lambda tx: shipping.create(tx, body))

    @router.post(
        "/shipments/{shipment_id}/deliver", response_model=ShipmentRecord, tags=["shipments"]
    )
    async def confirm_delivery(
        shipment_id: str, body: DeliveryRequest, key: Key, request: Request
    ) -> Response:
        return await write(
            request,
            key,
            body,
            200,
            lambda tx: shipping.confirm_delivery(tx, shipment_id, body.delivered_at),
        )

    @router.post(
        "/shipments/{shipment_id}/cancel", response_model=ShipmentRecord, tags=["shipments"]
    )
    async def cancel_shipment(shipment_id: str, key: Key, request: Request) -> Response:
        return await write(request, key, None, 200, lambda tx: shipping.cancel(tx, shipment_id))

    @router.get("/shipments", tags=["shipments"])
    async def list_shipments(order_id: OrderFilter) -> ShipmentList:
        return await read(lambda tx: ShipmentList(items=shipping.find(tx, order_id)))

    # --- invoices ---------------------------------------------------------------------------

    @router.post("/invoices", status_code=201, response_model=InvoiceRecord, tags=["invoices"])
    async def create_invoice(body: InvoiceRequest, key: Key, request: Request) -> Response:
        return await write(request, key, body, 201, lambda tx: billing.create(tx, body))

    @router.post("/invoices/{invoice_id}/credit", response_model=InvoiceRecord, tags=["invoices"])
    async def credit_invoice(invoice_id: str, key: Key, request: Request) -> Response:
        return await write(request, key, None, 200, lambda tx: billing.credit(tx, invoice_id))

    @router.get("/invoices", tags=["invoices"])
    async def list_invoices(order_id: OrderFilter) -> InvoiceList:
        return await read(lambda tx: InvoiceList(items=billing.find(tx, order_id)))

    # --- change feeds -----------------------------------------------------------------------

    @router.get("/changes/orders", tags=["change feeds"])
    async def order_changes(
        updated_since: datetime | None = None, cursor: str | None = None, limit: Limit = 500
    ) -> OrderChangePage:
        return await read(lambda tx: feeds.order_changes(tx, updated_since, cursor, limit))

    @router.get("/changes/customers", tags=["change feeds"])
    async def customer_changes(
        updated_since: datetime | None = None, cursor: str | None = None, limit: Limit = 500
    ) -> CustomerChangePage:
        return await read(lambda tx: feeds.customer_changes(tx, updated_since, cursor, limit))

    # --- reports ----------------------------------------------------------------------------

    @router.get("/reports/day", tags=["reports"])
    async def day_figures(start: datetime, end: datetime) -> ErpDayFigures:
        """Sales of the orders created in [start, end); stock and customers as they are now."""
        return await read(lambda tx: reports.day_figures(tx, start, end))

    return router
