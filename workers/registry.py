"""What a Continuum worker runs: the workflows and the activities bound to their connectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.events.handover import EventHandover
from activities.notifications import NotificationActivities, Notifier
from activities.orders.crm import CrmActivities
from activities.orders.erp import ErpActivities
from activities.purchasing.erp import PurchasingActivities
from activities.reports import ReportActivities, ReportConfig
from activities.sync import SyncActivities
from continuum.settings import get_settings
from domain.crm import CrmPort
from domain.erp import ErpPort
from store import Store
from store.sync import SyncStore
from workers.events import events_enabled
from workflows.approval import Approval
from workflows.orders.order_to_cash import OrderToCash
from workflows.policies import STICKY_QUEUE_TIMEOUT
from workflows.purchasing.procure_to_pay import ProcureToPay
from workflows.reports import DailyReportWorkflow
from workflows.sync.erp_crm_sync import ErpCrmSync
from workflows.sync.reconcile import ErpCrmReconcile
from workflows.sync.redrive import SyncQuarantineRedrive
from workflows.sync.scheduled import ScheduledErpCrmSync

WORKFLOWS: Sequence[type] = [
    DailyReportWorkflow,
    OrderToCash,
    ProcureToPay,
    Approval,
    ErpCrmSync,
    ScheduledErpCrmSync,
    ErpCrmReconcile,
    SyncQuarantineRedrive,
]


def activities(
    erp: ErpPort, crm: CrmPort, sync_store: SyncStore | None = None
) -> list[Callable[..., Any]]:
    found: list[Any] = [*ErpActivities(erp).all(), *CrmActivities(crm).all()]
    # The ERP→CRM sync; its store opens on first use (CONTINUUM_DATABASE_URL, see settings).
    settings = get_settings()
    store = sync_store or SyncStore(Store(settings.store_url, legacy=settings.legacy_store_files))
    found += SyncActivities(erp, crm, store).all()
    # Approval reminders and escalations, purchase notices: a webhook when NOTIFY_WEBHOOK_URL is
    # set, else a log.
    webhook = settings.notify_webhook_url
    found += NotificationActivities(webhook).all()
    found += PurchasingActivities(erp, Notifier(webhook)).all()
    return found


def event_handover(client: Client, enabled: bool | None = None) -> list[Any]:
    """The processes' hand-over of their business events to their publishers (a local
    activity, so every worker that runs a process registers it). It starts publishers only
    when `enabled`: by default, when the events configuration names a sink."""
    if enabled is None:
        enabled = events_enabled(get_settings())
    return EventHandover(client, enabled).all()


def report_config() -> ReportConfig:
    settings = get_settings()
    return ReportConfig(
        reports_dir=settings.reports_dir,
        webhook_url=settings.report_webhook_url,
        webhook_token=settings.report_webhook_token.get_secret_value(),
        store_url=settings.store_url,
    )


def build_worker(
    client: Client,
    task_queue: str,
    erp: ErpPort,
    crm: CrmPort,
    reports: ReportConfig | None = None,
    sync_store: SyncStore | None = None,
    *,
    publish_events: bool | None = None,
    **tuning: Any,
) -> Worker:
    tuning.setdefault("sticky_queue_schedule_to_start_timeout", STICKY_QUEUE_TIMEOUT)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=[
            *activities(erp, crm, sync_store),
            *ReportActivities(erp, crm, client, reports or report_config()).all(),
            # Business events: handed to the processes' publishers when events are configured.
            *event_handover(client, publish_events),
        ],
        **tuning,
    )
