"""Customer shipments: assigned, picked, packed, done on delivery; cancelled or returned."""

from __future__ import annotations

import datetime as dt
from typing import Any

from connectors.tryton.records import TrytonRecords
from connectors.tryton.wire import OPEN_SHIPMENT_STATES, SYSTEM, naive_utc, parse_record_id, ref_id
from domain.erp import Shipment, ShipmentStatus
from domain.errors import BusinessRuleError, TransientError
from domain.orders.models import Address, OrderLine


class TrytonShipments(TrytonRecords):
    """`create_shipment`, `confirm_delivery` and `cancel_shipment`."""

    async def _returns(self, order_id: str) -> list[dict[str, Any]]:
        return await self._search(
            "stock.shipment.out.return",
            [("reference", "=", order_id), ("state", "!=", "cancelled")],
            ["state", "number"],
        )

    async def _shipment_result(self, shipment_id: int, order_id: str | None = None) -> Shipment:
        shipment = await self._read(
            "stock.shipment.out", shipment_id, ["state", "number", "reference"], what="shipment"
        )
        order = order_id or str(shipment.get("reference") or "")
        state = shipment["state"]
        if state == "done":
            status = ShipmentStatus.DELIVERED
            if order and await self._returns(order):
                status = ShipmentStatus.RETURN_REQUESTED
        elif state == "cancelled":
            status = ShipmentStatus.CANCELLED
        else:
            status = ShipmentStatus.CREATED
        return Shipment(
            shipment_id=str(shipment_id),
            order_id=order,
            status=status,
            tracking_number=f"TRYTON-{shipment['number']}",
        )

    async def create_shipment(
        self,
        order_id: str,
        sales_order_id: str,
        address: Address,
        lines: list[OrderLine],
        *,
        idempotency_key: str,
    ) -> Shipment:
        sale = await self._order_sale(order_id, sales_order_id)
        shipments = await self._shipments(sale)
        live = [s for s in shipments if s["state"] != "cancelled"]
        if not live:
            if shipments:
                return await self._shipment_result(int(shipments[-1]["id"]), order_id)
            if sale["state"] == "confirmed":
                # Tryton's queue makes the shipment when it processes the confirmed sale.
                raise TransientError(
                    SYSTEM,
                    "ShipmentPending",
                    f"sale {sales_order_id} is confirmed; Tryton has not processed it yet",
                )
            raise BusinessRuleError(
                SYSTEM,
                "NoShipment",
                f"Tryton made no customer shipment for sale {sales_order_id} "
                f"(sale state {sale['state']})",
            )
        shipment = live[0]
        shipment_id = int(shipment["id"])
        if shipment.get("reference") != order_id:
            await self._write("stock.shipment.out", shipment_id, {"reference": order_id})
        state = shipment["state"]
        if state == "draft":
            await self._button("stock.shipment.out", shipment_id, "wait")
            state = "waiting"
        if state == "waiting":
            await self._button("stock.shipment.out", shipment_id, "assign_try")
            state = (await self._read("stock.shipment.out", shipment_id, ["state"]))["state"]
            if state == "waiting":
                raise BusinessRuleError(
                    SYSTEM,
                    "InsufficientStock",
                    f"Tryton could not assign the stock of shipment {shipment['number']}",
                )
        if state == "assigned":
            await self._button("stock.shipment.out", shipment_id, "pick")
            state = "picked"
        if state == "picked":
            await self._button("stock.shipment.out", shipment_id, "pack")
        return await self._shipment_result(shipment_id, order_id)

    async def confirm_delivery(
        self, shipment_id: str, delivered_at: dt.datetime, *, idempotency_key: str
    ) -> Shipment:
        record_id = parse_record_id(shipment_id, "shipment")
        shipment = await self._read(
            "stock.shipment.out", record_id, ["state", "number"], what="shipment"
        )
        state = shipment["state"]
        if state == "cancelled":
            raise BusinessRuleError(
                SYSTEM, "ShipmentCancelled", f"shipment {shipment['number']} was cancelled"
            )
        if state in ("assigned", "picked"):
            raise BusinessRuleError(
                SYSTEM,
                "ShipmentNotPacked",
                f"shipment {shipment['number']} is {state}, not packed",
            )
        if state == "packed":
            await self._write(
                "stock.shipment.out",
                record_id,
                {"effective_date": naive_utc(delivered_at).date()},
            )
            await self._button("stock.shipment.out", record_id, "do")
        elif state not in ("done", "shipped"):
            raise BusinessRuleError(
                SYSTEM, "ShipmentNotPacked", f"shipment {shipment['number']} is {state}"
            )
        if state == "shipped":
            await self._button("stock.shipment.out", record_id, "do")
        return await self._shipment_result(record_id)

    async def cancel_shipment(self, shipment_id: str, *, idempotency_key: str) -> Shipment:
        record_id = parse_record_id(shipment_id, "shipment")
        shipment = await self._read(
            "stock.shipment.out",
            record_id,
            ["state", "number", "reference", "customer", "delivery_address", "outgoing_moves"],
            what="shipment",
        )
        state = shipment["state"]
        if state in OPEN_SHIPMENT_STATES:
            await self._button("stock.shipment.out", record_id, "cancel")
        elif state == "done":
            order_id = str(shipment.get("reference") or "")
            if not order_id or not await self._returns(order_id):
                await self._request_return(shipment)
        return await self._shipment_result(record_id)

    async def _request_return(self, shipment: dict[str, Any]) -> None:
        """A draft customer return shipment for everything the shipment delivered."""
        env = await self._environment()
        moves = await self._search(
            "stock.move",
            [("id", "in", list(shipment.get("outgoing_moves") or []))],
            ["product", "quantity", "unit", "unit_price", "currency", "state"],
        )
        await self._create(
            "stock.shipment.out.return",
            {
                "company": env.company,
                "customer": ref_id(shipment["customer"]),
                "contact_address": ref_id(shipment["delivery_address"]),
                "warehouse": env.warehouse,
                "warehouse_storage": env.warehouse_storage,
                "warehouse_input": env.return_location,
                "reference": shipment.get("reference") or f"return {shipment['number']}",
                "moves": [
                    [
                        "create",
                        [
                            {
                                "product": ref_id(m["product"]),
                                "quantity": m["quantity"],
                                "unit": ref_id(m["unit"]),
                                "from_location": env.customer_location,
                                "to_location": env.return_location,
                                "unit_price": m.get("unit_price"),
                                "currency": ref_id(m.get("currency")) or env.currency,
                                "company": env.company,
                            }
                            for m in moves
                            if m["state"] == "done"
                        ],
                    ]
                ],
            },
        )
