"""The inbox's view of approvals: what waits for a person (visibility on the Approval search
attributes), one approval's state and order, and the person's decisions as Updates.

The Approval workflow's validators are the authority on who may do what; their refusals come
back here as `Refused` with the workflow's own sentence, which the inbox shows as it is.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from continuum import search_attributes as sa
from continuum.approvals.client import ApprovalClient, ApprovalError
from continuum.order_client import OrderClient, OrderError
from domain.approvals.contract import WORKFLOW_NAME
from domain.approvals.models import (
    ApprovalClaim,
    ApprovalDecision,
    ApprovalDelegation,
    ApprovalState,
    ApprovalStatus,
)
from domain.orders.models import Order, OrderResult
from domain.purchasing import contract as purchasing
from domain.purchasing.models import PurchaseResult, Requisition
from services.gateway.purchase_view import PURCHASE_KINDS, PurchasePage, purchase_page

T = TypeVar("T")
_NAME = re.compile(r"^[\w.@-]+$")  # usernames and role names that are safe inside a query


# How long a page waits for what a workflow answers (its query, its history).
PAGE_WAIT = timedelta(seconds=5)


def _why(err: BaseException) -> str:
    """An RPC error's own message (a timeout, a missing workflow); else the error as it says."""
    return err.message if isinstance(err, RPCError) else str(err) or type(err).__name__


class Refused(Exception):
    """The workflow, or Temporal, said no; the message is meant for the person."""


@dataclass(frozen=True)
class Waiting:
    """One row of the inbox."""

    approval_id: str
    state: ApprovalState | None  # None when its state could not be read just now

    @property
    def deadline(self) -> datetime | None:
        return self.state.sla_deadline if self.state else None


@dataclass(frozen=True)
class OrderView:
    order: Order | None
    status: OrderResult | None


def waiting_query(username: str, roles: list[str]) -> str:
    names = [r for r in roles if _NAME.match(r)]
    who = [f"{sa.APPROVAL_ASSIGNEE.name} = '{username}'"] if _NAME.match(username) else []
    if names:
        listed = ", ".join(f"'{r}'" for r in names)
        who.append(f"{sa.APPROVAL_ROLE.name} IN ({listed})")
    if not who:
        return ""
    return (
        f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = 'Running' "
        f"AND {sa.APPROVAL_STATUS.name} = '{ApprovalStatus.PENDING.value}' "
        f"AND ({' OR '.join(who)})"
    )


class ApprovalDesk:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.approvals = ApprovalClient(client)

    async def waiting_for(self, username: str, roles: list[str], limit: int = 50) -> list[Waiting]:
        """Pending approvals for the person's roles or handed to them, soonest deadline first.

        Visibility lags a moment behind the workflows, so each row's state is read too, and
        rows already decided, or claimed by or delegated to someone else, are left out.
        """
        query = waiting_query(username, roles)
        if not query:
            return []
        ids = [wf.id async for wf in self.client.list_workflows(query, limit=limit)]
        states = await asyncio.gather(*(self._state_or_none(i) for i in ids))
        rows = [
            Waiting(i, s)
            for i, s in zip(ids, states, strict=True)
            if s is None
            or (s.status is ApprovalStatus.PENDING and s.assignee in (None, "", username))
        ]
        return sorted(rows, key=lambda w: w.deadline.timestamp() if w.deadline else float("inf"))

    async def _state_or_none(self, approval_id: str) -> ApprovalState | None:
        try:
            return await self.state(approval_id)
        except Refused:
            return None

    async def state(self, approval_id: str) -> ApprovalState:
        return await _refusing(self.approvals.state(subject_of(approval_id)))

    async def order(self, state: ApprovalState) -> OrderView:
        """The order an approval is about (its subject is the order's workflow id), as far as
        it can be read now: the page shows the approval either way."""
        if state.kind != "order":
            return OrderView(None, None)
        orders = OrderClient(self.client, "")
        order_id = state.subject_id.removeprefix("order-")
        return OrderView(
            await _or_none(orders.submitted(order_id)), await _or_none(orders.status(order_id))
        )

    async def purchase(self, state: ApprovalState) -> PurchasePage | None:
        """The purchase a requisition approval or an exception review is about (its
        `process_id`), side by side: the requisition from the start input, the documents and
        the match from the `status` query. What cannot be read now is said on the page."""
        if state.kind not in PURCHASE_KINDS or not state.process_id:
            return None
        handle = self.client.get_workflow_handle(state.process_id)
        # Both at once, and not longer than a person waits for a page: a query waits for a
        # worker, and with none polling it would hold the page until the RPC's deadline.
        (requisition, unread), (result, unknown) = await asyncio.gather(
            _attempt(self._requisition(state.process_id), "the requisition"),
            _attempt(
                handle.query(
                    purchasing.Message.STATUS, result_type=PurchaseResult, rpc_timeout=PAGE_WAIT
                ),
                "the purchase's status",
            ),
        )
        problem = "; ".join(p for p in (unread, unknown) if p) or None
        return purchase_page(state.process_id, requisition, result, state.parts, problem)

    async def _requisition(self, process_id: str) -> Requisition | None:
        """The requisition as submitted: the start event's input, decrypted by the codec."""
        handle = self.client.get_workflow_handle(process_id)
        async for event in handle.fetch_history_events(rpc_timeout=PAGE_WAIT):
            started = event.workflow_execution_started_event_attributes
            [submitted] = await self.client.data_converter.decode(
                started.input.payloads, [purchasing.ProcureToPayInput]
            )
            return submitted.requisition  # type: ignore[no-any-return]
        return None

    async def decide(
        self, approval_id: str, decision: ApprovalDecision, update_id: str | None = None
    ) -> ApprovalState:
        subject = subject_of(approval_id)
        return await _refusing(self.approvals.decide(subject, decision, update_id))

    async def claim(
        self, approval_id: str, claim: ApprovalClaim, update_id: str | None = None
    ) -> ApprovalState:
        return await _refusing(self.approvals.claim(subject_of(approval_id), claim, update_id))

    async def delegate(
        self, approval_id: str, delegation: ApprovalDelegation, update_id: str | None = None
    ) -> ApprovalState:
        subject = subject_of(approval_id)
        return await _refusing(self.approvals.delegate(subject, delegation, update_id))


async def _refusing(call: Awaitable[ApprovalState]) -> ApprovalState:
    """The approval client's sentence (a validator's refusal, an unknown or decided approval)."""
    try:
        return await call
    except ApprovalError as err:
        raise Refused(str(err)) from None
    except RuntimeError as err:  # the lazy client's connection failed
        raise Refused(f"Temporal is not reachable ({err}); try again") from None


async def _attempt(call: Awaitable[T], what: str) -> tuple[T | None, str | None]:
    """What the call answers, or why `what` cannot be shown now (Temporal away, no worker
    to answer the query within the page's wait, a payload the codec cannot read)."""
    try:
        return await call, None
    except (RPCError, WorkflowQueryFailedError, RuntimeError, ValueError) as err:
        return None, f"{what} cannot be read right now ({_why(err)})"


async def _or_none(call: Awaitable[T]) -> T | None:
    try:
        return await call
    except (OrderError, RuntimeError, ValueError):
        return None


def subject_of(approval_id: str) -> str:
    """`approval-order-O-1` → `order-O-1`, the subject (the order's workflow id)."""
    return approval_id.removeprefix("approval-")


def ui_link(ui_url: str | None, namespace: str, workflow_id: str) -> str | None:
    return f"{ui_url}/namespaces/{namespace}/workflows/{workflow_id}" if ui_url else None


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"
