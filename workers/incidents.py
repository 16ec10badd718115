"""What a worker on the ops queue runs for the incident console: the repair job, its actions
(through the Temporal client) and its audit (through the store). The ops worker
(`workers/ops.py`) registers these beside the watchdog and the alerts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client

from activities.incidents.actions import RepairActivities
from activities.incidents.audit import RepairAuditActivities
from continuum.settings import Settings
from store import Store
from store.incidents import IncidentAudit
from workflows.incidents.repair import IncidentRepair

REPAIR_WORKFLOWS: Sequence[type] = [IncidentRepair]


def repair_activities(
    client: Client, settings: Settings, store: Store | None = None
) -> list[Callable[..., Any]]:
    """`settings.task_queue`: where the business worker runs the sync's re-drive;
    `store`: the one the process opened already, else the settings' store."""
    audit = IncidentAudit(store or Store(settings.store_url, legacy=settings.legacy_store_files))
    return [
        *RepairActivities(client, settings.task_queue).all(),
        *RepairAuditActivities(audit).all(),
    ]
