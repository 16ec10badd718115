"""`continuum release check` and `release patches` against a real dev server's live histories.

The stack is shared by the tests of this module and they run in file order: the last one puts
a history made by changed code on the server, which every later check would report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from continuum.client import connect
from continuum.converter import plaintext_data_converter
from continuum.order_client import OrderClient
from continuum.release.check import CheckReport, check
from continuum.release.histories import Sample
from continuum.release.patches import PatchSite, patch_lifecycle, patch_sites
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus
from tests import samples
from tests.integration.conftest import free_ports
from tests.release.changed_order import PATCH, PatchedPausingOrderToCash, PausingOrderToCash
from tests.release.conftest import cli, eventually, wait_status
from tests.release.sites import site
from workers.registry import WORKFLOWS
from workflows.orders.order_to_cash import OrderToCash

HERE = Path(__file__).parent
WORKFLOWS_ROOT = Path(__file__).parents[2] / "workflows"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("release-check"), free_ports()) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: Stack) -> AsyncIterator[Client]:
    yield await connect(stack.temporal_address, stack.data_converter())


@pytest.fixture(scope="module")
async def parked(client: Client) -> dict[str, str]:
    """Orders in three states: shipped and waiting for delivery, waiting for approval, done."""
    orders = OrderClient(client, ORDERS_TASK_QUEUE)
    shipped = samples.order(customer_id="C-100")
    approval = samples.order(customer_id="C-101", unit_price="3000.00")  # 6000 > 5000: sales
    done = samples.order(customer_id="C-102")
    for order in (shipped, approval, done):
        await orders.start(order)
    await wait_status(orders, shipped.order_id, OrderStatus.AWAITING_DELIVERY)
    await wait_status(orders, approval.order_id, OrderStatus.AWAITING_APPROVAL)
    await wait_status(orders, done.order_id, OrderStatus.AWAITING_DELIVERY)
    await orders.deliver(done.order_id)
    await wait_status(orders, done.order_id, OrderStatus.COMPLETED)
    return {"shipped": shipped.order_id, "approval": approval.order_id, "done": done.order_id}


def replacing(changed: type) -> list[type]:
    return [w for w in WORKFLOWS if w is not OrderToCash] + [changed]


async def run_check(stack: Stack, client: Client, workflows: list[type]) -> CheckReport:
    return await check(client, workflows, stack.data_converter(), Sample(), datetime.now(UTC))


async def test_running_and_closed_orders_replay_on_the_working_tree_decrypted_in_memory(
    stack: Stack, client: Client, parked: dict[str, str]
) -> None:
    report = await run_check(stack, client, list(WORKFLOWS))
    assert report.ok, report
    by_type = {t.workflow_type: t for t in report.types}
    orders, approvals = by_type["OrderToCash"], by_type["Approval"]
    assert orders.running == orders.replayed_running == 2
    assert orders.replayed_closed == 1
    assert approvals.running == approvals.replayed_running == 1
    assert report.unknown == {}

    # What was replayed is what the server holds: the order's input encrypted.
    history = await client.get_workflow_handle(workflow_id(parked["shipped"])).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
    # Without the keys the same histories cannot be read, and the check says so.
    keyless = await check(
        client, list(WORKFLOWS), plaintext_data_converter(), Sample(), datetime.now(UTC)
    )
    assert not keyless.ok


async def test_a_change_to_running_orders_commands_is_caught_and_passes_behind_patched(
    stack: Stack, client: Client, parked: dict[str, str]
) -> None:
    report = await run_check(stack, client, replacing(PausingOrderToCash))
    assert not report.ok
    orders = next(t for t in report.types if t.workflow_type == "OrderToCash")
    failed = {f.workflow_id: f for f in orders.failures}
    # Every order ever started diverges at its first command, the running ones included.
    assert set(failed) == {workflow_id(i) for i in parked.values()}
    shipped = failed[workflow_id(parked["shipped"])]
    assert shipped.running and shipped.event_id == 5
    assert shipped.words == (
        "event 5 (search attributes set (CustomerId, OrderId, OrderTotal)): the working tree's"
        " code started a timer there instead"
    )

    assert (await run_check(stack, client, replacing(PatchedPausingOrderToCash))).ok


async def test_patches_count_the_running_processes_on_each_side(
    stack: Stack, client: Client, parked: dict[str, str]
) -> None:
    def sites() -> list[PatchSite]:
        return patch_sites(WORKFLOWS_ROOT) + patch_sites(HERE)

    found = await patch_lifecycle(
        client,
        replacing(PatchedPausingOrderToCash),
        stack.data_converter(),
        Sample(),
        datetime.now(UTC),
        sites=sites,
    )
    by_id = {p.patch_id: p for p in found}
    # Both running orders are past the new patch: they took its old path.
    pause = by_id[PATCH]
    assert (pause.in_code, pause.old_path, pause.new_path) == ("patched", 2, 0)
    assert pause.verdict == "keep patched: 2 running processes took the old path"
    # Only the order waiting for approval reached the approval patch, on its new path.
    approval = by_id["approval-workflow"]
    assert (approval.in_code, approval.old_path, approval.new_path) == ("patched", 0, 1)
    assert approval.verdict.startswith('ready: replace patched("approval-workflow")')
    assert approval.where == [site("workflows/orders/approval_step.py", "workflow.patched(PATCH)")]
    # Two orders and the approval started after "state-since": all of them hold its marker.
    state_since = by_id["state-since"]
    assert (state_since.old_path, state_since.new_path, state_since.unknown) == (0, 3, 0)


async def test_the_cli_checks_and_lists_patches(stack: Stack, parked: dict[str, str]) -> None:
    answer = cli(stack, "release", "check")
    assert answer.returncode == 0, answer.stderr
    assert "every history replays on this code" in answer.stdout
    assert "OrderToCash" in answer.stdout

    answer = cli(stack, "release", "patches")
    assert answer.returncode == 0, answer.stderr
    lines = {line.split("│")[1].strip(): line for line in answer.stdout.splitlines() if "│" in line}
    assert "ready: replace" in lines["approval-workflow"]
    assert "ready: replace" in lines["state-since"]


async def test_the_cli_fails_on_a_history_the_working_tree_cannot_replay(
    stack: Stack, client: Client, parked: dict[str, str]
) -> None:
    """An order started by changed code (e.g. a build being rolled back) is named, with the
    event where today's code would diverge, and the check exits non-zero."""
    queue = "release-changed"
    order = samples.order(customer_id="C-103")
    handle = client.get_workflow_handle(workflow_id(order.order_id))
    async with Worker(client, task_queue=queue, workflows=[PausingOrderToCash]):
        await OrderClient(client, queue).start(order)

        async def pausing() -> bool:
            history = await handle.fetch_history()
            return any(e.HasField("timer_started_event_attributes") for e in history.events)

        await eventually(pausing, 30, "the changed order to start its timer")
    try:
        answer = cli(stack, "release", "check", "--closed", "0")
        assert answer.returncode == 1, answer.stdout
        assert (
            f"✗ OrderToCash {workflow_id(order.order_id)} (running): event 5 (a timer of"
            " 1:00:00): the working tree's code set search attributes there instead"
        ) in answer.stdout
        assert "1 histories would break with this code" in answer.stdout
    finally:
        await handle.terminate("release test: changed code")
