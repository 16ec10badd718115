"""`ErpPort` and `PurchasingPort` over HTTP against the reference ERP (`services.erp`; paths
documented there). Purchasing's methods are in `connectors.reference_erp_purchasing`, a mixin.

One pooled `httpx.AsyncClient` with explicit timeouts. No retries here: failures are
classified into `domain.errors` (see `connectors.http_errors`) and Temporal retries. Every
write sends the caller's `Idempotency-Key`, so a retry is answered without a second write.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from connectors.http import pooled_client
from connectors.http_errors import raise_for_response, transport_errors
from connectors.reference_erp_purchasing import ReferenceErpPurchasing
from domain.credit import CreditStatus
from domain.erp import (
    CustomerChangePage,
    Invoice,
    OrderChangePage,
    Payment,
    Reservation,
    SalesOrder,
    Shipment,
    StockLine,
    StockStatus,
)
from domain.errors import IntegrationError
from domain.orders.models import Address, Order, OrderLine, PaymentMethod
from domain.reports import ErpDayFigures

SYSTEM = "erp"
M = TypeVar("M", bound=BaseModel)


def _id(value: str) -> str:
    """A record id as one path segment, whatever characters it holds."""
    return quote(value, safe="")


def _lines(lines: list[OrderLine]) -> list[dict[str, Any]]:
    return [{"sku": line.sku, "quantity": line.quantity} for line in lines]


class _StockLevel(BaseModel):
    sku: str
    available: int


class _StockLevels(BaseModel):
    items: list[_StockLevel]


class ErpSettings(Protocol):
    """What `from_settings` reads from `continuum.settings.Settings` (structurally)."""

    @property
    def erp_url(self) -> str: ...
    @property
    def erp_api_token(self) -> SecretStr: ...
    @property
    def http_timeout_seconds(self) -> float: ...


class ReferenceErpClient(ReferenceErpPurchasing):
    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_token}", "Accept": "application/json"}
        # Connecting should be quick on a healthy network; the rest gets the whole budget.
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._owns_client = client is None
        self._client = client or pooled_client(self._timeout, max_connections=100)

    @classmethod
    def from_settings(cls, settings: ErpSettings) -> Self:
        """The worker's client (`continuum.erp_backends`): ERP_URL with ERP_API_TOKEN."""
        return cls(
            settings.erp_url,
            settings.erp_api_token.get_secret_value(),
            timeout=settings.http_timeout_seconds,
        )

    async def aclose(self) -> None:
        """Closes the pooled client, unless the caller passed in one of its own."""
        if self._owns_client:
            await self._client.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        result: type[M],
        *,
        json: Any = None,
        params: Any = None,
        idempotency_key: str | None = None,
    ) -> M:
        headers = dict(self._headers)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        with transport_errors(SYSTEM):
            response = await self._client.request(
                method,
                f"{self._base}{path}",
                json=json,
                params=params,
                headers=headers,
                timeout=self._timeout,
            )
        raise_for_response(SYSTEM, response)
        try:
            return result.model_validate_json(response.content)
        except ValidationError as err:
            raise IntegrationError(
                SYSTEM,
                "InvalidResponse",
                f"{method} {path} answered {response.status_code} with a body that is not a"
                f" {result.__name__}: {err.error_count()} problem(s), first: {err.errors()[0]}",
                status=response.status_code,
            ) from err

    async def _write(self, path: str, result: type[M], key: str, body: Any = None) -> M:
        return await self._call("POST", path, result, json=body, idempotency_key=key)

    # --- reads ----------------------------------------------------------------------------

    async def get_credit(self, customer_id: str) -> CreditStatus:
        return await self._call("GET", f"/api/customers/{_id(customer_id)}/credit", CreditStatus)

    async def check_stock(self, lines: list[OrderLine]) -> StockStatus:
        if not lines:
            return StockStatus(lines=[])
        skus = list(dict.fromkeys(line.sku for line in lines))
        levels = await self._call("GET", "/api/stock", _StockLevels, params={"sku": skus})
        available = {level.sku: level.available for level in levels.items}
        return StockStatus(
            lines=[
                StockLine(
                    sku=line.sku, requested=line.quantity, available=available.get(line.sku, 0)
                )
                for line in lines
            ]
        )

    async def order_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> OrderChangePage:
        params = _feed_params(updated_since, cursor, limit)
        return await self._call("GET", "/api/changes/orders", OrderChangePage, params=params)

    async def customer_changes(
        self, updated_since: datetime | None, cursor: str | None, limit: int
    ) -> CustomerChangePage:
        params = _feed_params(updated_since, cursor, limit)
        return await self._call("GET", "/api/changes/customers", CustomerChangePage, params=params)

    async def day_figures(self, start: datetime, end: datetime) -> ErpDayFigures:
        """The daily report's ERP figures: sales in [start, end), stock and customers now."""
        params = {"start": start.isoformat(), "end": end.isoformat()}
        return await self._call("GET", "/api/reports/day", ErpDayFigures, params=params)

    # --- writes ---------------------------------------------------------------------------

    async def reserve_stock(
        self, order_id: str, lines: list[OrderLine], *, idempotency_key: str
    ) -> Reservation:
        body = {"order_id": order_id, "lines": _lines(lines)}
        return await self._write("/api/reservations", Reservation, idempotency_key, body)

    async def release_stock(self, reservation_id: str, *, idempotency_key: str) -> Reservation:
        path = f"/api/reservations/{_id(reservation_id)}/release"
        return await self._write(path, Reservation, idempotency_key)

    async def create_sales_order(self, order: Order, *, idempotency_key: str) -> SalesOrder:
        body = order.model_dump(mode="json")
        return await self._write("/api/sales-orders", SalesOrder, idempotency_key, body)

    async def cancel_sales_order(self, sales_order_id: str, *, idempotency_key: str) -> SalesOrder:
        path = f"/api/sales-orders/{_id(sales_order_id)}/cancel"
        return await self._write(path, SalesOrder, idempotency_key)

    async def capture_payment(
        self,
        order_id: str,
        amount: Decimal,
        currency: str,
        method: PaymentMethod,
        reference: str | None,
        *,
        idempotency_key: str,
    ) -> Payment:
        body = {
            "order_id": order_id,
            "amount": str(amount),
            "currency": currency,
            "method": method.value,
            "reference": reference,
        }
        return await self._write("/api/payments", Payment, idempotency_key, body)

    async def refund_payment(self, payment_id: str, *, idempotency_key: str) -> Payment:
        path = f"/api/payments/{_id(payment_id)}/refund"
        return await self._write(path, Payment, idempotency_key)

    async def create_shipment(
        self,
        order_id: str,
        sales_order_id: str,
        address: Address,
        lines: list[OrderLine],
        *,
        idempotency_key: str,
    ) -> Shipment:
        body = {
            "order_id": order_id,
            "sales_order_id": sales_order_id,
            "address": address.model_dump(mode="json"),
            "lines": _lines(lines),
        }
        return await self._write("/api/shipments", Shipment, idempotency_key, body)

    async def confirm_delivery(
        self, shipment_id: str, delivered_at: datetime, *, idempotency_key: str
    ) -> Shipment:
        path = f"/api/shipments/{_id(shipment_id)}/deliver"
        body = {"delivered_at": delivered_at.isoformat()}
        return await self._write(path, Shipment, idempotency_key, body)

    async def cancel_shipment(self, shipment_id: str, *, idempotency_key: str) -> Shipment:
        path = f"/api/shipments/{_id(shipment_id)}/cancel"
        return await self._write(path, Shipment, idempotency_key)

    async def create_invoice(
        self, order_id: str, sales_order_id: str, *, idempotency_key: str
    ) -> Invoice:
        body = {"order_id": order_id, "sales_order_id": sales_order_id}
        return await self._write("/api/invoices", Invoice, idempotency_key, body)

    async def credit_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        path = f"/api/invoices/{_id(invoice_id)}/credit"
        return await self._write(path, Invoice, idempotency_key)


def _feed_params(updated_since: datetime | None, cursor: str | None, limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if updated_since is not None:
        params["updated_since"] = updated_since.isoformat()
    if cursor:
        params["cursor"] = cursor
    return params
