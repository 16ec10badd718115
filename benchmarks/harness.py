"""What the order benchmarks share: a stack with benchmark workers, orders, starts, the
carrier, timings from Temporal's visibility, RSS, and the BENCHMARKS.md section."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from benchmarks.sync import RESULTS, free_ports, machine
from continuum import search_attributes as sa
from continuum.client import connect
from continuum.events.config import Nats
from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE, get_settings
from continuum.stack import Stack
from continuum.supervisor import ManagedProcess, free_port, python_module
from domain import percentiles
from domain.orders.contract import WORKFLOW_NAME, OrderToCashInput, workflow_id
from domain.orders.models import Address, Order, OrderLine, OrderStatus, PaymentMethod
from starters.carrier import settle
from starters.demo import CUSTOMERS

WAL = ("journal_mode=wal", "synchronous=normal")
ADDRESS = Address(
    name="Receiving dock", street="1 Harbour Rd", city="Hamburg", postal_code="20457", country="DE"
)
_CHUNK = 100  # workflow ids per visibility query


def make_orders(prefix: str, count: int, *, parked: bool = False) -> list[Order]:
    """Auto-approved orders (one cheap line), or orders above the approval threshold (5,940)
    that park on their Approval child. Demo customers with room on their credit."""
    quantity, price = (60, Decimal("99.00")) if parked else (1, Decimal("9.99"))
    return [
        Order(
            order_id=f"{prefix}-{i:06d}",
            customer=CUSTOMERS[i % len(CUSTOMERS)],
            lines=[OrderLine(sku=f"SKU-{1 + i % 10:03d}", quantity=quantity, unit_price=price)],
            currency="EUR",
            shipping_address=ADDRESS,
            payment_method=PaymentMethod.CARD,
            payment_reference="tok_visa",
        )
        for i in range(count)
    ]


def ready(proc: ManagedProcess) -> Callable[[], bool]:
    return lambda: "worker ready" in proc.tail(50)


@dataclass
class Bench:
    """A stack without its worker, and `workers` benchmark workers (benchmarks.worker)."""

    data_dir: Path
    workers: int = 1
    pragmas: tuple[str, ...] = WAL
    # Publish the orders' business events: an embedded NATS JetStream and the events worker
    # (the publishers and their deliveries) beside the stack, the hand-over enabled.
    events: bool = False
    worker_env: dict[str, str] = field(default_factory=dict)
    stack: Stack | None = None
    procs: list[ManagedProcess] = field(default_factory=list)
    client: Client | None = None

    async def start(self) -> Client:
        # Without --events, a configuration with no sink (the shipped one embeds NATS).
        nats = Nats(url=f"nats://127.0.0.1:{free_port()}") if self.events else None
        config = self.data_dir / "events.toml"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config.write_text(f'[nats]\nurl = "{nats.url}"\n' if nats else "")
        self.worker_env = {**self.worker_env, "EVENTS_CONFIG_FILE": str(config)}
        self.stack = Stack(
            self.data_dir,
            free_ports(),
            sqlite_pragmas=self.pragmas,
            nats=nats,
            worker_env=self.worker_env,
        )
        self.stack.start(with_worker=False)
        if self.events:
            self.stack.start_events_worker()
        env = {**self.stack.client_env(), "WORKER_METRICS_PORT": "0", **self.worker_env}
        for n in range(self.workers):
            log = self.data_dir / "logs" / f"bench-worker-{n}.log"
            proc = ManagedProcess(
                f"bench-worker-{n}", python_module("benchmarks.worker"), log_path=log, env=env
            ).start()
            self.procs.append(proc)
            proc.wait_ready(ready(proc), timeout=60)
        self.client = await connect(self.stack.temporal_address, self.stack.data_converter())
        return self.client

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the worker(s), the dev server and the ERP and CRM."""
        assert self.stack is not None
        pids = {
            "worker": [p.pid for p in self.procs],
            "server": [self.stack.processes["temporal"].pid],
            "services": [self.stack.processes[s].pid for s in ("erp", "crm")],
        }
        if self.events:
            pids["events"] = [self.stack.processes[s].pid for s in ("events-worker", "nats")]
        used: dict[str, float] = {}
        for part, ids in pids.items():
            times = [psutil.Process(pid).cpu_times() for pid in ids]
            used[part] = sum(t.user + t.system for t in times)
        return used

    def pids(self) -> list[int]:
        """The benchmark's own processes: its workers and the stack's (server, services)."""
        stack = list(self.stack.processes.values()) if self.stack is not None else []
        return [p.pid for p in [*self.procs, *stack] if p.alive()]

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.procs.clear()
        if self.stack is not None:
            self.stack.stop()


async def start_order(client: Client, order: Order, twin: bool, quiet: bool = False) -> None:
    """Starts an order or its twin with the same input and search attributes as OrderClient;
    `quiet`: on the benchmark worker's queue whose orders publish no business events."""
    from benchmarks.twin import WORKFLOW_NAME as TWIN
    from benchmarks.worker import quiet as quiet_queue

    policy = get_settings().approval_policy()
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(sa.ORDER_ID, order.order_id),
            SearchAttributePair(sa.CUSTOMER_ID, order.customer.customer_id),
            SearchAttributePair(sa.ORDER_STATUS, OrderStatus.RECEIVED.value),
            SearchAttributePair(sa.ORDER_TOTAL, float(order.total)),
        ]
    )
    await client.start_workflow(
        TWIN if twin else WORKFLOW_NAME,
        OrderToCashInput(order=order, policy=policy),
        id=workflow_id(order.order_id),
        task_queue=quiet_queue(ORDERS_TASK_QUEUE) if quiet else ORDERS_TASK_QUEUE,
        search_attributes=attributes,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


@dataclass
class Timing:
    order_id: str
    started: datetime
    closed: datetime | None
    status: WorkflowExecutionStatus | None

    @property
    def seconds(self) -> float:
        assert self.closed is not None
        return (self.closed - self.started).total_seconds()


async def timings(client: Client, ids: Sequence[str]) -> list[Timing]:
    """Start and close times as the server recorded them (visibility), one call per 100."""
    by_workflow = {workflow_id(i): i for i in ids}
    found: list[Timing] = []
    keys = list(by_workflow)
    for start in range(0, len(keys), _CHUNK):
        quoted = ", ".join(f"'{w}'" for w in keys[start : start + _CHUNK])
        async for wf in client.list_workflows(f"WorkflowId IN ({quoted})"):
            found.append(Timing(by_workflow[wf.id], wf.start_time, wf.close_time, wf.status))
    return found


async def start_all(
    client: Client, batch: Sequence[Order], twin: bool, parallel: int = 20, quiet: bool = False
) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(order: Order) -> None:
        async with gate:
            await start_order(client, order, twin, quiet)

    await asyncio.gather(*(one(o) for o in batch))


@dataclass
class Burst:
    orders: int
    seconds: float  # first start to last close, server clock
    completed: int

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


async def burst(client: Client, batch: Sequence[Order], twin: bool, quiet: bool = False) -> Burst:
    """All orders at once; the carrier (starters.carrier) reports each delivery once shipped."""
    ids = [o.order_id for o in batch]
    carrier = asyncio.create_task(
        settle(OrderClient(client, ORDERS_TASK_QUEUE), ids, within=900, interval=0.1)
    )
    await start_all(client, batch, twin, quiet=quiet)
    await carrier
    done = await timings(client, ids)
    closed = [t for t in done if t.closed is not None]
    first = min(t.started for t in done)
    last = max(t.closed for t in closed if t.closed is not None)
    completed = sum(t.status is WorkflowExecutionStatus.COMPLETED for t in done)
    return Burst(len(batch), (last - first).total_seconds(), completed)


async def paced(
    client: Client, batch: Sequence[Order], rate: float, quiet: bool = False
) -> list[Timing]:
    """Orders started at `rate` per second (the carrier delivering), then their timings;
    `quiet` as for `start_order`."""
    ids = [o.order_id for o in batch]
    carrier = asyncio.create_task(
        settle(OrderClient(client, ORDERS_TASK_QUEUE), ids, within=900, interval=0.1)
    )
    began = time.monotonic()
    starts: list[asyncio.Task[None]] = []
    for n, order in enumerate(batch):
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        starts.append(asyncio.create_task(start_order(client, order, twin=False, quiet=quiet)))
    await asyncio.gather(*starts)
    await carrier
    return await timings(client, ids)


def percentile(values: Sequence[float], p: float) -> float:
    """The percentile of the report and the board (`domain/percentiles.py`); needs a value."""
    found = percentiles.percentile(values, p)
    if found is None:
        raise ValueError("no values to take a percentile of")
    return found


def rss_mb(pids: Sequence[int]) -> float:
    """Resident memory of the processes and their children, in MB."""
    total = 0
    for pid in pids:
        proc = psutil.Process(pid)
        total += proc.memory_info().rss
        total += sum(c.memory_info().rss for c in proc.children(recursive=True))
    return total / 2**20


def append_section(title: str, command: str, where: str, body: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmarks\n\nFigures from `python -m benchmarks.*` commands, newest last. They"
            " are measured on shared machines: compare figures of the same run, not of runs.\n"
        )
    section = (
        f"\n## {title}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n`{command}`\n\n"
        f"- machine: {where}\n{body}"
    )
    with RESULTS.open("a") as out:
        out.write(section)
    print(f"appended to {RESULTS}")


__all__ = ["machine"]
