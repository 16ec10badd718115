"""Goods receipts as supplier shipments (received, then done), returns to the supplier as supplier
return shipments; each one once per warehouse receipt number."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from connectors.tryton.purchase_records import (
    OVER_RECEIPT_WARNING,
    PurchaseLine,
    TrytonPurchaseRecords,
)
from connectors.tryton.wire import SYSTEM, naive_utc, parse_record_id, ref_id
from domain.erp import ErpReceipt, ErpReceiptStatus
from domain.errors import BusinessRuleError, ConflictError
from domain.purchasing.models import GoodsReceipt, PurchaseOrderStatus, ReceiptKind

RETURN_PREFIX = "return:"  # an ErpReceipt id of a return shipment; a receipt's is its plain id


def undo_reference(receipt_reference: str) -> str:
    """The reference of the return that undoes a receipt."""
    return f"return of {receipt_reference}"


class TrytonReceipts(TrytonPurchaseRecords):
    """`record_goods_receipt` and `return_goods`."""

    async def record_goods_receipt(
        self, purchase_order_id: str, receipt: GoodsReceipt, *, idempotency_key: str
    ) -> ErpReceipt:
        purchase = await self._purchase(purchase_order_id)
        if self._purchase_status(purchase) is PurchaseOrderStatus.CANCELLED:
            raise BusinessRuleError(
                SYSTEM, "PurchaseCancelled", f"purchase order {purchase_order_id} is cancelled"
            )
        lines = await self._purchase_lines(purchase)
        wanted: list[tuple[PurchaseLine, Decimal, int]] = []
        for receipt_line in receipt.lines:
            line = self._line(lines, receipt_line.line_no, purchase)
            what = f"line {line.line_no}"
            unit = await self._unit(receipt_line.unit, line.unit, what)
            wanted.append((line, receipt_line.quantity, unit))
        if receipt.kind is ReceiptKind.RETURN:
            return await self._record_return(purchase, receipt, wanted)
        shipment = await self._shipment_by_reference("stock.shipment.in", purchase, receipt)
        if shipment is None:
            shipment_id = await self._new_shipment(purchase, receipt, wanted)
        else:
            shipment_id = int(shipment["id"])
        await self._finish_shipment(shipment_id)
        await self._consolidate_drafts(int(purchase["id"]))
        return await self._receipt_result(shipment_id, purchase_order_id)

    async def _shipment_by_reference(
        self, model: str, purchase: dict[str, Any], receipt: GoodsReceipt
    ) -> dict[str, Any] | None:
        """An earlier attempt's shipment for this receipt number; refused if it belongs to
        another purchase (the same number used for two purchases)."""
        # A supplier shipment's own moves also put the goods away; its incoming ones are the
        # purchase's.
        moves = "incoming_moves" if model == "stock.shipment.in" else "moves"
        found = await self._search(
            model,
            [
                ("reference", "=", receipt.receipt_id),
                ("supplier", "=", ref_id(purchase["party"])),
                ("state", "!=", "cancelled"),
            ],
            [moves],
            order=[("id", "ASC")],
        )
        if not found:
            return None
        shipment = found[0]
        mine = set(purchase.get("moves") or [])
        if not set(shipment.get(moves) or []) <= mine:
            raise ConflictError(
                SYSTEM,
                "IdempotencyConflict",
                f"receipt {receipt.receipt_id} is recorded in Tryton for another purchase",
            )
        return shipment

    async def _new_shipment(
        self,
        purchase: dict[str, Any],
        receipt: GoodsReceipt,
        wanted: list[tuple[PurchaseLine, Decimal, int]],
    ) -> int:
        """A supplier shipment holding the purchase's waiting moves, set to what arrived (Tryton
        makes a new waiting move for any rest); a line with nothing waiting gets a new move."""
        env = await self._environment()
        purchasing = await self._purchasing_environment()
        waiting: dict[int, list[int]] = {}
        for move in await self._moves(purchase.get("moves") or []):
            if (
                move["state"] == "draft"
                and move.get("shipment") is None
                and ref_id(move["from_location"]) == purchasing.supplier_location
            ):
                origin = str(move.get("origin") or "")
                waiting.setdefault(int(origin.split(",")[1]), []).append(int(move["id"]))
        operations: list[Any] = []
        new_moves: list[dict[str, Any]] = []
        for line, quantity, unit in wanted:
            pending = waiting.get(line.id) or []
            if pending:
                move_id = pending.pop(0)
                operations.append(["add", [move_id]])
                operations.append(["write", [move_id], {"quantity": float(quantity), "unit": unit}])
            else:
                new_moves.append(
                    {
                        "product": line.product,
                        "quantity": float(quantity),
                        "unit": unit,
                        "from_location": purchasing.supplier_location,
                        "to_location": purchasing.warehouse_input,
                        "origin": f"purchase.line,{line.id}",
                        "unit_price": line.unit_price,
                        "currency": env.currency,
                        "company": env.company,
                    }
                )
        if new_moves:
            operations.append(["create", new_moves])
        received = receipt.received_at or dt.datetime.now(dt.UTC)
        return await self._create(
            "stock.shipment.in",
            {
                "company": env.company,
                "supplier": ref_id(purchase["party"]),
                "warehouse": env.warehouse,
                "warehouse_input": purchasing.warehouse_input,
                "warehouse_storage": purchasing.warehouse_storage,
                "reference": receipt.receipt_id,
                "effective_date": naive_utc(received).date(),
                "incoming_moves": operations,
            },
        )

    async def _finish_shipment(self, shipment_id: int) -> None:
        """Received (the goods are in) then done (put away); from wherever it stopped."""
        state = (await self._read("stock.shipment.in", shipment_id, ["state"]))["state"]
        if state == "draft":
            await self._call_acknowledging(
                "model.stock.shipment.in.receive", [shipment_id], [OVER_RECEIPT_WARNING]
            )
            state = (await self._read("stock.shipment.in", shipment_id, ["state"]))["state"]
        if state == "received":
            await self._rpc("model.stock.shipment.in.do", [shipment_id], self._context())

    async def _record_return(
        self,
        purchase: dict[str, Any],
        receipt: GoodsReceipt,
        wanted: list[tuple[PurchaseLine, Decimal, int]],
    ) -> ErpReceipt:
        shipment = await self._shipment_by_reference("stock.shipment.in.return", purchase, receipt)
        if shipment is None:
            return_id = await self._new_return(
                purchase, receipt.receipt_id, [(line, q, unit) for line, q, unit in wanted]
            )
        else:
            return_id = int(shipment["id"])
        await self._finish_return(return_id)
        await self._consolidate_drafts(int(purchase["id"]))
        return ErpReceipt(
            erp_receipt_id=f"{RETURN_PREFIX}{return_id}",
            purchase_order_id=str(purchase["id"]),
            receipt_id=receipt.receipt_id,
            status=ErpReceiptStatus.RECORDED,
        )

    async def _new_return(
        self,
        purchase: dict[str, Any],
        reference: str,
        wanted: list[tuple[PurchaseLine, Decimal, int]],
    ) -> int:
        """A supplier return shipment; its moves name the purchase lines, so Tryton counts them
        against what was received (and drafts the credit it expects from the supplier)."""
        env = await self._environment()
        moves = [
            {
                "product": line.product,
                "quantity": float(quantity),
                "unit": unit,
                "origin": f"purchase.line,{line.id}",
                "unit_price": line.unit_price,
                "currency": env.currency,
            }
            for line, quantity, unit in wanted
        ]
        return await self._create_return(ref_id(purchase["party"]), reference, moves)

    async def _create_return(
        self, supplier: int | None, reference: str, moves: list[dict[str, Any]]
    ) -> int:
        """A draft supplier return shipment to the supplier's first address, its moves (product,
        quantity, unit, origin, unit price, currency) from the return location to the supplier."""
        env = await self._environment()
        purchasing = await self._purchasing_environment()
        party = await self._read("party.party", int(supplier or 0), ["addresses"])
        addresses = list(party.get("addresses") or [])
        places = {
            "from_location": purchasing.return_location,
            "to_location": purchasing.supplier_location,
        }
        return await self._create(
            "stock.shipment.in.return",
            {
                "company": env.company,
                "supplier": supplier,
                **places,
                "delivery_address": addresses[0] if addresses else None,
                "reference": reference,
                "moves": [["create", [{**m, **places, "company": env.company} for m in moves]]],
            },
        )

    async def _finish_return(self, return_id: int) -> None:
        """Waiting, assigned (the goods are taken from stock), done; from wherever it stopped."""
        model = "stock.shipment.in.return"
        state = (await self._read(model, return_id, ["state"]))["state"]
        if state == "draft":
            await self._button(model, return_id, "wait")
            state = "waiting"
        if state == "waiting":
            await self._button(model, return_id, "assign_try")
            state = (await self._read(model, return_id, ["state"]))["state"]
            if state == "waiting":
                raise BusinessRuleError(
                    SYSTEM,
                    "InsufficientStock",
                    f"Tryton could not take the goods of return shipment {return_id} from stock",
                )
        if state == "assigned":
            await self._button(model, return_id, "do")

    async def _receipt_result(self, shipment_id: int, purchase_order_id: str) -> ErpReceipt:
        shipment = await self._read(
            "stock.shipment.in", shipment_id, ["state", "reference", "supplier"]
        )
        reference = str(shipment.get("reference") or "")
        returned = shipment["state"] == "cancelled" or bool(
            await self._search(
                "stock.shipment.in.return",
                [
                    ("reference", "=", undo_reference(reference)),
                    ("supplier", "=", ref_id(shipment["supplier"])),
                    ("state", "!=", "cancelled"),
                ],
                ["id"],
                limit=1,
            )
        )
        return ErpReceipt(
            erp_receipt_id=str(shipment_id),
            purchase_order_id=purchase_order_id,
            receipt_id=reference,
            status=ErpReceiptStatus.RETURNED if returned else ErpReceiptStatus.RECORDED,
        )

    async def return_goods(self, erp_receipt_id: str, *, idempotency_key: str) -> ErpReceipt:
        """Undoes a receipt: everything it brought in goes back to the supplier on a return
        shipment (a receipt not yet received is cancelled instead). Undoing a return leaves it:
        the goods are already with the supplier (one not yet done is cancelled)."""
        if erp_receipt_id.startswith(RETURN_PREFIX):
            return await self._undo_return(erp_receipt_id)
        shipment_id = parse_record_id(erp_receipt_id, "receipt")
        shipment = await self._read(
            "stock.shipment.in",
            shipment_id,
            ["state", "reference", "supplier", "incoming_moves"],
            what="receipt",
        )
        moves = await self._moves(shipment.get("incoming_moves") or [])
        purchase_ids = await self._purchases_of(moves)
        purchase_order_id = str(purchase_ids[0]) if purchase_ids else ""
        state = shipment["state"]
        if state == "draft":
            await self._button("stock.shipment.in", shipment_id, "cancel")
        elif state in ("received", "done"):
            if state == "received":
                await self._rpc("model.stock.shipment.in.do", [shipment_id], self._context())
            await self._return_shipment(shipment, moves)
        for purchase_id in purchase_ids:
            await self._consolidate_drafts(purchase_id)
        return await self._receipt_result(shipment_id, purchase_order_id)

    async def _return_shipment(self, shipment: dict[str, Any], moves: list[dict[str, Any]]) -> None:
        reference = undo_reference(str(shipment.get("reference") or shipment["id"]))
        found = await self._search(
            "stock.shipment.in.return",
            [
                ("reference", "=", reference),
                ("supplier", "=", ref_id(shipment["supplier"])),
                ("state", "!=", "cancelled"),
            ],
            ["id"],
            limit=1,
        )
        if found:
            return_id = int(found[0]["id"])
        else:
            env = await self._environment()
            done = [
                {
                    "product": ref_id(m["product"]),
                    "quantity": m["quantity"],
                    "unit": ref_id(m["unit"]),
                    "origin": m.get("origin"),
                    "unit_price": m.get("unit_price"),
                    "currency": ref_id(m.get("currency")) or env.currency,
                }
                for m in moves
                if m["state"] == "done"
            ]
            return_id = await self._create_return(ref_id(shipment["supplier"]), reference, done)
        await self._finish_return(return_id)

    async def _undo_return(self, erp_receipt_id: str) -> ErpReceipt:
        return_id = parse_record_id(erp_receipt_id[len(RETURN_PREFIX) :], "return")
        model = "stock.shipment.in.return"
        shipment = await self._read(
            model, return_id, ["state", "reference", "moves"], what="return"
        )
        if shipment["state"] in ("draft", "waiting", "assigned"):
            await self._button(model, return_id, "cancel")
        purchase_ids = await self._purchases_of(await self._moves(shipment.get("moves") or []))
        for purchase_id in purchase_ids:
            await self._consolidate_drafts(purchase_id)
        return ErpReceipt(
            erp_receipt_id=erp_receipt_id,
            purchase_order_id=str(purchase_ids[0]) if purchase_ids else "",
            receipt_id=str(shipment.get("reference") or ""),
            status=ErpReceiptStatus.RETURNED,
        )

    async def _purchases_of(self, moves: list[dict[str, Any]]) -> list[int]:
        line_ids = sorted(
            {
                int(str(m["origin"]).split(",")[1])
                for m in moves
                if str(m.get("origin") or "").startswith("purchase.line,")
            }
        )
        if not line_ids:
            return []
        lines = await self._search("purchase.line", [("id", "in", line_ids)], ["purchase"])
        return sorted({int(ref_id(line["purchase"]) or 0) for line in lines})
