"""Start and drive orders from outside: the CLI, the demo, the gateway and the tests use this.

Temporal's errors become `OrderError`s whose message is one sentence a person can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
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
from continuum.approvals.client import ApprovalClient, ApprovalError, UnknownApproval
from continuum.client import failure_reason, finished_state
from continuum.settings import get_settings
from domain.approvals.legacy_gate import GateDecision, GateState
from domain.approvals.models import ApprovalDecision, ApprovalState, Verdict
from domain.approvals.policy import ApprovalPolicy
from domain.orders.contract import WORKFLOW_NAME, Message, OrderToCashInput, workflow_id
from domain.orders.lifecycle import CancelRequest, DeliveryNotice
from domain.orders.models import Order, OrderResult, OrderStatus

T = TypeVar("T")
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)


class OrderError(Exception):
    """Something a person asked of an order could not be done; the message says why."""


def _summary(order: Order) -> str:
    who = order.customer.company or order.customer.name
    return f"Order {order.order_id} · {who} · {order.total:,.2f} {order.currency}"


def _details(order: Order) -> str:
    rows = "\n".join(
        f"| {line.sku} | {line.quantity} | {line.unit_price} | {line.amount} |"
        for line in order.lines
    )
    return (
        f"**Customer** {order.customer.name} ({order.customer.customer_id})\n\n"
        f"**Payment** {order.payment_method.value}\n\n"
        f"| SKU | Qty | Unit price | Amount |\n|---|---|---|---|\n{rows}\n\n"
        f"**Total** {order.total} {order.currency}"
    )


class OrderClient:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self.approvals = ApprovalClient(client)

    def handle(self, order_id: str) -> WorkflowHandle[object, OrderResult]:
        return self.client.get_workflow_handle(workflow_id(order_id), result_type=OrderResult)

    async def start(
        self,
        order: Order,
        policy: ApprovalPolicy | None = None,
        delivery_deadline_hours: float | None = None,
        signal: tuple[str, BaseModel] | None = None,
        entered_by: str | None = None,
    ) -> WorkflowHandle[object, OrderResult]:
        """Starts the order; with `signal` (name, argument) it is signal-with-start: a running
        order only gets the signal, a new one starts with it. `entered_by`: the staff member
        who entered it, who then may not approve it."""
        # The configured policy by default: its people directory is who may approve.
        payload = OrderToCashInput(
            order=order,
            policy=policy or get_settings().approval_policy(),
            entered_by=entered_by,
        )
        if delivery_deadline_hours is not None:
            payload.delivery_deadline = timedelta(hours=delivery_deadline_hours)
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(sa.ORDER_ID, order.order_id),
                SearchAttributePair(sa.CUSTOMER_ID, order.customer.customer_id),
                SearchAttributePair(sa.ORDER_STATUS, OrderStatus.RECEIVED.value),
                SearchAttributePair(sa.ORDER_TOTAL, float(order.total)),
            ]
        )
        try:
            return await self.client.start_workflow(
                WORKFLOW_NAME,
                payload,
                id=workflow_id(order.order_id),
                task_queue=self.task_queue,
                result_type=OrderResult,
                search_attributes=attributes,
                # An order id is used once, ever: a resubmitted order must not run twice.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=_summary(order),
                static_details=_details(order),
                # A workflow task held by a worker that died is handed out again after this
                # (Temporal's default is 10 s): part of the time to recover (`continuum drill`).
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                start_signal=signal[0] if signal else None,
                start_signal_args=[signal[1]] if signal else [],
            )
        except WorkflowAlreadyStartedError:
            raise OrderError(f"order {order.order_id} already exists") from None

    async def status(self, order_id: str) -> OrderResult:
        try:
            state: OrderResult = await self.handle(order_id).query(
                Message.STATUS, result_type=OrderResult
            )
            return state
        except RPCError as err:
            raise await self._rpc(order_id, err) from None

    async def approval(self, order_id: str) -> ApprovalState | GateState | None:
        """The order's Approval process (approval-order-<id>), or for an order started before
        it, its single-level gate; None when it never waited for approval."""
        try:
            return await self.approvals.state(workflow_id(order_id))
        except UnknownApproval:
            pass
        except ApprovalError as err:
            raise OrderError(f"order {order_id}: {err}") from None
        try:
            state: GateState | None = await self.handle(order_id).query(
                Message.APPROVAL,
                result_type=GateState | None,  # type: ignore[arg-type]
            )
            return state
        except RPCError as err:
            raise await self._rpc(order_id, err) from None

    async def decide(
        self, order_id: str, approve: bool, approver: str, comment: str = ""
    ) -> ApprovalState | GateState:
        """Decides the pending level of the order's approval; refusals say why. Sent again
        (a retry after a time-out), the same decision is answered with its first outcome."""
        verdict = Verdict.APPROVED if approve else Verdict.REJECTED
        decision = ApprovalDecision(approver=approver, verdict=verdict, comment=comment)
        try:
            return await self.approvals.decide(workflow_id(order_id), decision)
        except UnknownApproval:
            pass  # no Approval process: an unknown order, one not waiting, or an older one
        except ApprovalError as err:
            raise OrderError(f"order {order_id}: {err}") from None
        status = await self.status(order_id)
        if status.status is not OrderStatus.AWAITING_APPROVAL:
            raise OrderError(f"order {order_id} is not waiting for approval ({status.status})")
        gate = GateDecision(order_id=order_id, approver=approver, comment=comment)
        name = Message.APPROVE if approve else Message.REJECT
        return await self._update(order_id, name, gate, GateState, f"{name}:{approver}")

    async def cancel(
        self, order_id: str, requested_by: str, reason: str = "", update_id: str | None = None
    ) -> OrderResult:
        """Cancels the order; sent again by the same person (a retry after a time-out that was
        applied all the same), it answers with the first cancel's outcome instead of a refusal."""
        request = CancelRequest(order_id=order_id, requested_by=requested_by, reason=reason)
        derived = f"{Message.CANCEL}:{requested_by}"
        return await self._update(
            order_id, Message.CANCEL, request, OrderResult, update_id or derived
        )

    async def deliver(self, order_id: str, carrier: str = "manual") -> None:
        handle = self.handle(order_id)
        try:
            description = await handle.describe()
            if description.status is not WorkflowExecutionStatus.RUNNING:
                raise OrderError(f"order {order_id} is no longer running")
            await handle.signal(
                Message.DELIVERED, DeliveryNotice(order_id=order_id, carrier=carrier)
            )
        except RPCError as err:
            raise await self._rpc(order_id, err) from None

    async def result(self, order_id: str) -> OrderResult:
        try:
            return await self.handle(order_id).result()
        except WorkflowFailureError as err:
            raise OrderError(f"order {order_id} failed: {failure_reason(err)}") from None
        except RPCError as err:
            raise await self._rpc(order_id, err) from None

    async def submitted(self, order_id: str) -> Order:
        """The order as submitted: its start event's input, decrypted by the client's codec."""
        try:
            async for event in self.handle(order_id).fetch_history_events():
                started = event.workflow_execution_started_event_attributes
                [payload] = await self.client.data_converter.decode(
                    started.input.payloads, [OrderToCashInput]
                )
                return payload.order  # type: ignore[no-any-return]
        except RPCError as err:
            raise await self._rpc(order_id, err) from None
        raise OrderError(f"order {order_id} has no history")

    async def list(
        self, statuses: Sequence[OrderStatus] = (), limit: int = 50
    ) -> list[tuple[str, str, float]]:
        """(order id, status, total) of recent orders, newest first, from visibility."""
        query = f"WorkflowType = '{WORKFLOW_NAME}'"
        if statuses:
            wanted = ", ".join(f"'{s.value}'" for s in statuses)
            query += f" AND {sa.ORDER_STATUS.name} IN ({wanted})"
        found: list[tuple[str, str, float]] = []
        async for wf in self.client.list_workflows(query, limit=limit):
            attrs = wf.typed_search_attributes
            found.append(
                (
                    attrs.get(sa.ORDER_ID) or wf.id,
                    attrs.get(sa.ORDER_STATUS) or "?",
                    attrs.get(sa.ORDER_TOTAL) or 0.0,
                )
            )
        return found

    async def _update(
        self, order_id: str, name: str, arg: object, result_type: type[T], update_id: str
    ) -> T:
        try:
            result: T = await self.handle(order_id).execute_update(
                name, arg, id=update_id, result_type=result_type
            )
            return result
        except WorkflowUpdateFailedError as err:
            raise OrderError(f"order {order_id}: {failure_reason(err)}") from None
        except RPCError as err:
            raise await self._rpc(order_id, err) from None

    async def _rpc(self, order_id: str, err: RPCError) -> OrderError:
        """Names the real problem: no such order, a finished order, or the server's word."""
        handle = self.handle(order_id)
        try:
            description = await handle.describe()
        except RPCError as missing:
            if missing.status is RPCStatusCode.NOT_FOUND:
                return OrderError(f"unknown order {order_id}")
            return OrderError(f"order {order_id}: {missing.message}")
        if description.status is not WorkflowExecutionStatus.RUNNING:
            state = await finished_state(handle, description.status)
            return OrderError(f"order {order_id} is already finished ({state})")
        return OrderError(f"order {order_id}: {err.message}")
