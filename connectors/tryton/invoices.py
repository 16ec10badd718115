"""Invoices Tryton drafted when the goods left: posted, and credited."""

from __future__ import annotations

from decimal import Decimal

from connectors.tryton.records import TrytonRecords
from connectors.tryton.wire import SYSTEM, parse_record_id
from domain.erp import Invoice
from domain.errors import BusinessRuleError, TransientError


class TrytonInvoices(TrytonRecords):
    """`create_invoice` and `credit_invoice`."""

    async def _invoice_result(self, invoice_id: int, order_id: str) -> Invoice:
        invoice = await self._read(
            "account.invoice",
            invoice_id,
            ["state", "total_amount", "currency.code", "cancel_move"],
            what="invoice",
        )
        status = {"posted": "posted", "paid": "posted", "cancelled": "credited"}.get(
            invoice["state"], str(invoice["state"])
        )
        return Invoice(
            invoice_id=str(invoice_id),
            order_id=order_id,
            amount=Decimal(invoice["total_amount"]),
            currency=str(invoice["currency"]["code"]),
            status=status,
        )

    async def create_invoice(
        self, order_id: str, sales_order_id: str, *, idempotency_key: str
    ) -> Invoice:
        sale = await self._order_sale(order_id, sales_order_id)
        invoices = await self._invoices(sale)
        done = [i for i in invoices if i["state"] in ("posted", "paid")]
        if done:
            return await self._invoice_result(int(done[0]["id"]), order_id)
        drafts = [i for i in invoices if i["state"] in ("draft", "validated")]
        if not drafts:
            if invoices:
                return await self._invoice_result(int(invoices[-1]["id"]), order_id)
            if sale.get("shipment_state") == "sent":
                # Delivered: Tryton's queue makes the invoice when it processes the sale.
                raise TransientError(
                    SYSTEM,
                    "InvoicePending",
                    f"sale {sales_order_id} is delivered; Tryton has not made its invoice yet",
                )
            raise BusinessRuleError(
                SYSTEM,
                "NothingToInvoice",
                f"Tryton has nothing to invoice for sale {sales_order_id} "
                f"(shipment state {sale.get('shipment_state')})",
            )
        invoice_id = int(drafts[0]["id"])
        await self._button("account.invoice", invoice_id, "post")
        return await self._invoice_result(invoice_id, order_id)

    async def credit_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        record_id = parse_record_id(invoice_id, "invoice")
        invoice = await self._read(
            "account.invoice", record_id, ["state", "type", "sales"], what="invoice"
        )
        order_id = ""
        sales = list(invoice.get("sales") or [])
        if sales:
            order_id = str((await self._sale(str(sales[0])))["reference"] or "")
        state = invoice["state"]
        if state in ("draft", "validated"):
            await self._button("account.invoice", record_id, "cancel")
        elif state == "posted":
            await self._wizard(
                "account.invoice.credit",
                "account.invoice",
                [record_id],
                [("credit", {"start": {"with_refund": True, "invoice_date": None}})],
            )
        elif state == "paid":
            raise BusinessRuleError(
                SYSTEM, "InvoicePaid", f"invoice {invoice_id} is paid; refund the payment instead"
            )
        return await self._invoice_result(record_id, order_id)
