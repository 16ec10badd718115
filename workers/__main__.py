"""`python -m workers`: the Continuum worker process.

SIGINT or SIGTERM stops polling, lets in-flight activities finish within the grace period,
and exits 0 without a traceback; work it could not finish is retried by another worker.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from continuum.client import connect
from continuum.converter import worker_data_converter
from continuum.logs import setup_logging
from continuum.peers import PeerMismatch, check_peers
from continuum.release.versioning import VersioningError, versioning_options
from continuum.settings import get_settings
from continuum.telemetry import setup_tracing
from store import Store, StoreError
from store.sync import SyncStore
from workers.connectors import ConfigurationError, build_crm, build_erp
from workers.gauges import metrics_runtime, worker_metrics
from workers.process import run_worker, stop_on_signals
from workers.registry import build_worker

log = logging.getLogger("continuum.worker")


async def serve() -> None:
    settings = get_settings()
    setup_tracing("worker")
    runtime = metrics_runtime(settings)
    # Worker Versioning: a deployment and build from the settings, or none (unversioned).
    versioning = versioning_options(settings.deployment_name, settings.build_id)
    erp, crm = build_erp(settings), build_crm(settings)
    # Opened now, so that an unreachable or too new store stops the start in one line.
    store = Store(settings.store_url, legacy=settings.legacy_store_files).open()
    # Strict whenever keys are configured: only a holder of the key can drive a process.
    client = await connect(converter=worker_data_converter(), runtime=runtime)
    # Before polling: a worker with another ERP than its running peers is refused (issue 17).
    log.info("%s", await check_peers(client, store, settings, client.identity))
    worker = build_worker(
        client,
        settings.task_queue,
        erp,
        crm,
        sync_store=SyncStore(store),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        **versioning,
    )
    stop = stop_on_signals()
    try:
        async with worker, worker_metrics(client, runtime, settings, erp):
            log.info(
                "worker ready on task queue %s (ERP: %s, metrics port: %s, build: %s)",
                settings.task_queue,
                settings.erp_backend,
                settings.worker_metrics_port if runtime else "off",
                settings.build_id if versioning else "unversioned",
            )
            await stop.wait()
            log.info(
                "stopping: draining in-flight activities for up to %.0fs",
                settings.graceful_shutdown_seconds,
            )
    finally:
        await erp.aclose()
        await crm.aclose()
    log.info("worker stopped")


def main() -> None:
    setup_logging()
    run_worker(
        serve, log, "worker", (ConfigurationError, StoreError, VersioningError, PeerMismatch)
    )


if __name__ == "__main__":
    main()
