"""The incident console on the real stack (dev server, reference ERP and CRM, a worker): during an
ERP outage `find` lists exactly the orders retrying a step, with the step and the last error;
`plan` freezes them in a signed file and changes nothing; `apply` starts the job only for an
intact, current plan; every step is in the audit; every mistake is one line and exit 1."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from continuum.client import connect
from continuum.incidents.find import find
from continuum.incidents.key import incident_key
from continuum.incidents.plans import sign_plan, write_plan
from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.incidents.contract import (
    WORKFLOW_NAME,
    ItemOutcome,
    ItemResult,
    Message,
    Plan,
    RepairInput,
    RepairProgress,
    workflow_id,
)
from domain.orders.models import OrderStatus
from tests import samples
from tests.integration.conftest import set_faults
from tests.integration.test_cli import cli
from tests.integration.test_order_to_cash_stack import drive_to_end
from tests.store.test_incidents import plan as sample_plan

RETRYING = 5
ERP_STEPS = {"check_credit", "check_stock"}


@dataclass(frozen=True)
class Outage:
    retrying: list[str]  # the orders started during the outage
    completed: str  # finished before it
    waiting: str  # waiting for delivery through it


async def _until(check: object, what: str, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never {what}"
        await asyncio.sleep(0.2)


async def _retrying(client: Client, order_id: str) -> bool:
    described = await client.get_workflow_handle(f"order-{order_id}").describe()
    pending = described.raw_description.pending_activities
    return any(p.attempt >= 2 for p in pending)


@pytest.fixture(scope="module")
def outage(stack: Stack) -> Iterator[Outage]:
    """Two orders before the outage (one completed, one waiting for delivery), then the ERP
    down and five new orders retrying their first ERP steps; the ERP comes back at the end."""

    async def before() -> tuple[str, str]:
        orders = OrderClient(
            await connect(stack.temporal_address, stack.data_converter()), ORDERS_TASK_QUEUE
        )
        done, waiting = samples.order(), samples.order(customer_id="C-101")
        for order in (done, waiting):
            await orders.start(order)
        await drive_to_end(orders, [done.order_id])

        async def shipped() -> bool:
            status = (await orders.status(waiting.order_id)).status
            return status is OrderStatus.AWAITING_DELIVERY

        await _until(shipped, f"shipped {waiting.order_id}")
        return done.order_id, waiting.order_id

    async def during() -> list[str]:
        client = await connect(stack.temporal_address, stack.data_converter())
        orders = OrderClient(client, ORDERS_TASK_QUEUE)
        batch = [samples.order(customer_id="C-104") for _ in range(RETRYING)]
        for order in batch:
            await orders.start(order)
        for order in batch:
            await _until(lambda o=order: _retrying(client, o.order_id), f"{order.order_id} retried")
        return [o.order_id for o in batch]

    completed, waiting = asyncio.run(before())
    set_faults(stack, "erp", outage_seconds=900, retry_after_seconds=1)
    try:
        yield Outage(asyncio.run(during()), completed, waiting)
    finally:
        set_faults(stack, "erp")


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    yield await connect(stack.temporal_address, stack.data_converter())


async def test_find_lists_exactly_the_orders_retrying_a_step_with_its_error(
    outage: Outage, client: Client
) -> None:
    found = await find(client, "type=order retrying", datetime.now(UTC))
    assert sorted(f.workflow_id for f in found.findings) == sorted(
        f"order-{o}" for o in outage.retrying
    )
    for finding in found.findings:
        assert finding.status == OrderStatus.CHECKING.value and finding.execution == "Running"
        assert finding.customer_id == "C-104" and finding.state_since is not None
        step = finding.step
        assert step is not None and step.name in ERP_STEPS and step.attempt >= 2
        assert step.last_failure and "503" in step.last_failure, step
        assert {s.name for s in finding.steps} == ERP_STEPS  # both checks wait on the ERP
    # Between attempts a step knows when it runs next (during one, it does not).
    assert any(s.next_retry for f in found.findings for s in f.steps)
    credit = await find(client, "step=check_credit error~503 customer=C-104", datetime.now(UTC))
    assert len(credit.findings) == RETRYING
    assert {s.step.name for s in credit.findings if s.step} <= ERP_STEPS
    waiting = await find(client, "type=order status=awaitingdelivery", datetime.now(UTC))
    assert [f.workflow_id for f in waiting.findings] == [f"order-{outage.waiting}"]
    assert waiting.findings[0].steps == []
    done = await find(client, "execution=completed customer=C-100", datetime.now(UTC))
    assert [f.workflow_id for f in done.findings] == [f"order-{outage.completed}"]


@pytest.mark.parametrize(
    "where",
    [
        "type=order|approval status=NeedsAttention|Checking age>1m since<1h total>=10",
        "customer!=C-103 execution=running|failed|cancelled id~order- order=T-1",
        "status!=Completed type!=alert",
        "type=alert status=Firing|Acknowledged",
        "type=sync|repair since>=5m age<=1d",
        "status=Pending",
    ],
)
async def test_every_compiled_query_is_one_the_server_takes(
    stack: Stack, client: Client, where: str
) -> None:
    await find(client, where, datetime.now(UTC))  # refused by visibility: FindError


async def _history_lengths(client: Client, order_ids: list[str]) -> dict[str, int]:
    return {
        o: len((await client.get_workflow_handle(f"order-{o}").fetch_history()).events)
        for o in order_ids
    }


async def test_plan_freezes_the_list_signed_and_changes_nothing(
    stack: Stack, outage: Outage, client: Client, tmp_path: Path
) -> None:
    touched = [*outage.retrying, outage.waiting, outage.completed]
    before = await _history_lengths(client, touched)
    path = tmp_path / "retry.json"
    planned = cli(
        stack,
        "incidents", "plan", "retry", "--where", "type=order retrying",
        "--by", "olga", "--reason", "ERP back after the outage", "--ticket", "INC-7",
        "--out", str(path),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert "Nothing changed" in planned.stdout and "check_" in planned.stdout
    assert await _history_lengths(client, touched) == before

    plan = json.loads(path.read_text())
    assert plan["action"] == "retry" and plan["operator"] == "olga" and plan["ticket"] == "INC-7"
    assert len(plan["signature"]) == 64
    targets = {i["target"]["workflow_id"]: i["target"] for i in plan["items"]}
    assert sorted(targets) == sorted(f"order-{o}" for o in outage.retrying)
    for order_id in outage.retrying:
        target = targets[f"order-{order_id}"]
        run_id = (await client.get_workflow_handle(f"order-{order_id}").describe()).run_id
        assert target["run_id"] == run_id and target["status"] == "Checking"
        assert target["step"] in ERP_STEPS and "503" in target["last_failure"]

    audit = cli(stack, "incidents", "audit", "--plan", plan["plan_id"], "--json")
    [entry] = json.loads(audit.stdout)
    assert (entry["event"], entry["actor"], entry["ticket"], entry["items"]) == (
        "planned",
        "olga",
        "INC-7",
        RETRYING,
    )
    listed = cli(stack, "incidents", "find", "--where", "type=order retrying", "--csv")
    rows = listed.stdout.strip().splitlines()
    assert rows[0].startswith("process,type,status,state_since,step,attempt,last_failure")
    assert sorted(r.split(",")[0] for r in rows[1:]) == sorted(targets)


async def test_apply_starts_the_job_once_and_only_for_an_intact_current_plan(
    stack: Stack, outage: Outage, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "plan.json"
    planned = cli(
        stack,
        "incidents", "plan", "retry", "--where", f"order={outage.retrying[0]} retrying",
        "--by", "olga", "--reason", "one first", "--ticket", "INC-8", "--out", str(path),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(path.read_text())
    job = workflow_id(plan["plan_id"])

    tampered = tmp_path / "tampered.json"
    changed = json.loads(path.read_text())
    changed["items"][0]["target"]["workflow_id"] = f"order-{outage.completed}"
    tampered.write_text(json.dumps(changed))
    refused = cli(stack, "incidents", "apply", str(tampered), "--by", "mallory")
    assert refused.returncode == 1
    assert "was changed after it was signed" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    await _not_started(client, job)

    applied = cli(stack, "incidents", "apply", str(path), "--by", "olga")
    assert applied.returncode == 0, applied.stderr
    assert job in applied.stdout
    try:
        described = await client.get_workflow_handle(job).describe()
        assert described.workflow_type == WORKFLOW_NAME
        assert described.raw_description.execution_config.task_queue.name == "continuum-ops"
        again = cli(stack, "incidents", "apply", str(path), "--by", "olga")
        assert again.returncode == 1 and "was already applied" in again.stderr
    finally:
        await client.get_workflow_handle(job).terminate("test over")

    audit = json.loads(cli(stack, "incidents", "audit", "--plan", plan["plan_id"], "--json").stdout)
    assert [(e["event"], e["actor"]) for e in audit] == [
        ("planned", "olga"),
        ("refused", "mallory"),
        ("apply-requested", "olga"),
        ("started", "olga"),
        ("refused", "olga"),
    ]
    assert "changed after it was signed" in audit[1]["detail"]


async def _not_started(client: Client, job: str) -> None:
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(job).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND


def test_an_expired_plan_is_refused_and_nothing_starts(
    stack: Stack, outage: Outage, tmp_path: Path
) -> None:
    path = tmp_path / "old.json"
    planned = cli(
        stack,
        "incidents", "plan", "pause", "--where", "type=order retrying",
        "--by", "olga", "--reason", "hold", "--ticket", "INC-9", "--out", str(path),
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    # The same plan, made two hours ago and signed by this installation: intact, but too old.
    key = incident_key({"CONTINUUM_DATA_DIR": str(stack.data_dir)})
    plan = Plan.model_validate_json(path.read_text())
    old = plan.model_copy(update={"created_at": plan.created_at - timedelta(hours=2)})
    write_plan(sign_plan(old, key), path)
    refused = cli(stack, "incidents", "apply", str(path), "--by", "olga")
    assert refused.returncode == 1 and "expired at" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    async def absent() -> None:
        client = await connect(stack.temporal_address, stack.data_converter())
        await _not_started(client, workflow_id(plan.plan_id))

    asyncio.run(absent())


WHO = ("--by", "olga", "--reason", "outage", "--ticket", "INC-1")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("find", "--where", "colour=red"), "unknown field 'colour' in --where"),
        (("plan", "reboot", "--where", "type=order", *WHO), "unknown action 'reboot'"),
        (
            ("plan", "retry", "--where", "type=order retrying", *WHO, "--param", "colour=red"),
            "retry takes no parameter colour",
        ),
        (
            ("plan", "retry", "--where", "type=order execution=completed", *WHO),
            "nothing to plan: retry fits none of them",
        ),
        (
            ("plan", "retry", "--where", "type=order", "--by", "olga", "--reason", " ",
             "--ticket", "INC-1"),
            "a plan needs --reason",
        ),
        (("find", "--where", "type=order", "--csv", "--json"), "choose one of --csv and --json"),
        (("status", "repair-nope"), "unknown repair job repair-nope"),
        (("audit", "--since", "soon"), "--since: 'soon' is not a duration"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_1(
    stack: Stack, outage: Outage, args: tuple[str, ...], says: str
) -> None:
    answer = cli(stack, "incidents", *args)
    assert answer.returncode == 1, answer
    assert says in answer.stderr, answer.stderr
    assert len(answer.stderr.strip().splitlines()) == 1 and "Traceback" not in answer.stderr


def test_a_file_that_is_not_a_plan_is_refused_and_audited(stack: Stack, tmp_path: Path) -> None:
    order = tmp_path / "order.json"
    order.write_text(samples.order().model_dump_json())
    answer = cli(stack, "incidents", "apply", str(order), "--by", "olga")
    assert answer.returncode == 1
    assert f"{order} is not a plan" in answer.stderr
    assert len(answer.stderr.strip().splitlines()) == 1
    audit = json.loads(cli(stack, "incidents", "audit", "--plan", "(not a plan)", "--json").stdout)
    assert any(e["event"] == "refused" and "is not a plan" in e["detail"] for e in audit)


@workflow.defn(name=WORKFLOW_NAME)
class StandInRepair:
    """The contract's job as `status` sees it (the real one is the incidents-apply helper's)."""

    def __init__(self) -> None:
        self.progress: RepairProgress | None = None

    @workflow.run
    async def run(self, input: RepairInput) -> RepairProgress:
        at = workflow.now()
        self.progress = RepairProgress(
            plan_id=input.plan.plan_id,
            action=input.plan.action,
            total=2,
            done=2,
            canary_passed=True,
            results=[
                ItemResult(workflow_id="order-A", outcome=ItemOutcome.FIXED, at=at),
                ItemResult(
                    workflow_id="order-B",
                    outcome=ItemOutcome.SKIPPED,
                    detail="completed since the plan",
                    at=at,
                ),
            ],
        )
        return self.progress

    @workflow.query(name=Message.PROGRESS)
    def report(self) -> RepairProgress:
        assert self.progress is not None
        return self.progress


async def test_status_shows_each_item_as_the_job_reports_it(stack: Stack, client: Client) -> None:
    plan = sample_plan(f"{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:6]}")
    queue = f"stand-in-{uuid.uuid4().hex[:6]}"
    # Unsandboxed: it lives in this test module, whose imports the sandbox would refuse.
    async with Worker(
        client,
        task_queue=queue,
        workflows=[StandInRepair],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            WORKFLOW_NAME,
            RepairInput(plan=plan, applied_by="olga"),
            id=workflow_id(plan.plan_id),
            task_queue=queue,
            result_type=RepairProgress,
        )
        await handle.result()
        answer = await asyncio.to_thread(cli, stack, "incidents", "status", plan.plan_id)
        as_json = await asyncio.to_thread(cli, stack, "incidents", "status", handle.id, "--json")
    assert answer.returncode == 0, answer.stderr
    assert f"job {handle.id}: retry, 2/2 done, canary passed" in answer.stdout
    assert "completed since the plan" in answer.stdout and "1 fixed, 1 skipped" in answer.stdout
    assert RepairProgress.model_validate_json(as_json.stdout).done == 2
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
