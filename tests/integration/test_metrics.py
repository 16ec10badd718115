"""The worker's Prometheus endpoint on the real stack: the SDK's metrics and the business ones."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from continuum.supervisor import wait_until
from domain.orders.models import OrderStatus
from domain.sync.contract import WORKFLOW_NAME as SYNC_WORKFLOW
from domain.sync.models import SyncInput, SyncResult
from tests import samples
from tests.integration.conftest import free_ports

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own stack: a worker that samples its gauges twice a second."""
    stack = Stack(
        tmp_path_factory.mktemp("metrics"),
        free_ports(),
        worker_env={"WORKER_METRICS_INTERVAL_SECONDS": "0.5"},
    )
    with stack:
        yield stack


def scrape(stack: Stack) -> str:
    answer = httpx.get(f"{stack.url('worker_metrics')}/metrics", timeout=5)
    answer.raise_for_status()
    return answer.text


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when the metric is
    there but no sample has those labels); a metric that is not served at all fails the test,
    so that `== 0` cannot pass on a renamed or vanished metric."""
    total, served = 0.0, False
    for line in text.splitlines():
        found = SAMPLE.match(line)
        if not found or found["name"] != name:
            continue
        served = True
        have = dict(LABEL.findall(found["labels"] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(found["value"])
    assert served, f"the worker serves no metric named {name}"
    return total


def names(text: str) -> set[str]:
    return {m["name"] for line in text.splitlines() if (m := SAMPLE.match(line))}


async def wait_status(orders: OrderClient, order_id: str, status: OrderStatus) -> None:
    deadline = time.monotonic() + 60
    while (await orders.status(order_id)).status is not status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{order_id} never reached {status}")
        await asyncio.sleep(0.1)


async def test_sdk_metrics_and_readiness_are_served(stack: Stack, orders: OrderClient) -> None:
    order = samples.order(customer_id="C-100")
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    text = scrape(stack)
    sdk = {n for n in names(text) if n.startswith("temporal_")}
    assert "temporal_worker_task_slots_available" in sdk, sorted(sdk)
    assert value(text, "temporal_activity_execution_latency_count") >= 1, sorted(sdk)
    assert value(text, "continuum_worker_ready", task_queue=ORDERS_TASK_QUEUE) == 1
    # Sampled from the sync's store: present (and empty) although no sync has run yet.
    wait_until(
        lambda: "continuum_sync_quarantine_size" in names(scrape(stack)), 30, "the sync gauges"
    )
    assert value(scrape(stack), "continuum_sync_quarantine_size") == 0
    await orders.deliver(order.order_id, carrier="test-carrier")
    assert (await orders.result(order.order_id)).status is OrderStatus.COMPLETED


async def test_a_completed_order_is_counted_once(stack: Stack, orders: OrderClient) -> None:
    before = value(scrape(stack), "continuum_orders_completed_total", status="Completed")
    order = samples.order(customer_id="C-101")
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    await orders.deliver(order.order_id, carrier="test-carrier")
    assert (await orders.result(order.order_id)).status is OrderStatus.COMPLETED
    wait_until(
        lambda: (
            value(scrape(stack), "continuum_orders_completed_total", status="Completed")
            == before + 1
        ),
        30,
        "the completed order to be counted",
    )
    text = scrape(stack)
    assert value(text, "continuum_order_duration_seconds_count", status="Completed") >= 1
    assert value(text, "continuum_orders_failed_total") == 0


async def test_approvals_waiting_rises_and_falls(stack: Stack, orders: OrderClient) -> None:
    # Above the approval threshold (5000 by default): the order waits for a person.
    order = samples.order(customer_id="C-102", quantity=2, unit_price="3000.00")
    await orders.start(order)
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_APPROVAL)
    wait_until(
        lambda: value(scrape(stack), "continuum_approvals_waiting") == 1,
        30,
        "the waiting approval to show",
    )
    assert value(scrape(stack), "continuum_approvals_overdue") == 0
    await orders.cancel(order.order_id, requested_by="test", reason="metrics test")
    assert (await orders.result(order.order_id)).status is OrderStatus.CANCELLED
    wait_until(
        lambda: value(scrape(stack), "continuum_approvals_waiting") == 0,
        30,
        "the cancelled order to leave the approvals",
    )
    # Cancelled before anything was written: nothing to undo, so it counts as failed.
    wait_until(
        lambda: value(scrape(stack), "continuum_orders_failed_total", status="Cancelled") == 1,
        30,
        "the cancelled order to be counted",
    )


async def test_sync_lag_is_the_age_of_the_oldest_unsynced_change(
    stack: Stack, orders: OrderClient
) -> None:
    # The seeded customers are in the ERP and not yet in the CRM: they wait, so the lag grows.
    wait_until(
        lambda: value(scrape(stack), "continuum_sync_lag_seconds", feed="customers") > 0,
        30,
        "the unsynced customers to show as lag",
    )
    await orders.client.execute_workflow(
        SYNC_WORKFLOW,
        SyncInput(),
        id=f"metrics-sync-{time.monotonic_ns()}",
        task_queue=ORDERS_TASK_QUEUE,
        result_type=SyncResult,
    )
    # Caught up: no lag, although the seeded records themselves are old.
    wait_until(
        lambda: all(
            value(scrape(stack), "continuum_sync_lag_seconds", feed=feed) == 0
            for feed in ("orders", "customers")
        ),
        30,
        "the lag to drop to 0 after the sync",
    )
