"""The ERP→CRM sync against a real Tryton 8.2: Tryton's sales and parties are the change feeds.

One stack for the module (`Stack(erp_backend="tryton")`, Tryton from the session's template), so
the worker that runs the sync is the one `ERP_BACKEND=tryton` builds. Orders are run through it
to completion, one is cancelled (compensated in Tryton) and one is left awaiting delivery; then
`continuum sync run --wait`. What Tryton holds is read through its REST API, what the CRM holds
from the CRM's own SQLite file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import Client

from connectors.tryton import TrytonErpClient
from continuum.order_client import OrderClient
from continuum.stack import Stack
from domain.orders.models import OrderStatus
from services.tryton.setup import TrytonLayout
from store.sync import SyncStore
from tests import samples
from tests.connectors.tryton_fixtures import SKIP_REASON, TRYTON_MISSING, tryton_template
from tests.integration.conftest import free_ports
from tests.integration.test_sync_stack import cli, client, crm_objects, run_sync
from tests.integration.test_tryton_stack import deliver_and_finish, tryton, wait_for_status

__all__ = ["client", "tryton", "tryton_template"]  # fixtures, imported for pytest

pytestmark = pytest.mark.skipif(TRYTON_MISSING, reason=SKIP_REASON)

# SalesOrderStatus → HubSpot deal stage, as DEFAULT_MAPPING maps it.
STAGES = {"open": "contractsent", "invoiced": "closedwon", "cancelled": "closedlost"}


@pytest.fixture(scope="module")
def stack(
    tryton_template: TrytonLayout, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    stack = Stack(
        tmp_path_factory.mktemp("tryton-sync"),
        free_ports(),
        erp_backend="tryton",
        erp_template=tryton_template.root,
    )
    with stack:
        yield stack


async def tryton_sales(tryton: TrytonErpClient) -> dict[str, dict[str, Any]]:
    """Every sale in Tryton, by its reference (the order id)."""
    found = await tryton._search(
        "sale.sale",
        [],
        ["reference", "state", "total_amount", "currency.code", "party.code", "sale_date"],
    )
    assert len({s["reference"] for s in found}) == len(found), "two sales for one order"
    return {str(s["reference"]): s for s in found}


async def tryton_parties(tryton: TrytonErpClient) -> dict[str, str]:
    """Every customer party (archived ones too), code → e-mail."""
    found = await tryton._search(
        "party.party", [("code", "like", "C-%"), ("active", "in", [True, False])], ["code", "email"]
    )
    return {str(p["code"]): str(p["email"]) for p in found}


def crm_rows(stack: Stack) -> dict[tuple[str, int], tuple[str, str, str | None]]:
    """Every CRM object as stored: (type, id) → (properties, updated_at, archived_at)."""
    with sqlite3.connect(stack.data_dir / "crm.db") as db:
        rows = db.execute(
            "SELECT object_type, id, properties, updated_at, archived_at FROM objects"
        ).fetchall()
    return {(t, i): (p, u, a) for t, i, p, u, a in rows}


def from_the_erp(stack: Stack, object_type: str) -> list[dict[str, str]]:
    """CRM objects of a type that the sync wrote (it alone sets erp_updated_at)."""
    found = crm_objects(stack, object_type, "customer_id")
    return [o for o in found if "erp_updated_at" in o]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def deals(stack: Stack) -> dict[str, dict[str, str]]:
    found = crm_objects(stack, "deals", "order_id")
    ids = [d["order_id"] for d in found]
    assert len(ids) == len(set(ids)), f"a deal is duplicated: {sorted(ids)}"
    return {d["order_id"]: d for d in found}


async def test_the_sync_mirrors_trytons_sales_and_parties_and_picks_up_later_changes(
    stack: Stack, orders: OrderClient, tryton: TrytonErpClient, client: Client
) -> None:
    completed = [samples.order(customer_id=c) for c in ("C-100", "C-101", "C-105")]
    cancelled = samples.order(customer_id="C-104")
    late = samples.order(customer_id="C-100", quantity=3)
    for order in [*completed, cancelled, late]:
        await orders.start(order)
    results = await asyncio.gather(*(deliver_and_finish(orders, o.order_id) for o in completed))
    assert [r.status for r in results] == [OrderStatus.COMPLETED] * 3, [r.reason for r in results]
    await wait_for_status(orders, cancelled.order_id, OrderStatus.AWAITING_DELIVERY, 90)
    await orders.cancel(cancelled.order_id, requested_by="test", reason="changed my mind")
    undone = await asyncio.wait_for(orders.result(cancelled.order_id), 90)
    assert undone.status is OrderStatus.CANCELLED, undone.reason
    await wait_for_status(orders, late.order_id, OrderStatus.AWAITING_DELIVERY, 90)

    # Pages of two: the Tryton cursor carries each feed across pages.
    ran = cli(stack, "sync", "run", "--wait", "--page-size", "2")
    assert ran.returncode == 0, ran.stderr

    sales = await tryton_sales(tryton)
    assert sorted(sales) == sorted(o.order_id for o in [*completed, cancelled, late])
    synced = deals(stack)
    assert sorted(synced) == sorted(sales)  # exactly one deal per Tryton sale
    expected = {o.order_id: "invoiced" for o in completed}
    expected |= {cancelled.order_id: "cancelled", late.order_id: "open"}
    for order in [*completed, cancelled, late]:
        deal, sale = synced[order.order_id], sales[order.order_id]
        status = expected[order.order_id]
        assert deal["order_status"] == status, (deal, sale["state"])
        assert deal["dealstage"] == STAGES[status], deal
        assert Decimal(deal["amount"]) == order.total == Decimal(sale["total_amount"])
        assert deal["deal_currency_code"] == sale["currency"]["code"] == "EUR"
        assert deal["customer_id"] == sale["party"]["code"] == order.customer.customer_id
        # The CRM keeps datetimes to the millisecond; the order date is Tryton's sale date.
        assert deal["order_date"] == f"{sale['sale_date'].isoformat()}T00:00:00.000Z"
    # One contact per customer party, with Tryton's e-mail (the orders gave other ones).
    # (The CRM's own demo contact and company, which carry no erp_updated_at, stay as they are.)
    parties = await tryton_parties(tryton)
    contacts = {c["customer_id"]: c for c in from_the_erp(stack, "contacts")}
    assert sorted(contacts) == sorted(parties) == [f"C-10{n}" for n in range(6)]  # C-103 archived
    assert {code: c["email"] for code, c in contacts.items()} == parties
    assert contacts["C-100"]["company"] == "ACME" and contacts["C-100"]["firstname"] == "Ada"
    companies = {c["customer_id"]: c["name"] for c in from_the_erp(stack, "companies")}
    assert sorted(companies) == sorted(set(parties) - {"C-104"})  # Alan Turing's names none
    assert companies["C-103"] == "Blocked Trading"
    store = SyncStore(stack.data_dir / "continuum.db")
    assert store.quarantine_size() == 0

    # Nothing changed in Tryton: a second run writes nothing new to the CRM.
    before = crm_rows(stack)
    again = await run_sync(client)
    assert crm_rows(stack) == before
    # From the watermarks, inclusively, less the late-commit window (connectors.tryton): each
    # feed's last record at least is read again, what changed within the window at most.
    assert 1 <= again.totals.feeds["orders"].records <= len(sales)
    assert 1 <= again.totals.feeds["customers"].records <= len(parties)

    # A sale that changes after the sync (delivered, invoiced) is picked up by the next run.
    finished = await deliver_and_finish(orders, late.order_id)
    assert finished.status is OrderStatus.COMPLETED, finished.reason
    assert deals(stack)[late.order_id]["order_status"] == "open"  # the workflow's own writes
    third = await run_sync(client)
    assert third.totals.feeds["orders"].records >= 1
    now = deals(stack)
    assert sorted(now) == sorted(sales)
    updated = now[late.order_id]
    assert (updated["order_status"], updated["dealstage"]) == ("invoiced", "closedwon")
    assert Decimal(updated["amount"]) == late.total
    assert moment(updated["erp_updated_at"]) > moment(synced[late.order_id]["erp_updated_at"])
    # The other deals are the very rows they were.
    after = crm_rows(stack)
    others = [k for k, v in before.items() if k[0] == "deals" and late.order_id not in v[0]]
    assert len(others) == 4
    assert [after[k] for k in others] == [before[k] for k in others]
    assert store.quarantine_size() == 0
