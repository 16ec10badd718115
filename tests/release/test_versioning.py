"""Worker Versioning on a real dev server: two worker processes of builds v1 and v2 on one task
queue, driven with `continuum release promote | pin | ramp | rollback | status`.

Orders are auto-upgrade (they wait days); the ones running when v2 arrives are pinned to v1
with `release pin` and finish there while new orders go to v2 during a ramp; a rollback sends
new orders back to v1; every order completes once (row counts in the ERP and the CRM).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentVersionRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.release.deployment import Deployment, DeploymentState
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from continuum.supervisor import ManagedProcess, python_module
from domain.orders.contract import workflow_id
from domain.orders.models import Order, OrderStatus
from domain.watchdog.contract import TASK_QUEUE as OPS_TASK_QUEUE
from tests import samples
from tests.integration.conftest import crm_deals, erp_counts, free_ports
from tests.release.conftest import cli, eventually, wait_status

NAME = "continuum"
VERSIONED = {"CONTINUUM_DEPLOYMENT_NAME": NAME}
ONE_OF_EACH = {"reservations": 1, "sales_orders": 1, "payments": 1, "shipments": 1, "invoices": 1}
USED = SearchAttributeKey.for_keyword_list("TemporalUsedWorkerDeploymentVersions")


def worker_env(stack: Stack, build_id: str) -> dict[str, str]:
    return {**stack.client_env(), **VERSIONED, "CONTINUUM_BUILD_ID": build_id}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack's own worker is build v1; v2 is started by the test."""
    stack = Stack(
        tmp_path_factory.mktemp("release-versioning"),
        free_ports(),
        worker_env={**VERSIONED, "CONTINUUM_BUILD_ID": "v1"},
    )
    with stack:
        yield stack


def start_worker(stack: Stack, build_id: str) -> ManagedProcess:
    """Another worker process of this stack, as build `build_id`; stopped with the stack."""
    name = f"worker-{build_id}"
    env = {**worker_env(stack, build_id), "WORKER_METRICS_PORT": "0"}
    proc = ManagedProcess(
        name, python_module("workers"), log_path=stack.data_dir / "logs" / f"{name}.log", env=env
    ).start()
    stack.processes[name] = proc
    proc.wait_ready(lambda: "worker ready" in proc.tail(50), timeout=60)
    return proc


def release(stack: Stack, *args: str) -> str:
    answer = cli(stack, "release", *args, env=VERSIONED)
    assert answer.returncode == 0, answer.stderr
    return answer.stdout


@pytest.fixture(scope="module")
async def client(stack: Stack) -> AsyncIterator[Client]:
    client = await connect(stack.temporal_address, stack.data_converter())
    deployment = Deployment(client, NAME)

    async def polled(build_id: str) -> bool:
        try:
            return (await deployment.state()).version(build_id) is not None
        except ValueError:
            return False

    await eventually(lambda: polled("v1"), 30, "build v1 to poll")
    release(stack, "promote", "v1")
    yield client


async def build_of(client: Client, order: Order) -> str:
    description = await client.get_workflow_handle(workflow_id(order.order_id)).describe()
    info = description.raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


async def used(client: Client, order: Order) -> set[str]:
    """The builds that ran any of the order's steps."""
    description = await client.get_workflow_handle(workflow_id(order.order_id)).describe()
    versions = description.typed_search_attributes.get(USED) or []
    return {v.removeprefix(f"{NAME}:") for v in versions}


async def start_shipped(orders: OrderClient, batch: list[Order]) -> None:
    for order in batch:
        await orders.start(order)
    for order in batch:
        await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)


async def state(client: Client) -> DeploymentState:
    return await Deployment(client, NAME).state()


async def test_pinned_orders_finish_on_v1_while_a_ramp_and_a_rollback_route_new_ones(
    stack: Stack, client: Client
) -> None:
    orders = OrderClient(client, ORDERS_TASK_QUEUE)
    # Running on v1 when v2 arrives: three pinned there, one left auto-upgrade.
    pinned = [samples.order(order_id=f"V1-{i}") for i in range(3)]
    await start_shipped(orders, pinned)
    assert "pinned 3 running processes to v1" in release(
        stack, "pin", "v1", "--type", "OrderToCash"
    )
    moving = samples.order(order_id="V1-AUTO")
    await start_shipped(orders, [moving])
    before = [*pinned, moving]
    assert {await build_of(client, o) for o in before} == {"v1"}

    start_worker(stack, "v2")

    async def v2_polled() -> bool:
        return (await state(client)).version("v2") is not None

    await eventually(v2_polled, 30, "build v2 to poll")
    shown = release(stack, "ramp", "v2", "--percent", "50")
    assert "current v1, v2 ramping at 50 %" in shown

    during = [samples.order(order_id=f"RAMP-{i}") for i in range(10)]
    await start_shipped(orders, during)
    builds = {o.order_id: await build_of(client, o) for o in during}
    assert set(builds.values()) == {"v1", "v2"}, builds  # new orders split by the ramp
    now = await state(client)
    v1 = now.version("v1")
    assert now.current == "v1" and now.ramping == "v2" and v1 is not None
    assert v1.pinned == 3 and not v1.can_stop

    done = release(stack, "rollback")
    assert "stopped ramping v2: new processes go to v1" in done
    after = [samples.order(order_id=f"BACK-{i}") for i in range(3)]
    await start_shipped(orders, after)
    assert {await build_of(client, o) for o in after} == {"v1"}

    # A promotion and a rollback to the build before it.
    release(stack, "promote", "v2")
    promoted = samples.order(order_id="PROMOTED")
    await start_shipped(orders, [promoted])
    assert await build_of(client, promoted) == "v2"
    assert "v1 is current again (was v2)" in release(stack, "rollback")
    rolled_back = samples.order(order_id="ROLLED-BACK")
    await start_shipped(orders, [rolled_back])
    assert await build_of(client, rolled_back) == "v1"

    everyone = [*before, *during, *after, promoted, rolled_back]
    for order in everyone:
        await orders.deliver(order.order_id)
    for order in everyone:
        await wait_status(orders, order.order_id, OrderStatus.COMPLETED)
    for order in pinned:
        assert await used(client, order) == {"v1"}, order.order_id  # never left v1
    # Auto-upgrade orders follow the routing: those that started on v2 finished on v1.
    for order in during:
        expected = {"v1", "v2"} if builds[order.order_id] == "v2" else {"v1"}
        assert await used(client, order) == expected, order.order_id
    assert await build_of(client, moving) == "v1"
    for order in everyone:
        assert erp_counts(stack, order.order_id) == ONE_OF_EACH, order.order_id
        assert len(crm_deals(stack, order.order_id)) == 1, order.order_id

    final = await state(client)
    v2 = final.version("v2")
    assert final.current == "v1" and final.ramping is None
    assert v2 is not None and v2.pinned == 0 and v2.can_stop
    status = release(stack, "status")
    assert "deployment continuum: current v1" in status
    assert "OrderToCash: auto-upgrade" in status


def test_versioning_commands_refuse_bad_input_in_one_line(stack: Stack, client: Client) -> None:
    for args, words in (
        (("ramp", "v9"), "build 'v9' of deployment 'continuum' has no workers yet"),
        (("ramp", "v1"), "build 'v1' is already current: nothing to ramp"),
        (("ramp", "v2", "--percent", "0"), "--percent must be above 0 and at most 100"),
        (("promote",), "no build is ramping: name the build to promote"),
        (("rollback", "--to", "v1"), "build 'v1' is already current"),
    ):
        answer = cli(stack, "release", *args, env=VERSIONED)
        assert answer.returncode == 1, args
        assert words in answer.stderr and len(answer.stderr.strip().splitlines()) == 1, answer
    unnamed = cli(stack, "release", "status", env={"CONTINUUM_DEPLOYMENT_NAME": ""})
    assert unnamed.returncode == 1
    assert "no worker deployment: set CONTINUUM_DEPLOYMENT_NAME" in unnamed.stderr
    other = cli(stack, "release", "status", "--deployment", "nobody", env=VERSIONED)
    assert (
        other.returncode == 1 and "no worker of deployment 'nobody' has polled yet" in other.stderr
    )


def test_a_worker_with_half_a_version_refuses_to_start(stack: Stack) -> None:
    env = {**stack.client_env(), "CONTINUUM_DEPLOYMENT_NAME": NAME, "CONTINUUM_BUILD_ID": ""}
    proc = ManagedProcess(
        "worker-unbuilt",
        python_module("workers"),
        log_path=stack.data_dir / "logs" / "worker-unbuilt.log",
        env={**env, "WORKER_METRICS_PORT": "0"},
    ).start()
    try:
        assert proc.proc is not None and proc.proc.wait(timeout=60) == 2
    finally:
        proc.stop()
    assert "CONTINUUM_BUILD_ID is not set" in proc.tail()


async def test_the_ops_worker_joins_the_same_build(stack: Stack, client: Client) -> None:
    name = "ops-v1"
    proc = ManagedProcess(
        name,
        python_module("workers.ops"),
        log_path=stack.data_dir / "logs" / f"{name}.log",
        env={**worker_env(stack, "v1"), "OPS_METRICS_PORT": "0"},
    ).start()
    stack.processes[name] = proc
    proc.wait_ready(lambda: "ops worker ready" in proc.tail(50), timeout=60)

    async def queues() -> set[str]:
        answer = await client.workflow_service.describe_worker_deployment_version(
            DescribeWorkerDeploymentVersionRequest(
                namespace=client.namespace,
                deployment_version=WorkerDeploymentVersion(deployment_name=NAME, build_id="v1"),
            )
        )
        return {q.name for q in answer.version_task_queues}

    async def joined() -> bool:
        return {ORDERS_TASK_QUEUE, OPS_TASK_QUEUE} <= await queues()

    await eventually(joined, 30, "the ops worker's task queue in build v1")
