"""Purchases as a change feed (reports and the drill), by Tryton's (last_modified_at, id).

A purchase is written by Tryton whenever its goods or invoices move on (it re-processes it and
stores its shipment and invoice states), and Continuum notes each payment on it, so what the
feed reports (received, invoiced, paid) changes only with a write that moves the purchase on it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from connectors.tryton.feeds import TrytonFeeds
from connectors.tryton.purchase_records import TrytonPurchaseRecords
from connectors.tryton.wire import ref_id, utc
from domain.erp import PurchaseChangePage


class TrytonPurchaseFeed(TrytonPurchaseRecords, TrytonFeeds):
    """`purchase_changes`."""

    async def purchase_changes(
        self, updated_since: dt.datetime | None, cursor: str | None, limit: int
    ) -> PurchaseChangePage:
        await self._environment()
        purchases, next_cursor = await self._feed(
            "purchase.purchase", [], self._PURCHASE_FIELDS, updated_since, cursor, limit
        )
        received, invoiced, paid = await self._figures([p for p, _ in purchases])
        items = [
            self._purchase_change(
                purchase,
                received=received[int(purchase["id"])],
                invoiced=invoiced[int(purchase["id"])],
                paid=paid[int(purchase["id"])],
                updated_at=utc(when),
            )
            for purchase, when in purchases
        ]
        return PurchaseChangePage(items=items, next_cursor=next_cursor)

    async def _figures(
        self, purchases: list[dict[str, Any]]
    ) -> tuple[dict[int, Decimal], dict[int, Decimal], dict[int, Decimal]]:
        """Per purchase: the net value received at order prices (returns subtract), the net
        invoiced (posted documents; credit notes subtract) and the supplier payments that
        succeeded. A few searches per page, whatever its size."""
        purchasing = await self._purchasing_environment()
        received: dict[int, Decimal] = defaultdict(Decimal)
        invoiced: dict[int, Decimal] = defaultdict(Decimal)
        paid: dict[int, Decimal] = defaultdict(Decimal)
        if not purchases:
            return received, invoiced, paid
        lines = await self._search(
            "purchase.line",
            [("purchase", "in", [int(p["id"]) for p in purchases]), ("type", "=", "line")],
            ["purchase", "unit_price", "unit.factor", "moves"],
        )
        by_line = {int(line["id"]): line for line in lines}
        for move in await self._moves(m for line in lines for m in line.get("moves") or []):
            if move["state"] != "done":
                continue
            line = by_line[int(str(move["origin"]).split(",")[1])]
            factor = Decimal(str(move["unit"]["factor"])) / Decimal(str(line["unit"]["factor"]))
            value = Decimal(str(move["quantity"])) * factor * Decimal(line["unit_price"])
            purchase = int(ref_id(line["purchase"]) or 0)
            if ref_id(move["from_location"]) == purchasing.supplier_location:
                received[purchase] += value
            elif ref_id(move["to_location"]) == purchasing.supplier_location:
                received[purchase] -= value
        invoice_lines = await self._search(
            "account.invoice.line",
            [("origin", "in", [f"purchase.line,{line_id}" for line_id in by_line])],
            ["origin", "amount", "invoice", "invoice.state", "invoice.lines_to_pay"],
        )
        invoices: dict[int, int] = {}
        for invoice_line in invoice_lines:
            invoice = invoice_line.get("invoice") or {}
            if invoice.get("state") not in ("posted", "paid"):
                continue
            line = by_line[int(str(invoice_line["origin"]).split(",")[1])]
            purchase = int(ref_id(line["purchase"]) or 0)
            invoiced[purchase] += Decimal(invoice_line["amount"])
            for move_line in invoice.get("lines_to_pay") or []:
                invoices[int(move_line)] = purchase
        if invoices:
            for payment in await self._search(
                "account.payment",
                [
                    ("line", "in", sorted(invoices)),
                    ("kind", "=", "payable"),
                    ("state", "=", "succeeded"),
                ],
                ["amount", "line"],
            ):
                paid[invoices[int(ref_id(payment["line"]) or 0)]] += Decimal(payment["amount"])
        return received, invoiced, paid
