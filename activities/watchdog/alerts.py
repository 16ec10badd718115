"""Telling the Alerts what the watchdog saw: each firing condition by signal-with-start of
`observe(firing)` on the workflow named after its fingerprint (evaluating it twice never makes two
alerts), and each open alert of a rule judged in full that fires no more by `observe(clear)`.
The Alert decides what that means (its `for` and `clear_after`): this only reports."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from domain.alerts import contract as alerts
from domain.alerts.contract import AlertInput, AlertStatus, Message, Observation
from domain.figures import one_of
from domain.visibility import PROCESS_STATUS
from domain.watchdog.config import WatchdogConfig
from domain.watchdog.contract import Observed, ObserveRequest

_RULE = SearchAttributeKey.for_keyword(alerts.ALERT_RULE.name)
_SEVERITY = SearchAttributeKey.for_keyword(alerts.ALERT_SEVERITY.name)
_OPEN = [s.value for s in AlertStatus if s.is_open]
# Signals sent at once; an evaluation that finds hundreds of conditions does not flood.
_AT_ONCE = 16
_RPC_TIMEOUT = timedelta(seconds=10)
# More open alerts than this for the watchdog's rules is a storm; the rest are cleared next run.
MAX_OPEN_LISTED = 1000


def open_alerts_query(rules: list[str]) -> str:
    return (
        f"WorkflowType = '{alerts.WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
        f" AND {PROCESS_STATUS.name} IN {one_of(_OPEN)}"
        f" AND {alerts.ALERT_RULE.name} IN {one_of(rules)}"
    )


async def raise_alert(
    client: Client, alert: AlertInput, observation: Observation, task_queue: str
) -> str:
    """Signal-with-start: the open alert hears it, or a new one starts with it."""
    alert_id = alerts.workflow_id(alert.fingerprint)
    await client.start_workflow(
        alerts.WORKFLOW_NAME,
        alert,
        id=alert_id,
        task_queue=task_queue,
        start_signal=Message.OBSERVE,
        start_signal_args=[observation],
        # Listed by rule and severity from its first moment, before its own first task runs.
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(_RULE, alert.rule),
                SearchAttributePair(_SEVERITY, alert.severity.value),
            ]
        ),
        static_summary=alert.summary[:200],
        rpc_timeout=_RPC_TIMEOUT,
    )
    return alert_id


async def tell_alerts(
    client: Client, config: WatchdogConfig, request: ObserveRequest, task_queue: str
) -> Observed:
    gate = asyncio.Semaphore(_AT_ONCE)
    firing: list[tuple[AlertInput, Observation]] = []
    for evaluation in request.evaluations:
        rule = config.rule(evaluation.rule)
        for condition in evaluation.conditions:
            alert = config.alert_input(rule, condition.subject, condition.summary)
            seen = Observation(firing=True, at=request.at, detail=condition.detail)
            firing.append((alert, seen))

    async def fire(alert: AlertInput, seen: Observation) -> str:
        async with gate:
            alert_id = await raise_alert(client, alert, seen, task_queue)
            activity.heartbeat()
            return alert_id

    fired = list(await asyncio.gather(*(fire(a, o) for a, o in firing)))
    judged = [e.rule for e in request.evaluations if e.complete and e.error is None]
    cleared = await _clear_the_rest(client, judged, set(fired), request.at, gate)
    return Observed(firing=sorted(set(fired)), cleared=sorted(cleared))


async def _clear_the_rest(
    client: Client, rules: list[str], firing: set[str], at: datetime, gate: asyncio.Semaphore
) -> list[str]:
    if not rules:
        return []
    query = open_alerts_query(rules)
    quiet = [
        wf.id
        async for wf in client.list_workflows(query, limit=MAX_OPEN_LISTED)
        if wf.id not in firing
    ]
    clear = Observation(firing=False, at=at, detail="the watchdog no longer sees it")

    async def tell(alert_id: str) -> str | None:
        async with gate:
            try:
                await client.get_workflow_handle(alert_id).signal(
                    Message.OBSERVE, clear, rpc_timeout=_RPC_TIMEOUT
                )
            except RPCError as err:
                if err.status is RPCStatusCode.NOT_FOUND:  # it closed since it was listed
                    return None
                raise
            return alert_id

    return [i for i in await asyncio.gather(*(tell(i) for i in quiet)) if i is not None]
