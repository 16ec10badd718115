"""Order-to-cash steps against the ERP: one call each, keyed by order id and step."""

from __future__ import annotations

from temporalio import activity

from activities.calls import call
from domain.credit import CreditStatus
from domain.erp import (
    ErpPort,
    Invoice,
    Payment,
    Reservation,
    SalesOrder,
    Shipment,
    StockStatus,
)
from domain.idempotency import step_key
from domain.orders.steps import (
    CreditCheck,
    DeliveryConfirmation,
    InvoiceRequest,
    PaymentRequest,
    SalesOrderRequest,
    ShipmentRequest,
    StepName,
    StockCheck,
    StockReservation,
    Undo,
)


class ErpActivities:
    def __init__(self, erp: ErpPort) -> None:
        self.erp = erp

    @activity.defn(name=StepName.CHECK_CREDIT)
    async def check_credit(self, req: CreditCheck) -> CreditStatus:
        return await call(self.erp.get_credit(req.customer_id))

    @activity.defn(name=StepName.CHECK_STOCK)
    async def check_stock(self, req: StockCheck) -> StockStatus:
        return await call(self.erp.check_stock(req.lines))

    @activity.defn(name=StepName.RESERVE_STOCK)
    async def reserve_stock(self, req: StockReservation) -> Reservation:
        key = step_key(req.order_id, StepName.RESERVE_STOCK)
        return await call(self.erp.reserve_stock(req.order_id, req.lines, idempotency_key=key))

    @activity.defn(name=StepName.RELEASE_STOCK)
    async def release_stock(self, req: Undo) -> Reservation:
        key = step_key(req.order_id, StepName.RELEASE_STOCK)
        return await call(self.erp.release_stock(req.record_id, idempotency_key=key))

    @activity.defn(name=StepName.CREATE_SALES_ORDER)
    async def create_sales_order(self, req: SalesOrderRequest) -> SalesOrder:
        key = step_key(req.order.order_id, StepName.CREATE_SALES_ORDER)
        return await call(self.erp.create_sales_order(req.order, idempotency_key=key))

    @activity.defn(name=StepName.CANCEL_SALES_ORDER)
    async def cancel_sales_order(self, req: Undo) -> SalesOrder:
        key = step_key(req.order_id, StepName.CANCEL_SALES_ORDER)
        return await call(self.erp.cancel_sales_order(req.record_id, idempotency_key=key))

    @activity.defn(name=StepName.CAPTURE_PAYMENT)
    async def capture_payment(self, req: PaymentRequest) -> Payment:
        key = step_key(req.order_id, StepName.CAPTURE_PAYMENT)
        return await call(
            self.erp.capture_payment(
                req.order_id,
                req.amount,
                req.currency,
                req.method,
                req.reference,
                idempotency_key=key,
            )
        )

    @activity.defn(name=StepName.REFUND_PAYMENT)
    async def refund_payment(self, req: Undo) -> Payment:
        key = step_key(req.order_id, StepName.REFUND_PAYMENT)
        return await call(self.erp.refund_payment(req.record_id, idempotency_key=key))

    @activity.defn(name=StepName.CREATE_SHIPMENT)
    async def create_shipment(self, req: ShipmentRequest) -> Shipment:
        key = step_key(req.order_id, StepName.CREATE_SHIPMENT)
        return await call(
            self.erp.create_shipment(
                req.order_id, req.sales_order_id, req.address, req.lines, idempotency_key=key
            )
        )

    @activity.defn(name=StepName.CONFIRM_DELIVERY)
    async def confirm_delivery(self, req: DeliveryConfirmation) -> Shipment:
        key = step_key(req.order_id, StepName.CONFIRM_DELIVERY)
        return await call(
            self.erp.confirm_delivery(req.shipment_id, req.delivered_at, idempotency_key=key)
        )

    @activity.defn(name=StepName.CANCEL_SHIPMENT)
    async def cancel_shipment(self, req: Undo) -> Shipment:
        key = step_key(req.order_id, StepName.CANCEL_SHIPMENT)
        return await call(self.erp.cancel_shipment(req.record_id, idempotency_key=key))

    @activity.defn(name=StepName.CREATE_INVOICE)
    async def create_invoice(self, req: InvoiceRequest) -> Invoice:
        key = step_key(req.order_id, StepName.CREATE_INVOICE)
        return await call(
            self.erp.create_invoice(req.order_id, req.sales_order_id, idempotency_key=key)
        )

    @activity.defn(name=StepName.CREDIT_INVOICE)
    async def credit_invoice(self, req: Undo) -> Invoice:
        key = step_key(req.order_id, StepName.CREDIT_INVOICE)
        return await call(self.erp.credit_invoice(req.record_id, idempotency_key=key))

    def all(self) -> list[object]:
        return [
            self.check_credit,
            self.check_stock,
            self.reserve_stock,
            self.release_stock,
            self.create_sales_order,
            self.cancel_sales_order,
            self.capture_payment,
            self.refund_payment,
            self.create_shipment,
            self.confirm_delivery,
            self.cancel_shipment,
            self.create_invoice,
            self.credit_invoice,
        ]
