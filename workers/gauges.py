"""Gauges the worker samples every few seconds: approvals waiting and overdue, sync lag,
quarantine size, and whether the worker is ready (names: `continuum.telemetry`).

Approvals come from Temporal's visibility (the `Approval` workflows' `ApprovalStatus` and
`ApprovalDeadline` search attributes), so any worker sees the whole picture; the sync's figures
from the store (`store.sync`), which the worker's sync activities write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

from activities.watchdog.sync import unseen_change_age
from continuum import telemetry
from continuum.settings import Settings
from domain.approvals.models import ApprovalStatus
from domain.erp import ErpPort
from domain.orders.contract import OUTCOME_COUNTERS
from domain.sync.models import FEEDS
from store.sync import SyncStore
from workers.connectors import ConfigurationError

log = logging.getLogger("continuum.worker.gauges")

WAITING = f'ApprovalStatus="{ApprovalStatus.PENDING.value}" AND ExecutionStatus="Running"'


class SyncProgress(Protocol):
    """What the ERP→CRM sync's store tells about its progress (`store.sync`)."""

    def quarantine_size(self) -> int: ...

    def last_synced_through(self, feed: str) -> datetime | None: ...


class GaugeSampler:
    def __init__(
        self,
        client: Client,
        meter: MetricMeter,
        *,
        sync: SyncProgress | None = None,
        erp: ErpPort | None = None,
        feeds: Sequence[str] = (),
    ) -> None:
        self._client = client
        self._sync = sync
        self._erp = erp
        self._feeds = list(feeds)
        self._waiting = meter.create_gauge(
            telemetry.APPROVALS_WAITING, "Approvals waiting for a decision"
        )
        self._overdue = meter.create_gauge(
            telemetry.APPROVALS_OVERDUE, "Approvals waiting past their level's SLA"
        )
        self._lag = meter.create_gauge_float(
            telemetry.SYNC_LAG, "Age of the oldest ERP change not yet in the CRM, per feed", "s"
        )
        self._quarantine = meter.create_gauge(
            telemetry.SYNC_QUARANTINE, "Records the sync put aside for a person to look at"
        )

    async def sample(self) -> None:
        now = datetime.now(UTC)
        waiting = await self._client.count_workflows(WAITING)
        # ApprovalDeadline is the current level's SLA: past it, the approval is overdue.
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        overdue = await self._client.count_workflows(f'{WAITING} AND ApprovalDeadline < "{stamp}"')
        self._waiting.set(waiting.count)
        self._overdue.set(overdue.count)
        if self._sync is None:
            return
        # SQLite reads: off the event loop, so polling and heartbeats never wait on the disk.
        self._quarantine.set(await asyncio.to_thread(self._sync.quarantine_size))
        for feed in self._feeds:
            reached = await asyncio.to_thread(self._sync.last_synced_through, feed)
            if (lag := await self._lag_of(feed, reached, now)) is not None:
                self._lag.set(lag, {"feed": feed})

    async def _lag_of(self, feed: str, reached: datetime | None, now: datetime) -> float | None:
        """How long the oldest change the CRM has not seen has waited: 0 when the sync is
        caught up, however quiet the ERP is. Without the ERP, the age of the sync's position."""
        if self._erp is None:
            return None if reached is None else max((now - reached).total_seconds(), 0.0)
        # The watchdog's sync-lag rule measures it with the same function.
        return (await unseen_change_age(self._erp, feed, reached, now)).total_seconds()

    async def run(self, every: float) -> None:
        while True:
            try:
                await self.sample()
            except Exception as err:  # visibility or the store hiccuped: keep the last values
                log.warning("could not sample the gauges: %s", err)
            await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def worker_gauges(
    meter: MetricMeter, task_queue: str, sampler: GaugeSampler, every: float
) -> AsyncIterator[None]:
    """Readiness 1 and the sampler running while inside; readiness 0 as soon as it drains."""
    ready = meter.create_gauge(telemetry.WORKER_READY, "1 while the worker polls its task queue")
    for name, help_text in OUTCOME_COUNTERS.items():
        meter.create_counter(name, help_text).add(0)  # present at 0 from the start
    task = asyncio.create_task(sampler.run(every), name="gauges")
    ready.set(1, {"task_queue": task_queue})
    try:
        yield
    finally:
        ready.set(0, {"task_queue": task_queue})
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The runtime serving the worker's /metrics, or None when WORKER_METRICS_PORT is 0."""
    try:
        return telemetry.worker_runtime(settings.worker_metrics_host, settings.worker_metrics_port)
    except RuntimeError as err:
        raise ConfigurationError(f"{err} (WORKER_METRICS_PORT)") from err


def worker_metrics(
    client: Client, runtime: Runtime | None, settings: Settings, erp: ErpPort | None = None
) -> contextlib.AbstractAsyncContextManager[None]:
    if runtime is None:
        return contextlib.nullcontext()
    meter = runtime.metric_meter
    sync = SyncStore(settings.store_url)  # its own reader; never blocks the sync (WAL on SQLite)
    sampler = GaugeSampler(client, meter, sync=sync, erp=erp, feeds=FEEDS)
    every = settings.metrics_interval_seconds
    return worker_gauges(meter, settings.task_queue, sampler, every)
