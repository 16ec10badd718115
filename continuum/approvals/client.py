"""Drive approvals from outside (gateway, CLI, order client): decide, claim, delegate, read.

Temporal's errors become `ApprovalError`s whose message is one sentence a person can act on:
an unknown approval, an approval already decided, or the validator's reason for a refusal.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.approvals.contract import Message, approval_workflow_id
from domain.approvals.models import (
    ApprovalClaim,
    ApprovalDecision,
    ApprovalDelegation,
    ApprovalOutcome,
    ApprovalState,
)
from domain.approvals.rules import already_decided

T = TypeVar("T", bound=BaseModel)


class ApprovalError(Exception):
    """A decision, claim or delegation was refused or could not be delivered; says why."""


class UnknownApproval(ApprovalError):
    pass


class ApprovalClient:
    def __init__(self, client: Client) -> None:
        self.client = client

    def handle(self, subject_id: str) -> WorkflowHandle[object, ApprovalOutcome]:
        return self.client.get_workflow_handle(
            approval_workflow_id(subject_id), result_type=ApprovalOutcome
        )

    async def state(self, subject_id: str) -> ApprovalState:
        """Also answers for a finished approval: its final state and audit trail."""
        try:
            state: ApprovalState = await self.handle(subject_id).query(
                Message.STATE, result_type=ApprovalState
            )
            return state
        except RPCError as err:
            raise self._missing(subject_id, err) from None

    # Each update carries a stable id (Temporal answers a repeated id with the first outcome):
    # a retry after a time-out that was applied all the same is that decision, not a new one.
    # `update_id`: the caller's own (a webhook's event id, an inbox form's); else one derived
    # from what is asked, so the same request sent again is recognised.

    async def decide(
        self, subject_id: str, decision: ApprovalDecision, update_id: str | None = None
    ) -> ApprovalState:
        level = "pending" if decision.level is None else decision.level
        derived = f"{Message.DECIDE}:{level}:{decision.approver}:{decision.verdict.value}"
        return await self._update(subject_id, Message.DECIDE, decision, update_id or derived)

    async def claim(
        self, subject_id: str, claim: ApprovalClaim, update_id: str | None = None
    ) -> ApprovalState:
        derived = f"{Message.CLAIM}:{claim.approver}"
        return await self._update(subject_id, Message.CLAIM, claim, update_id or derived)

    async def delegate(
        self, subject_id: str, delegation: ApprovalDelegation, update_id: str | None = None
    ) -> ApprovalState:
        derived = f"{Message.DELEGATE}:{delegation.approver}:{delegation.to}"
        return await self._update(subject_id, Message.DELEGATE, delegation, update_id or derived)

    async def send_decision(self, subject_id: str, decision: ApprovalDecision) -> None:
        """The signal form: no answer; a refusal lands in the audit trail."""
        try:
            await self.handle(subject_id).signal(Message.DECIDE_SIGNAL, decision)
        except RPCError as err:
            raise await self._explain(subject_id, err) from None

    async def _update(
        self, subject_id: str, name: str, arg: BaseModel, update_id: str
    ) -> ApprovalState:
        try:
            state: ApprovalState = await self.handle(subject_id).execute_update(
                name, arg, id=update_id, result_type=ApprovalState
            )
            return state
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise ApprovalError(
                cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            ) from None
        except RPCError as err:
            raise await self._explain(subject_id, err) from None

    def _missing(self, subject_id: str, err: RPCError) -> ApprovalError:
        if err.status is RPCStatusCode.NOT_FOUND:
            return UnknownApproval(f"unknown approval {subject_id}")
        return ApprovalError(f"approval {subject_id}: {err.message}")

    async def _explain(self, subject_id: str, err: RPCError) -> ApprovalError:
        """Names the real problem: no such approval, one already decided, or the server's word."""
        try:
            description = await self.handle(subject_id).describe()
        except RPCError as missing:
            return self._missing(subject_id, missing)
        if description.status is not WorkflowExecutionStatus.RUNNING:
            try:
                return ApprovalError(already_decided(await self.state(subject_id)))
            except ApprovalError:
                state = description.status.name.lower() if description.status else "closed"
                return ApprovalError(f"approval {subject_id} is already finished ({state})")
        return ApprovalError(f"approval {subject_id}: {err.message}")
