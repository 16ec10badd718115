"""One request model per order-to-cash step: what the workflow asks an activity to do.

Activities derive each write's idempotency key from `order_id` and the step's name,
so the same step for the same order is recognised however often it is retried or replayed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from domain.crm import DealStage
from domain.orders.models import Address, Order, OrderLine, PaymentMethod


class CreditCheck(BaseModel):
    order_id: str
    customer_id: str


class StockCheck(BaseModel):
    order_id: str
    lines: list[OrderLine]


class StockReservation(BaseModel):
    order_id: str
    lines: list[OrderLine]


class SalesOrderRequest(BaseModel):
    order: Order


class PaymentRequest(BaseModel):
    order_id: str
    amount: Decimal
    currency: str
    method: PaymentMethod
    reference: str | None


class ShipmentRequest(BaseModel):
    order_id: str
    sales_order_id: str
    address: Address
    lines: list[OrderLine]


class DeliveryConfirmation(BaseModel):
    order_id: str
    shipment_id: str
    delivered_at: datetime


class InvoiceRequest(BaseModel):
    order_id: str
    sales_order_id: str


class Undo(BaseModel):
    """Undo one earlier step for an order: `record_id` is what that step created."""

    order_id: str
    record_id: str


class DealUpdate(BaseModel):
    """Upsert the customer as a contact and the order as a deal at `stage`."""

    order: Order
    stage: DealStage
    close_date: datetime | None = None


class DealStageChange(BaseModel):
    order_id: str
    stage: DealStage


class DealOutcome(BaseModel):
    order_id: str
    deal_id: str | None
    contact_id: str | None = None
    stage: DealStage


class StepName(StrEnum):
    """Activity names: the workflow calls them by name, the activities register under them."""

    CHECK_CREDIT = "check_credit"
    CHECK_STOCK = "check_stock"
    RESERVE_STOCK = "reserve_stock"
    RELEASE_STOCK = "release_stock"
    CREATE_SALES_ORDER = "create_sales_order"
    CANCEL_SALES_ORDER = "cancel_sales_order"
    CAPTURE_PAYMENT = "capture_payment"
    REFUND_PAYMENT = "refund_payment"
    CREATE_SHIPMENT = "create_shipment"
    CONFIRM_DELIVERY = "confirm_delivery"
    CANCEL_SHIPMENT = "cancel_shipment"
    CREATE_INVOICE = "create_invoice"
    CREDIT_INVOICE = "credit_invoice"
    UPSERT_DEAL = "upsert_deal"
    SET_DEAL_STAGE = "set_deal_stage"
