"""The demo batch `make run` launches: orders that complete, wait for a person, or fail and undo.

The demo also plays the carrier (`starters.carrier`): it reports delivery for every shipped order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from continuum.order_client import OrderClient
from domain.orders.contract import workflow_id
from domain.orders.models import (
    Address,
    Customer,
    Order,
    OrderLine,
    OrderResult,
    OrderStatus,
    PaymentMethod,
)
from starters.carrier import settle

# The reference ERP's demo customers (services/erp/seed.py); C-103 is blocked, so not here.
CUSTOMERS = [
    Customer(customer_id="C-100", name="Ada Lovelace", email="ada@example.com", company="ACME"),
    Customer(
        customer_id="C-101",
        name="Grace Hopper",
        email="grace@example.com",
        company="Hopper Systems",
    ),
    Customer(customer_id="C-104", name="Alan Turing", email="alan@example.com"),
    Customer(
        customer_id="C-105",
        name="Katherine Johnson",
        email="katherine@example.com",
        company="Orbital Ltd",
    ),
]
ADDRESS = Address(
    name="Receiving dock", street="1 Harbour Rd", city="Hamburg", postal_code="20457", country="DE"
)


@dataclass
class DemoOrder:
    order: Order
    kind: str  # auto | approval | declined


def demo_orders(count: int, run_id: str | None = None) -> list[DemoOrder]:
    """`count` orders: two wait for approval, one has its card declined, the rest go through."""
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    made: list[DemoOrder] = []
    for i in range(count):
        customer = CUSTOMERS[i % len(CUSTOMERS)]
        kind = "approval" if i in (1, 4) else "declined" if i == 2 else "auto"
        quantity, price = (
            (60, "99.00") if kind == "approval" else (1 + i % 3, f"{19.90 + 5 * i:.2f}")
        )
        lines = [
            OrderLine(sku=f"SKU-00{1 + i % 5}", quantity=quantity, unit_price=Decimal(price)),
            OrderLine(sku="SKU-006", quantity=1, unit_price=Decimal("4.50")),
        ]
        made.append(
            DemoOrder(
                Order(
                    order_id=f"D-{run_id}-{i + 1:03d}",
                    customer=customer,
                    lines=lines,
                    currency="EUR",
                    shipping_address=ADDRESS,
                    payment_method=PaymentMethod.CARD,
                    payment_reference="tok_declined" if kind == "declined" else "tok_visa",
                ),
                kind,
            )
        )
    return made


async def run_demo(
    orders: OrderClient, console: Console, count: int, within: float = 180.0
) -> list[OrderResult]:
    batch = demo_orders(count)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        starting = progress.add_task("starting orders", total=len(batch))
        for item in batch:
            await orders.start(item.order)
            progress.advance(starting)
        settling = progress.add_task("orders settled", total=len(batch))
        ids = [d.order.order_id for d in batch]
        await settle(
            orders,
            ids,
            within=within,
            carrier="demo-carrier",
            on_round=lambda settled: progress.update(settling, completed=settled),
        )
    return list(await asyncio.gather(*(orders.status(oid) for oid in ids)))


STYLE = {
    OrderStatus.COMPLETED: "green",
    OrderStatus.AWAITING_APPROVAL: "yellow",
    OrderStatus.COMPENSATED: "magenta",
    OrderStatus.REJECTED: "red",
    OrderStatus.NEEDS_ATTENTION: "bold red",
}


def summary_table(results: list[OrderResult], ui_url: str) -> Table:
    table = Table(title="Demo orders", show_lines=False)
    for column in ("order", "status", "what happened"):
        table.add_column(column)
    table.add_column("Web UI", overflow="fold")
    for r in results:
        happened = r.reason or (
            f"delivered, invoiced {r.invoice_id}, deal won"
            if r.status is OrderStatus.COMPLETED
            else ", ".join(s.step for s in r.steps[-2:])
        )
        if r.compensated:
            happened += " — undone: " + ", ".join(c.step for c in r.compensated)
        link = f"{ui_url}/namespaces/default/workflows/{workflow_id(r.order_id)}"
        style = STYLE.get(r.status, "")
        table.add_row(
            r.order_id, f"[{style}]{r.status.value}[/]" if style else r.status.value, happened, link
        )
    return table
