"""The live board on the real stack (dev server, reference ERP and CRM, worker, gateway): orders
that end every way, an alert that fires, and the board's figures as the daily report computes
them, on the page and as JSON, for signed-in people only."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import Client

from continuum.board import BoardReader, load_board_config
from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.search_attributes import ORDER_STATUS
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.alerts.contract import AlertStatus, Severity
from domain.figures import Board, QueueKind, closed_orders_query
from domain.orders.models import OrderStatus
from domain.reports import OrderRun, OrderRuns, order_kpis
from tests import samples
from tests.integration.alert_desk import raise_alert, wait_listed
from tests.integration.alert_ops import alert_worker, prompt_alert
from tests.integration.conftest import free_ports

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def board_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's own stack: the board counts every order on it."""
    stack = Stack(tmp_path_factory.mktemp("board"), free_ports(), with_gateway=True)
    with stack:
        yield stack


@pytest.fixture
async def client(board_stack: Stack) -> AsyncIterator[Client]:
    yield await connect(board_stack.temporal_address, board_stack.data_converter())


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within}s")
        await asyncio.sleep(0.2)


async def wait_status(orders: OrderClient, order_id: str, status: OrderStatus) -> None:
    async def reached() -> bool:
        return (await orders.status(order_id)).status is status

    await eventually(reached, 60, f"{order_id} in {status}")


async def sign_in(http: httpx.AsyncClient, stack: Stack, user: str) -> None:
    token = CSRF.search((await http.get("/login")).text)
    assert token
    password = stack.client_env()["INBOX_DEMO_PASSWORD"]
    form = {"csrf_token": token[1], "username": user, "password": password, "next": "/board"}
    answer = await http.post("/login", data=form)
    assert answer.status_code == 303 and answer.headers["location"] == "/board"


async def end_orders_every_way(orders: OrderClient) -> dict[str, list[str]]:
    """Two completed, one declined card (compensated: a success), one terminated (a failure)."""
    completed = [samples.order() for _ in range(2)]
    declined = samples.order(reference="tok_declined")
    stuck = samples.order()
    for order in [*completed, declined, stuck]:
        await orders.start(order)
    for order in [*completed, stuck]:
        await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    for order in completed:
        await orders.deliver(order.order_id)
        await wait_status(orders, order.order_id, OrderStatus.COMPLETED)
    await wait_status(orders, declined.order_id, OrderStatus.COMPENSATED)
    await orders.handle(stuck.order_id).terminate("the board test ends it as a failure")
    return {
        "completed": [o.order_id for o in completed],
        "declined": [declined.order_id],
        "terminated": [stuck.order_id],
    }


async def report_rate(client: Client, start: datetime, end: datetime) -> float | None:
    """The daily report's success rate over the same window: its rows, its classification."""
    closed = [
        OrderRun(
            order_id=wf.id,
            order_status=wf.typed_search_attributes.get(ORDER_STATUS),
            execution_status=wf.status.name if wf.status else "UNKNOWN",
            started_at=wf.start_time,
            closed_at=wf.close_time,
        )
        async for wf in client.list_workflows(closed_orders_query(start, end))
        if wf.close_time is not None
    ]
    return order_kpis(OrderRuns(started=0, closed=closed)).success_rate


async def test_the_board_shows_what_the_report_counts(board_stack: Stack, client: Client) -> None:
    orders = OrderClient(client, ORDERS_TASK_QUEUE)
    start = datetime.now(UTC) - timedelta(seconds=1)
    ended = await end_orders_every_way(orders)
    reader = BoardReader(client, load_board_config())

    async with alert_worker(client, board_stack.data_dir / "alerts.log"):
        alert = await raise_alert(client, prompt_alert("order-stalled", Severity.CRITICAL))
        await wait_listed(client, alert, AlertStatus.FIRING)
        board: Board | None = None

        async def settled() -> bool:
            nonlocal board
            board = await reader.read(datetime.now(UTC))
            return all(s.closed == 4 for s in board.success) and board.alerts_total == 1

        await eventually(settled, 30, "a board that counts the four closed orders")
        assert board is not None
        assert board.notes == []
        for figure in board.success:
            assert (figure.closed, figure.succeeded, figure.rate) == (4, 3, 0.75)
            assert figure.meets_target is False and figure.target == 0.98
        assert await report_rate(client, start, board.as_of) == 0.75

        [hour, _] = board.throughput
        assert (hour.started, hour.completed) == (4, 2) and hour.completed_per_hour == 2
        orders_time = next(p for p in board.processes if p.workflow_type == "OrderToCash")
        assert orders_time.count == orders_time.sampled == 2
        assert orders_time.p50_seconds is not None and orders_time.p50_seconds < 600
        assert orders_time.change_p50 is not None and orders_time.change_p50 < -0.99
        assert orders_time.meets_goal is True
        queues = {(q.task_queue, q.kind): q for q in board.queues}
        assert queues[(ORDERS_TASK_QUEUE, QueueKind.WORKFLOW)].pollers >= 1
        assert queues[(ORDERS_TASK_QUEUE, QueueKind.ACTIVITY)].pollers >= 1
        [shown] = board.alerts
        assert shown.workflow_id == alert and shown.severity == "critical"
        assert shown.status == "Firing" and "waits for its delivery" in shown.summary

        # The same board over HTTP, for a signed-in person: the page and its JSON.
        async with httpx.AsyncClient(base_url=board_stack.url("gateway"), timeout=30) as http:
            await sign_in(http, board_stack, "alice")
            page = await http.get("/board")
            assert page.status_code == 200
            assert f'<meta http-equiv="refresh" content="{board.refresh_seconds}">' in page.text
            assert "75.0 %" in page.text and "target 98 %" in page.text
            assert shown.summary in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
            data = (await http.get("/board.json")).json()
            assert [s["rate"] for s in data["success"]] == [0.75, 0.75]
            assert [s["meets_target"] for s in data["success"]] == [False, False]
            assert data["alerts_total"] == 1 and data["alerts"][0]["workflow_id"] == alert
    assert sorted(ended) == ["completed", "declined", "terminated"]


async def test_the_board_is_for_signed_in_people_only(board_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=board_stack.url("gateway"), timeout=30) as http:
        page = await http.get("/board")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/board"
        data = await http.get("/board.json")
        assert data.status_code == 401 and data.json()["error"]["code"] == "NotSignedIn"
        assert "75.0" not in data.text
