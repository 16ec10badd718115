"""The ERP→CRM sync from its store: how far the CRM trails (against the ERP's oldest unseen
change), how fast the quarantine grows, and when every feed last acknowledged a page (each run
acknowledges at least one page per feed, an empty one included)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Protocol

from activities.calls import call
from domain.erp import ErpPort
from domain.sync.models import FEEDS, Watermark
from domain.watchdog.findings import FeedLag


class SyncFacts(Protocol):
    """What the sync's store tells (store.sync.SyncStore)."""

    def watermark(self, feed: str) -> Watermark: ...

    def opened_since(self, moment: datetime) -> int: ...


async def feed_lags(
    store: SyncFacts, erp: ErpPort, feeds: list[str], now: datetime
) -> list[FeedLag]:
    lags = []
    for feed in feeds:
        mark = await asyncio.to_thread(store.watermark, feed)
        lags.append(FeedLag(feed=feed, lag=await _lag(erp, feed, mark, now)))
    return lags


async def _lag(erp: ErpPort, feed: str, mark: Watermark, now: datetime) -> timedelta | None:
    if mark.acknowledged_at is None:
        return None
    return await call(unseen_change_age(erp, feed, mark.synced_through, now))


async def unseen_change_age(
    erp: ErpPort, feed: str, reached: datetime | None, now: datetime
) -> timedelta:
    """How long the oldest change the CRM has not seen has waited: 0 when caught up, however
    quiet the ERP is. One definition: the worker's gauge `continuum_sync_lag_seconds` reads it."""
    # The feed is inclusive of `updated_since`: the first change strictly after it is unseen.
    if feed == "orders":
        stamps = [c.updated_at for c in (await erp.order_changes(reached, None, 2)).items]
    else:
        stamps = [c.updated_at for c in (await erp.customer_changes(reached, None, 2)).items]
    unseen = [at for at in stamps if reached is None or at > reached]
    return max(now - unseen[0], timedelta(0)) if unseen else timedelta(0)


async def quarantined_since(store: SyncFacts, moment: datetime) -> int:
    return await asyncio.to_thread(store.opened_since, moment)


async def last_completed(store: SyncFacts) -> datetime | None:
    """The oldest of the feeds' last acknowledgements: every feed has moved on since then."""
    marks = [await asyncio.to_thread(store.watermark, feed) for feed in FEEDS]
    acks = [m.acknowledged_at for m in marks]
    if any(a is None for a in acks):
        return None
    return min(a for a in acks if a is not None)
