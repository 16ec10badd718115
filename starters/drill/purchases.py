"""Purchases in the drill: the drill plays supplier, warehouse and buyer for a few purchases
started alongside the orders, through the same faults, and reads back what came of them.

Each purchase has a kind (`domain.drill_purchases.PurchaseKind`) and a script: the supplier
confirms the purchase order, the warehouse and the supplier send the goods receipt and the
invoices in the kind's order, and for one kind a buyer accepts the exception. `PurchaseDesk`
advances every script from what Temporal's visibility shows (one list call
per round, as the carrier does for orders), each step in a task of its own so that a step
waiting out a fault holds up nobody else; a step that fails is tried again at a later round,
documents under an update id of their own, so that a retry after a lost answer is the same
document, not a second one. Afterwards `purchase_facts` reads each purchase's result from
Temporal and its purchase order, receipts, invoices and payments from the ERP's own database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from continuum import search_attributes as sa
from continuum.approvals.client import ApprovalError
from continuum.purchasing.client import PurchaseClient, PurchaseError
from domain.approvals.contract import approval_workflow_id
from domain.approvals.models import ApprovalStatus, Verdict
from domain.drill_purchases import (
    PaymentRecord,
    PostedInvoice,
    PurchaseFacts,
    PurchaseKind,
    RecordedReceipt,
)
from domain.purchasing.contract import workflow_id
from domain.purchasing.models import (
    GoodsReceipt,
    PurchaseStatus,
    ReceiptLine,
    Requisition,
    SupplierConfirmation,
    SupplierInvoice,
)
from domain.purchasing.policy import PurchasingPolicy
from starters.purchase_demo import Item, invoice, receipt_in_full, requisition

# Where the supplier's and the warehouse's documents are taken (the purchase order confirmed).
CONFIRMED = frozenset(
    {
        PurchaseStatus.RECEIVING.value,
        PurchaseStatus.IN_EXCEPTION.value,
        PurchaseStatus.AWAITING_CREDIT_NOTE.value,
        PurchaseStatus.AWAITING_PAYMENT.value,
    }
)
AWAITING_CONFIRMATION = frozenset(
    {PurchaseStatus.AWAITING_CONFIRMATION.value, PurchaseStatus.CONFIRMATION_OVERDUE.value}
)
BUYER = "bruno"  # the approvals directory's buyer (not the requester, rita)
GIVE_UP_AFTER = 10  # refusals of one step before the drill stops sending it
_CHUNK = 100  # workflow ids per visibility query
# Of every six purchases, one of each kind; totals under the approval threshold, active
# approved suppliers, so no requisition waits for approval.
CYCLE = (
    PurchaseKind.MATCHED,
    PurchaseKind.TOLERANCE,
    PurchaseKind.INVOICE_FIRST,
    PurchaseKind.DUPLICATE,
    PurchaseKind.EXCEPTION,
    PurchaseKind.DECIDED,
)


@dataclass(frozen=True)
class DrillPurchase:
    kind: PurchaseKind
    requisition: Requisition
    # Sent in this order once the supplier confirmed; a repeated invoice is the duplicate.
    documents: list[GoodsReceipt | SupplierInvoice]

    @property
    def requisition_id(self) -> str:
        return self.requisition.requisition_id


def drill_purchases(count: int, run_id: str) -> list[DrillPurchase]:
    return [drill_purchase(f"DP-{run_id}-{i + 1:04d}", CYCLE[i % len(CYCLE)]) for i in range(count)]


def drill_purchase(rid: str, kind: PurchaseKind) -> DrillPurchase:
    """The kind's requisition and documents. Tolerances (continuum/defaults/purchasing.toml):
    SUP-102 takes 2 % on the price; SUP-101 agreed its prices to the cent."""
    if kind in (PurchaseKind.EXCEPTION, PurchaseKind.DECIDED):
        # 57.50 for 52.00: 10.6 % over, a variance of 22.00 for a buyer to decide.
        req = requisition(rid, "SUP-101", [Item("SKU-002", "Coffee grinder", "4", "52.00")])
        return DrillPurchase(
            kind, req, [receipt_in_full(req), invoice(req, f"GP-{rid}", prices={1: "57.50"})]
        )
    if kind is PurchaseKind.TOLERANCE:
        # 21.30 for 21.00: 1.4 % over, inside the 2 %.
        req = requisition(rid, "SUP-102", [Item("SKU-008", "Cup set", "6", "21.00")])
        return DrillPurchase(
            kind, req, [receipt_in_full(req), invoice(req, f"OS-{rid}", prices={1: "21.30"})]
        )
    if kind is PurchaseKind.DUPLICATE:
        # The goods last: the purchase cannot be paid and done before the duplicate arrives.
        req = requisition(rid, "SUP-102", [Item("SKU-008", "Cup set", "3", "21.00")])
        first = invoice(req, f"OS-{rid}-17")
        again = first.model_copy(update={"reference": f"os {rid} 17".lower()})
        return DrillPurchase(kind, req, [first, again, receipt_in_full(req)])
    req = requisition(
        rid,
        "SUP-100",
        [
            Item("SKU-004", "Bean storage jar", "20", "6.50"),
            Item("SKU-010", "Water filter", "10", "8.00"),
        ],
    )
    bill = invoice(req, f"BR-{rid}")
    if kind is PurchaseKind.INVOICE_FIRST:
        return DrillPurchase(kind, req, [bill, receipt_in_full(req)])
    return DrillPurchase(kind, req, [receipt_in_full(req), bill])


@dataclass
class Script:
    """How far the drill got with one purchase."""

    purchase: DrillPurchase
    started: bool = False
    confirmed: bool = False
    sent: int = 0  # documents taken (or answered as duplicates)
    decided: bool = False
    refusals: int = 0  # refusals of the current step
    notes: list[str] = field(default_factory=list)  # refusals, for the report
    task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    @property
    def done(self) -> bool:
        p = self.purchase
        return self.sent >= len(p.documents) and (
            p.kind is not PurchaseKind.DECIDED or self.decided
        )


@dataclass
class Standing:
    status: str  # the ProcessStatus search attribute
    running: bool


class PurchaseDesk:
    """The supplier, the warehouse and the buyer of the drill's purchases."""

    def __init__(self, purchases: PurchaseClient, policy: PurchasingPolicy) -> None:
        self.purchases = purchases
        self.policy = policy
        self.scripts: dict[str, Script] = {}
        self.standings: dict[str, Standing] = {}

    async def start(self, purchase: DrillPurchase, within: float) -> None:
        """Starts it, retrying for up to `within` seconds while Temporal is away; "already
        exists" means an earlier attempt got there before its answer was lost."""
        script = self.scripts.setdefault(purchase.requisition_id, Script(purchase))
        deadline = time.monotonic() + within
        while True:
            try:
                await self.purchases.start(purchase.requisition, self.policy)
                break
            except PurchaseError as err:
                if "already exists" not in str(err):
                    raise
                break
            except RPCError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        script.started = True

    def unsettled(self) -> list[str]:
        """Purchases that may still move without a person: not closed, and not waiting on one
        with their script played to the end."""
        return [rid for rid, script in self.scripts.items() if not self._settled(rid, script)]

    def _settled(self, rid: str, script: Script) -> bool:
        standing = self.standings.get(rid)
        if standing is None or not script.started:
            return False
        waiting = script.done and standing.status == PurchaseStatus.IN_EXCEPTION.value
        return not standing.running or waiting

    async def round(self) -> None:
        """Looks up every purchase not yet closed, then moves each script on by a step."""
        open_ids = [
            rid
            for rid, s in self.scripts.items()
            if s.started and (rid not in self.standings or self.standings[rid].running)
        ]
        try:
            for at in range(0, len(open_ids), _CHUNK):
                await self._look_up(open_ids[at : at + _CHUNK])
        except RPCError:
            return  # Temporal is away; the next round tries again
        for rid, script in self.scripts.items():
            standing = self.standings.get(rid)
            if standing is None or not standing.running or script.busy:
                continue
            step = self._next_step(script, standing.status)
            if step is not None:
                script.task = asyncio.create_task(step)

    async def stop(self) -> None:
        tasks = [s.task for s in self.scripts.values() if s.busy and s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _next_step(self, script: Script, status: str) -> Coroutine[Any, Any, None] | None:
        p = script.purchase
        if not script.confirmed and status in AWAITING_CONFIRMATION:
            return self._confirm(script)
        if status not in CONFIRMED:
            return None
        script.confirmed = True
        if script.sent < len(p.documents):
            return self._send(script)
        waits = status == PurchaseStatus.IN_EXCEPTION.value
        if p.kind is PurchaseKind.DECIDED and not script.decided and waits:
            return self._decide(script)
        return None

    async def _look_up(self, ids: Sequence[str]) -> None:
        by_workflow = {workflow_id(rid): rid for rid in ids}
        quoted = ", ".join(f"'{w}'" for w in by_workflow)
        client = self.purchases.client
        async for wf in client.list_workflows(f"WorkflowId IN ({quoted})"):
            if (rid := by_workflow.get(wf.id)) is not None:
                status = wf.typed_search_attributes.get(sa.PROCESS_STATUS) or "?"
                running = wf.status is WorkflowExecutionStatus.RUNNING
                self.standings[rid] = Standing(status, running)

    async def _confirm(self, script: Script) -> None:
        rid = script.purchase.requisition_id
        confirmation = SupplierConfirmation(requisition_id=rid, supplier_reference=f"SC-{rid}")
        with contextlib.suppress(PurchaseError, RPCError):
            await self.purchases.confirm(confirmation)
            script.confirmed = True

    async def _send(self, script: Script) -> None:
        """The documents not yet taken, one after another as they would arrive, each under an
        update id of its own (a retry is the same document); a failure leaves the rest to a
        later round."""
        p = script.purchase
        while (n := script.sent) < len(p.documents):
            document = p.documents[n]
            update_id = f"drill:{p.requisition_id}:document-{n + 1}"
            try:
                if isinstance(document, GoodsReceipt):
                    await self.purchases.receive(document, update_id)
                else:
                    await self.purchases.invoice(document, update_id)
            except PurchaseError as refused:
                self._refused(script, f"document {n + 1}: {refused}")
                if script.refusals < GIVE_UP_AFTER:
                    return
            except RPCError:
                return
            script.sent, script.refusals = n + 1, 0

    async def _decide(self, script: Script) -> None:
        rid = script.purchase.requisition_id
        try:
            await self.purchases.decide(rid, BUYER, Verdict.APPROVED, "accepted in the drill")
        except PurchaseError as refused:
            self._refused(script, f"decision: {refused}")
            if script.refusals < GIVE_UP_AFTER:
                return
        except RPCError:
            return
        script.decided, script.refusals = True, 0

    def _refused(self, script: Script, note: str) -> None:
        script.refusals += 1
        if note not in script.notes:
            script.notes.append(note)


async def purchase_facts(
    desk: PurchaseDesk, erp_db: Path, concurrency: int = 8
) -> list[PurchaseFacts]:
    """One `PurchaseFacts` per purchase: where Temporal has it, its result (or state) and whom
    it waits on, and its rows in the ERP."""
    erp = erp_rows(erp_db)
    gate = asyncio.Semaphore(concurrency)
    purchases, approvals = desk.purchases, desk.purchases.approvals

    async def one(rid: str, script: Script) -> PurchaseFacts:
        p = script.purchase
        facts = PurchaseFacts(
            requisition=p.requisition, kind=p.kind, tolerances=desk.policy.tolerances
        )
        held = erp.get(rid, ErpPurchase())
        facts.purchase_orders, facts.receipts = held.purchase_orders, held.receipts
        facts.invoices, facts.payments = held.invoices, held.payments
        standing = desk.standings.get(rid)
        if standing is None:
            return facts
        facts.running = standing.running
        async with gate:
            try:
                if standing.running:
                    facts.result = await purchases.status(rid)
                else:
                    facts.result = await purchases.result(rid)
            except (PurchaseError, RPCError):
                facts.status = _status(standing.status)
                return facts
            facts.status = facts.result.status
            review = facts.result.pending_review
            if standing.running and review:
                subject = review.removeprefix(approval_workflow_id(""))
                with contextlib.suppress(ApprovalError, RPCError):
                    state = await approvals.state(subject)
                    if state.status is ApprovalStatus.PENDING:
                        facts.waiting_on = state.assignee or state.pending_role
        return facts

    return list(await asyncio.gather(*(one(rid, s) for rid, s in desk.scripts.items())))


@dataclass
class ErpPurchase:
    """What the ERP's database holds of one requisition."""

    purchase_orders: int = 0
    receipts: list[RecordedReceipt] = field(default_factory=list)
    invoices: list[PostedInvoice] = field(default_factory=list)
    payments: list[PaymentRecord] = field(default_factory=list)


def erp_rows(db: Path) -> dict[str, ErpPurchase]:
    """Per requisition: its purchase orders, goods receipts, supplier invoices and payments,
    read from the ERP's SQLite file (read-only), each with when the ERP recorded it."""
    found: dict[str, ErpPurchase] = {}

    def of(row: sqlite3.Row) -> ErpPurchase:
        return found.setdefault(row["requisition_id"], ErpPurchase())

    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        for row in conn.execute("SELECT requisition_id FROM purchase_orders"):
            of(row).purchase_orders += 1
        for row in conn.execute("SELECT * FROM goods_receipts ORDER BY id"):
            receipt = GoodsReceipt(
                requisition_id=row["requisition_id"],
                receipt_id=row["receipt_id"],
                kind=row["kind"],
                lines=[ReceiptLine.model_validate(x) for x in json.loads(row["lines"])],
            )
            of(row).receipts.append(RecordedReceipt(receipt=receipt, at=_ts(row["created_at"])))
        for row in conn.execute("SELECT * FROM supplier_invoices ORDER BY id"):
            posted = SupplierInvoice(
                requisition_id=row["requisition_id"],
                supplier_id=row["supplier_id"],
                reference=row["reference"],
                kind=row["kind"],
                currency=row["currency"],
                issued_on=row["issued_on"],
                due_on=row["due_on"],
                lines=json.loads(row["lines"]),
                tax=Decimal(row["tax"]),
                credits_reference=row["credits_reference"],
            )
            of(row).invoices.append(
                PostedInvoice(
                    erp_invoice_id=row["erp_invoice_id"], invoice=posted, at=_ts(row["created_at"])
                )
            )
        for row in conn.execute("SELECT * FROM supplier_payments ORDER BY id"):
            of(row).payments.append(
                PaymentRecord(
                    payment_id=row["payment_id"],
                    erp_invoice_id=row["erp_invoice_id"],
                    lines=json.loads(row["lines"]),
                    amount=Decimal(row["amount"]),
                    at=_ts(row["created_at"]),
                )
            )
    return found


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _status(value: str) -> PurchaseStatus | None:
    try:
        return PurchaseStatus(value)
    except ValueError:
        return None
