"""The sync's rules, from its store (a real SQLite file) and the real reference ERP's change feed:
lag, a growing quarantine, no completed run for two intervals; and a rule that cannot be judged
leaves its alerts alone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.reference_erp import ReferenceErpClient
from domain.alerts.contract import AlertStatus, fingerprint, workflow_id
from domain.sync.mapping import Rejected
from store.sync import SyncStore
from tests.conftest import ServiceHandle
from tests.watchdog.conftest import Watch, rule_name


@pytest.fixture
def sync_store(tmp_path: Path) -> Iterator[SyncStore]:
    store = SyncStore(f"sqlite:///{tmp_path / 'continuum.db'}")
    try:
        yield store
    finally:
        store.close()


def rule(name: str, kind: str, **fields: str) -> str:
    values = "".join(f"{k} = {v}\n" for k, v in fields.items())
    return f"""
[[rules]]
name = "{name}"
kind = "{kind}"
severity = "warning"
clear_after = "0s"
runbook = "type=sync"
{values}"""


def acknowledge(store: SyncStore, feed: str, through: datetime | None, page: int = 1) -> None:
    store.acknowledge(
        feed,
        cursor=None,
        position=through,
        sync_id="sync-1",
        page=page,
        page_result="{}",
    )


async def _past_the_allowance(since: datetime, allowance: timedelta) -> None:
    """The change waits longer than the rule allows: time must pass, nothing else."""
    await asyncio.sleep(max(0.0, (since + allowance - datetime.now(UTC)).total_seconds()) + 0.5)


def backdate(db: Path, feed: str, at: datetime) -> None:
    """The last acknowledgement as if it had happened at `at` (the store stamps `now`)."""
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE sync_watermarks SET acknowledged_at = ? WHERE feed = ?",
            (at.strftime("%Y-%m-%d %H:%M:%S.%f"), feed),
        )


async def test_lag_fires_for_the_feed_behind_the_erp_and_not_for_the_one_caught_up(
    watch: Watch, erp_service: ServiceHandle, sync_store: SyncStore
) -> None:
    client = ReferenceErpClient(erp_service.url, api_token=erp_service.api_token)
    try:
        watch.sync, watch.erp = sync_store, client
        # The demo ERP has customers and no orders yet: the orders feed is caught up at once.
        assert (await client.order_changes(None, None, 1)).items == []
        acknowledge(sync_store, "orders", None)
        oldest = (await client.customer_changes(None, None, 1)).items[0].updated_at
        acknowledge(sync_store, "customers", oldest - timedelta(seconds=1))  # behind
        await _past_the_allowance(oldest, timedelta(seconds=1))
        name = rule_name("sync-lag")
        async with watch.ops_worker(rule(name, "sync-lag", lag_over='"1s"')):
            report = await watch.run(name)
            state = await watch.alert(report.firing[0])
    finally:
        await client.aclose()

    assert report.firing == [workflow_id(fingerprint(name, "sync lag"))]
    assert state.last_detail.startswith("customers: ") and "orders" not in state.last_detail


async def test_a_quarantine_that_grows_past_its_threshold_alerts(
    watch: Watch, sync_store: SyncStore
) -> None:
    watch.sync = sync_store
    name = rule_name("quarantine")

    def rejected(i: int) -> Rejected:
        return Rejected(
            source="customers",
            target="contacts",
            record_id=f"C-{i}",
            field="email",
            reason="not an e-mail address",
            record={"id": f"C-{i}"},
        )

    async with watch.ops_worker(rule(name, "sync-quarantine", grew_by="3", within='"1h"')):
        sync_store.quarantine([rejected(1), rejected(2)])
        quiet = await watch.run(name)
        sync_store.quarantine([rejected(2), rejected(3)])  # C-2 again: still one entry
        grown = await watch.run(name)
        state = await watch.alert(grown.firing[0])

    assert quiet.firing == []
    assert grown.firing == [workflow_id(fingerprint(name, "sync quarantine"))]
    assert state.last_detail == "3 new open quarantine entries (threshold 3)"


async def test_no_completed_sync_for_two_intervals_alerts_and_a_fresh_one_clears(
    watch: Watch, sync_store: SyncStore, tmp_path: Path
) -> None:
    watch.sync, watch.sync_every = sync_store, timedelta(minutes=5)
    name = rule_name("sync-idle")
    now = datetime.now(UTC)
    for feed in ("orders", "customers"):
        acknowledge(sync_store, feed, now)
    backdate(tmp_path / "continuum.db", "customers", now - timedelta(minutes=11))
    alert_id = workflow_id(fingerprint(name, "sync runs"))

    async with watch.ops_worker(rule(name, "sync-idle", intervals="2")):
        idle = await watch.run(name)
        detail = (await watch.alert(alert_id)).last_detail
        acknowledge(sync_store, "customers", now, page=2)
        again = await watch.run(name)
        state = await watch.alert(alert_id)

    assert idle.firing == [alert_id]
    assert detail.startswith("last completed sync: 11m") and detail.endswith("(interval 5m)")
    assert again.cleared == [alert_id] and state.status is AlertStatus.RESOLVED


async def test_a_rule_that_cannot_be_judged_says_why_and_keeps_its_alerts(
    watch: Watch, sync_store: SyncStore, tmp_path: Path
) -> None:
    watch.sync = sync_store
    name = rule_name("sync-idle")
    alert_id = workflow_id(fingerprint(name, "sync runs"))
    async with watch.ops_worker(rule(name, "sync-idle")):
        assert (await watch.run(name)).firing == [alert_id]  # never synced
        watch.sync = None
    async with watch.ops_worker(rule(name, "sync-idle")):
        blind = await watch.run(name)
        state = await watch.alert(alert_id)

    assert blind.errors == {name: "no sync store configured"}
    assert blind.firing == [] and blind.cleared == []
    assert state.status is AlertStatus.FIRING
