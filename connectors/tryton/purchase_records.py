"""Look-ups the purchasing parts share: the purchasing setup (supplier location, journals, taxes),
suppliers, a requisition's purchase and its lines, the drafts Tryton makes, and Continuum's log.

How a requisition's records are found again (Tryton has no idempotency header):
- the purchase by its description `Continuum requisition <id>`; its lines by `sequence` = the
  requisition's line number;
- Continuum's own events (confirmation, reminders, cancellation, payments) as lines of the
  purchase's comment, each ending with `[key <idempotency key>]`, so a repeat finds its line;
- the rest by their business keys: a supplier shipment (or return) by its reference = the
  warehouse's receipt number, a supplier invoice by the key in its comment, a payment by its
  reference = the payment's key (invoice reference and lines).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.tryton.errors import TrytonWarning
from connectors.tryton.records import TrytonRecords
from connectors.tryton.wire import SYSTEM, log, parse_record_id, ref_id
from domain.erp import PurchaseChange
from domain.errors import (
    BusinessRuleError,
    IntegrationError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from domain.purchasing.models import PurchaseOrder, PurchaseOrderStatus

REQUISITION_PREFIX = "Continuum requisition "
# The first words of the log lines whose presence is a state (see `_purchase_status`).
CONFIRMED_NOTE = "Continuum: the supplier confirmed the order"
CANCELLED_NOTE = "Continuum: purchase order cancelled"
# Category names set up by `services.tryton` (Tryton has no blocked or approved-supplier flag).
BLOCKED_SUPPLIER_CATEGORY = "Blocked supplier"
NEW_SUPPLIER_CATEGORY = "New supplier"
# Warnings a user would acknowledge for what Continuum has already decided: an invoice line with
# the order's taxes rather than the product's defaults (the requisition sets the rate), and a
# receipt of more than ordered (the three-way match judges it).
TAX_WARNING = ".invoice_taxes"
OVER_RECEIPT_WARNING = ".check_move_quantity"


def key_mark(idempotency_key: str) -> str:
    return f"[key {idempotency_key}]"


def normalise_reference(reference: str) -> str:
    """A supplier's document number without case, spaces or dashes (as the duplicate rule)."""
    return re.sub(r"[\s\-]+", "", reference).casefold()


@dataclass(frozen=True)
class PurchasingEnvironment:
    """What the purchasing side needs beyond `Environment`."""

    supplier_location: int
    warehouse_input: int
    warehouse_storage: int
    return_location: int  # where returns to suppliers leave from
    expense_journal: int
    payment_journal: int  # supplier payments (cleared, so a payment reconciles its invoice)
    payment_currency: str
    taxes: dict[Decimal, int]  # purchase taxes by rate


@dataclass(frozen=True)
class PurchaseLine:
    id: int
    line_no: int
    product: int
    quantity: Decimal
    unit: int
    unit_price: Decimal
    taxes: list[int]
    moves: list[int]


class TrytonPurchaseRecords(TrytonRecords):
    """A Tryton session with the look-ups of the purchasing side."""

    _purchasing: PurchasingEnvironment | None = None

    async def _purchasing_environment(self) -> PurchasingEnvironment:
        if self._purchasing is not None:
            return self._purchasing
        env = await self._environment()
        suppliers = await self._search(
            "stock.location", [("type", "=", "supplier")], ["id"], limit=1
        )
        warehouse = await self._read(
            "stock.location",
            env.warehouse,
            ["input_location", "storage_location", "supplier_return_location"],
        )
        journals = await self._search(
            "account.journal", [("type", "=", "expense")], ["id"], limit=1
        )
        payment_journals = await self._search(
            "account.payment.journal",
            [("name", "=", self._settings.supplier_payment_journal)],
            ["currency.code"],
            limit=1,
        )
        if not suppliers or not journals:
            raise InvalidRequestError(
                SYSTEM, "NotConfigured", "Tryton has no supplier location or expense journal"
            )
        if not payment_journals:
            raise InvalidRequestError(
                SYSTEM,
                "NotConfigured",
                f"Tryton has no payment journal {self._settings.supplier_payment_journal!r}",
            )
        taxes = await self._search(
            "account.tax",
            [("type", "=", "percentage"), ("parent", "=", None)],
            ["rate", "group.kind"],
            order=[("id", "ASC")],
        )
        by_rate: dict[Decimal, int] = {}
        for tax in taxes:
            if (tax.get("group") or {}).get("kind", "purchase") in ("purchase", "both"):
                by_rate.setdefault(Decimal(tax["rate"]).normalize(), int(tax["id"]))
        storage = int(ref_id(warehouse["storage_location"]) or 0)
        self._purchasing = PurchasingEnvironment(
            supplier_location=int(suppliers[0]["id"]),
            warehouse_input=int(ref_id(warehouse["input_location"]) or 0),
            warehouse_storage=storage,
            return_location=int(ref_id(warehouse.get("supplier_return_location")) or storage),
            expense_journal=int(journals[0]["id"]),
            payment_journal=int(payment_journals[0]["id"]),
            payment_currency=str(payment_journals[0]["currency"]["code"]),
            taxes=by_rate,
        )
        return self._purchasing

    # -----------------------------------------------------------------------------------------
    # Suppliers

    async def _supplier_party(self, supplier_id: str) -> dict[str, Any]:
        await self._environment()
        found = await self._search(
            "party.party",
            [("code", "=", supplier_id)],
            [
                "code",
                "name",
                "active",
                "email",
                "categories.name",
                "supplier_currency.code",
                "supplier_payment_term",
                "addresses",
            ],
            limit=1,
            # Archived parties too: an archived supplier is reported as blocked, not unknown.
            context={"active_test": False},
        )
        if not found:
            raise NotFoundError(
                SYSTEM, "UnknownSupplier", f"Tryton has no party with code {supplier_id}"
            )
        return found[0]

    @staticmethod
    def _category_names(party: dict[str, Any]) -> set[str]:
        return {str(c.get("name")) for c in party.get("categories") or []}

    def _supplier_blocked(self, party: dict[str, Any]) -> bool:
        return not party.get("active", True) or (
            BLOCKED_SUPPLIER_CATEGORY in self._category_names(party)
        )

    # -----------------------------------------------------------------------------------------
    # Purchases

    _PURCHASE_FIELDS = (
        "description",
        "number",
        "reference",
        "comment",
        "state",
        "party.code",
        "currency.code",
        "untaxed_amount",
        "total_amount",
        "invoice_address",
        "payment_term",
        "shipment_state",
        "invoice_state",
        "lines",
        "moves",
        "invoices",
        "invoices_ignored",
        "shipments",
        "shipment_returns",
    )

    async def _purchase(self, purchase_order_id: str) -> dict[str, Any]:
        await self._environment()
        return await self._read(
            "purchase.purchase",
            parse_record_id(purchase_order_id, "purchase order"),
            self._PURCHASE_FIELDS,
            what="purchase order",
        )

    async def _purchase_by_requisition(self, requisition_id: str) -> dict[str, Any] | None:
        await self._environment()
        found = await self._search(
            "purchase.purchase",
            [("description", "=", REQUISITION_PREFIX + requisition_id)],
            self._PURCHASE_FIELDS,
            order=[("id", "DESC")],
        )
        # A cancelled attempt never hides a live one.
        live = [p for p in found if p["state"] != "cancelled"]
        candidates = live or found
        return candidates[0] if candidates else None

    @staticmethod
    def _requisition_id(purchase: dict[str, Any]) -> str:
        description = str(purchase.get("description") or "")
        if description.startswith(REQUISITION_PREFIX):
            return description[len(REQUISITION_PREFIX) :]
        return str(purchase.get("number") or purchase["id"])

    async def _purchase_lines(self, purchase: dict[str, Any]) -> dict[int, PurchaseLine]:
        """The purchase's lines by requisition line number (Tryton's line `sequence`)."""
        found = await self._search(
            "purchase.line",
            [("purchase", "=", int(purchase["id"])), ("type", "=", "line")],
            ["sequence", "product", "quantity", "unit", "unit_price", "taxes", "moves"],
            order=[("sequence", "ASC"), ("id", "ASC")],
        )
        lines: dict[int, PurchaseLine] = {}
        for line in found:
            line_no = int(line.get("sequence") or 0)
            lines[line_no] = PurchaseLine(
                id=int(line["id"]),
                line_no=line_no,
                product=int(ref_id(line["product"]) or 0),
                quantity=Decimal(str(line["quantity"])),
                unit=int(ref_id(line["unit"]) or 0),
                unit_price=Decimal(line["unit_price"]),
                taxes=[int(t) for t in line.get("taxes") or []],
                moves=[int(m) for m in line.get("moves") or []],
            )
        return lines

    @staticmethod
    def _line(
        lines: dict[int, PurchaseLine], line_no: int, purchase: dict[str, Any]
    ) -> PurchaseLine:
        if line_no not in lines:
            raise InvalidRequestError(
                SYSTEM,
                "UnknownLine",
                f"purchase {purchase.get('number') or purchase['id']} has no line {line_no}",
            )
        return lines[line_no]

    def _purchase_status(self, purchase: dict[str, Any]) -> PurchaseOrderStatus:
        comment = str(purchase.get("comment") or "")
        if purchase["state"] == "cancelled" or CANCELLED_NOTE in comment:
            return PurchaseOrderStatus.CANCELLED
        if CONFIRMED_NOTE in comment:
            return PurchaseOrderStatus.CONFIRMED
        return PurchaseOrderStatus.SENT

    def _purchase_order(self, purchase: dict[str, Any]) -> PurchaseOrder:
        return PurchaseOrder(
            purchase_order_id=str(purchase["id"]),
            requisition_id=self._requisition_id(purchase),
            supplier_id=str(purchase["party"].get("code") or purchase["party"]["id"]),
            status=self._purchase_status(purchase),
            total=Decimal(purchase.get("untaxed_amount") or 0),
            currency=str(purchase["currency"]["code"]),
            supplier_reference=purchase.get("reference") or None,
        )

    async def _note(
        self, purchase: dict[str, Any], text: str, idempotency_key: str, **values: Any
    ) -> bool:
        """Adds a line to the purchase's comment (with `values`, in the same write) unless the
        key is there already; False if it was."""
        comment = str(purchase.get("comment") or "")
        mark = key_mark(idempotency_key)
        if mark in comment:
            return False
        line = f"{text} {mark}"
        updated = f"{comment}\n{line}" if comment else line
        await self._write("purchase.purchase", int(purchase["id"]), {**values, "comment": updated})
        purchase.update(values)
        purchase["comment"] = updated
        return True

    # -----------------------------------------------------------------------------------------
    # Currencies, units, warnings and Tryton's drafts

    async def _currency(self, code: str) -> int:
        env = await self._environment()
        if code == env.currency_code:
            return env.currency
        found = await self._search("currency.currency", [("code", "=", code)], ["id"], limit=1)
        if not found:
            raise InvalidRequestError(SYSTEM, "UnknownCurrency", f"Tryton has no currency {code}")
        return int(found[0]["id"])

    async def _unit(self, name: str | None, default: int, what: str) -> int:
        """The Tryton unit for a document's unit name (None: the line's own unit)."""
        if name is None:
            return default
        found = await self._search(
            "product.uom",
            ["OR", ("name", "ilike", name), ("symbol", "=", name)],
            ["category"],
        )
        units = await self._search("product.uom", [("id", "=", default)], ["category"])
        category = ref_id(units[0]["category"]) if units else None
        matching = [u for u in found if ref_id(u["category"]) == category]
        if not matching:
            raise InvalidRequestError(
                SYSTEM,
                "UnknownUnit",
                f"Tryton has no unit {name!r} convertible to the unit of {what}",
            )
        return int(matching[0]["id"])

    async def _call_acknowledging(
        self, method: str, record_ids: list[int], acknowledge: Sequence[str]
    ) -> None:
        """A JSON-RPC button call; the warnings named by `acknowledge` (suffixes of Tryton's
        warning names) are acknowledged as a user clicking "Yes" would, the others refuse."""
        context = self._context()
        for _ in range(len(acknowledge) + 1):
            try:
                await self._rpc(method, record_ids, context)
                return
            except TrytonWarning as warning:
                if not any(warning.name.endswith(suffix) for suffix in acknowledge):
                    raise
                log.info("acknowledging Tryton's warning %s on %s", warning.name, method)
                await self._rpc("model.res.user.warning.skip", warning.name, False, context)
        raise BusinessRuleError(SYSTEM, "UserWarning", f"Tryton kept warning on {method}")

    async def _tryton_drafts(self, purchase_id: int) -> list[dict[str, Any]]:
        """The supplier invoices Tryton drafted for the purchase's received (or returned)
        moves: drafts without a supplier reference (Continuum's always have one)."""
        found = await self._search(
            "account.invoice",
            [
                ("type", "=", "in"),
                ("purchases", "=", purchase_id),
                ("state", "=", "draft"),
                ("reference", "=", None),
            ],
            ["currency", "lines"],
            order=[("id", "ASC")],
        )
        return found

    async def _consolidate_drafts(self, purchase_id: int) -> list[dict[str, Any]]:
        """At most one Tryton draft per purchase. Tryton drafts a new invoice for what is
        received and not yet invoiced each time it processes the purchase, so two receipts (or
        a receipt and a return) leave two drafts. Deleting them together, in one transaction,
        makes Tryton draft the net once (it re-processes the purchase after the delete)."""
        drafts = await self._tryton_drafts(purchase_id)
        if len(drafts) <= 1:
            return drafts
        await self._rpc(
            "model.account.invoice.delete", [int(d["id"]) for d in drafts], self._context()
        )
        return await self._tryton_drafts(purchase_id)

    async def _reconcile_balanced(self, lines: list[dict[str, Any]], what: str) -> None:
        """Reconciles the open ones of these move lines (debit, credit, reconciliation) with
        Tryton's reconcile wizard when they balance, as a user settling them would; which marks
        the invoices they pay paid. Unbalanced, they stay open (the rest comes later)."""
        candidates = [line for line in lines if line.get("reconciliation") is None]
        balance = sum(
            (Decimal(line["debit"]) - Decimal(line["credit"]) for line in candidates), Decimal(0)
        )
        if len(candidates) < 2 or balance != 0:
            log.info("%s is not settled yet (%s open)", what, balance)
            return
        try:
            await self._wizard(
                "account.move.reconcile_lines",
                "account.move.line",
                sorted(int(line["id"]) for line in candidates),
                [],
            )
        except TransientError:
            raise  # a retry finds the documents or payment made and reconciles again
        except IntegrationError as err:
            # The write this follows is done (money paid, a credit note posted): the step must
            # not fail for the bookkeeping, which is left to a person in Tryton.
            log.warning("could not reconcile %s: %s", what, err)

    async def _moves(self, move_ids: Iterable[int]) -> list[dict[str, Any]]:
        ids = sorted(set(move_ids))
        if not ids:
            return []
        return await self._search(
            "stock.move",
            [("id", "in", ids)],
            [
                "state",
                "quantity",
                "unit",
                "unit.factor",
                "from_location",
                "to_location",
                "origin",
                "shipment",
                "product",
                "unit_price",
                "currency",
            ],
            order=[("id", "ASC")],
        )

    def _purchase_change(self, purchase: dict[str, Any], **figures: Any) -> PurchaseChange:
        """A feed item; `figures` are received, invoiced, paid and updated_at."""
        status = self._purchase_status(purchase).value
        if status != PurchaseOrderStatus.CANCELLED and purchase["state"] == "done":
            status = "completed"  # Tryton's done: everything received and paid
        return PurchaseChange(
            purchase_order_id=str(purchase["id"]),
            requisition_id=self._requisition_id(purchase),
            supplier_id=str(purchase["party"].get("code") or purchase["party"]["id"]),
            status=status,
            total=Decimal(purchase.get("untaxed_amount") or 0),
            currency=str(purchase["currency"]["code"]),
            **figures,
        )
