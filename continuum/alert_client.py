"""Read and act on alerts from outside (the `continuum alerts` CLI, the inbox's Alerts page).

Lists come from visibility (the Alert workflows' ProcessStatus, AlertSeverity and AlertRule), each
row's timeline from the workflow's `state` query. Acknowledge and silence are the workflow's
Updates: its validators decide who may, and their refusals come back as `AlertError` with the
workflow's own sentence; an unknown or closed alert is named as such.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from continuum import search_attributes as sa
from domain.alerts.contract import (
    WORKFLOW_NAME,
    Acknowledgement,
    AlertState,
    AlertStatus,
    Message,
    Severity,
    Silence,
    workflow_id,
)

_ALERT_ID = re.compile(r"^[\w.@:-]{1,200}$")
OPEN = [s for s in AlertStatus if s.is_open]
# A closed alert's state is replayed by a worker of the ops queue: without one, say so soon.
QUERY_TIMEOUT = timedelta(seconds=5)
# An update waits for a worker to take it: without one the SDK would wait without end, and the
# person at the inbox or the CLI with it. Give up after this and say why.
UPDATE_TIMEOUT = timedelta(seconds=10)
# Worst first on every list: what pages people comes before what only informs them.
_SEVERITY_ORDER = {Severity.CRITICAL.value: 0, Severity.WARNING.value: 1, Severity.INFO.value: 2}


class AlertError(Exception):
    """An alert could not be read, or an acknowledgement or silence was refused; says why."""


class UnknownAlert(AlertError):
    pass


def alert_id(text: str) -> str:
    """The workflow id from what a person typed: `alert-<fingerprint>` or the fingerprint."""
    cleaned = text.strip()
    if not _ALERT_ID.match(cleaned):
        raise UnknownAlert(f"{text!r} is not an alert id (alert-<rule>-<hash>, as listed)")
    return cleaned if cleaned.startswith("alert-") else workflow_id(cleaned)


def listing_query(statuses: list[AlertStatus] | None = None) -> str:
    """A run that continued as new is not the alert's end (a long alert carries on in a new run
    under the same id): never listed. Open statuses: running alerts only (a terminated one is not
    open whatever its last status said)."""
    query = f"WorkflowType = '{WORKFLOW_NAME}'"
    if statuses and all(s.is_open for s in statuses):
        query += " AND ExecutionStatus = 'Running'"
    else:
        query += " AND ExecutionStatus != 'ContinuedAsNew'"
    if statuses:
        listed = ", ".join(f"'{s.value}'" for s in statuses)
        query += f" AND {sa.PROCESS_STATUS.name} IN ({listed})"
    return query


@dataclass(frozen=True)
class AlertRow:
    """One alert as visibility lists it, with its state when that could be read."""

    alert_id: str
    status: AlertStatus | None  # None: visibility has no status for it (yet)
    severity: str
    rule: str
    since: datetime | None  # when its status last changed
    execution: str  # running, completed, terminated, ...
    state: AlertState | None  # None when its state could not be read just now

    @property
    def summary(self) -> str:
        return self.state.input.summary if self.state else ""

    @property
    def subject(self) -> str:
        return self.state.input.subject if self.state else ""


def _row(wf: WorkflowExecution, state: AlertState | None) -> AlertRow:
    found = wf.typed_search_attributes
    status_text = found.get(sa.PROCESS_STATUS)
    try:
        status = AlertStatus(status_text) if status_text else None
    except ValueError:
        status = None
    if state is not None:
        status = state.status  # the workflow's own word is fresher than visibility's
    execution = wf.status.name.lower() if wf.status else "unknown"
    return AlertRow(
        alert_id=wf.id,
        status=status,
        severity=found.get(sa.ALERT_SEVERITY) or (state.input.severity.value if state else ""),
        rule=found.get(sa.ALERT_RULE) or (state.input.rule if state else ""),
        since=found.get(sa.STATE_SINCE),
        execution=execution,
        state=state,
    )


def _order(row: AlertRow) -> tuple[int, float]:
    since = row.since or (row.state.first_observed if row.state else None)
    newest_first = -(since or datetime.min.replace(tzinfo=UTC)).timestamp()
    return (_SEVERITY_ORDER.get(row.severity, 3), newest_first)


class AlertClient:
    def __init__(self, client: Client, update_timeout: timedelta = UPDATE_TIMEOUT) -> None:
        self.client = client
        self.update_timeout = update_timeout

    def handle(self, alert: str) -> WorkflowHandle[object, object]:
        return self.client.get_workflow_handle(alert_id(alert))

    async def list(
        self, statuses: list[AlertStatus] | None = None, limit: int = 50
    ) -> list[AlertRow]:
        """Alerts in these statuses (all: None), worst and newest first, each with its state.

        Visibility lags a moment behind the workflows: each row's state is read too and its
        status wins; a row whose state moved out of `statuses` meanwhile is left out.
        """
        # One row per alert, its newest run (visibility lists newest first): for a moment after
        # a continue-as-new both runs may still show.
        found: dict[str, WorkflowExecution] = {}
        async for wf in self.client.list_workflows(listing_query(statuses), limit=limit):
            found.setdefault(wf.id, wf)
        states = await asyncio.gather(*(self._state_or_none(i) for i in found))
        rows = [_row(wf, state) for wf, state in zip(found.values(), states, strict=True)]
        if statuses:
            rows = [r for r in rows if r.status is None or r.status in statuses]
        return sorted(rows, key=_order)

    async def _state_or_none(self, alert: str) -> AlertState | None:
        try:
            return await self.state(alert)
        except AlertError:
            return None

    async def state(self, alert: str) -> AlertState:
        """Also answers for a resolved alert: its final state and timeline."""
        handle = self.handle(alert)
        try:
            state: AlertState = await handle.query(
                Message.STATE, result_type=AlertState, rpc_timeout=QUERY_TIMEOUT
            )
            return state
        except RPCError as err:
            if err.status is RPCStatusCode.DEADLINE_EXCEEDED:
                raise AlertError(
                    f"alert {handle.id} does not answer: is the ops worker "
                    "(`python -m workers.ops`) running?"
                ) from None
            raise _missing(handle.id, err) from None
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as err:
            raise AlertError(f"alert {handle.id} cannot be read: {err}") from None

    async def acknowledge(
        self, alert: str, ack: Acknowledgement, update_id: str | None = None
    ) -> AlertState:
        return await self._update(alert, Message.ACKNOWLEDGE, ack, update_id)

    async def silence(
        self, alert: str, silence: Silence, update_id: str | None = None
    ) -> AlertState:
        return await self._update(alert, Message.SILENCE, silence, update_id)

    async def _update(
        self,
        alert: str,
        name: str,
        arg: BaseModel,
        update_id: str | None,
    ) -> AlertState:
        # `update_id`: the caller's (an inbox form's), so the same form sent twice is one update;
        # else the SDK's own, which it keeps across its retries of this one call.
        handle = self.handle(alert)
        try:
            state: AlertState = await handle.execute_update(
                name, arg, id=update_id, result_type=AlertState, rpc_timeout=self.update_timeout
            )
            return state
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise AlertError(
                f"alert {handle.id} does not answer: is the ops worker "
                "(`python -m workers.ops`) running? The request is not confirmed: "
                "`continuum alerts show` tells whether it took effect."
            ) from None
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise AlertError(
                cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            ) from None
        except RPCError as err:
            raise await self._explain(handle, err) from None

    async def _explain(self, handle: WorkflowHandle[object, object], err: RPCError) -> AlertError:
        """Names the real problem: no such alert, one already over, or the server's word."""
        try:
            description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as missing:
            return _missing(handle.id, missing)
        if description.status is not WorkflowExecutionStatus.RUNNING:
            status = description.typed_search_attributes.get(sa.PROCESS_STATUS)
            if status in (AlertStatus.RESOLVED.value, AlertStatus.DISMISSED.value):
                return AlertError(f"alert {handle.id} is already {status.lower()}")
            execution = description.status.name.lower() if description.status else "closed"
            return AlertError(f"alert {handle.id} is over ({execution})")
        return AlertError(f"alert {handle.id}: {err.message}")


def _missing(workflow: str, err: RPCError) -> AlertError:
    if err.status is RPCStatusCode.NOT_FOUND:
        return UnknownAlert(f"unknown alert {workflow}")
    return AlertError(f"alert {workflow}: {err.message}")
