"""Stock: availability, reservations, and the goods a shipment takes out or brings back.

available = on_hand - reserved. A reservation holds stock for an order until it is released
or a shipment takes the goods out of the warehouse; then both reserved and on_hand go down
and the reservation stays active, marked with the shipment, so that releasing it later frees
nothing twice. Cancelling a shipment before it left puts the goods back on the shelf, held
again by their reservation, which the order's saga then releases.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Protocol

from services.erp.errors import business, not_found
from services.erp.schemas import Item, Product, ReservationRecord, StockLevel, StockLevels
from services.erp.store import Tx, parse_ts


class Line(Protocol):
    """An API `Item` or a domain `OrderLine`."""

    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def merge(lines: Iterable[Line]) -> dict[str, int]:
    """Quantities per SKU, in first-seen order: two lines of one SKU reserve their sum."""
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    return wanted


def _products(tx: Tx, skus: Iterable[str]) -> dict[str, sqlite3.Row]:
    unique = list(dict.fromkeys(skus))
    marks = ",".join("?" * len(unique))
    rows = tx.all(f"SELECT * FROM products WHERE sku IN ({marks})", unique)
    found = {str(row["sku"]): row for row in rows}
    if missing := [sku for sku in unique if sku not in found]:
        raise not_found("product", ", ".join(missing))
    return found


def _level(row: sqlite3.Row) -> StockLevel:
    on_hand, reserved = int(row["on_hand"]), int(row["reserved"])
    return StockLevel(
        sku=row["sku"], on_hand=on_hand, reserved=reserved, available=on_hand - reserved
    )


def _require_available(tx: Tx, wanted: dict[str, int]) -> None:
    levels = {sku: _level(row) for sku, row in _products(tx, wanted).items()}
    short = [
        f"{sku} (requested {qty}, available {levels[sku].available})"
        for sku, qty in wanted.items()
        if levels[sku].available < qty
    ]
    if short:
        raise business("InsufficientStock", f"insufficient stock: {', '.join(short)}")


def _move(tx: Tx, column: str, wanted: dict[str, int], sign: int) -> None:
    assert column in ("on_hand", "reserved")
    tx.run_many(
        f"UPDATE products SET {column} = {column} + ?, updated_at = ? WHERE sku = ?",
        [(sign * qty, tx.now, sku) for sku, qty in wanted.items()],
    )


def stock_levels(tx: Tx, skus: list[str]) -> StockLevels:
    found = _products(tx, skus)
    return StockLevels(items=[_level(found[sku]) for sku in dict.fromkeys(skus)])


def product(tx: Tx, sku: str) -> Product:
    row = _products(tx, [sku])[sku]
    level = _level(row)
    return Product(name=row["name"], unit_price=row["unit_price"], **level.model_dump())


def reserve(tx: Tx, order_id: str, lines: list[Item]) -> ReservationRecord:
    """All lines or none: every SKU is checked before any stock is held."""
    wanted = merge(lines)
    _require_available(tx, wanted)
    _move(tx, "reserved", wanted, +1)
    reservation_id = f"RES-{tx.next_id('reservations'):06d}"
    stored = json.dumps([{"sku": sku, "quantity": qty} for sku, qty in wanted.items()])
    tx.run(
        "INSERT INTO reservations (reservation_id, order_id, status, lines, created_at,"
        " updated_at) VALUES (?, ?, 'active', ?, ?, ?)",
        (reservation_id, order_id, stored, tx.now, tx.now),
    )
    return reservation(tx, reservation_id)


def release(tx: Tx, reservation_id: str) -> ReservationRecord:
    """Frees the held stock; a released reservation is returned as it is."""
    record = reservation(tx, reservation_id)
    if record.status == "released":
        return record
    if record.shipment_id is None:
        _move(tx, "reserved", merge(record.lines), -1)
    tx.run(
        "UPDATE reservations SET status = 'released', updated_at = ? WHERE reservation_id = ?",
        (tx.now, reservation_id),
    )
    return reservation(tx, reservation_id)


def take_for_shipment(tx: Tx, order_id: str, shipment_id: str, lines: list[Item]) -> None:
    """The order's reservations stop holding stock, then the shipped goods leave on_hand."""
    held = tx.all(
        "SELECT reservation_id, lines FROM reservations"
        " WHERE order_id = ? AND status = 'active' AND shipment_id IS NULL",
        (order_id,),
    )
    for row in held:
        _move(tx, "reserved", merge(_items(row["lines"])), -1)
        tx.run(
            "UPDATE reservations SET shipment_id = ?, updated_at = ? WHERE reservation_id = ?",
            (shipment_id, tx.now, row["reservation_id"]),
        )
    wanted = merge(lines)
    _require_available(tx, wanted)
    _move(tx, "on_hand", wanted, -1)


def return_from_shipment(tx: Tx, shipment_id: str, lines: list[Item]) -> None:
    """Goods of a cancelled shipment go back on the shelf, held by their active reservations."""
    _move(tx, "on_hand", merge(lines), +1)
    held = tx.all(
        "SELECT reservation_id, lines FROM reservations"
        " WHERE shipment_id = ? AND status = 'active'",
        (shipment_id,),
    )
    for row in held:
        _move(tx, "reserved", merge(_items(row["lines"])), +1)
        tx.run(
            "UPDATE reservations SET shipment_id = NULL, updated_at = ? WHERE reservation_id = ?",
            (tx.now, row["reservation_id"]),
        )


def reservation(tx: Tx, reservation_id: str) -> ReservationRecord:
    row = tx.one("SELECT * FROM reservations WHERE reservation_id = ?", (reservation_id,))
    if row is None:
        raise not_found("reservation", reservation_id)
    return _record(row)


def reservations(tx: Tx, order_id: str) -> list[ReservationRecord]:
    rows = tx.all("SELECT * FROM reservations WHERE order_id = ? ORDER BY id", (order_id,))
    return [_record(row) for row in rows]


def _items(stored: str) -> list[Item]:
    return [Item.model_validate(line) for line in json.loads(stored)]


def _record(row: sqlite3.Row) -> ReservationRecord:
    return ReservationRecord(
        reservation_id=row["reservation_id"],
        order_id=row["order_id"],
        status=row["status"],
        lines=_items(row["lines"]),
        shipment_id=row["shipment_id"],
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )
