"""The live board's figures read from Temporal: visibility counts and listings with the queries
of `domain.figures`, task-queue backlogs and pollers (DescribeTaskQueue with stats), and the
alerts that fire now. The gateway's /board shows them.

A figure that cannot be read (visibility down, an ops worker that does not answer a query) is
left out with a one-line note; the rest of the board still shows. The configuration (the target,
each process's manual baseline, the queues to watch) is `continuum/defaults/board.toml` unless
BOARD_CONFIG_FILE names another.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Awaitable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from continuum.alert_client import AlertClient, AlertRow, listing_query
from continuum.defaults import BOARD
from domain.figures import (
    SHOWN_ALERT_STATUSES,
    WINDOWS,
    Board,
    BoardConfig,
    FiringAlert,
    ProcessBaseline,
    ProcessTime,
    QueueKind,
    QueueLoad,
    SuccessFigure,
    Throughput,
    closed_orders_query,
    completed_orders_query,
    process_time,
    started_orders_query,
    succeeded_orders_query,
)

T = TypeVar("T")
DEFAULT_FILE = BOARD
RPC_TIMEOUT = timedelta(seconds=5)
_QUEUE_TYPES = {
    QueueKind.WORKFLOW: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    QueueKind.ACTIVITY: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


class BoardConfigError(ValueError):
    """The board's configuration file is missing or wrong; the message says where."""


def load_board_config(path: Path = DEFAULT_FILE) -> BoardConfig:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except OSError as err:
        raise BoardConfigError(f"cannot read board config {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise BoardConfigError(f"board config {path} is not valid TOML: {err}") from None
    try:
        return BoardConfig.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "(top)"
        raise BoardConfigError(f"board config {path}: {where}: {e['msg']}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


class BoardReader:
    def __init__(self, client: Client, config: BoardConfig) -> None:
        self.client = client
        self.config = config

    async def read(self, now: datetime) -> Board:
        notes: list[str] = []

        async def attempt(what: str, work: Awaitable[T], default: T) -> T:
            try:
                return await work
            except Exception as err:  # one figure missing must not blank the board
                notes.append(f"{what}: {_first_line(err)}")
                return default

        def each(works: list[tuple[str, Awaitable[T]]], default: T) -> Awaitable[list[T]]:
            return asyncio.gather(*(attempt(what, work, default) for what, work in works))

        windows = [(label, now - span, now) for label, span in WINDOWS]
        processes = self.config.processes
        success, throughput, times, queues, (alerts, total) = await asyncio.gather(
            each([(f"success rate, {w[0]}", self._success(*w)) for w in windows], None),
            each([(f"throughput, {w[0]}", self._throughput(*w)) for w in windows], None),
            each(
                [(f"processing time of {p.name}", self._process(p, now)) for p in processes], None
            ),
            each([(f"task queue {q}", self._queue(q)) for q in self.config.task_queues], []),
            attempt("firing alerts", self._alerts(notes), ([], 0)),
        )
        return Board(
            as_of=now,
            refresh_seconds=self.config.refresh_seconds,
            target=self.config.target,
            success=[s for s in success if s is not None],
            throughput=[t for t in throughput if t is not None],
            processes=[p for p in times if p is not None],
            queues=[load for found in queues for load in found],
            alerts=alerts,
            alerts_total=total,
            notes=notes,
        )

    async def _count(self, query: str) -> int:
        return (await self.client.count_workflows(query, rpc_timeout=RPC_TIMEOUT)).count

    async def _success(self, label: str, start: datetime, end: datetime) -> SuccessFigure:
        closed, succeeded = await asyncio.gather(
            self._count(closed_orders_query(start, end)),
            self._count(succeeded_orders_query(start, end)),
        )
        return SuccessFigure(
            label=label, closed=closed, succeeded=succeeded, target=self.config.target
        )

    async def _throughput(self, label: str, start: datetime, end: datetime) -> Throughput:
        started, completed = await asyncio.gather(
            self._count(started_orders_query(start, end)),
            self._count(completed_orders_query(start, end)),
        )
        hours = (end - start).total_seconds() / 3600
        return Throughput(label=label, hours=hours, started=started, completed=completed)

    async def _process(self, process: ProcessBaseline, now: datetime) -> ProcessTime:
        """Over the last 24 hours: the newest `sample` runs that finished their work."""
        _, span = WINDOWS[-1]
        query = process.done_query(now - span, now)
        durations: list[float] = []
        count = await self._count(query)
        async for wf in self.client.list_workflows(
            query, limit=self.config.sample, rpc_timeout=RPC_TIMEOUT
        ):
            if wf.close_time is not None:
                durations.append((wf.close_time - wf.start_time).total_seconds())
        return process_time(process, count, durations, self.config.goal)

    async def _queue(self, task_queue: str) -> list[QueueLoad]:
        loads = []
        for kind, queue_type in _QUEUE_TYPES.items():
            answer = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(
                        name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
                    ),
                    task_queue_type=queue_type,
                    report_stats=True,
                    report_pollers=True,
                ),
                timeout=RPC_TIMEOUT,
            )
            stats = answer.stats
            loads.append(
                QueueLoad(
                    task_queue=task_queue,
                    kind=kind,
                    backlog=stats.approximate_backlog_count,
                    oldest_seconds=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
                    pollers=len(answer.pollers),
                )
            )
        return loads

    async def _alerts(self, notes: list[str]) -> tuple[list[FiringAlert], int]:
        """The alerts that fired and are not resolved, as the Alerts page lists them."""
        shown = list(SHOWN_ALERT_STATUSES)
        # A run that continued as new keeps its last status in visibility: the running one counts.
        total, listed = await asyncio.gather(
            self._count(f"{listing_query(shown)} AND ExecutionStatus = 'Running'"),
            AlertClient(self.client).list(shown, limit=self.config.alerts_shown),
        )
        rows = [row for row in listed if row.execution == "running"]
        unanswered = sum(1 for row in rows if row.state is None)
        if unanswered:
            notes.append(
                f"{unanswered} alert(s) did not answer their state query (is the ops worker up?)"
            )
        return [_firing(row) for row in rows], total


def _firing(row: AlertRow) -> FiringAlert:
    state = row.state
    return FiringAlert(
        workflow_id=row.alert_id,
        rule=row.rule,
        severity=row.severity,
        status=row.status.value if row.status else "",
        since=(state.fired_at if state else None) or row.since,
        subject=row.subject,
        summary=row.summary,
        level=state.level if state else 0,
        acknowledged_by=state.acknowledged_by if state else None,
    )
