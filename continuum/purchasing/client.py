"""Start and drive purchases from outside: the CLI, the demo, the gateway and the tests use this.

Temporal's errors become `PurchaseError`s whose message is one sentence a person can act on,
as `continuum.order_client` does for orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from continuum import search_attributes as sa
from continuum.approvals.client import ApprovalClient, ApprovalError
from continuum.client import failure_reason, finished_state
from continuum.settings import get_settings
from domain.approvals.contract import approval_workflow_id
from domain.approvals.models import ApprovalDecision, ApprovalState, Verdict
from domain.purchasing.contract import (
    WORKFLOW_NAME,
    Message,
    ProcureToPayInput,
    supplier_key,
    workflow_id,
)
from domain.purchasing.models import (
    CancelPurchase,
    DocumentAnswer,
    GoodsReceipt,
    PurchaseResult,
    PurchaseStatus,
    Requisition,
    SupplierConfirmation,
    SupplierInvoice,
)
from domain.purchasing.policy import PurchasingPolicy

T = TypeVar("T")
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)
_PREFIX = workflow_id("")


class PurchaseError(Exception):
    """Something a person asked of a purchase could not be done; the message says why."""


@dataclass(frozen=True)
class PurchaseRow:
    """A purchase as visibility lists it."""

    requisition_id: str
    status: str
    total: float
    supplier_id: str


def configured_policy() -> PurchasingPolicy:
    """The purchasing policy for a new purchase (PURCHASING_CONFIG_FILE, else the shipped one);
    who may approve is the approvals directory."""
    return get_settings().purchasing_policy()


def _summary(req: Requisition) -> str:
    return f"Purchase {req.requisition_id} · {req.supplier_id} · {req.total:,.2f} {req.currency}"


def _details(req: Requisition) -> str:
    rows = "\n".join(
        f"| {line.line_no} | {line.product} | {line.quantity} {line.unit} "
        f"| {line.expected_price} | {line.amount} |"
        for line in req.lines
    )
    return (
        f"**Requested by** {req.requested_by} for cost centre {req.cost_centre}\n\n"
        f"| Line | Product | Qty | Price | Amount |\n|---|---|---|---|---|\n{rows}\n\n"
        f"**Total** {req.total} {req.currency} net"
    )


class PurchaseClient:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self.approvals = ApprovalClient(client)

    def handle(self, requisition_id: str) -> WorkflowHandle[object, PurchaseResult]:
        return self.client.get_workflow_handle(
            workflow_id(requisition_id), result_type=PurchaseResult
        )

    async def start(
        self, requisition: Requisition, policy: PurchasingPolicy | None = None
    ) -> WorkflowHandle[object, PurchaseResult]:
        """Starts procure-to-pay for the requisition under the configured policy (or `policy`)."""
        rid = requisition.requisition_id
        payload = ProcureToPayInput(requisition=requisition, policy=policy or configured_policy())
        # Listed (and found by its supplier) before its first workflow task runs.
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(sa.PROCESS_STATUS, PurchaseStatus.RECEIVED.value),
                SearchAttributePair(sa.PURCHASE_KEYS, [rid, supplier_key(requisition.supplier_id)]),
                SearchAttributePair(sa.PURCHASE_TOTAL, float(requisition.total)),
            ]
        )
        try:
            return await self.client.start_workflow(
                WORKFLOW_NAME,
                payload,
                id=workflow_id(rid),
                task_queue=self.task_queue,
                result_type=PurchaseResult,
                search_attributes=attributes,
                # A requisition id is used once, ever: a resubmitted one must not buy twice.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=_summary(requisition),
                static_details=_details(requisition),
                task_timeout=WORKFLOW_TASK_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            raise PurchaseError(f"purchase {rid} already exists") from None

    async def status(self, requisition_id: str) -> PurchaseResult:
        try:
            state: PurchaseResult = await self.handle(requisition_id).query(
                Message.STATUS, result_type=PurchaseResult
            )
            return state
        except RPCError as err:
            raise await self._rpc(requisition_id, err) from None

    async def confirm(self, confirmation: SupplierConfirmation) -> None:
        """The supplier confirmed the purchase order (a signal: the purchase takes it when it
        waits for it, and keeps the first one)."""
        rid = confirmation.requisition_id
        handle = self.handle(rid)
        try:
            description = await handle.describe()
            if description.status is not WorkflowExecutionStatus.RUNNING:
                raise PurchaseError(f"purchase {rid} is no longer running")
            await handle.signal(Message.SUPPLIER_CONFIRMED, confirmation)
        except RPCError as err:
            raise await self._rpc(rid, err) from None

    # Documents carry no derived update id: the purchase itself recognises a repeat (the same
    # receipt again is taken once; an invoice again is a duplicate, refused and recorded), so
    # each send is a document arriving. `update_id`: the caller's own (a webhook's event id).

    async def receive(self, receipt: GoodsReceipt, update_id: str | None = None) -> DocumentAnswer:
        """Goods arrived (or went back); a refused receipt is a `PurchaseError` saying why."""
        return await self._update(
            receipt.requisition_id, Message.GOODS_RECEIVED, receipt, DocumentAnswer, update_id
        )

    async def invoice(
        self, invoice: SupplierInvoice, update_id: str | None = None
    ) -> DocumentAnswer:
        """An invoice or credit note; a duplicate is answered `accepted=False` with the reason,
        an invoice that cannot belong to the purchase is a `PurchaseError`."""
        return await self._update(
            invoice.requisition_id, Message.INVOICE_RECEIVED, invoice, DocumentAnswer, update_id
        )

    async def decide(
        self,
        requisition_id: str,
        approver: str,
        verdict: Verdict,
        comment: str = "",
        lines: Sequence[int] = (),
    ) -> ApprovalState:
        """Decides what waits on a person: the pending exception review, else the requisition's
        approval. `lines`: accept only these lines of the exception (the rest waits for a
        credit note)."""
        state = await self.status(requisition_id)
        if state.pending_review:
            subject = state.pending_review.removeprefix(approval_workflow_id(""))
        elif state.status is PurchaseStatus.AWAITING_APPROVAL:
            if lines:
                raise PurchaseError(
                    f"purchase {requisition_id} waits for the requisition's approval: "
                    "there are no lines to accept on their own"
                )
            subject = workflow_id(requisition_id)
        else:
            raise PurchaseError(
                f"purchase {requisition_id} has no decision waiting ({state.status.value})"
            )
        parts = [str(n) for n in lines]
        decision = ApprovalDecision(
            approver=approver, verdict=verdict, comment=comment, parts=parts
        )
        # Accepting other lines is another decision, not a retry of this one.
        update_id = (
            f"decide:pending:{approver}:{verdict.value}:{','.join(parts)}" if parts else None
        )
        try:
            return await self.approvals.decide(subject, decision, update_id)
        except ApprovalError as err:
            raise PurchaseError(f"purchase {requisition_id}: {err}") from None

    async def cancel(
        self, requisition_id: str, requested_by: str, reason: str = "", update_id: str | None = None
    ) -> PurchaseResult:
        """Cancels the purchase (refused once anything is paid); sent again by the same person,
        it answers with the first cancel's outcome instead of a refusal."""
        request = CancelPurchase(
            requisition_id=requisition_id, requested_by=requested_by, reason=reason
        )
        derived = f"{Message.CANCEL}:{requested_by}"
        return await self._update(
            requisition_id, Message.CANCEL, request, PurchaseResult, update_id or derived
        )

    async def result(self, requisition_id: str) -> PurchaseResult:
        try:
            return await self.handle(requisition_id).result()
        except WorkflowFailureError as err:
            raise PurchaseError(
                f"purchase {requisition_id} failed: {failure_reason(err)}"
            ) from None
        except RPCError as err:
            raise await self._rpc(requisition_id, err) from None

    async def list(
        self, statuses: Sequence[PurchaseStatus] = (), key: str | None = None, limit: int = 50
    ) -> list[PurchaseRow]:
        """Recent purchases from visibility, newest first; `key`: one of PurchaseKeys (a
        requisition id, `supplier:S-1`, `po:<id>`, `invoice:<ref>`)."""
        query = f"WorkflowType = '{WORKFLOW_NAME}'"
        if statuses:
            wanted = ", ".join(f"'{s.value}'" for s in statuses)
            query += f" AND {sa.PROCESS_STATUS.name} IN ({wanted})"
        if key:
            quoted = key.replace("\\", "\\\\").replace("'", "\\'")
            query += f" AND {sa.PURCHASE_KEYS.name} = '{quoted}'"
        found: list[PurchaseRow] = []
        try:
            async for wf in self.client.list_workflows(query, limit=limit):
                attrs = wf.typed_search_attributes
                keys = list(attrs.get(sa.PURCHASE_KEYS) or [])
                supplier = next(
                    (k.removeprefix(supplier_key("")) for k in keys if k.startswith("supplier:")),
                    "?",
                )
                found.append(
                    PurchaseRow(
                        requisition_id=wf.id.removeprefix(_PREFIX),
                        status=attrs.get(sa.PROCESS_STATUS) or "?",
                        total=attrs.get(sa.PURCHASE_TOTAL) or 0.0,
                        supplier_id=supplier,
                    )
                )
        except RPCError as err:
            raise PurchaseError(f"cannot list purchases: {err.message}") from None
        return found

    async def _update(
        self,
        requisition_id: str,
        name: str,
        arg: object,
        result_type: type[T],
        update_id: str | None,
    ) -> T:
        try:
            result: T = await self.handle(requisition_id).execute_update(
                name, arg, id=update_id, result_type=result_type
            )
            return result
        except WorkflowUpdateFailedError as err:
            raise PurchaseError(f"purchase {requisition_id}: {failure_reason(err)}") from None
        except RPCError as err:
            raise await self._rpc(requisition_id, err) from None

    async def _rpc(self, requisition_id: str, err: RPCError) -> PurchaseError:
        """Names the real problem: no such purchase, a finished one, or the server's word."""
        handle = self.handle(requisition_id)
        try:
            description = await handle.describe()
        except RPCError as missing:
            if missing.status is RPCStatusCode.NOT_FOUND:
                return PurchaseError(f"unknown purchase {requisition_id}")
            return PurchaseError(f"purchase {requisition_id}: {missing.message}")
        if description.status is not WorkflowExecutionStatus.RUNNING:
            state = await finished_state(handle, description.status)
            return PurchaseError(f"purchase {requisition_id} is already finished ({state})")
        return PurchaseError(f"purchase {requisition_id}: {err.message}")
