"""Processes that stopped: stalled in one state (visibility alone), or retrying a step (visibility
for the candidates, then a description of each for its pending steps)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecution
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.business_calendar import BusinessCalendar
from domain.visibility import STATE_SINCE
from domain.watchdog.contract import RuleEvaluation
from domain.watchdog.findings import (
    REPORTED_PROBLEMS,
    WORKFLOW_TASK,
    PendingStep,
    Stalled,
    is_retrying,
    retrying_candidates_query,
    retrying_conditions,
    stalled_conditions,
    stalled_query,
)
from domain.watchdog.rules import RetryingRule, StalledRule

_STATE_SINCE = SearchAttributeKey.for_datetime(STATE_SINCE.name)
_PROBLEMS = SearchAttributeKey.for_keyword_list(REPORTED_PROBLEMS)
# Descriptions asked at once: enough to be quick, few enough not to crowd the frontend.
_DESCRIBE_AT_ONCE = 8


async def stalled(
    client: Client, rule: StalledRule, now: datetime, calendar: BusinessCalendar
) -> RuleEvaluation:
    query = stalled_query(rule, now, calendar)
    count = (await client.count_workflows(query)).count
    listed: list[Stalled] = []
    if count:
        status = SearchAttributeKey.for_keyword(rule.kind_of.status_attribute)
        async for wf in client.list_workflows(query, limit=rule.max_listed):
            attrs = wf.typed_search_attributes
            listed.append(
                Stalled(
                    workflow_id=wf.id,
                    status=attrs.get(status) or "?",
                    since=attrs.get(_STATE_SINCE),
                )
            )
    conditions, complete = stalled_conditions(rule, count, listed, now)
    note = "" if complete else f"{count} found, alerts raised for the first {len(listed)}"
    return RuleEvaluation(rule=rule.name, conditions=conditions, complete=complete, note=note)


async def retrying(client: Client, rule: RetryingRule, now: datetime) -> RuleEvaluation:
    query = retrying_candidates_query(rule, now)
    candidates = [wf async for wf in client.list_workflows(query, limit=rule.max_candidates)]
    gate = asyncio.Semaphore(_DESCRIBE_AT_ONCE)

    async def steps_of(wf: WorkflowExecution) -> list[PendingStep]:
        async with gate:
            found = await _pending_steps(client, wf)
            activity.heartbeat()
            return found

    described = await asyncio.gather(*(steps_of(wf) for wf in candidates))
    found = [s for steps in described for s in steps if is_retrying(rule, s, now)]
    capped = len(candidates) >= rule.max_candidates
    return RuleEvaluation(
        rule=rule.name,
        conditions=retrying_conditions(rule, found, now),
        # A capped look may have missed some: its alerts stay as they are.
        complete=not capped,
        note=f"looked at the first {len(candidates)} candidates only" if capped else "",
    )


async def _pending_steps(client: Client, wf: WorkflowExecution) -> list[PendingStep]:
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
    try:
        raw = (await handle.describe()).raw_description
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:  # gone since it was listed
            return []
        raise
    state_since = wf.typed_search_attributes.get(_STATE_SINCE)
    steps = [
        await _activity_step(client, wf.id, info, state_since) for info in raw.pending_activities
    ]
    if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt > 1:
        task = raw.pending_workflow_task
        problems = wf.typed_search_attributes.get(_PROBLEMS) or []
        steps.append(
            PendingStep(
                workflow_id=wf.id,
                step=WORKFLOW_TASK,
                attempt=task.attempt,
                # The task's scheduled times move with each attempt (measured): its state's age
                # is the best bound on how long it has been failing.
                since=state_since,
                last_failure=", ".join(problems),
            )
        )
    return steps


async def _activity_step(
    client: Client, workflow_id: str, info: PendingActivityInfo, state_since: datetime | None
) -> PendingStep:
    return PendingStep(
        workflow_id=workflow_id,
        step=info.activity_type.name,
        attempt=info.attempt or 1,
        since=_first_scheduled(info) or state_since,
        last_failure=await _failure(client, info.last_failure)
        if info.HasField("last_failure")
        else "",
        paused=info.paused,
    )


def _first_scheduled(info: PendingActivityInfo) -> datetime | None:
    """When the first attempt was scheduled: `scheduled_time` is the current attempt's, but the
    expiration is the first's plus the schedule-to-close timeout (measured on server 1.32)."""
    options = info.activity_options
    if not (info.HasField("expiration_time") and options.HasField("schedule_to_close_timeout")):
        return None
    window = options.schedule_to_close_timeout.ToTimedelta()
    if not window:
        return None
    return info.expiration_time.ToDatetime(tzinfo=UTC) - window


async def _failure(client: Client, failure: Failure) -> str:
    """The failure's own message (the converter may have encoded it: "Encoded failure")."""
    error: Any = await client.data_converter.decode_failure(failure)
    if isinstance(error, ApplicationError):
        return error.message
    return str(getattr(error, "message", None) or error)
