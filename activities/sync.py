"""The ERP→CRM sync's steps: a page, a quarantine redrive, a drift repair, a reconciliation page.

`sync_page` does one page from the stored watermark: read the ERP feed, map every record, write
the good ones to the CRM with batch upserts by external id, file the bad ones in the quarantine,
and only then move the watermark (`SyncStore.acknowledge`, one transaction). A retried page
reads from the same watermark, so it writes the same upserts again and changes nothing; a page
already acknowledged (the worker died before reporting it) is answered from the store.

Within a page, the CRM acknowledges slices of 100 records; the heartbeat carries how far it got,
so a retry after a 429 or a crash resumes after the last acknowledged slice instead of redoing
the page. A record the CRM refuses (4xx) is isolated by halving its batch and quarantined with
the CRM's reason; anything else (429, 5xx, timeouts, auth) fails the attempt for Temporal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import heartbeating, to_application_error, translated
from domain.crm import CrmPort, CrmUpsert
from domain.erp import CustomerChangePage, ErpPort, OrderChangePage
from domain.errors import IntegrationError
from domain.sync.mapping import ObjectMapping, Rejected, SyncMapping, map_record
from domain.sync.models import (
    CountRequest,
    CountResult,
    DriftEntry,
    PageProgress,
    PageRequest,
    PageResult,
    ReconcilePageRequest,
    ReconcilePageResult,
    RedriveRequest,
    RedriveResult,
    RepairRequest,
    RepairResult,
    ResetRequest,
    ResetResult,
    TargetDrift,
    Watermark,
    checksum,
    crm_properties,
    split_page,
)
from store.sync import SyncStore

SLICE = 100  # records per CRM acknowledgement: HubSpot's batch limit
# CRM answers that name a bad record rather than a bad request or a bad day.
_RECORD_REFUSALS = frozenset({400, 409, 422})


class SyncActivities:
    def __init__(self, erp: ErpPort, crm: CrmPort, store: SyncStore) -> None:
        self.erp = erp
        self.crm = crm
        self.store = store

    # -- the sync ----------------------------------------------------------------------------

    @activity.defn(name="sync_page")
    async def sync_page(self, req: PageRequest) -> PageResult:
        stored = self.store.acknowledged_page(req.feed, req.sync_id, req.page)
        if stored is not None:
            return PageResult.model_validate_json(stored)
        mark = self.store.watermark(req.feed)
        progress = PageProgress(feed=req.feed, page=req.page, watermark=mark.position)
        async with heartbeating(lambda: progress.model_copy(deep=True)):
            page = await translated(_read_feed(self.erp, req.feed, mark, req.page_size))
            records = [item.model_dump(mode="json") for item in page.items]
            progress.records = len(records)
            mappings = req.mapping.for_source(req.feed)
            split = split_page(mappings, records)
            start, crm_rejected = _resume_point(req, records)
            progress.crm_rejected = crm_rejected
            for head in range(start, len(records), SLICE):
                end = min(head + SLICE, len(records))
                for m in mappings:
                    ups, where = split.upserts[m.target], split.positions[m.target]
                    chunk = [u for u, p in zip(ups, where, strict=True) if head <= p < end]
                    crm_rejected += await self._upsert(m, chunk, records)
                progress.acknowledged = end
                progress.last_acknowledged = _identity(records[end - 1])
                activity.heartbeat(progress.model_copy(deep=True))

        refused = {(r.target, r.record_id) for r in crm_rejected}
        accepted = {
            target: [u.id for u in ups if (target, u.id) not in refused]
            for target, ups in split.upserts.items()
        }
        last = page.items[-1].updated_at if page.items else mark.position
        result = PageResult(
            feed=req.feed,
            page=req.page,
            records=len(records),
            upserted={target: len(ids) for target, ids in accepted.items()},
            quarantined=len(split.rejected) + len(crm_rejected),
            skipped=split.skipped,
            watermark=last,
            done=page.next_cursor is None,
        )
        self.store.acknowledge(
            req.feed,
            # At the end of the feed, the next run starts at the last record (inclusive).
            cursor=page.next_cursor or (mark.cursor if not page.items else None),
            position=last,
            sync_id=req.sync_id,
            page=req.page,
            page_result=result.model_dump_json(),
            rejected=[*split.rejected, *crm_rejected],
            accepted=accepted,
        )
        return result

    @activity.defn(name="sync_reset_watermarks")
    async def sync_reset_watermarks(self, req: ResetRequest) -> ResetResult:
        self.store.reset(req.feeds)
        return ResetResult(feeds=req.feeds)

    # -- quarantine and drift ----------------------------------------------------------------

    @activity.defn(name="sync_redrive")
    async def sync_redrive(self, req: RedriveRequest) -> RedriveResult:
        """Re-reads the current ERP record of each open entry, re-maps it, upserts the good."""
        entries = self.store.entries(status="open", ids=req.ids)
        result = RedriveResult()
        async with heartbeating():
            for feed in sorted({e.source for e in entries}):
                mine = [e for e in entries if e.source == feed]
                wanted = [(e.target, e.record_id, _updated_at(e.record)) for e in mine]
                outcome = await self._resync(feed, req.mapping, wanted, req.page_size)
                for entry in mine:
                    state = outcome.get((entry.target, entry.record_id), "not_found")
                    {"ok": result.resolved, "bad": result.still_bad}.get(
                        state, result.not_found
                    ).append(entry.id)
        return result

    @activity.defn(name="sync_repair_drift")
    async def sync_repair_drift(self, req: RepairRequest) -> RepairResult:
        """Re-upserts the records reconciliation found missing or different in the CRM."""
        entries = self.store.open_drift()
        result = RepairResult()
        async with heartbeating():
            for feed in sorted({e.source for e in entries}):
                mine = [e for e in entries if e.source == feed]
                wanted = [(e.target, e.record_id, e.record_updated_at) for e in mine]
                outcome = await self._resync(feed, req.mapping, wanted, req.page_size)
                for target in {e.target for e in mine}:
                    ids = [e.record_id for e in mine if e.target == target]
                    self.store.repaired(feed, target, ids)
                for state in (outcome.get((e.target, e.record_id), "not_found") for e in mine):
                    if state == "ok":
                        result.repaired += 1
                    elif state == "bad":
                        result.quarantined += 1
                    else:
                        result.not_found += 1
        return result

    async def _resync(
        self,
        feed: str,
        mapping: SyncMapping,
        wanted: Sequence[tuple[str, str, datetime | None]],
        page_size: int,
    ) -> dict[tuple[str, str], str]:
        """The current ERP records of `wanted` (target, record id, updated_at when last seen),
        mapped and upserted: "ok", "bad" (quarantined again, with the new reason) or absent
        (not in the ERP feed any more). Reads the feed from the oldest of them to its end."""
        mappings = {m.target: m for m in mapping.for_source(feed)}
        keys = {(t, i) for t, i, _ in wanted if t in mappings}
        known = [moment for _, _, moment in wanted if moment is not None]
        since = min(known) if len(known) == len(wanted) else None
        current: dict[tuple[str, str], dict[str, Any]] = {}
        mark = Watermark(feed=feed, position=since)
        while True:
            page = await translated(_read_feed(self.erp, feed, mark, page_size))
            for item in page.items:
                record = item.model_dump(mode="json")
                for target, m in mappings.items():
                    if (target, str(record.get(m.id_source))) in keys:
                        current[(target, str(record.get(m.id_source)))] = record
            activity.heartbeat()
            if page.next_cursor is None:
                break
            mark = Watermark(feed=feed, cursor=page.next_cursor)
        outcome: dict[tuple[str, str], str] = {}
        rejected: list[Rejected] = []
        for target, m in mappings.items():
            mine = [(k, r) for k, r in current.items() if k[0] == target]
            good: list[CrmUpsert] = []
            for key, record in mine:
                mapped = map_record(m, record)
                if isinstance(mapped, Rejected):
                    rejected.append(mapped)
                    outcome[key] = "bad"
                elif mapped is None:
                    outcome[key] = "ok"  # skipped now: nothing to write, nothing wrong
                else:
                    good.append(mapped)
            records = [r for _, r in mine]
            refused = await self._upsert(m, good, records)
            rejected += refused
            bad = {r.record_id for r in refused}
            for upsert in good:
                outcome[(target, upsert.id)] = "bad" if upsert.id in bad else "ok"
            landed = [
                key[1] for key, state in outcome.items() if key[0] == target and state == "ok"
            ]
            self.store.resolve(feed, target, landed)
        self.store.quarantine(rejected)
        return outcome

    # -- reconciliation ----------------------------------------------------------------------

    @activity.defn(name="sync_reconcile_page")
    async def sync_reconcile_page(self, req: ReconcilePageRequest) -> ReconcilePageResult:
        mark = Watermark(feed=req.feed, cursor=req.cursor, position=req.since)
        async with heartbeating():
            page = await translated(_read_feed(self.erp, req.feed, mark, req.page_size))
            items = [i for i in page.items if req.until is None or i.updated_at <= req.until]
            records = [item.model_dump(mode="json") for item in items]
            when = {str(i): item.updated_at for i, item in enumerate(items)}
            split = split_page(req.mapping.for_source(req.feed), records)
            targets: dict[str, TargetDrift] = {}
            drift: list[DriftEntry] = []
            for m in req.mapping.for_source(req.feed):
                ups = split.upserts.get(m.target, [])
                found = await translated(
                    self.crm.batch_read(
                        m.target, m.id_property, [u.id for u in ups], crm_properties(m)
                    )
                )
                held = {(r.properties.get(m.id_property) or "").casefold(): r for r in found}
                quarantined = self.store.open_keys(req.feed, m.target)
                tally = TargetDrift(
                    erp=len(ups),
                    crm=len(found),
                    quarantined=sum(1 for r in split.rejected if r.target == m.target),
                )
                matching: list[str] = []
                for u, position in zip(ups, split.positions[m.target], strict=True):
                    names = [m.id_property, *u.properties]
                    expected = checksum({**u.properties, m.id_property: u.id}, names)
                    record = held.get(u.id.casefold())
                    if record is not None and checksum(record.properties, names) == expected:
                        tally.matching += 1
                        matching.append(u.id)
                        continue
                    if u.id in quarantined:
                        tally.quarantined += 1
                        continue
                    kind = "missing" if record is None else "different"
                    setattr(tally, kind, getattr(tally, kind) + 1)
                    tally.samples = [*tally.samples, u.id][:20]
                    drift.append(
                        DriftEntry(
                            source=req.feed,
                            target=m.target,
                            record_id=u.id,
                            kind=kind,
                            record_updated_at=when[str(position)],
                        )
                    )
                targets[m.target] = tally
                self.store.repaired(req.feed, m.target, matching)
            self.store.record_drift(drift)
        beyond = len(items) < len(page.items)
        return ReconcilePageResult(
            feed=req.feed,
            targets=targets,
            next_cursor=page.next_cursor,
            done=page.next_cursor is None or beyond,
        )

    @activity.defn(name="sync_reconcile_counts")
    async def sync_reconcile_counts(self, req: CountRequest) -> CountResult:
        """CRM objects whose `erp_updated_at` lies in the window, per object type."""
        window: list[dict[str, str]]
        name = "erp_updated_at"
        if req.since and req.until:
            window = [
                {
                    "propertyName": name,
                    "operator": "BETWEEN",
                    "value": req.since.isoformat(),
                    "highValue": req.until.isoformat(),
                }
            ]
        elif req.since or req.until:
            op, bound = ("GTE", req.since) if req.since else ("LTE", req.until)
            assert bound is not None
            window = [{"propertyName": name, "operator": op, "value": bound.isoformat()}]
        else:
            window = [{"propertyName": name, "operator": "HAS_PROPERTY"}]
        counts = {t: await translated(self.crm.count(t, window)) for t in req.targets}
        return CountResult(counts=counts)

    # -- helpers -----------------------------------------------------------------------------

    async def _upsert(
        self, mapping: ObjectMapping, items: list[CrmUpsert], records: Sequence[dict[str, Any]]
    ) -> list[Rejected]:
        """Writes `items`; returns the ones the CRM refused, each isolated by halving."""
        if not items:
            return []
        try:
            await self.crm.batch_upsert(mapping.target, mapping.id_property, items)
            return []
        except IntegrationError as err:
            if err.retryable or err.status not in _RECORD_REFUSALS:
                raise to_application_error(err) from err
            if len(items) > 1:
                half = len(items) // 2
                first = await self._upsert(mapping, items[:half], records)
                return first + await self._upsert(mapping, items[half:], records)
            record = _source_record(mapping, items[0].id, records)
            return [
                Rejected(
                    source=mapping.source,
                    target=mapping.target,
                    record_id=items[0].id,
                    field="(crm)",
                    reason=f"the CRM refused it: {err.message}",
                    record=record,
                )
            ]

    def all(self) -> list[object]:
        return [
            self.sync_page,
            self.sync_reset_watermarks,
            self.sync_redrive,
            self.sync_repair_drift,
            self.sync_reconcile_page,
            self.sync_reconcile_counts,
        ]


async def _read_feed(
    erp: ErpPort, feed: str, mark: Watermark, limit: int
) -> OrderChangePage | CustomerChangePage:
    """A page after the cursor, else from the position (inclusive), else from the start."""
    since = None if mark.cursor else mark.position
    if feed == "orders":
        return await erp.order_changes(since, mark.cursor, limit)
    if feed == "customers":
        return await erp.customer_changes(since, mark.cursor, limit)
    raise ApplicationError(f"no ERP feed named {feed!r}", type="UnknownFeed", non_retryable=True)


def _identity(record: dict[str, Any]) -> str:
    """Tells whether a re-read page still holds the same record at the same place."""
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _resume_point(req: PageRequest, records: list[dict[str, Any]]) -> tuple[int, list[Rejected]]:
    """Where the previous attempt of this page got to, when it read the same records."""
    details = activity.info().heartbeat_details
    if not details:
        return 0, []
    try:
        last = PageProgress.model_validate(details[0])
    except ValueError:
        return 0, []
    done = last.acknowledged
    if (last.feed, last.page) != (req.feed, req.page) or not 0 < done <= len(records):
        return 0, []
    if _identity(records[done - 1]) != last.last_acknowledged:
        return 0, []  # the page reads differently now (records changed): redo it whole
    return done, list(last.crm_rejected)


def _source_record(
    mapping: ObjectMapping, record_id: str, records: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    for record in records:
        if str(record.get(mapping.id_source) or "").strip() == record_id:
            return record
    return {mapping.id_source: record_id}


def _updated_at(record: dict[str, Any]) -> datetime | None:
    value = record.get("updated_at")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
