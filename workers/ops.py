"""`python -m workers.ops`: the ops worker. Detection and repair on their own task queue
(`continuum-ops`) in their own process: the Watchdog, the Alert workflows and their deliveries,
the incident repair jobs. They keep working when the business worker is down, which is one of the
things the watchdog must report.

The watchdog's configuration is read and checked first: a bad rule stops the start in one line
naming the file, line, rule and field, and nothing runs. Its Prometheus endpoint
(OPS_METRICS_HOST:OPS_METRICS_PORT) carries the dead-man's switch gauge
`continuum_watchdog_last_run_timestamp_seconds`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.watchdog.watchdog import WatchdogActivities, WatchdogContext
from continuum import telemetry
from continuum.approvals.config import ApprovalConfigError
from continuum.client import connect
from continuum.converter import worker_data_converter
from continuum.logs import setup_logging
from continuum.release.versioning import VersioningError, versioning_options
from continuum.settings import Settings, get_settings
from continuum.watchdog import load_watchdog_config, log_files
from domain.erp import ErpPort
from domain.watchdog.config import WatchdogConfig, WatchdogConfigError
from domain.watchdog.contract import TASK_QUEUE
from store import Store, StoreError
from store.sync import SyncStore
from workers.alerts import ALERT_WORKFLOWS, alert_activities, receiver_problems
from workers.connectors import ConfigurationError, build_erp
from workers.incidents import REPAIR_WORKFLOWS, repair_activities
from workers.process import run_worker, stop_on_signals
from workflows.policies import STICKY_QUEUE_TIMEOUT
from workflows.watchdog.watchdog import Watchdog

log = logging.getLogger("continuum.ops")

OPS_WORKFLOWS: Sequence[type] = [Watchdog, *ALERT_WORKFLOWS, *REPAIR_WORKFLOWS]


def watchdog_context(
    settings: Settings, config: WatchdogConfig, store: Store, erp: ErpPort | None
) -> WatchdogContext:
    assert config.calendar is not None  # load_watchdog_config fills it in
    return WatchdogContext(
        config=config,
        calendar=config.calendar,
        sync_every=timedelta(minutes=settings.sync_every_minutes),
        sync=SyncStore(store),
        erp=erp,
    )


def ops_activities(
    client: Client, settings: Settings, context: WatchdogContext, store: Store
) -> list[Callable[..., Any]]:
    return [
        *WatchdogActivities(client, context).all(),
        *alert_activities(client, settings),
        *repair_activities(client, settings, store),
    ]


def build_ops_worker(
    client: Client, settings: Settings, context: WatchdogContext, store: Store, **tuning: Any
) -> Worker:
    tuning.setdefault("sticky_queue_schedule_to_start_timeout", STICKY_QUEUE_TIMEOUT)
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=list(OPS_WORKFLOWS),
        activities=ops_activities(client, settings, context, store),
        **tuning,
    )


def _erp(settings: Settings) -> ErpPort | None:
    """The ERP, read for the sync's lag only: without one the other rules still run."""
    try:
        return build_erp(settings)
    except ConfigurationError as err:
        log.warning("the sync-lag rules cannot be judged without the ERP: %s", err)
        return None


def _runtime(settings: Settings) -> Runtime | None:
    try:
        return telemetry.worker_runtime(settings.ops_metrics_host, settings.ops_metrics_port)
    except RuntimeError as err:
        raise ConfigurationError(f"{err} (OPS_METRICS_PORT)") from err


async def serve() -> None:
    settings = get_settings()
    config = load_watchdog_config(settings)
    # Worker Versioning: the same deployment and build as the business worker's.
    versioning = versioning_options(settings.deployment_name, settings.build_id)
    routes = [config.route_named(name) for name in config.routes]
    receivers = [r for route in routes for level in route.levels for r in level.receivers]
    if problems := receiver_problems(settings, receivers):
        # Paging into the void is worse than not starting: say what is missing, once.
        raise ConfigurationError("; ".join(dict.fromkeys(problems)))
    runtime = _runtime(settings)
    store = Store(settings.store_url, legacy=settings.legacy_store_files).open()
    erp = _erp(settings)
    client = await connect(converter=worker_data_converter(), runtime=runtime)
    context = watchdog_context(settings, config, store, erp)
    worker = build_ops_worker(
        client,
        settings,
        context,
        store,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        **versioning,
    )
    stop = stop_on_signals()
    try:
        async with worker:
            files = log_files(config)
            log.info(
                "ops worker ready on task queue %s (%d watchdog rules; alerts %s; metrics port %s)",
                TASK_QUEUE,
                len(config.rules),
                f"written to {', '.join(files)}" if files else "to the configured receivers",
                settings.ops_metrics_port if runtime else "off",
            )
            await stop.wait()
            log.info("stopping the ops worker")
    finally:
        if erp is not None:
            await erp.aclose()
        store.close()
    log.info("ops worker stopped")


def main() -> None:
    setup_logging()
    run_worker(
        serve,
        log,
        "ops worker",
        (WatchdogConfigError, ApprovalConfigError, ConfigurationError, StoreError, VersioningError),
    )


if __name__ == "__main__":
    main()
