"""The gateway's supplier and warehouse webhooks over HTTP on the real stack: signed events reach
the purchase's workflow (purchase-<requisition id>) as the contract's signal and updates, and a
purchase fed only by webhooks is paid once and completes; every refused event names its problem
and changes nothing; a duplicate invoice is a 409 with the purchase's reason."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from continuum.client import connect
from continuum.purchasing.client import PurchaseClient
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.purchasing.contract import workflow_id
from domain.purchasing.models import PurchaseStatus, ReceiptLine, SupplierConfirmation
from services.gateway.signatures import HEADER, sign
from tests.integration.purchase_support import (
    invoice,
    receipt,
    small_requisition,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway_stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): purchases with ids and invoice numbers of their own."""
    return shared_stack


@pytest.fixture
async def purchases(gateway_stack: Stack) -> AsyncIterator[PurchaseClient]:
    client = await connect(gateway_stack.temporal_address, gateway_stack.data_converter())
    yield PurchaseClient(client, ORDERS_TASK_QUEUE)


async def post(
    stack: Stack, source: str, event: dict[str, Any], secret: str | None = None
) -> httpx.Response:
    body = json.dumps(event).encode()
    key = secret or stack.client_env()[f"WEBHOOK_SECRET_{source.upper()}"]
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{stack.url('gateway')}/events/{source}",
            content=body,
            headers={HEADER: sign(key, body, int(time.time())), "Content-Type": "application/json"},
        )


def event(event_id: str, kind: str, data: BaseModel | dict[str, Any]) -> dict[str, Any]:
    dumped = data if isinstance(data, dict) else data.model_dump(mode="json")
    return {"id": event_id, "type": kind, "data": dumped}


def error(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()["error"]
    return answer.status_code, body["code"], body["message"]


async def settled_history(purchases: PurchaseClient, rid: str, within: float = 60) -> int:
    """The history's length once the confirmed purchase only waits for documents: no workflow
    task and no activity pending."""
    handle = purchases.handle(rid)
    deadline = time.monotonic() + within
    while True:
        state = await purchases.status(rid)
        raw = (await handle.describe()).raw_description
        if (
            state.status is PurchaseStatus.RECEIVING
            and not raw.pending_activities
            and not raw.HasField("pending_workflow_task")
        ):
            return len((await handle.fetch_history()).events)
        if time.monotonic() > deadline:
            raise AssertionError(f"purchase {rid} never settled: {state.status}")
        await asyncio.sleep(0.1)


async def test_a_purchase_fed_by_webhooks_is_paid_once(
    gateway_stack: Stack, purchases: PurchaseClient
) -> None:
    req = small_requisition()
    rid = req.requisition_id
    await purchases.start(req)
    await wait_for(purchases, rid, "ordered", lambda s: s.purchase_order_id is not None)

    # Goods before the supplier confirmed: the purchase refuses them (its validator), 409.
    goods = event(f"G-{rid}", "goods-received", receipt(req))
    status, code, message = error(await post(gateway_stack, "warehouse", goods))
    assert (status, code) == (409, "UpdateRefused")
    assert message.startswith(f"purchase {rid}: purchase {rid} is AwaitingConfirmation")

    confirmed = event(
        f"C-{rid}", "po-confirmed", {"requisition_id": rid, "supplier_reference": "SO-77"}
    )
    answer = await post(gateway_stack, "supplier", confirmed)
    assert answer.status_code == 202, answer.text
    assert answer.json()["workflow_id"] == workflow_id(rid) == f"purchase-{rid}"
    assert answer.json()["handler"] == "supplier_confirmed"
    await wait_for(purchases, rid, "was confirmed", lambda s: s.status.value == "Receiving")

    # The refused receipt's event id was not used up: sent again, it is taken.
    answer = await post(gateway_stack, "warehouse", goods)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["accepted"] is True

    bill = invoice(req)
    answer = await post(gateway_stack, "supplier", event(f"I-{rid}", "invoice-issued", bill))
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["accepted"] is True

    result = await purchases.result(rid)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert result.confirmed is not None and result.confirmed.supplier_reference == "SO-77"
    assert [r.receipt_id for r in result.receipts] == [f"GR-{rid}"]
    assert [i.reference for i in result.invoices] == [bill.reference]
    assert [(p.invoice_reference, p.amount) for p in result.payments] == [
        (bill.reference, Decimal("499.80"))
    ]
    # The invoice's event again is not applied twice; a new event for the finished purchase
    # is refused as such.
    replay = event(f"I-{rid}", "invoice-issued", bill)
    assert error(await post(gateway_stack, "supplier", replay))[:2] == (409, "DuplicateEvent")
    late = event(f"I2-{rid}", "invoice-issued", bill)
    assert error(await post(gateway_stack, "supplier", late)) == (
        409,
        "WorkflowClosed",
        f"purchase {rid} is already finished (Completed)",
    )


async def test_refused_events_change_nothing_and_a_duplicate_invoice_is_a_409(
    gateway_stack: Stack, purchases: PurchaseClient
) -> None:
    req = small_requisition()
    rid = req.requisition_id
    await purchases.start(req)
    await wait_for(purchases, rid, "ordered", lambda s: s.purchase_order_id is not None)
    await purchases.confirm(SupplierConfirmation(requisition_id=rid))
    before = await settled_history(purchases, rid)

    goods = event(f"G-{rid}", "goods-received", receipt(req))
    no_rid = {k: v for k, v in goods["data"].items() if k != "requisition_id"}
    bad_quantity = json.loads(json.dumps(goods["data"]))
    bad_quantity["lines"][0]["quantity"] = "ten"
    unknown_line = receipt(req).model_copy(
        update={"lines": [ReceiptLine(line_no=9, quantity=Decimal(1))]}
    )
    supplier_secret = gateway_stack.client_env()["WEBHOOK_SECRET_SUPPLIER"]
    refusals = {
        "another source's secret": await post(
            gateway_stack, "warehouse", goods, secret=supplier_secret
        ),
        "no requisition": await post(gateway_stack, "warehouse", {**goods, "data": no_rid}),
        "bad quantity": await post(gateway_stack, "warehouse", {**goods, "data": bad_quantity}),
        "unknown type": await post(gateway_stack, "supplier", {**goods, "type": "goods-received"}),
        "unknown line": await post(
            gateway_stack, "warehouse", event(f"G9-{rid}", "goods-received", unknown_line)
        ),
        "other supplier": await post(
            gateway_stack,
            "supplier",
            event(
                f"I-{rid}",
                "invoice-issued",
                invoice(req).model_copy(update={"supplier_id": "SUP-100"}),
            ),
        ),
        "unknown purchase": await post(
            gateway_stack,
            "warehouse",
            event(
                f"G-NOPE-{rid}",
                "goods-received",
                receipt(req.model_copy(update={"requisition_id": "NOPE-1"})),
            ),
        ),
    }
    found = {what: error(answer) for what, answer in refusals.items()}
    assert found["another source's secret"][:2] == (401, "BadSignature")
    assert found["no requisition"][:2] == (422, "MalformedEvent")
    assert "data.requisition_id: Field required" in found["no requisition"][2]
    assert found["bad quantity"][:2] == (422, "MalformedEvent")
    assert "data.lines.0.quantity" in found["bad quantity"][2]
    assert found["unknown type"][:2] == (422, "UnknownEventType")
    assert "invoice-issued, po-confirmed" in found["unknown type"][2]
    assert found["unknown line"] == (
        409,
        "UpdateRefused",
        f"purchase {rid}: receipt GR-{rid}: line 9 is not on the requisition",
    )
    assert found["other supplier"] == (
        409,
        "UpdateRefused",
        f"purchase {rid}: invoice INV-{rid} is from supplier SUP-100, not SUP-102",
    )
    assert found["unknown purchase"] == (
        404,
        "UnknownWorkflow",
        "no workflow purchase-NOPE-1: purchase NOPE-1 is unknown",
    )
    assert await history_length(purchases, rid) == before
    state = await purchases.status(rid)
    assert (state.status, state.receipts, state.invoices) == (PurchaseStatus.RECEIVING, [], [])

    # Nothing was used up: the goods event, signed right, is taken; then an invoice due
    # tomorrow (the purchase waits to pay it), and the same invoice again as a new event.
    assert (await post(gateway_stack, "warehouse", goods)).status_code == 200
    bill = invoice(req).model_copy(update={"due_on": datetime.now(UTC).date() + timedelta(days=1)})
    answer = await post(gateway_stack, "supplier", event(f"I-{rid}", "invoice-issued", bill))
    assert answer.status_code == 200 and answer.json()["result"]["accepted"] is True, answer.text
    again = event(f"I2-{rid}", "invoice-issued", bill)
    status, code, message = error(await post(gateway_stack, "supplier", again))
    assert (status, code) == (409, "DocumentRefused")
    assert message.startswith(f"purchase {rid}: duplicate of {bill.reference}")
    # The sender's retry of that event gets the same answer; the refusal is kept once.
    assert error(await post(gateway_stack, "supplier", again)) == (status, code, message)
    state = await purchases.status(rid)
    assert [r.reference for r in state.refused] == [bill.reference]
    assert [i.reference for i in state.invoices] == [bill.reference]
    assert state.status is PurchaseStatus.AWAITING_PAYMENT and not state.payments


async def history_length(purchases: PurchaseClient, rid: str) -> int:
    return len((await purchases.handle(rid).fetch_history()).events)
