"""Supplier invoices and credit notes: the draft Tryton made from the received moves becomes the
supplier's document (reference, dates, quantities, prices, tax as printed) and is posted; a
supplier reference Tryton already holds is refused; cancelling reverses it in the books."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.tryton.errors import TrytonWarning
from connectors.tryton.purchase_records import (
    TAX_WARNING,
    PurchaseLine,
    TrytonPurchaseRecords,
    key_mark,
    normalise_reference,
)
from connectors.tryton.wire import SYSTEM, parse_record_id, ref_id
from domain.erp import ErpSupplierInvoice, ErpSupplierInvoiceStatus
from domain.errors import BusinessRuleError, ConflictError, InvalidRequestError
from domain.purchasing.models import DocumentKind, SupplierInvoice

# The manual tax line that brings Tryton's computed tax to the figure the supplier printed.
TAX_DIFFERENCE = "Tax difference as invoiced by the supplier"
SIMILAR_WARNING = ".invoice_similar"


def lookup_pattern(reference: str) -> str:
    """An `ilike` pattern matching every spelling of the reference (case, spaces, dashes) and a
    few more; the exact comparison is `normalise_reference`. SQL wildcards in the reference
    become single-character wildcards, so no escaping is needed."""
    chars = ["_" if c in "%_\\" else c for c in normalise_reference(reference)]
    return "%" + "%".join(chars) + "%"


class TrytonSupplierInvoices(TrytonPurchaseRecords):
    """`post_supplier_invoice` and `cancel_supplier_invoice`."""

    _INVOICE_FIELDS = (
        "type",
        "state",
        "reference",
        "number",
        "comment",
        "party.code",
        "currency.code",
        "untaxed_amount",
        "tax_amount",
        "purchases",
        "cancel_move",
    )

    async def post_supplier_invoice(
        self, purchase_order_id: str, invoice: SupplierInvoice, *, idempotency_key: str
    ) -> ErpSupplierInvoice:
        purchase = await self._purchase(purchase_order_id)
        supplier = str(purchase["party"].get("code"))
        if invoice.supplier_id != supplier:
            raise InvalidRequestError(
                SYSTEM,
                "SupplierMismatch",
                f"invoice {invoice.reference} is from {invoice.supplier_id}, but purchase "
                f"order {purchase_order_id} is with {supplier}",
            )
        mark = key_mark(idempotency_key)
        earlier = [
            found
            for found in await self._search(
                "account.invoice",
                # `_` in a key is a LIKE wildcard: the search may find more, the filter not.
                [("type", "=", "in"), ("comment", "ilike", f"%{mark}%")],
                ["reference", "comment"],
            )
            if mark in str(found.get("comment") or "")
        ]
        if earlier:
            invoice_id = int(earlier[0]["id"])
            if normalise_reference(str(earlier[0]["reference"])) != normalise_reference(
                invoice.reference
            ):
                raise ConflictError(
                    SYSTEM,
                    "IdempotencyConflict",
                    f"key {idempotency_key} recorded invoice {earlier[0]['reference']}, "
                    f"not {invoice.reference}",
                )
        else:
            await self._refuse_duplicate(int(ref_id(purchase["party"]) or 0), invoice)
            invoice_id = await self._record_invoice(purchase, invoice, idempotency_key)
        state = (await self._read("account.invoice", invoice_id, ["state"]))["state"]
        if state in ("draft", "validated"):
            await self._match_printed_tax(invoice_id, invoice)
            await self._post(invoice_id, invoice)
        if invoice.credits_reference:
            await self._settle_credited(invoice_id, int(ref_id(purchase["party"]) or 0), invoice)
        return await self._supplier_invoice_result(invoice_id, purchase_order_id)

    async def _settle_credited(
        self, credit_note_id: int, party_id: int, invoice: SupplierInvoice
    ) -> None:
        """A credit note that takes back all that is open on the invoice it credits (an invoice
        credited in full, to be reissued) settles it at once, as Tryton's own credit with
        refund does for customer invoices: both are reconciled and paid. A partial credit note
        is netted when the invoice is paid (`pay_supplier`)."""
        wanted = normalise_reference(str(invoice.credits_reference))
        credited = [
            found
            for found in await self._search(
                "account.invoice",
                [
                    ("type", "=", "in"),
                    ("party", "=", party_id),
                    ("state", "=", "posted"),
                    ("reference", "ilike", lookup_pattern(wanted)),
                ],
                ["reference", "lines_to_pay"],
            )
            if normalise_reference(str(found.get("reference") or "")) == wanted
        ]
        note = await self._read("account.invoice", credit_note_id, ["state", "lines_to_pay"])
        if not credited or note["state"] != "posted":
            return
        line_ids = [*credited[0]["lines_to_pay"], *note["lines_to_pay"]]
        lines = await self._search(
            "account.move.line",
            [("id", "in", line_ids)],
            ["debit", "credit", "reconciliation"],
        )
        await self._reconcile_balanced(lines, f"credit note {invoice.reference}")

    async def _refuse_duplicate(self, party_id: int, invoice: SupplierInvoice) -> None:
        """ConflictError when Tryton holds a document of this supplier with the same reference
        (whatever its case, spaces and dashes, and whatever its state): Tryton itself only
        warns about an identical reference within 60 days, which a user may dismiss."""
        found = await self._search(
            "account.invoice",
            [
                ("type", "=", "in"),
                ("party", "=", party_id),
                ("reference", "ilike", lookup_pattern(invoice.reference)),
            ],
            ["reference", "number", "state"],
        )
        wanted = normalise_reference(invoice.reference)
        same = [f for f in found if normalise_reference(str(f["reference"] or "")) == wanted]
        if same:
            held = same[0]
            raise ConflictError(
                SYSTEM,
                "DuplicateSupplierInvoice",
                f"Tryton already holds {invoice.supplier_id}'s document {held['reference']} "
                f"(invoice {held.get('number') or held['id']}, {held['state']}); "
                f"{invoice.reference} is refused as a duplicate",
            )

    async def _record_invoice(
        self, purchase: dict[str, Any], invoice: SupplierInvoice, idempotency_key: str
    ) -> int:
        """The supplier's document as a draft: Tryton's own draft for the purchase, rewritten,
        when there is one (what it drafted but the document does not cover is deleted, and
        Tryton drafts it again once this one is posted); else a new supplier invoice."""
        env = await self._environment()
        purchasing = await self._purchasing_environment()
        lines = await self._purchase_lines(purchase)
        currency = await self._currency(invoice.currency)
        sign = Decimal(-1) if invoice.kind is DocumentKind.CREDIT_NOTE else Decimal(1)
        wanted: list[tuple[PurchaseLine, Decimal, Decimal, int]] = []
        for invoice_line in invoice.lines:
            line = self._line(lines, invoice_line.line_no, purchase)
            unit = await self._unit(invoice_line.unit, line.unit, f"line {line.line_no}")
            wanted.append((line, sign * invoice_line.quantity, invoice_line.unit_price, unit))
        label = "credit note" if invoice.kind is DocumentKind.CREDIT_NOTE else "invoice"
        header: dict[str, Any] = {
            "reference": invoice.reference,
            "invoice_date": invoice.issued_on,
            # The supplier's due date: with the "Direct" payment term the maturity is this day.
            "payment_term_date": invoice.due_on,
            "description": f"Requisition {self._requisition_id(purchase)}: supplier {label}",
            "comment": f"Recorded by Continuum from the supplier's {label} "
            f"{invoice.reference}. {key_mark(idempotency_key)}",
        }
        if invoice.credits_reference:
            header["comment"] += f" Credits {invoice.credits_reference}."
        drafts = await self._consolidate_drafts(int(purchase["id"]))
        base = next((d for d in drafts if ref_id(d["currency"]) == currency), None)
        if base is None:
            new_lines = [await self._new_line(line, q, p, u, currency) for line, q, p, u in wanted]
            return await self._create(
                "account.invoice",
                {
                    "company": env.company,
                    "type": "in",
                    "party": ref_id(purchase["party"]),
                    "invoice_address": ref_id(purchase["invoice_address"]),
                    "currency": currency,
                    "account": await self._payable_account(int(ref_id(purchase["party"]) or 0)),
                    "journal": purchasing.expense_journal,
                    "payment_term": ref_id(purchase.get("payment_term")),
                    **header,
                    "lines": [["create", new_lines]],
                },
            )
        base_id = int(base["id"])
        drafted = await self._search(
            "account.invoice.line",
            [("invoice", "=", base_id)],
            ["origin"],
            order=[("id", "ASC")],
        )
        by_origin: dict[str, list[int]] = {}
        for drafted_line in drafted:
            by_origin.setdefault(str(drafted_line.get("origin") or ""), []).append(
                int(drafted_line["id"])
            )
        operations: list[Any] = []
        created = []
        for line, quantity, price, unit in wanted:
            reusable = by_origin.get(f"purchase.line,{line.id}") or []
            if reusable:
                values = {"quantity": float(quantity), "unit": unit, "unit_price": price}
                operations.append(["write", [reusable.pop(0)], values])
            else:
                created.append(await self._new_line(line, quantity, price, unit, currency))
        leftover = [line_id for ids in by_origin.values() for line_id in ids]
        if leftover:
            operations.append(["delete", leftover])
        if created:
            operations.append(["create", created])
        await self._write("account.invoice", base_id, {**header, "lines": operations})
        return base_id

    async def _new_line(
        self, line: PurchaseLine, quantity: Decimal, price: Decimal, unit: int, currency: int
    ) -> dict[str, Any]:
        env = await self._environment()
        products = await self._search(
            "product.product",
            [("id", "=", line.product)],
            ["template.account_category.account_expense"],
            context={"company": env.company},
        )
        category = (products[0].get("template") or {}).get("account_category") if products else None
        account = ref_id((category or {}).get("account_expense"))
        if account is None:
            raise InvalidRequestError(
                SYSTEM, "NotConfigured", f"product {line.product} has no expense account in Tryton"
            )
        return {
            "type": "line",
            "product": line.product,
            "quantity": float(quantity),
            "unit": unit,
            "unit_price": price,
            "account": account,
            "taxes": [["add", line.taxes]],
            "origin": f"purchase.line,{line.id}",
            "company": env.company,
            "currency": currency,
        }

    async def _payable_account(self, party_id: int) -> int:
        party = await self._read("party.party", party_id, ["account_payable"])
        account = ref_id(party.get("account_payable"))
        if account is None:
            config = await self._read("account.configuration", 1, ["default_account_payable"])
            account = ref_id(config.get("default_account_payable"))
        if account is None:
            raise InvalidRequestError(SYSTEM, "NotConfigured", "Tryton has no payable account")
        return account

    async def _match_printed_tax(self, invoice_id: int, invoice: SupplierInvoice) -> None:
        """Tryton computes the tax from the lines; the supplier's document may differ by its
        rounding (or more: the three-way match judges that). What is booked is the printed
        figure: a manual tax line carries the difference, as a user would add it."""
        sign = Decimal(-1) if invoice.kind is DocumentKind.CREDIT_NOTE else Decimal(1)
        current = await self._read("account.invoice", invoice_id, ["tax_amount", "taxes"])
        difference = sign * invoice.tax - Decimal(current["tax_amount"])
        if difference == 0:
            return
        adjustments = await self._search(
            "account.invoice.tax",
            [
                ("invoice", "=", invoice_id),
                ("manual", "=", True),
                ("description", "=", TAX_DIFFERENCE),
            ],
            ["amount"],
            limit=1,
        )
        if adjustments:
            amount = Decimal(adjustments[0]["amount"]) + difference
            operation: list[Any] = ["write", [int(adjustments[0]["id"])], {"amount": amount}]
        else:
            account = await self._tax_account()
            operation = [
                "create",
                [
                    {
                        "description": TAX_DIFFERENCE,
                        "account": account,
                        "base": Decimal(0),
                        "amount": difference,
                        "manual": True,
                    }
                ],
            ]
        await self._write("account.invoice", invoice_id, {"taxes": [operation]})

    async def _tax_account(self) -> int:
        purchasing = await self._purchasing_environment()
        taxes = await self._search(
            "account.tax", [("id", "in", sorted(purchasing.taxes.values()))], ["invoice_account"]
        )
        for tax in taxes:
            if tax.get("invoice_account") is not None:
                return int(ref_id(tax["invoice_account"]) or 0)
        raise InvalidRequestError(SYSTEM, "NotConfigured", "Tryton has no purchase tax account")

    async def _post(self, invoice_id: int, invoice: SupplierInvoice) -> None:
        try:
            await self._call_acknowledging(
                "model.account.invoice.post", [invoice_id], [TAX_WARNING]
            )
        except TrytonWarning as warning:
            if warning.name.endswith(SIMILAR_WARNING):
                raise ConflictError(
                    SYSTEM, "DuplicateSupplierInvoice", f"{invoice.reference}: {warning.message}"
                ) from None
            raise

    async def _supplier_invoice_result(
        self, invoice_id: int, purchase_order_id: str
    ) -> ErpSupplierInvoice:
        record = await self._read(
            "account.invoice", invoice_id, self._INVOICE_FIELDS, what="supplier invoice"
        )
        net = Decimal(record["untaxed_amount"])
        purchases = list(record.get("purchases") or [])
        return ErpSupplierInvoice(
            erp_invoice_id=str(invoice_id),
            purchase_order_id=purchase_order_id or (str(purchases[0]) if purchases else ""),
            supplier_id=str(record["party"].get("code") or ""),
            reference=str(record.get("reference") or ""),
            kind=DocumentKind.CREDIT_NOTE.value if net < 0 else DocumentKind.INVOICE.value,
            net=abs(net),
            tax=abs(Decimal(record["tax_amount"])),
            currency=str(record["currency"]["code"]),
            status=ErpSupplierInvoiceStatus.CANCELLED
            if record["state"] == "cancelled"
            else ErpSupplierInvoiceStatus.POSTED,
        )

    async def cancel_supplier_invoice(
        self, erp_invoice_id: str, *, idempotency_key: str
    ) -> ErpSupplierInvoice:
        """A draft is cancelled; a posted supplier invoice is cancelled with a reversing move
        (Tryton allows that for supplier invoices); a paid one is refused."""
        invoice_id = parse_record_id(erp_invoice_id, "supplier invoice")
        record = await self._read(
            "account.invoice", invoice_id, ["type", "state", "number"], what="supplier invoice"
        )
        if record["type"] != "in":
            raise InvalidRequestError(
                SYSTEM, "NotASupplierInvoice", f"invoice {erp_invoice_id} is a customer invoice"
            )
        if record["state"] == "paid":
            raise BusinessRuleError(
                SYSTEM,
                "SupplierInvoicePaid",
                f"supplier invoice {record.get('number') or invoice_id} is paid; "
                "ask the supplier for a refund instead",
            )
        if record["state"] in ("draft", "validated", "posted"):
            await self._rpc("model.account.invoice.cancel", [invoice_id], self._context())
        return await self._supplier_invoice_result(invoice_id, "")
