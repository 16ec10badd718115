"""`python -m tests.integration.ops_worker`: a worker on the ops queue with the incident repair
only, for the repair tests (crash and restart it as a real process), until the project's own ops
worker (`workers/ops.py`) serves the same registrations."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.worker import Worker

from continuum.client import connect
from continuum.converter import worker_data_converter
from continuum.logs import setup_logging
from continuum.settings import get_settings
from domain.incidents.contract import TASK_QUEUE
from workers.incidents import REPAIR_WORKFLOWS, repair_activities

log = logging.getLogger("continuum.ops")


async def serve() -> None:
    settings = get_settings()
    client = await connect(converter=worker_data_converter())
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=list(REPAIR_WORKFLOWS),
        activities=repair_activities(client, settings),
        graceful_shutdown_timeout=timedelta(seconds=5),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("ops worker ready on task queue %s", TASK_QUEUE)
        await stop.wait()


if __name__ == "__main__":
    setup_logging()
    asyncio.run(serve())
