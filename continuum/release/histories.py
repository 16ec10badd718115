"""The histories a release must replay: every running process (up to a limit per workflow type)
and a sample of recently closed ones, fetched from the cluster the settings name.

They are used as the cluster holds them: encrypted payloads are decrypted only in memory, by
the replayer's data converter, and nothing is written to disk.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowHistory

# Histories fetched at once: enough to keep the replayer busy, few enough for a small cluster.
FETCH_AHEAD = 8


@dataclass(frozen=True)
class Sample:
    running: int = 1000  # running processes per workflow type, all when fewer
    closed: int = 20  # recently closed ones per workflow type
    closed_within: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Live:
    workflow_type: str
    workflow_id: str
    run_id: str
    running: bool
    history: WorkflowHistory


def quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def running_query(workflow_type: str) -> str:
    return f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"


def closed_query(workflow_type: str, since: datetime) -> str:
    return (
        f"WorkflowType = '{workflow_type}' AND ExecutionStatus != 'Running'"
        f" AND CloseTime > '{since.isoformat()}'"
    )


async def running_count(client: Client, workflow_type: str) -> int:
    return (await client.count_workflows(running_query(workflow_type))).count


async def unknown_running(client: Client, known: Sequence[str], limit: int = 1000) -> Counter[str]:
    """Running processes of types the working tree does not define (at most `limit` looked at)."""
    found: Counter[str] = Counter()
    query = "ExecutionStatus = 'Running'"
    if known:
        query += f" AND WorkflowType NOT IN ({quoted(known)})"
    async for execution in client.list_workflows(query, limit=limit):
        found[execution.workflow_type] += 1
    return found


async def _executions(
    client: Client, types: Sequence[str], sample: Sample, now: datetime
) -> AsyncIterator[tuple[WorkflowExecution, bool]]:
    since = now - sample.closed_within
    for workflow_type in types:
        async for execution in client.list_workflows(
            running_query(workflow_type), limit=sample.running
        ):
            yield execution, True
        if sample.closed:
            async for execution in client.list_workflows(
                closed_query(workflow_type, since), limit=sample.closed
            ):
                yield execution, False


async def live_histories(
    client: Client, types: Sequence[str], sample: Sample, now: datetime
) -> AsyncIterator[Live]:
    """The histories, in listing order, up to FETCH_AHEAD fetched at a time."""

    async def fetch(execution: WorkflowExecution, running: bool) -> Live:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        return Live(
            execution.workflow_type,
            execution.id,
            execution.run_id,
            running,
            await handle.fetch_history(),
        )

    pending: list[asyncio.Task[Live]] = []
    try:
        async for execution, running in _executions(client, types, sample, now):
            pending.append(asyncio.create_task(fetch(execution, running)))
            if len(pending) >= FETCH_AHEAD:
                yield await pending.pop(0)
        while pending:
            yield await pending.pop(0)
    finally:
        for task in pending:
            task.cancel()
