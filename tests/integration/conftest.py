"""The real embedded stack on free ports: dev server, reference ERP and CRM, worker processes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Ports, Stack
from continuum.supervisor import free_port
from tests.integration.nats_broker import nats_broker  # noqa: F401  (a fixture: NATS JetStream)

ERP_TABLES = ("reservations", "sales_orders", "payments", "shipments", "invoices")


def free_ports() -> Ports:
    return Ports(
        temporal=free_port(),
        ui=free_port(),
        erp=free_port(),
        crm=free_port(),
        worker_metrics=free_port(),
        codec=free_port(),
        gateway=free_port(),
        ops_metrics=free_port(),
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("stack"), free_ports())
    with stack:
        yield stack


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack with the gateway (webhooks, approval inbox) started last."""
    stack = Stack(tmp_path_factory.mktemp("stack"), free_ports(), with_gateway=True)
    with stack:
        yield stack


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack with the gateway for the whole session, started by the first module that asks
    and stopped at the session's end: a stack start costs 10 to 20 s here.

    A module takes it (its `stack` / `gateway_stack` fixture returns this one) only when none
    of its tests stops, restarts or kills a process of it, sets faults, writes plaintext into
    Temporal, or asserts on everything the stack holds (counts, lists, the sync's totals): it
    sees other modules' orders, approvals and alerts, and asserts only on what it made itself.
    Sign-in failures on the gateway count per address for the session: 5 lock 127.0.0.1 out
    for 15 min, so modules sharing it stay well below that.
    """
    stack = Stack(tmp_path_factory.mktemp("shared-stack"), free_ports(), with_gateway=True)
    with stack:
        yield stack


@pytest.fixture
async def orders(stack: Stack) -> AsyncIterator[OrderClient]:
    client = await connect(stack.temporal_address, stack.data_converter())
    yield OrderClient(client, ORDERS_TASK_QUEUE)


def set_faults(stack: Stack, service: str, **config: object) -> dict[str, object]:
    token = stack.client_env()[f"{service.upper()}_ADMIN_TOKEN"]
    answer = httpx.put(
        f"{stack.url(service)}/admin/faults",
        json=config,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    answer.raise_for_status()
    state: dict[str, object] = answer.json()
    return state


def erp_counts(stack: Stack, order_id: str) -> dict[str, int]:
    """Rows per ERP table for one order, read from the ERP's own SQLite file."""
    with sqlite3.connect(stack.data_dir / "erp.db") as db:
        return {
            table: db.execute(
                f"SELECT count(*) FROM {table} WHERE order_id = ?", (order_id,)
            ).fetchone()[0]
            for table in ERP_TABLES
        }


def crm_deals(stack: Stack, order_id: str) -> list[dict[str, str]]:
    with sqlite3.connect(stack.data_dir / "crm.db") as db:
        rows = db.execute(
            "SELECT properties FROM objects WHERE object_type = 'deals' AND archived_at IS NULL"
        ).fetchall()
    deals = [json.loads(r[0]) for r in rows]
    return [d for d in deals if d.get("order_id") == order_id]


def idempotency_keys(stack: Stack, prefix: str) -> int:
    with sqlite3.connect(stack.data_dir / "erp.db") as db:
        found: int = db.execute(
            "SELECT count(*) FROM idempotency_keys WHERE key LIKE ?", (f"{prefix}%",)
        ).fetchone()[0]
        return found


def data_dir(stack: Stack) -> Path:
    return stack.data_dir


async def erp_read(stack: Stack, path: str, **params: str) -> dict[str, Any]:
    """A read endpoint of the reference ERP's API (`/purchase-orders`, `/supplier-payments`...)."""
    token = stack.client_env()["ERP_API_TOKEN"]
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(
            f"{stack.url('erp')}/api{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found
