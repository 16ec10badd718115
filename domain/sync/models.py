"""The ERP→CRM sync as the business sees it: what a run is asked to do, what a page did, the
running totals, the quarantine, and reconciliation's drift. Pure: no I/O, no clocks.

`split_page` maps one page of ERP records with a `SyncMapping` into upserts per CRM object
type, rejections (for the quarantine) and skips; `checksum` is what reconciliation compares.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.crm import CrmUpsert
from domain.sync.mapping import DEFAULT_MAPPING, ObjectMapping, Rejected, SyncMapping, map_record

Feed = Literal["orders", "customers"]
FEEDS: tuple[Feed, ...] = ("customers", "orders")


# --- a run and its pages ---------------------------------------------------------------------


class FeedTotals(BaseModel):
    pages: int = 0
    records: int = 0  # read from the ERP
    upserted: dict[str, int] = Field(default_factory=dict)  # CRM object type → acknowledged
    quarantined: int = 0
    skipped: int = 0

    def add(self, page: PageResult) -> None:
        self.pages += 1
        self.records += page.records
        for target, count in page.upserted.items():
            self.upserted[target] = self.upserted.get(target, 0) + count
        self.quarantined += page.quarantined
        self.skipped += page.skipped


class SyncTotals(BaseModel):
    feeds: dict[str, FeedTotals] = Field(default_factory=dict)
    runs: int = 0  # workflow runs of this sync, continue-as-new included
    # Per feed, the updated_at of the last acknowledged record.
    watermarks: dict[str, datetime | None] = Field(default_factory=dict)

    @property
    def pages(self) -> int:
        return sum(t.pages for t in self.feeds.values())

    @property
    def records(self) -> int:
        return sum(t.records for t in self.feeds.values())

    def add(self, page: PageResult) -> None:
        self.feeds.setdefault(page.feed, FeedTotals()).add(page)
        self.watermarks[page.feed] = page.watermark


class SyncInput(BaseModel):
    feeds: list[Feed] = Field(default_factory=lambda: list(FEEDS), min_length=1)
    page_size: int = Field(500, ge=1, le=1000)
    mapping: SyncMapping = DEFAULT_MAPPING
    # Continue-as-new after this many pages, so that a sync of millions keeps a small history.
    max_pages_per_run: int = Field(100, ge=1, le=2000)
    # Forget the watermarks and read every feed from its beginning (upserts make it harmless).
    full_resync: bool = False
    # Reconcile the last N hours of changes once the feeds are read; None: no reconciliation.
    reconcile_hours: float | None = Field(None, gt=0)
    # Carried across continue-as-new; leave them alone when starting a sync.
    feed_index: int = Field(0, ge=0)
    totals: SyncTotals = Field(default_factory=SyncTotals)
    # The last business event's sequence (workflows/events.py): the next run numbers on.
    events_sequence: int = Field(0, ge=0)


class PageRequest(BaseModel):
    feed: Feed
    page_size: int
    mapping: SyncMapping
    # Which sync and which of its pages: a retry of a page already acknowledged is answered
    # from the store instead of being applied to the next page.
    sync_id: str
    page: int


class PageResult(BaseModel):
    feed: Feed
    page: int
    records: int
    upserted: dict[str, int] = Field(default_factory=dict)
    quarantined: int = 0
    skipped: int = 0
    # The updated_at of the last acknowledged record of the feed, after this page.
    watermark: datetime | None = None
    done: bool  # the page reached the end of the feed


class PageProgress(BaseModel):
    """Heartbeat details of a page: shown in the Web UI, and where a retried attempt resumes."""

    feed: Feed
    page: int
    records: int = 0
    watermark: datetime | None = None
    # Records at the head of the page whose CRM writes were acknowledged by this attempt.
    acknowledged: int = 0
    last_acknowledged: str | None = None  # "record id@updated_at" of the last of them
    crm_rejected: list[Rejected] = Field(default_factory=list)


class SyncProgress(BaseModel):
    state: Literal["starting", "syncing", "reconciling", "done"] = "starting"
    feed: Feed | None = None
    page: int = 0
    totals: SyncTotals = Field(default_factory=SyncTotals)


class SyncResult(BaseModel):
    totals: SyncTotals
    watermarks: dict[str, datetime | None]
    drift: DriftReport | None = None


class ScheduledSyncResult(BaseModel):
    """A schedule tick: the sync it ran, or why it ran none (another sync was running)."""

    skipped: str | None = None
    result: SyncResult | None = None


class Watermark(BaseModel):
    """Where a feed's sync stands: it resumes after `cursor`, else from `position` (inclusive)."""

    feed: str
    cursor: str | None = None
    position: datetime | None = None  # updated_at of the last acknowledged record of this pass
    synced_through: datetime | None = None  # the latest `position` ever acknowledged
    acknowledged_at: datetime | None = None


class ResetRequest(BaseModel):
    feeds: list[Feed]


class ResetResult(BaseModel):
    feeds: list[Feed]


# --- the quarantine ---------------------------------------------------------------------------


class QuarantineEntry(BaseModel):
    id: int
    source: str
    target: str
    record_id: str
    field: str
    reason: str
    record: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    times: int
    status: Literal["open", "resolved"]
    resolved_at: datetime | None = None


class RedriveRequest(BaseModel):
    ids: list[int] | None = None  # None: every open entry
    mapping: SyncMapping = DEFAULT_MAPPING
    page_size: int = Field(1000, ge=1, le=1000)


class RedriveResult(BaseModel):
    resolved: list[int] = Field(default_factory=list)
    still_bad: list[int] = Field(default_factory=list)
    # The ERP no longer has the record (or no longer at or after its quarantined version).
    not_found: list[int] = Field(default_factory=list)


# --- reconciliation ---------------------------------------------------------------------------


class ReconcileInput(BaseModel):
    feeds: list[Feed] = Field(default_factory=lambda: list(FEEDS), min_length=1)
    since: datetime | None = None  # updated_at window, inclusive
    until: datetime | None = None
    page_size: int = Field(500, ge=1, le=1000)
    mapping: SyncMapping = DEFAULT_MAPPING
    # Carried across continue-as-new.
    feed_index: int = Field(0, ge=0)
    cursor: str | None = None
    report: DriftReport | None = None


class ReconcilePageRequest(BaseModel):
    feed: Feed
    since: datetime | None
    until: datetime | None
    cursor: str | None
    page_size: int
    mapping: SyncMapping


class TargetDrift(BaseModel):
    erp: int = 0  # mapped ERP records in the window
    crm: int = 0  # CRM objects the ERP records were found as
    matching: int = 0
    missing: int = 0
    different: int = 0
    quarantined: int = 0  # bad in the ERP: missing from the CRM on purpose
    crm_in_window: int | None = None  # CRM objects whose erp_updated_at is in the window
    extra: int = 0  # in the CRM's window but not in the ERP's
    samples: list[str] = Field(default_factory=list)  # some drifted record ids

    def add(self, other: TargetDrift) -> None:
        self.erp += other.erp
        self.crm += other.crm
        self.matching += other.matching
        self.missing += other.missing
        self.different += other.different
        self.quarantined += other.quarantined
        self.samples = (self.samples + other.samples)[:20]

    @property
    def drift(self) -> int:
        return self.missing + self.different + self.extra


class ReconcilePageResult(BaseModel):
    feed: Feed
    targets: dict[str, TargetDrift]
    next_cursor: str | None
    # The window is read to its end (or the feed is).
    done: bool


class CountRequest(BaseModel):
    targets: list[str]
    since: datetime | None
    until: datetime | None


class CountResult(BaseModel):
    counts: dict[str, int]


class DriftReport(BaseModel):
    since: datetime | None
    until: datetime | None
    targets: dict[str, TargetDrift] = Field(default_factory=dict)

    @property
    def drift(self) -> int:
        return sum(t.drift for t in self.targets.values())


class DriftEntry(BaseModel):
    source: str
    target: str
    record_id: str
    kind: Literal["missing", "different"]
    record_updated_at: datetime | None


class RepairRequest(BaseModel):
    mapping: SyncMapping = DEFAULT_MAPPING
    page_size: int = Field(1000, ge=1, le=1000)


class RepairResult(BaseModel):
    repaired: int = 0
    not_found: int = 0
    quarantined: int = 0


# --- pure rules -------------------------------------------------------------------------------


class SplitPage(BaseModel):
    """One page mapped: upserts per CRM object type (feed order kept), rejected, skipped."""

    upserts: dict[str, list[CrmUpsert]] = Field(default_factory=dict)
    id_properties: dict[str, str] = Field(default_factory=dict)
    # For each upsert, the index of its record in the page (to acknowledge a page's head).
    positions: dict[str, list[int]] = Field(default_factory=dict)
    rejected: list[Rejected] = Field(default_factory=list)
    skipped: int = 0


def split_page(mappings: Iterable[ObjectMapping], records: list[dict[str, Any]]) -> SplitPage:
    """Maps every record with every object mapping of its feed. A record rejected for one
    target still goes to the others it maps to: a bad e-mail keeps the contact out of the CRM,
    not the company."""
    out = SplitPage()
    for mapping in mappings:
        ups = out.upserts.setdefault(mapping.target, [])
        pos = out.positions.setdefault(mapping.target, [])
        out.id_properties[mapping.target] = mapping.id_property
        for index, record in enumerate(records):
            outcome = map_record(mapping, record)
            if outcome is None:
                out.skipped += 1
            elif isinstance(outcome, Rejected):
                out.rejected.append(outcome)
            else:
                ups.append(outcome)
                pos.append(index)
    return out


_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def canonical(value: str | None) -> str:
    """A property value as both systems agree on it: datetimes to the millisecond in UTC (the
    CRM keeps milliseconds), numbers without trailing zeros, text trimmed; None and "" alike."""
    if value is None:
        return ""
    text = value.strip()
    if _MOMENT.match(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stamp = moment.astimezone(UTC).isoformat(timespec="milliseconds")
        return stamp.replace("+00:00", "Z")
    if _NUMBER.match(text):
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        return format(number.normalize(), "f") if number else "0"
    return text


def checksum(properties: Mapping[str, str | None], names: Iterable[str]) -> str:
    """SHA-256 of the named properties in canonical form: what the ERP says a CRM object
    should hold, or what it holds."""
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(f"{name}\x1f{canonical(properties.get(name))}\x1e".encode())
    return digest.hexdigest()


def crm_properties(mapping: ObjectMapping) -> list[str]:
    """The CRM properties a mapping writes, its id property first."""
    return [mapping.id_property, *dict.fromkeys(rule.target for rule in mapping.fields)]


SyncResult.model_rebuild()
ReconcileInput.model_rebuild()
