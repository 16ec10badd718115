"""Supplier payments: a payable payment against the supplier invoice's line to pay, through the
manual "Supplier transfers" journal (submitted, approved, processed, succeeded). The journal
clears through the cash account, so a payment of the whole line reconciles the invoice and
Tryton marks it paid; credit notes netted into a payment are reconciled with it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from connectors.tryton.payments import TrytonPayments
from connectors.tryton.purchase_records import TrytonPurchaseRecords, normalise_reference
from connectors.tryton.wire import SYSTEM, ref_id
from domain.errors import (
    BusinessRuleError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
)
from domain.purchasing.models import PaymentDue, SupplierPayment


class TrytonSupplierPayments(TrytonPurchaseRecords, TrytonPayments):
    """`pay_supplier`."""

    async def pay_supplier(
        self, purchase_order_id: str, supplier_id: str, due: PaymentDue, *, idempotency_key: str
    ) -> SupplierPayment:
        purchasing = await self._purchasing_environment()
        purchase = await self._purchase(purchase_order_id)
        supplier = str(purchase["party"].get("code"))
        if supplier != supplier_id:
            raise InvalidRequestError(
                SYSTEM,
                "SupplierMismatch",
                f"purchase order {purchase_order_id} is with {supplier}, not {supplier_id}",
            )
        if due.currency != purchasing.payment_currency:
            raise InvalidRequestError(
                SYSTEM,
                "UnsupportedCurrency",
                f"the supplier payment journal pays {purchasing.payment_currency}, "
                f"not {due.currency}",
            )
        invoice = await self._posted_invoice(purchase, due.invoice_reference)
        party = int(ref_id(purchase["party"]) or 0)
        lines_to_pay = [int(line) for line in invoice.get("lines_to_pay") or []]
        earlier = [
            p
            for p in await self._search(
                "account.payment",
                [
                    ("kind", "=", "payable"),
                    ("party", "=", party),
                    ("reference", "=", due.key),
                    ("state", "!=", "failed"),
                ],
                ["amount", "line"],
                order=[("id", "ASC")],
            )
            if ref_id(p.get("line")) in lines_to_pay
        ]
        if earlier:
            payment_id = int(earlier[0]["id"])
            if Decimal(earlier[0]["amount"]) != due.amount:
                raise ConflictError(
                    SYSTEM,
                    "IdempotencyConflict",
                    f"payment {payment_id} of {due.key} is {earlier[0]['amount']}, "
                    f"not {due.amount}",
                )
        else:
            payment_id = await self._new_payment(invoice, party, due)
        await self._drive_payment(payment_id)
        payment = await self._read("account.payment", payment_id, ["state", "amount", "number"])
        if payment["state"] == "succeeded" and due.credit_references:
            await self._reconcile_credits(invoice, party, due)
        await self._note(
            await self._purchase(purchase_order_id),
            f"Continuum: paid {payment['amount']} {due.currency} for invoice "
            f"{due.invoice_reference} (lines {', '.join(str(n) for n in sorted(due.lines))}), "
            f"payment {payment.get('number') or payment_id}.",
            idempotency_key,
        )
        return SupplierPayment(
            payment_id=str(payment_id),
            purchase_order_id=purchase_order_id,
            invoice_reference=due.invoice_reference,
            lines=sorted(due.lines),
            amount=Decimal(payment["amount"]),
            currency=due.currency,
            status="paid" if payment["state"] == "succeeded" else str(payment["state"]),
        )

    async def _posted_invoice(self, purchase: dict[str, Any], reference: str) -> dict[str, Any]:
        found = await self._search(
            "account.invoice",
            [("type", "=", "in"), ("purchases", "=", int(purchase["id"]))],
            ["reference", "state", "lines_to_pay", "amount_to_pay", "total_amount"],
            order=[("id", "ASC")],
        )
        wanted = normalise_reference(reference)
        for invoice in found:
            if normalise_reference(str(invoice.get("reference") or "")) != wanted:
                continue
            if invoice["state"] in ("posted", "paid"):
                return invoice
            raise BusinessRuleError(
                SYSTEM,
                "InvoiceNotPosted",
                f"supplier invoice {reference} is {invoice['state']} in Tryton",
            )
        raise NotFoundError(
            SYSTEM,
            "UnknownInvoice",
            f"purchase {purchase.get('number')} has no supplier invoice {reference} in Tryton",
        )

    async def _new_payment(self, invoice: dict[str, Any], party: int, due: PaymentDue) -> int:
        """A draft payable payment of `due.amount` against the invoice's open line to pay;
        refused for more than is left to pay (an invoice is never paid twice)."""
        env = await self._environment()
        purchasing = await self._purchasing_environment()
        if due.amount <= 0:
            raise BusinessRuleError(
                SYSTEM, "NothingToPay", f"{due.key}: nothing to pay ({due.amount})"
            )
        lines = await self._search(
            "account.move.line",
            [("id", "in", list(invoice.get("lines_to_pay") or [])), ("reconciliation", "=", None)],
            ["maturity_date"],
            order=[("maturity_date", "ASC"), ("id", "ASC")],
        )
        left = Decimal(invoice.get("amount_to_pay") or 0)
        if not lines or left <= 0:
            raise BusinessRuleError(
                SYSTEM, "InvoicePaid", f"supplier invoice {due.invoice_reference} is paid"
            )
        if due.amount > left:
            raise BusinessRuleError(
                SYSTEM,
                "Overpayment",
                f"{due.key}: {due.amount} is more than the {left} left to pay on "
                f"supplier invoice {due.invoice_reference}",
            )
        return await self._create(
            "account.payment",
            {
                "company": env.company,
                "journal": purchasing.payment_journal,
                "kind": "payable",
                "party": party,
                "amount": due.amount,
                "date": dt.date.today(),
                "line": int(lines[0]["id"]),
                # What the supplier sees on the transfer, and the payment's idempotency key.
                "reference": due.key,
            },
        )

    async def _reconcile_credits(
        self, invoice: dict[str, Any], party: int, due: PaymentDue
    ) -> None:
        """A payment net of credit notes does not settle the invoice's line by itself: the
        invoice's and the credit notes' open lines and the payments' clearing lines are
        reconciled together when they balance (Tryton's reconcile wizard), which marks the
        invoice and the credit notes paid. When they do not balance (the rest is paid later)
        they stay open."""
        references = {normalise_reference(r) for r in due.credit_references}
        credits = [
            c
            for c in await self._search(
                "account.invoice",
                [("type", "=", "in"), ("party", "=", party), ("state", "=", "posted")],
                ["reference", "lines_to_pay"],
            )
            if normalise_reference(str(c.get("reference") or "")) in references
        ]
        line_ids = [int(line) for line in invoice.get("lines_to_pay") or []]
        line_ids += [int(line) for c in credits for line in c.get("lines_to_pay") or []]
        payments = await self._search(
            "account.payment",
            [("line", "in", list(invoice.get("lines_to_pay") or [])), ("state", "=", "succeeded")],
            ["clearing_move"],
        )
        moves = [int(ref_id(p["clearing_move"]) or 0) for p in payments if p.get("clearing_move")]
        open_lines = await self._search(
            "account.move.line",
            [
                "OR",
                ("id", "in", line_ids),
                [("move", "in", moves), ("party", "=", party)],
            ],
            ["debit", "credit", "reconciliation", "account"],
        )
        payable = {ref_id(line["account"]) for line in open_lines if int(line["id"]) in line_ids}
        await self._reconcile_balanced(
            [line for line in open_lines if ref_id(line["account"]) in payable],
            f"supplier invoice {due.invoice_reference}",
        )
