"""The ERP→CRM sync in the drill: passes run back to back during the load, as a schedule would
start them, so that they meet the faults; a final pass (with a reconciliation) once the orders
have settled. Each pass is the real sync workflow under its fixed id (`erp-crm-sync`).

A pass that cannot be started or finished within its bound is recorded as not completed, for
the SYNC_COMPLETED invariant to judge; it never stops the drill.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from domain.drill import SyncPass
from domain.sync.contract import WORKFLOW_ID, WORKFLOW_NAME
from domain.sync.models import SyncInput, SyncResult
from starters.drill.faults import now

PAGE_SIZE = 50  # small pages: a pass of a busy second reads a few, each heartbeating
PAUSE = 1.0  # seconds between passes during the load
# Seconds a pass may take: its pages queue behind the orders' activities on the one worker,
# and after the restarts of the full drill a pass took 165 s on a busy 2-core machine.
PASS_WITHIN = 300.0


@dataclass
class _Started:
    pass_: SyncPass
    run_id: str | None  # the first run of the pass, where its history starts


class SyncPasses:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self._started: list[_Started] = []

    @property
    def passes(self) -> list[SyncPass]:
        return [s.pass_ for s in self._started]

    async def while_busy(self, busy: Callable[[], bool]) -> None:
        """Pass after pass for as long as `busy()` says the load or the faults go on."""
        while busy():
            await self.run("during the load")
            await asyncio.sleep(PAUSE)

    async def run(self, label: str, reconcile_since: datetime | None = None) -> SyncPass:
        """One pass to its end (or its bound); with `reconcile_since`, a reconciliation of
        the ERP's changes since then follows the feeds."""
        hours = None
        if reconcile_since is not None:
            # A minute of slack: the window is counted back from when the reconciliation
            # starts, after the pass's feeds; the stack is fresh, so nothing older exists.
            hours = ((now() - reconcile_since).total_seconds() + 60) / 3600
        request = SyncInput(page_size=PAGE_SIZE, reconcile_hours=hours)
        began, deadline = now(), time.monotonic() + PASS_WITHIN
        run_id: str | None = None
        try:
            handle = await self._start(request, deadline)
            run_id = handle.first_execution_run_id or handle.run_id
            result = await self._result(handle, deadline)
        except (TimeoutError, RPCError) as err:
            done = SyncPass(
                label=label,
                began=began,
                ended=now(),
                completed=False,
                detail=f"gave up after {(now() - began).total_seconds():.0f} s: "
                f"{type(err).__name__} {err}",
            )
        except WorkflowFailureError as err:
            cause = str(err.cause or err)
            done = SyncPass(
                label=label, began=began, ended=now(), completed=False, detail=f"failed: {cause}"
            )
        else:
            totals = result.totals
            done = SyncPass(
                label=label,
                began=began,
                ended=now(),
                completed=True,
                pages=totals.pages,
                records=totals.records,
                upserted=sum(n for t in totals.feeds.values() for n in t.upserted.values()),
                quarantined=sum(t.quarantined for t in totals.feeds.values()),
            )
            if (report := result.drift) is not None:
                done.drift = report.drift
                done.drift_detail = ", ".join(
                    f"{target}: {d.missing} missing, {d.different} different, {d.extra} extra"
                    for target, d in report.targets.items()
                    if d.drift
                )
        self._started.append(_Started(done, run_id))
        return done

    async def _start(self, request: SyncInput, deadline: float) -> WorkflowHandle[str, SyncResult]:
        """Starts the pass, retrying while Temporal is away; "already started" after a lost
        answer means the earlier attempt got there."""
        while True:
            try:
                return await self.client.start_workflow(
                    WORKFLOW_NAME,
                    request,
                    id=WORKFLOW_ID,
                    task_queue=self.task_queue,
                    result_type=SyncResult,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    static_summary="the continuity drill's sync pass",
                )
            except WorkflowAlreadyStartedError:
                handle = self.client.get_workflow_handle(WORKFLOW_ID, result_type=SyncResult)
                described = await handle.describe()
                return self.client.get_workflow_handle(
                    WORKFLOW_ID, run_id=described.run_id, result_type=SyncResult
                )
            except RPCError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _result(self, handle: WorkflowHandle[str, SyncResult], deadline: float) -> SyncResult:
        """The pass's result, waiting out Temporal's absence; TimeoutError past the deadline."""
        while True:
            try:
                left = max(0.1, deadline - time.monotonic())
                return await asyncio.wait_for(handle.result(), timeout=left)
            except RPCError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def count_retries(self) -> None:
        """Fills each pass's retries in from its histories (continue-as-new and children)."""
        for started in self._started:
            if started.run_id is not None:
                started.pass_.retries = await retries_in(self.client, WORKFLOW_ID, started.run_id)


async def retries_in(client: Client, workflow_id: str, run_id: str) -> int:
    """Activity attempts beyond the first in a run, the runs it continued as, and its children."""
    retries = 0
    pending = [(workflow_id, run_id)]
    while pending:
        wid, rid = pending.pop()
        history = await client.get_workflow_handle(wid, run_id=rid).fetch_history()
        for event in history.events:
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                retries += event.activity_task_started_event_attributes.attempt - 1
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                attrs = event.workflow_execution_continued_as_new_event_attributes
                pending.append((wid, attrs.new_execution_run_id))
            elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                child = event.child_workflow_execution_started_event_attributes
                pending.append(
                    (child.workflow_execution.workflow_id, child.workflow_execution.run_id)
                )
    return retries
