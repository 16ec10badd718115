"""A process waiting on the Approval process as its child: start it, wait for its verdict or
for the process to stop, and take it out of the inbox when the process no longer needs it.

Shared by order-to-cash (an order's approval) and procure-to-pay (a requisition's approval and
each exception review), so both start and cancel their approvals with the same commands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from domain.approvals.contract import approval_workflow_id
    from domain.approvals.models import ApprovalOutcome, ApprovalRequest
    from workflows.approval import Approval

ApprovalHandle = workflow.ChildWorkflowHandle[Approval, ApprovalOutcome]


async def start_approval(request: ApprovalRequest, summary: str) -> ApprovalHandle:
    return await workflow.start_child_workflow(
        Approval.run,
        request,
        id=approval_workflow_id(request.subject_id),
        # Whatever ends the process, its approval leaves the inbox.
        parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
        static_summary=summary,
    )


async def until_decided(handle: ApprovalHandle, stopped: Callable[[], bool]) -> bool:
    """True once the approval ended; False when `stopped()` came first (the approval is then
    cancelled). A cancellation of the waiting process cancels the approval too."""
    try:
        await workflow.wait_condition(lambda: handle.done() or stopped())
    except asyncio.CancelledError:
        await cancel_approval(handle)
        raise
    if not handle.done():
        await cancel_approval(handle)
        return False
    return True


async def cancel_approval(handle: ApprovalHandle) -> None:
    handle.cancel()
    with contextlib.suppress(ChildWorkflowError, asyncio.CancelledError):
        await handle
