"""The repair actions, each on one process of a plan's frozen list, through Temporal's own RPCs
(server 1.32): reset an activity's attempts (and unpause it), pause and unpause it, change its
retry policy and timeouts, the order's `cancel` update, a reset to a safe point, a signal, a
terminate with its reason, and the sync quarantine's re-drive.

Each action first looks at the process again: one that moved since the plan is skipped with the
reason, never acted on. Temporal may run an activity twice (a worker dies after the action but
before its answer), so every action is one that does no harm done twice: a reset first checks
whether this plan already reset the run, pauses and signals carry a request id, the cancel update
an update id.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import activity
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import Payloads, RetryPolicy, WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    PauseActivityRequest,
    ResetActivityRequest,
    ResetWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
)
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.calls import heartbeating
from activities.incidents import observe
from domain.incidents.checks import Applied, Verdict, moved, reset_problem
from domain.incidents.contract import Action
from domain.incidents.observed import Execution, Observed, PendingStep
from domain.incidents.params import redrive_ids, signal_argument, signal_name, step_options
from domain.incidents.safe_point import NoSafePoint, safe_reset_point
from domain.incidents.steps import Acted, ItemActed, ItemRequest, Looked, LookRequest
from domain.orders.contract import WORKFLOW_NAME as ORDER_WORKFLOW
from domain.orders.contract import Message as OrderMessage
from domain.orders.lifecycle import CancelRequest
from domain.orders.models import OrderResult
from domain.sync.contract import REDRIVE_WORKFLOW, REDRIVE_WORKFLOW_ID
from domain.sync.models import RedriveRequest, RedriveResult

# Temporal answers that another try may change; anything else is the action refused.
_TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
}
_DURATIONS = {
    "initial_interval": "retry_policy.initial_interval",
    "maximum_interval": "retry_policy.maximum_interval",
    "start_to_close_timeout": "start_to_close_timeout",
    "schedule_to_close_timeout": "schedule_to_close_timeout",
    "heartbeat_timeout": "heartbeat_timeout",
}


class Refused(Exception):
    """The action cannot be done on this process; nothing was changed. The message says why."""


def _request_id(req: ItemRequest, what: str = "") -> str:
    """The same for every try of one action on one process: Temporal drops a repeat."""
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"repair/{req.plan_id}/{req.target.workflow_id}{what}")
    )


def _retried() -> str:
    """A later try of the activity may find the process moved by its own earlier try (a worker
    died after acting, before answering): say so rather than claim it was someone else."""
    if activity.info().attempt > 1:
        return " (an earlier try of this action may have done that)"
    return ""


def _why(req: ItemRequest) -> str:
    """What Temporal records as the reason (the Web UI shows it beside the event)."""
    return f"incident plan {req.plan_id} ({req.ticket}) by {req.applied_by}: {req.reason}"


class RepairActivities:
    """`business_task_queue`: where the business worker runs the sync's re-drive workflow."""

    def __init__(self, client: Client, business_task_queue: str) -> None:
        self.client = client
        self.business_task_queue = business_task_queue

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.repair_item, self.look_again]

    @property
    def _namespace(self) -> str:
        return self.client.namespace

    def _identity(self, req: ItemRequest) -> str:
        return f"{req.applied_by} (continuum incidents, plan {req.plan_id})"

    @activity.defn(name="repair_item")
    async def repair_item(self, req: ItemRequest) -> ItemActed:
        """Looks again; skips a process that moved since the plan; else acts on it."""
        async with heartbeating():
            return await self._repair_item(req)

    async def _repair_item(self, req: ItemRequest) -> ItemActed:
        try:
            if req.action is Action.REDRIVE:
                return await self._redrive(req)
            if req.action is Action.RESET:
                return await self._reset(req)
            now = await observe.describe(self.client, req.target.workflow_id)
            if why := moved(req.action, req.target, now):
                if earlier := await self._done_earlier(req):
                    return ItemActed(acted=Acted.APPLIED, detail=earlier.detail, applied=earlier)
                return ItemActed(acted=Acted.SKIPPED, detail=f"skipped: {why}{_retried()}")
            applied = await self._act(req, now)
        except Refused as refused:
            return ItemActed(acted=Acted.FAILED, detail=str(refused))
        except RPCError as err:
            if err.status in _TRANSIENT:
                raise
            return ItemActed(acted=Acted.FAILED, detail=f"Temporal refused: {err.message}")
        return ItemActed(acted=Acted.APPLIED, detail=applied.detail, applied=applied)

    async def _done_earlier(self, req: ItemRequest) -> Applied | None:
        """On a later try: the process moved because an earlier try of this very action acted
        (its worker died before answering)? Then that is this item's outcome."""
        if activity.info().attempt == 1:
            return None
        target = req.target
        events = await observe.history(self.client, target.workflow_id, target.run_id)
        done = observe.acted_by(events, self._identity(req), _request_id(req, "/cancel"))
        if done is None:
            return None
        return Applied(run_id=target.run_id, detail=f"{done} (by an earlier try)")

    @activity.defn(name="repair_look_again")
    async def look_again(self, req: LookRequest) -> Looked:
        """The processes as they are now (for the success checks), one by one."""
        async with heartbeating():
            return await self._look_again(req)

    async def _look_again(self, req: LookRequest) -> Looked:
        seen: list[Observed | None] = []
        problems: list[str] = []
        for look in req.processes:
            try:
                now = await observe.describe(self.client, look.workflow_id)
                if req.completed_steps:
                    events = await observe.history(self.client, look.workflow_id, now.run_id)
                    now.completed = observe.completed_steps(events)
            except RPCError as err:
                if err.status in _TRANSIENT:
                    raise
                seen.append(None)
                problems.append(f"{look.workflow_id}: {err.message}")
                continue
            seen.append(now)
            problems.append("")
        return Looked(observed=seen, problems=problems)

    async def _act(self, req: ItemRequest, now: Observed) -> Applied:
        if req.action in (Action.RETRY, Action.PAUSE, Action.UNPAUSE, Action.RETRY_OPTIONS):
            return await self._on_steps(req, now)
        if req.action is Action.CANCEL:
            return await self._cancel(req, now)
        if req.action is Action.SIGNAL:
            return await self._signal(req, now)
        if req.action is Action.TERMINATE:
            return await self._terminate(req, now)
        raise Refused(f"{req.action.value} is not an action the console applies")

    # --- one pending step: retry now, pause, unpause, new retry options ----------------------

    async def _on_steps(self, req: ItemRequest, now: Observed) -> Applied:
        steps = now.pending_step(req.target.step)
        if not steps:
            raise Refused("it waits on no step: nothing to " + req.action.value)
        execution = WorkflowExecution(workflow_id=now.workflow_id, run_id=now.run_id)
        for step in steps:
            await self._on_step(req, execution, step)
        names = ", ".join(sorted({s.step for s in steps}))
        done = {
            Action.RETRY: f"{names}: attempts reset, runs now",
            Action.PAUSE: f"{names}: paused",
            Action.UNPAUSE: f"{names}: unpaused",
            Action.RETRY_OPTIONS: f"{names}: new options {', '.join(sorted(req.params))}",
        }[req.action]
        return Applied(run_id=now.run_id, activity_ids=[s.activity_id for s in steps], detail=done)

    async def _on_step(
        self, req: ItemRequest, execution: WorkflowExecution, step: PendingStep
    ) -> None:
        common: dict[str, Any] = {
            "namespace": self._namespace,
            "execution": execution,
            "identity": self._identity(req),
            "id": step.activity_id,
        }
        service = self.client.workflow_service
        if req.action is Action.RETRY:
            # A paused step is unpaused too (keep_paused is false): "run it now".
            await service.reset_activity(ResetActivityRequest(**common))
        elif req.action is Action.PAUSE:
            request_id = _request_id(req, f"/pause/{step.activity_id}")
            await service.pause_activity(
                PauseActivityRequest(**common, reason=_why(req), request_id=request_id)
            )
        elif req.action is Action.UNPAUSE:
            if step.paused:
                await service.unpause_activity(UnpauseActivityRequest(**common))
        else:
            options, paths = _activity_options(req.params)
            await service.update_activity_options(
                UpdateActivityOptionsRequest(
                    **common, activity_options=options, update_mask=FieldMask(paths=paths)
                )
            )

    # --- the order's cancel update -----------------------------------------------------------

    async def _cancel(self, req: ItemRequest, now: Observed) -> Applied:
        if now.workflow_type != ORDER_WORKFLOW:
            raise Refused(f"a {now.workflow_type} process has no cancel with compensation")
        order_id = now.workflow_id.removeprefix("order-")
        handle = self.client.get_workflow_handle(now.workflow_id, run_id=now.run_id)
        request = CancelRequest(order_id=order_id, requested_by=req.applied_by, reason=_why(req))
        try:
            await handle.execute_update(
                OrderMessage.CANCEL,
                request,
                id=_request_id(req, "/cancel"),
                result_type=OrderResult,
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise Refused(f"the order refused: {getattr(cause, 'message', None) or cause}") from err
        return Applied(run_id=now.run_id, detail="cancel requested: compensation runs")

    # --- signal, terminate -------------------------------------------------------------------

    async def _signal(self, req: ItemRequest, now: Observed) -> Applied:
        try:
            name = signal_name(req.params)
            argument = signal_argument(now.workflow_type, now.workflow_id, req.params)
        except ValueError as err:
            raise Refused(str(err)) from None
        payloads = await self.client.data_converter.encode([argument])
        await self.client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=self._namespace,
                workflow_execution=WorkflowExecution(
                    workflow_id=now.workflow_id, run_id=now.run_id
                ),
                signal_name=name,
                input=Payloads(payloads=payloads),
                identity=self._identity(req),
                request_id=_request_id(req, "/signal"),
            )
        )
        return Applied(run_id=now.run_id, detail=f"signal {name} sent")

    async def _terminate(self, req: ItemRequest, now: Observed) -> Applied:
        handle = self.client.get_workflow_handle(now.workflow_id, run_id=now.run_id)
        await handle.terminate(reason=_why(req))
        return Applied(run_id=now.run_id, detail="terminated")

    # --- reset to a safe point ---------------------------------------------------------------

    async def _reset(self, req: ItemRequest) -> ItemActed:
        target = req.target
        now = await observe.describe(self.client, target.workflow_id)
        if now.run_id != target.run_id:
            # Ours, from an earlier try of this activity? Then it is done; else it moved.
            events = await observe.history(self.client, now.workflow_id, now.run_id)
            by = observe.reset_by(events) or ""
            if f"incident plan {req.plan_id} " in by:
                applied = Applied(run_id=now.run_id, detail=f"reset: runs as {now.run_id}")
                return ItemActed(acted=Acted.APPLIED, detail=applied.detail, applied=applied)
        if why := moved(req.action, target, now):
            return ItemActed(acted=Acted.SKIPPED, detail=f"skipped: {why}{_retried()}")
        if problem := reset_problem(now):
            raise Refused(f"not reset: {problem}")
        events = await observe.history(self.client, target.workflow_id, target.run_id)
        failed_run = now.execution in (Execution.FAILED, Execution.TIMED_OUT, Execution.TERMINATED)
        try:
            point = safe_reset_point(observe.marks(events), failed_run=failed_run)
        except NoSafePoint as err:
            raise Refused(f"not reset: {err}") from None
        answer = await self.client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=self._namespace,
                workflow_execution=WorkflowExecution(
                    workflow_id=target.workflow_id, run_id=target.run_id
                ),
                reason=_why(req),
                workflow_task_finish_event_id=point.event_id,
                request_id=_request_id(req, "/reset"),
                identity=self._identity(req),
            )
        )
        applied = Applied(run_id=answer.run_id, detail=point.describe())
        return ItemActed(acted=Acted.APPLIED, detail=applied.detail, applied=applied)

    # --- the sync quarantine's re-drive -------------------------------------------------------

    async def _redrive(self, req: ItemRequest) -> ItemActed:
        try:
            ids = redrive_ids(req.params)
        except ValueError as err:
            raise Refused(str(err)) from None
        try:
            handle = await self.client.start_workflow(
                REDRIVE_WORKFLOW,
                RedriveRequest(ids=ids),
                id=f"{REDRIVE_WORKFLOW_ID}-{req.plan_id}",
                task_queue=self.business_task_queue,
                result_type=RedriveResult,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            # An earlier try of this activity started it: wait for that one.
            handle = self.client.get_workflow_handle(
                f"{REDRIVE_WORKFLOW_ID}-{req.plan_id}", result_type=RedriveResult
            )
        result = await handle.result()
        applied = Applied(run_id=handle.result_run_id or "", detail="re-drive ran")
        counts = (
            f"{len(result.resolved)} resolved, {len(result.still_bad)} still bad,"
            f" {len(result.not_found)} no longer in the ERP"
        )
        ok = not result.still_bad and not result.not_found
        return ItemActed(
            acted=Acted.APPLIED,
            detail=f"re-drive: {counts}",
            applied=applied,
            verdict=Verdict(ok=ok, detail=counts),
        )


def _activity_options(params: dict[str, str]) -> tuple[ActivityOptions, list[str]]:
    """The options a `retry-options` plan sets, and the field mask naming only those."""
    try:
        wanted = step_options(params)
    except ValueError as err:
        raise Refused(str(err)) from None
    options, retry, paths = ActivityOptions(), RetryPolicy(), []
    for name, path in _DURATIONS.items():
        value = getattr(wanted, name)
        if value is None:
            continue
        holder = retry if path.startswith("retry_policy.") else options
        getattr(holder, path.removeprefix("retry_policy.")).FromTimedelta(value)
        paths.append(path)
    if wanted.backoff_coefficient is not None:
        retry.backoff_coefficient = wanted.backoff_coefficient
        paths.append("retry_policy.backoff_coefficient")
    if wanted.maximum_attempts is not None:
        retry.maximum_attempts = wanted.maximum_attempts
        paths.append("retry_policy.maximum_attempts")
    options.retry_policy.CopyFrom(retry)
    return options, paths
