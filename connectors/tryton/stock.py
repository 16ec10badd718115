"""Credit and stock checks, and the stock "reservation" (the sale's planned moves)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.tryton.records import TrytonRecords
from connectors.tryton.wire import RESERVATION_PREFIX, SYSTEM
from domain.credit import CreditStatus
from domain.erp import Reservation, StockLine, StockStatus
from domain.errors import BusinessRuleError, NotFoundError
from domain.orders.models import OrderLine


class TrytonStock(TrytonRecords):
    """`get_credit`, `check_stock`, `reserve_stock` and `release_stock`."""

    async def get_credit(self, customer_id: str) -> CreditStatus:
        party = await self._party(customer_id)
        limit = party.get("credit_limit_amount")
        return CreditStatus(
            customer_id=customer_id,
            credit_limit=Decimal(limit) if limit is not None else Decimal("0"),
            exposure=Decimal(party.get("credit_amount") or 0),
            blocked=not party.get("active", True),
        )

    async def check_stock(self, lines: list[OrderLine]) -> StockStatus:
        # An unknown code is NotFound, as on the reference ERP, not a shortage of zero.
        return self._stock_status(lines, await self._known_products(line.sku for line in lines))

    def _stock_status(
        self, lines: list[OrderLine], products: Mapping[str, dict[str, Any]]
    ) -> StockStatus:
        requested: dict[str, int] = {}
        for line in lines:
            requested[line.sku] = requested.get(line.sku, 0) + line.quantity
        return StockStatus(
            lines=[
                StockLine(sku=sku, requested=qty, available=self._available(products.get(sku)))
                for sku, qty in requested.items()
            ]
        )

    @staticmethod
    def _available(product: dict[str, Any] | None) -> int:
        """Free to promise: on hand, less what confirmed sales already plan to take."""
        if product is None:
            return 0
        on_hand = float(product.get("quantity") or 0)
        forecast = float(product.get("forecast_quantity") or 0)
        return max(0, int(min(on_hand, forecast)))

    # -----------------------------------------------------------------------------------------
    # Stock "reservation": the sale's planned moves and the shipment's assignment

    async def reserve_stock(
        self, order_id: str, lines: list[OrderLine], *, idempotency_key: str
    ) -> Reservation:
        reservation = Reservation(
            reservation_id=f"{RESERVATION_PREFIX}{order_id}", order_id=order_id, status="active"
        )
        sale = await self._sale_by_order(order_id)
        if sale is not None and sale["state"] != "cancelled":
            # The sale exists: its own moves hold the stock now (a retry after it was made).
            return reservation
        products = await self._known_products(line.sku for line in lines)
        status = self._stock_status(lines, products)
        if status.shortages:
            short = ", ".join(
                f"{s.sku} (requested {s.requested}, available {s.available})"
                for s in status.shortages
            )
            raise BusinessRuleError(SYSTEM, "InsufficientStock", f"insufficient stock: {short}")
        return reservation

    async def release_stock(self, reservation_id: str, *, idempotency_key: str) -> Reservation:
        if not reservation_id.startswith(RESERVATION_PREFIX):
            raise NotFoundError(SYSTEM, "NotFound", f"no Tryton reservation {reservation_id!r}")
        order_id = reservation_id.removeprefix(RESERVATION_PREFIX)
        sale = await self._sale_by_order(order_id)
        if sale is not None:
            for shipment in await self._shipments(sale):
                if shipment["state"] == "assigned":
                    # Un-assign: back to waiting, its moves to draft, the stock free again.
                    await self._button("stock.shipment.out", int(shipment["id"]), "wait")
                elif shipment["state"] in ("picked", "packed"):
                    raise BusinessRuleError(
                        SYSTEM,
                        "ShipmentPicked",
                        f"shipment {shipment['number']} is {shipment['state']}: its stock "
                        "stays taken until the shipment is cancelled",
                    )
        return Reservation(reservation_id=reservation_id, order_id=order_id, status="released")
