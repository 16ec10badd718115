"""`python -m benchmarks.replicas [--orders 200] [--records 5000] [--events 600] [--requests 600]`:
what replicas buy (issue 17), every ratio from one run on one embedded stack on free ports and one
PostgreSQL (pgserver):

- webhook receipts/s (signed `order-placed` events, each a receipt and an order start) and inbox
  requests/s (a signed-in GET /inbox: session from the store, approvals from visibility) on one
  gateway with its store on SQLite vs two gateways on PostgreSQL (requests spread round-robin);
- sync records/s with the store on SQLite vs PostgreSQL (the same records, `full_resync`);
- orders/s (a burst, first start to last close, the carrier delivering) with one vs two worker
  processes, with the server's and the workers' CPU seconds, to show where the limit is.

The load comes from this process, on the same machine. Appends a dated section with the
machine and its load average (at start and end) to BENCHMARKS.md. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
import psycopg
from pgserver.postgres_server import get_server

from benchmarks.harness import append_section, burst, make_orders
from benchmarks.sync import free_ports, generate, machine
from continuum.client import connect
from continuum.codec import KEY_FILE_ENV, KEY_FILE_NAME, ensure_key_file
from continuum.passwords import write_users
from continuum.settings import ORDERS_TASK_QUEUE, get_settings
from continuum.stack import LOOPBACK, Stack
from continuum.supervisor import ManagedProcess, free_port, http_ok, python_module
from domain.sync.contract import WORKFLOW_NAME
from domain.sync.models import SyncInput, SyncResult
from services.gateway.signatures import HEADER, sign

CONCURRENCY = 20  # requests in flight from the load generator
IDLE_QUEUE = "benchmark-gateway-orders"


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def fresh_database(server_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, query = server_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@dataclass
class Replicas:
    """Processes of "hosts" beside a shared stack: each its own directory and environment."""

    stack: Stack
    base: Path
    procs: list[ManagedProcess]

    def env(self, name: str, database_url: str) -> dict[str, str]:
        home = self.base / name
        home.mkdir(parents=True, exist_ok=True)
        key = ensure_key_file(self.stack.data_dir / KEY_FILE_NAME)
        return {
            **self.stack.client_env(),
            "CONTINUUM_DATA_DIR": str(home),
            "SYNC_DB": str(home / "sync.db"),
            KEY_FILE_ENV: str(key),
            "CONTINUUM_DATABASE_URL": database_url,
            "WORKER_METRICS_PORT": "0",
            "LOG_LEVEL": "WARNING",
        }

    def worker(self, name: str, database_url: str) -> ManagedProcess:
        env = {**self.env(name, database_url), "LOG_LEVEL": "INFO"}
        proc = ManagedProcess(
            name, python_module("workers"), log_path=self.base / name / "worker.log", env=env
        ).start()
        self.procs.append(proc)
        proc.wait_ready(lambda: "worker ready" in proc.tail(80), timeout=90)
        return proc

    def gateway(self, name: str, database_url: str, users: Path) -> str:
        port = free_port()
        env = {
            **self.env(name, database_url),
            "INBOX_USERS_FILE": str(users),
            # The orders it starts wait on a queue nobody serves: they must not load the
            # workers measured next (nor use up the demo customers' credit).
            "CONTINUUM_TASK_QUEUE": IDLE_QUEUE,
        }
        argv = python_module(
            "services.gateway", "--host", LOOPBACK, "--port", str(port), "--log-level", "warning"
        )
        proc = ManagedProcess(
            name, argv, log_path=self.base / name / "gateway.log", env=env
        ).start()
        self.procs.append(proc)
        url = f"http://{LOOPBACK}:{port}"
        proc.wait_ready(lambda: http_ok(f"{url}/healthz"), timeout=60)
        return url

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


async def rate(count: int, one: Callable[[int], Awaitable[bool]]) -> tuple[float, int]:
    """Requests/s of `count` calls, CONCURRENCY at a time; and how many failed."""
    gate = asyncio.Semaphore(CONCURRENCY)
    failed = 0

    async def call(n: int) -> None:
        nonlocal failed
        async with gate:
            if not await one(n):
                failed += 1

    began = time.monotonic()
    await asyncio.gather(*(call(n) for n in range(count)))
    return count / (time.monotonic() - began), failed


async def webhooks(stack: Stack, urls: list[str], events: int, tag: str) -> tuple[float, int]:
    secret = stack.client_env()["WEBHOOK_SECRET_SHOP"]
    orders = make_orders(f"wh-{tag}", events)
    async with httpx.AsyncClient(timeout=60) as http:

        async def one(n: int) -> bool:
            order = orders[n]
            body = json.dumps(
                {
                    "id": f"P-{order.order_id}",
                    "type": "order-placed",
                    "data": order.model_dump(mode="json"),
                }
            ).encode()
            answer = await http.post(
                f"{urls[n % len(urls)]}/events/shop",
                content=body,
                headers={
                    HEADER: sign(secret, body, int(time.time())),
                    "Content-Type": "application/json",
                },
            )
            return answer.status_code == 202

        return await rate(events, one)


async def signed_in(http: httpx.AsyncClient, url: str, password: str) -> None:
    page = await http.get(f"{url}/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "no CSRF token on the login page"
    answer = await http.post(
        f"{url}/login",
        data={"username": "alice", "password": password, "csrf_token": found.group(1)},
    )
    assert answer.status_code == 303, answer.text


async def inbox(stack: Stack, urls: list[str], requests: int) -> tuple[float, int]:
    password = stack.client_env()["INBOX_DEMO_PASSWORD"]
    async with httpx.AsyncClient(timeout=60) as http:
        await signed_in(http, urls[0], password)  # one session, valid on every replica

        async def one(n: int) -> bool:
            answer = await http.get(f"{urls[n % len(urls)]}/inbox")
            return answer.status_code == 200

        return await rate(requests, one)


async def sync_rate(stack: Stack, tag: str) -> tuple[float, int]:
    client = await connect(stack.temporal_address, stack.data_converter())
    began = time.monotonic()
    result: SyncResult = await client.execute_workflow(
        WORKFLOW_NAME,
        SyncInput(page_size=500, full_resync=True),
        id=f"erp-crm-sync-replicas-{tag}",
        task_queue=ORDERS_TASK_QUEUE,
        result_type=SyncResult,
    )
    records = sum(feed.records for feed in result.totals.feeds.values())
    return records / (time.monotonic() - began), records


def cpu(pids: list[int]) -> float:
    times = [psutil.Process(pid).cpu_times() for pid in pids]
    return float(sum(t.user + t.system for t in times))


async def orders_rate(stack: Stack, workers: list[ManagedProcess], count: int, tag: str) -> str:
    client = await connect(stack.temporal_address, stack.data_converter())
    server = [stack.processes["temporal"].pid]
    mine = [p.pid for p in workers]
    before = cpu(server), cpu(mine)
    result = await burst(client, make_orders(f"bench-{tag}", count), twin=False)
    used_server, used_workers = cpu(server) - before[0], cpu(mine) - before[1]
    cores = used_server / result.seconds, used_workers / result.seconds
    return (
        f"| {len(workers)} | {count} | {result.completed} | {result.rate:.1f} |"
        f" {cores[0]:.2f} | {cores[1]:.2f} |"
    )


async def main(orders: int, records: int, events: int, requests: int, base: Path) -> None:
    where = machine()
    stack = Stack(base / "shared", free_ports())
    print(f"starting the stack and PostgreSQL in {base} …", flush=True)
    (base / "pg").mkdir(parents=True, exist_ok=True)
    server = get_server(base / "pg" / "data", cleanup_mode="delete")
    replicas = Replicas(stack, base / "hosts", [])
    lines: list[str] = []
    try:
        stack.start(with_worker=False)
        pg = fresh_database(str(server.get_uri()))
        sqlite = f"sqlite:///{base / 'hosts' / 'sqlite-store' / 'continuum.db'}"
        users = base / "inbox-users.json"
        people = get_settings().approval_policy().people
        write_users(users, dict.fromkeys(people, stack.client_env()["INBOX_DEMO_PASSWORD"]))

        print("gateways …", flush=True)
        gateway_rows = []
        for label, store, count in (
            ("1 gateway, SQLite", sqlite, 1),
            ("2 gateways, PostgreSQL", pg, 2),
        ):
            urls = [replicas.gateway(f"gw-{count}-{n}", store, users) for n in range(count)]
            tag = uuid.uuid4().hex[:6]
            received, refused = await webhooks(stack, urls, events, tag)
            pages, failed = await inbox(stack, urls, requests)
            gateway_rows.append(
                f"| {label} | {received:.0f} | {refused} | {pages:.0f} | {failed} |"
            )
            replicas.stop()
        print("\n".join(gateway_rows), flush=True)

        print("orders …", flush=True)
        order_rows = []
        for count in (1, 2):
            workers = [replicas.worker(f"orders-{count}-{n}", pg) for n in range(count)]
            order_rows.append(await orders_rate(stack, workers, orders, f"{count}w"))
            replicas.stop()
        print("\n".join(order_rows), flush=True)
        print("sync …", flush=True)
        generate(stack, customers=0, orders=records)
        sync_rows = []
        # A first, untimed full sync: both timed runs then update the same CRM objects.
        replicas.worker("sync-warm-up", sqlite)
        await sync_rate(stack, "warm-up")
        replicas.stop()
        for label, url in (("SQLite", sqlite), ("PostgreSQL", pg)):
            replicas.worker(f"sync-{label.lower()}", url)
            per_second, read = await sync_rate(stack, label.lower())
            sync_rows.append(f"| {label} | {read} | {per_second:.0f} |")
            replicas.stop()
        print("\n".join(sync_rows), flush=True)

        lines = [
            f"- load average at the end {load()}; load generator in this process, same machine;"
            f" {CONCURRENCY} requests in flight",
            "",
            f"Gateways ({events} signed `order-placed` events, each a receipt and an order start;"
            f" {requests} signed-in GET /inbox):",
            "",
            "| gateways, store | webhook receipts/s | not 202 | inbox requests/s | not 200 |",
            "|---|---|---|---|---|",
            *gateway_rows,
            "",
            f"Sync ({records} new ERP orders plus the demo customers, `full_resync`, one worker,"
            " page size 500):",
            "",
            "| store | records | records/s |",
            "|---|---|---|",
            *sync_rows,
            "",
            f"Orders (a burst of {orders}, first start to last close; store on PostgreSQL; CPU"
            " as cores busy during the burst):",
            "",
            "| workers | orders | completed | orders/s | dev server cores | worker cores |",
            "|---|---|---|---|---|---|",
            *order_rows,
            "",
        ]
    finally:
        replicas.stop()
        stack.stop()
        server.cleanup()
    append_section(
        "Replicas: gateways, sync store, workers",
        "python -m benchmarks.replicas "
        f"--orders {orders} --records {records} --events {events} --requests {requests}",
        where,
        "\n".join(lines),
    )


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.data_dir or Path(tempfile.mkdtemp(prefix="continuum-replicas-"))
    asyncio.run(main(args.orders, args.records, args.events, args.requests, base))


if __name__ == "__main__":
    cli()
