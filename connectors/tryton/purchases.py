"""Suppliers and purchase orders: the supplier's record, the purchase created, quoted and
confirmed, the supplier's confirmation and reminders noted on it, and its cancellation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.tryton.purchase_records import (
    CANCELLED_NOTE,
    CONFIRMED_NOTE,
    NEW_SUPPLIER_CATEGORY,
    REQUISITION_PREFIX,
    TrytonPurchaseRecords,
)
from connectors.tryton.wire import SYSTEM, log, ref_id
from domain.errors import (
    BusinessRuleError,
    ConflictError,
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
)
from domain.purchasing.models import (
    PurchaseOrder,
    PurchaseOrderStatus,
    Requisition,
    Supplier,
    SupplierStatus,
)


class TrytonPurchases(TrytonPurchaseRecords):
    """`get_supplier`, `create_purchase_order`, `confirm_purchase_order`, `remind_supplier`
    and `cancel_purchase_order`."""

    async def get_supplier(self, supplier_id: str) -> Supplier:
        env = await self._environment()
        party = await self._supplier_party(supplier_id)
        currency = (party.get("supplier_currency") or {}).get("code") or env.currency_code
        return Supplier(
            supplier_id=str(party["code"]),
            name=str(party["name"]),
            currency=str(currency),
            status=SupplierStatus.BLOCKED
            if self._supplier_blocked(party)
            else SupplierStatus.ACTIVE,
            new=NEW_SUPPLIER_CATEGORY in self._category_names(party),
            email=party.get("email") or None,
        )

    async def create_purchase_order(
        self, requisition: Requisition, *, idempotency_key: str
    ) -> PurchaseOrder:
        purchase = await self._purchase_by_requisition(requisition.requisition_id)
        if purchase is not None:
            await self._check_same_order(purchase, requisition)
            if purchase["state"] not in ("draft", "quotation"):
                return self._purchase_order(purchase)
            purchase_id = int(purchase["id"])  # left by an interrupted attempt
        else:
            purchase_id = await self._new_purchase(requisition, idempotency_key)
        try:
            state = (await self._read("purchase.purchase", purchase_id, ["state"]))["state"]
            if state == "draft":
                await self._button("purchase.purchase", purchase_id, "quote")
            # Confirming queues Tryton's processing, which it runs before answering: the
            # purchase is then processing, with its incoming moves waiting for the goods.
            await self._button("purchase.purchase", purchase_id, "confirm")
        except BusinessRuleError:
            await self._discard_purchase(purchase_id)
            raise
        return self._purchase_order(await self._purchase(str(purchase_id)))

    async def _check_same_order(self, purchase: dict[str, Any], requisition: Requisition) -> None:
        """A purchase already made for the requisition must be for the same lines."""
        lines = await self._search(
            "purchase.line",
            [("purchase", "=", int(purchase["id"])), ("type", "=", "line")],
            ["sequence", "product.code", "quantity", "unit_price"],
        )
        have = {
            (
                int(line["sequence"] or 0),
                str(line["product"]["code"]),
                Decimal(str(line["quantity"])),
                Decimal(line["unit_price"]),
            )
            for line in lines
        }
        want = {
            (line.line_no, line.product, line.quantity, line.expected_price)
            for line in requisition.lines
        }
        supplier = str(purchase["party"].get("code"))
        if supplier != requisition.supplier_id or have != want:
            raise ConflictError(
                SYSTEM,
                "IdempotencyConflict",
                f"purchase {purchase.get('number') or purchase['id']} for requisition "
                f"{requisition.requisition_id} has other lines or another supplier ({supplier})",
            )

    async def _new_purchase(self, requisition: Requisition, idempotency_key: str) -> int:
        env = await self._environment()
        purchasing = await self._purchasing_environment()
        party = await self._supplier_party(requisition.supplier_id)
        if self._supplier_blocked(party):
            raise BusinessRuleError(
                SYSTEM,
                "SupplierBlocked",
                f"supplier {requisition.supplier_id} is blocked in Tryton",
            )
        addresses = list(party.get("addresses") or [])
        if not addresses:
            raise BusinessRuleError(
                SYSTEM, "NoAddress", f"supplier {requisition.supplier_id} has no address"
            )
        products = await self._purchase_products(line.product for line in requisition.lines)
        currency = await self._currency(requisition.currency)
        lines = []
        for line in requisition.lines:
            product = products[line.product]
            what = f"line {line.line_no} (product {line.product})"
            unit = await self._unit(line.unit, int(ref_id(product["default_uom"]) or 0), what)
            lines.append(
                {
                    "type": "line",
                    "sequence": line.line_no,
                    "product": int(product["id"]),
                    "description": line.description or None,
                    "quantity": float(line.quantity),
                    "unit": unit,
                    "unit_price": line.expected_price,
                    "taxes": [["add", self._taxes(line.tax_rate, purchasing.taxes, what)]],
                }
            )
        note = (
            f"Continuum: requisition {requisition.requisition_id} requested by "
            f"{requisition.requested_by} for cost centre {requisition.cost_centre}."
        )
        if requisition.note:
            note += f" Note: {requisition.note}"
        values: dict[str, Any] = {
            "company": env.company,
            "party": int(party["id"]),
            "currency": currency,
            "warehouse": env.warehouse,
            "description": REQUISITION_PREFIX + requisition.requisition_id,
            "comment": f"{note} [key {idempotency_key}]",
            # Tryton drafts the supplier invoice for what was received, as it is received.
            "invoice_method": "fulfillment",
            "invoice_address": int(addresses[0]),
            "delivery_date": requisition.needed_by,
            "lines": [["create", lines]],
        }
        if party.get("supplier_payment_term") is not None:
            values["payment_term"] = ref_id(party["supplier_payment_term"])
        return await self._create("purchase.purchase", values)

    async def _purchase_products(self, codes: Any) -> dict[str, dict[str, Any]]:
        env = await self._environment()
        wanted = sorted(set(codes))
        found = await self._search(
            "product.product",
            [("code", "in", wanted)],
            ["code", "default_uom", "purchasable"],
            context={"company": env.company},
        )
        products = {str(p["code"]): p for p in found}
        unknown = [code for code in wanted if code not in products]
        if unknown:
            raise NotFoundError(
                SYSTEM,
                "UnknownProduct",
                f"Tryton has no product with code {', '.join(unknown)} "
                "(its product search by code found none)",
            )
        not_purchasable = [code for code in wanted if not products[code].get("purchasable")]
        if not_purchasable:
            raise BusinessRuleError(
                SYSTEM,
                "NotPurchasable",
                f"product {', '.join(not_purchasable)} cannot be purchased in Tryton",
            )
        return products

    @staticmethod
    def _taxes(rate: Decimal, taxes: dict[Decimal, int], what: str) -> list[int]:
        if rate == 0:
            return []
        tax = taxes.get(rate.normalize())
        if tax is None:
            raise InvalidRequestError(
                SYSTEM,
                "UnknownTaxRate",
                f"Tryton has no purchase tax at {(rate * 100).normalize():f}% for {what}",
            )
        return [tax]

    async def _discard_purchase(self, purchase_id: int) -> None:
        """Leaves no purchase behind after Tryton refused it: back to draft, then deleted."""
        try:
            current = await self._read("purchase.purchase", purchase_id, ["state"])
            if current["state"] in ("quotation", "confirmed"):
                await self._button("purchase.purchase", purchase_id, "draft")
            await self._delete("purchase.purchase", purchase_id)
        except IntegrationError as err:
            log.warning("could not discard refused Tryton purchase %s: %s", purchase_id, err)

    async def confirm_purchase_order(
        self, purchase_order_id: str, supplier_reference: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        purchase = await self._purchase(purchase_order_id)
        status = self._purchase_status(purchase)
        if status is PurchaseOrderStatus.CANCELLED:
            raise BusinessRuleError(
                SYSTEM, "PurchaseCancelled", f"purchase order {purchase_order_id} is cancelled"
            )
        if status is PurchaseOrderStatus.CONFIRMED:
            held = purchase.get("reference") or ""
            if supplier_reference and held and held != supplier_reference:
                raise ConflictError(
                    SYSTEM,
                    "AlreadyConfirmed",
                    f"purchase order {purchase_order_id} was confirmed by the supplier as "
                    f"{held}, not {supplier_reference}",
                )
            return self._purchase_order(purchase)
        # Tryton has no supplier acknowledgement: the supplier's reference goes where Tryton
        # keeps it (the purchase's reference) and the confirmation into its comment.
        values = {"reference": supplier_reference} if supplier_reference else {}
        await self._note(
            purchase,
            f"{CONFIRMED_NOTE} (reference {supplier_reference or 'none given'}).",
            idempotency_key,
            **values,
        )
        return self._purchase_order(purchase)

    async def remind_supplier(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        """Tryton sends nothing to suppliers: the reminder is noted on the purchase (once per
        key), for whoever contacts the supplier and for the audit."""
        purchase = await self._purchase(purchase_order_id)
        status = self._purchase_status(purchase)
        if status is PurchaseOrderStatus.CANCELLED:
            raise BusinessRuleError(
                SYSTEM, "PurchaseCancelled", f"purchase order {purchase_order_id} is cancelled"
            )
        if status is PurchaseOrderStatus.SENT:
            await self._note(
                purchase, "Continuum: reminded the supplier to confirm the order.", idempotency_key
            )
        return self._purchase_order(purchase)

    async def cancel_purchase_order(
        self, purchase_order_id: str, *, idempotency_key: str
    ) -> PurchaseOrder:
        purchase = await self._purchase(purchase_order_id)
        purchase_id = int(purchase["id"])
        state = purchase["state"]
        if self._purchase_status(purchase) is PurchaseOrderStatus.CANCELLED:
            return self._purchase_order(purchase)
        if state in ("draft", "quotation"):
            await self._button("purchase.purchase", purchase_id, "cancel")
        elif state == "confirmed":
            await self._button("purchase.purchase", purchase_id, "draft")
            await self._button("purchase.purchase", purchase_id, "cancel")
        else:
            await self._cancel_processing_purchase(purchase, idempotency_key)
        return self._purchase_order(await self._purchase(purchase_order_id))

    async def _cancel_processing_purchase(
        self, purchase: dict[str, Any], idempotency_key: str
    ) -> None:
        """Tryton cannot cancel a processed purchase: its open moves and draft invoices are
        cancelled and set aside with its exception wizards (as a user would); Tryton then ends
        it as done with nothing received, which the note marks as cancelled. Refused while
        goods are in (return them first) or an invoice is posted (cancel it first)."""
        purchase_id = int(purchase["id"])
        purchasing = await self._purchasing_environment()
        moves = await self._moves(purchase.get("moves") or [])
        net = Decimal(0)
        for move in moves:
            if move["state"] == "done":
                quantity = Decimal(str(move["quantity"]))
                if ref_id(move["from_location"]) == purchasing.supplier_location:
                    net += quantity
                elif ref_id(move["to_location"]) == purchasing.supplier_location:
                    net -= quantity
        if net > 0:
            raise BusinessRuleError(
                SYSTEM,
                "PurchaseReceived",
                f"purchase {purchase['number']} has goods received; return them first",
            )
        invoices = await self._search(
            "account.invoice",
            [("id", "in", list(purchase.get("invoices") or []))],
            ["state", "cancel_move"],
        )
        if any(i["state"] in ("posted", "paid") for i in invoices):
            raise BusinessRuleError(
                SYSTEM,
                "PurchaseInvoiced",
                f"purchase {purchase['number']} has a posted supplier invoice; cancel it first",
            )
        context = self._context()
        for shipment_id in purchase.get("shipments") or []:
            shipment = await self._read("stock.shipment.in", int(shipment_id), ["state"])
            if shipment["state"] == "draft":
                await self._button("stock.shipment.in", int(shipment_id), "cancel")
        for return_id in purchase.get("shipment_returns") or []:
            shipment = await self._read("stock.shipment.in.return", int(return_id), ["state"])
            if shipment["state"] in ("draft", "waiting", "assigned"):
                await self._button("stock.shipment.in.return", int(return_id), "cancel")
        moves = await self._moves(purchase.get("moves") or [])
        open_moves = [int(m["id"]) for m in moves if m["state"] not in ("done", "cancelled")]
        if open_moves:
            await self._rpc("model.stock.move.cancel", open_moves, context)
        drafts = [int(i["id"]) for i in invoices if i["state"] in ("draft", "validated")]
        if drafts:
            await self._rpc("model.account.invoice.cancel", drafts, context)
        await self._set_aside_exceptions(purchase_id)
        await self._note(
            await self._purchase(str(purchase_id)), f"{CANCELLED_NOTE}.", idempotency_key
        )

    async def _set_aside_exceptions(self, purchase_id: int) -> None:
        """Tryton's exception wizards, answering "ignore" for the cancelled moves and invoices."""
        purchase = await self._purchase(str(purchase_id))
        if purchase.get("shipment_state") == "exception":
            lines = await self._search(
                "purchase.line",
                [("purchase", "=", purchase_id)],
                ["moves", "moves_ignored", "moves_recreated"],
            )
            moves = [m for line in lines for m in line.get("moves") or []]
            skip = {
                m
                for line in lines
                for m in [*(line.get("moves_ignored") or []), *(line.get("moves_recreated") or [])]
            }
            cancelled = [
                int(m["id"])
                for m in await self._moves(moves)
                if m["state"] == "cancelled" and m["id"] not in skip
            ]
            if cancelled:
                await self._wizard(
                    "purchase.handle.shipment.exception",
                    "purchase.purchase",
                    [purchase_id],
                    [
                        (
                            "handle",
                            {
                                "ask": {
                                    "recreate_moves": [],
                                    "ignore_moves": cancelled,
                                    "domain_moves": cancelled,
                                }
                            },
                        )
                    ],
                )
        if purchase.get("invoice_state") == "exception":
            invoices = await self._search(
                "account.invoice",
                [("id", "in", list(purchase.get("invoices") or []))],
                ["state", "cancel_move"],
            )
            ignored = set(purchase.get("invoices_ignored") or [])
            cancelled = [
                int(i["id"])
                for i in invoices
                if i["state"] == "cancelled" and not i.get("cancel_move") and i["id"] not in ignored
            ]
            if cancelled:
                await self._wizard(
                    "purchase.handle.invoice.exception",
                    "purchase.purchase",
                    [purchase_id],
                    [
                        (
                            "handle",
                            {
                                "ask": {
                                    "recreate_invoices": [],
                                    "ignore_invoices": cancelled,
                                    "domain_invoices": cancelled,
                                }
                            },
                        )
                    ],
                )
