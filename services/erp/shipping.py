"""Shipments: created → delivered; created → cancelled; delivered → return_requested.

Creating a shipment takes the goods out of the warehouse (see `stock`). Cancelling one that
has not been delivered puts them back; cancelling a delivered one asks the customer to send
them back. Confirming a delivered shipment, or cancelling a cancelled or returned one,
returns it as it is.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from domain.erp import SalesOrderStatus, ShipmentStatus
from domain.orders.models import Address
from services.erp import sales, stock
from services.erp.errors import invalid_state, not_found
from services.erp.schemas import Item, ShipmentRecord, ShipmentRequest
from services.erp.store import Tx, format_ts, parse_ts


def create(tx: Tx, request: ShipmentRequest) -> ShipmentRecord:
    order = sales.for_order(tx, request.sales_order_id, request.order_id)
    if order.status is SalesOrderStatus.CANCELLED:
        raise invalid_state("sales order", order.sales_order_id, "cancelled", "ship")
    number = tx.next_id("shipments")
    shipment_id = f"SHP-{number:06d}"
    stock.take_for_shipment(tx, request.order_id, shipment_id, request.lines)
    tx.run(
        "INSERT INTO shipments (shipment_id, order_id, sales_order_id, status, tracking_number,"
        " address, lines, created_at, updated_at) VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?)",
        (
            shipment_id,
            request.order_id,
            request.sales_order_id,
            f"CTM{number:010d}",
            request.address.model_dump_json(),
            json.dumps([line.model_dump() for line in request.lines]),
            tx.now,
            tx.now,
        ),
    )
    return get(tx, shipment_id)


def confirm_delivery(tx: Tx, shipment_id: str, delivered_at: datetime) -> ShipmentRecord:
    record = get(tx, shipment_id)
    if record.status is ShipmentStatus.DELIVERED:
        return record
    if record.status is not ShipmentStatus.CREATED:
        raise invalid_state("shipment", shipment_id, record.status.value, "confirm delivery of")
    tx.run(
        "UPDATE shipments SET status = 'delivered', delivered_at = ?, updated_at = ?"
        " WHERE shipment_id = ?",
        (format_ts(delivered_at), tx.now, shipment_id),
    )
    return get(tx, shipment_id)


def cancel(tx: Tx, shipment_id: str) -> ShipmentRecord:
    record = get(tx, shipment_id)
    if record.status is ShipmentStatus.CREATED:
        stock.return_from_shipment(tx, shipment_id, record.lines)
        _set_status(tx, shipment_id, ShipmentStatus.CANCELLED)
    elif record.status is ShipmentStatus.DELIVERED:
        _set_status(tx, shipment_id, ShipmentStatus.RETURN_REQUESTED)
    else:
        return record
    return get(tx, shipment_id)


def _set_status(tx: Tx, shipment_id: str, status: ShipmentStatus) -> None:
    tx.run(
        "UPDATE shipments SET status = ?, updated_at = ? WHERE shipment_id = ?",
        (status.value, tx.now, shipment_id),
    )


def get(tx: Tx, shipment_id: str) -> ShipmentRecord:
    row = tx.one("SELECT * FROM shipments WHERE shipment_id = ?", (shipment_id,))
    if row is None:
        raise not_found("shipment", shipment_id)
    return _record(row)


def find(tx: Tx, order_id: str) -> list[ShipmentRecord]:
    rows = tx.all("SELECT * FROM shipments WHERE order_id = ? ORDER BY id", (order_id,))
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> ShipmentRecord:
    delivered_at = row["delivered_at"]
    return ShipmentRecord(
        shipment_id=row["shipment_id"],
        order_id=row["order_id"],
        sales_order_id=row["sales_order_id"],
        status=ShipmentStatus(row["status"]),
        tracking_number=row["tracking_number"],
        address=Address.model_validate_json(row["address"]),
        lines=[Item.model_validate(x) for x in json.loads(row["lines"])],
        delivered_at=parse_ts(delivered_at) if delivered_at else None,
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )
