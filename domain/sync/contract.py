"""The ERP→CRM sync's contract: what its workflows and their clients (the schedules, the CLI,
the drill) agree on. Pure names (no Temporal import)."""

from __future__ import annotations

# What Temporal Schedules and the CLI start: the one sync, under a fixed workflow id.
WORKFLOW_NAME = "ErpCrmSync"
WORKFLOW_ID = "erp-crm-sync"
# What the sync's Temporal Schedule starts (ids with a timestamp): it runs the one sync under the
# fixed id above as its child, or skips when a sync is running, whoever started it.
SCHEDULED_WORKFLOW = "ScheduledErpCrmSync"
SCHEDULED_WORKFLOW_ID = "erp-crm-sync-tick"
RECONCILE_WORKFLOW = "ErpCrmReconcile"
RECONCILE_WORKFLOW_ID = "erp-crm-reconcile"
REDRIVE_WORKFLOW = "SyncQuarantineRedrive"
REDRIVE_WORKFLOW_ID = "erp-crm-sync-redrive"


def reconcile_child_id(sync_id: str, suffix: str) -> str:
    """The id of the reconciliation a sync run starts as its child (`suffix`: a fresh uuid's)."""
    return f"{sync_id}-reconcile-{suffix}"


class Message:
    """Names of the sync workflow's queries."""

    PROGRESS = "progress"  # query → SyncProgress


# The sync's stage (ProcessStatus: Syncing, Reconciling, Synced); with StateSince the watchdog
# sees a sync that hangs.
