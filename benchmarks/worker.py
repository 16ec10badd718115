"""`python -m benchmarks.worker`: the Continuum worker plus the no-op twin (benchmarks.twin).

The same workflows, activities, settings (WORKER_* tuning from the environment) and client as
`python -m workers`, so orders and twins run on one worker with one configuration; only the
Prometheus endpoint is left out. A second worker in the same process serves `<queue>-quiet`
with the events hand-over off, so that one run can compare orders with and without publishing.
Started by the benchmarks, not by people.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.worker import Worker

from activities.reports import ReportActivities
from benchmarks.twin import OrderToCashTwin, twin_activities
from continuum.client import connect
from continuum.logs import setup_logging
from continuum.settings import get_settings
from continuum.telemetry import setup_tracing
from workers.connectors import build_crm, build_erp
from workers.registry import WORKFLOWS, activities, event_handover, report_config

log = logging.getLogger("continuum.benchmark-worker")


def quiet(task_queue: str) -> str:
    """The queue whose orders publish no business events (the hand-over off)."""
    return f"{task_queue}-quiet"


async def serve() -> None:
    settings = get_settings()
    setup_tracing("worker")
    erp, crm = build_erp(settings), build_crm(settings)
    client = await connect()

    def worker(task_queue: str, publishing: bool | None) -> Worker:
        return Worker(
            client,
            task_queue=task_queue,
            workflows=[*WORKFLOWS, OrderToCashTwin],
            activities=[
                *activities(erp, crm),
                *ReportActivities(erp, crm, client, report_config()).all(),
                *twin_activities(),
                *event_handover(client, publishing),
            ],
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
            graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker(settings.task_queue, None), worker(quiet(settings.task_queue), False):
            log.info("worker ready on task queue %s (with the twin)", settings.task_queue)
            await stop.wait()
    finally:
        await erp.aclose()
        await crm.aclose()


if __name__ == "__main__":
    setup_logging()
    asyncio.run(serve())
