"""The ERP→CRM sync's business events (source `/continuum/sync`, subject = the sync's workflow id,
e.g. `erp-crm-sync`): records quarantined by a page, and the sync completed. Counts, feeds and
watermarks only: a quarantined record's content stays in the quarantine store (it may hold a
customer's e-mail or address), the event says how many and where to look.

One sync is one chain of runs (continue-as-new included) under the sync's fixed workflow id,
which the next sync reuses: its events are numbered per chain (`process_id`, see
`process_id`), so that two syncs never share an event id or a publisher."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

SOURCE = "/continuum/sync"
QUARANTINED = "sync.quarantined.v1"
COMPLETED = "sync.completed.v1"


def process_id(workflow_id: str, sync_id: str) -> str:
    """The events' process: the workflow id and the sync's first run (the sync's `sync_id`,
    kept across continue-as-new and reset: a reset run's `first_execution_run_id` is still the
    first run's, checked on the dev server 1.32), since every sync reuses the one workflow id."""
    return f"{workflow_id}-{sync_id}"


class SyncQuarantined(BaseModel):
    """A page left records out of the CRM: they wait in the quarantine for a fix and a redrive."""

    sync_id: str
    feed: str
    page: int  # the sync's page number (across its runs)
    quarantined: int  # records of this page
    feed_quarantined: int  # of this feed so far in this sync


class FeedSummary(BaseModel):
    records: int
    upserted: dict[str, int] = Field(default_factory=dict)  # CRM object type → acknowledged
    quarantined: int
    skipped: int
    watermark: datetime | None  # the updated_at of the last acknowledged record


class SyncCompleted(BaseModel):
    sync_id: str
    runs: int  # workflow runs (continue-as-new included)
    pages: int
    records: int
    quarantined: int
    feeds: dict[str, FeedSummary]
    # Reconciliation's drift left after the sync (None: not reconciled).
    drift: int | None


TYPES: dict[str, type[BaseModel]] = {
    QUARANTINED: SyncQuarantined,
    COMPLETED: SyncCompleted,
}
