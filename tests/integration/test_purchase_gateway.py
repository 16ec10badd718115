"""The gateway's supplier and warehouse webhooks over HTTP: signed events reach the purchase's
workflow (purchase-<requisition id>) as the contract's signal and updates; a duplicate invoice
is a 409 with the reason; every refused event names its problem and changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from domain.purchasing.contract import workflow_id
from domain.purchasing.models import ReceiptLine
from services.gateway.signatures import HEADER, sign
from tests.integration.purchase_support import (
    SECRETS,
    Purchasing,
    gateway,
    invoice,
    purchasing,
    receipt,
    requisition,
)

__all__ = ["gateway", "purchasing"]
pytestmark = pytest.mark.integration


async def post(
    url: str, source: str, event: dict[str, Any], secret: str | None = None
) -> httpx.Response:
    body = json.dumps(event).encode()
    key = secret or SECRETS[f"WEBHOOK_SECRET_{source.upper()}"]
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}/events/{source}",
            content=body,
            headers={HEADER: sign(key, body, int(time.time())), "Content-Type": "application/json"},
        )


def event(event_id: str, kind: str, data: Any) -> dict[str, Any]:
    dumped = data if isinstance(data, dict) else data.model_dump(mode="json")
    return {"id": event_id, "type": kind, "data": dumped}


def error(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()["error"]
    return answer.status_code, body["code"], body["message"]


async def history_length(purchasing: Purchasing, rid: str) -> int:
    return len((await purchasing.purchases.handle(rid).fetch_history()).events)


async def settled_history(purchasing: Purchasing, rid: str, within: float = 30) -> int:
    """The history's length once the first workflow task completed (it then only waits)."""
    deadline = time.monotonic() + within
    while True:
        history = await purchasing.purchases.handle(rid).fetch_history()
        if any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events
        ):
            return len(history.events)
        if time.monotonic() > deadline:
            raise AssertionError(f"purchase {rid} never ran its first workflow task")
        await asyncio.sleep(0.1)


async def test_supplier_and_warehouse_events_reach_the_purchase(
    purchasing: Purchasing, gateway: str
) -> None:
    req = requisition()
    rid = req.requisition_id
    purchases = purchasing.purchases
    await purchases.start(req)

    confirmed = event(
        f"C-{rid}", "po-confirmed", {"requisition_id": rid, "supplier_reference": "SO-77"}
    )
    answer = await post(gateway, "supplier", confirmed)
    assert answer.status_code == 202, answer.text
    assert answer.json()["workflow_id"] == workflow_id(rid) == f"purchase-{rid}"
    assert answer.json()["handler"] == "supplier_confirmed"

    answer = await post(gateway, "warehouse", event(f"G-{rid}", "goods-received", receipt(rid)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["accepted"] is True

    bill = invoice(rid)
    answer = await post(gateway, "supplier", event(f"I-{rid}", "invoice-issued", bill))
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["accepted"] is True

    state = await purchases.status(rid)
    assert state.confirmed is not None and state.confirmed.supplier_reference == "SO-77"
    assert [r.receipt_id for r in state.receipts] == ["GR-1001-1"]
    assert [i.reference for i in state.invoices] == [bill.reference]

    # The same invoice again, as a new event: the purchase refuses it and keeps the refusal.
    again = event(f"I2-{rid}", "invoice-issued", bill)
    status, code, message = error(await post(gateway, "supplier", again))
    assert (status, code) == (409, "DocumentRefused")
    assert message == f"purchase {rid}: duplicate of {bill.reference}"
    # The sender's retry of that event gets the same answer, and the refusal is kept once.
    assert error(await post(gateway, "supplier", again))[:2] == (409, "DocumentRefused")
    assert len((await purchases.status(rid)).refused) == 1
    # The accepted invoice's event again is not applied twice.
    replay = event(f"I-{rid}", "invoice-issued", bill)
    assert error(await post(gateway, "supplier", replay))[:2] == (409, "DuplicateEvent")
    assert [i.reference for i in (await purchases.status(rid)).invoices] == [bill.reference]


async def test_refused_purchase_events_name_the_problem_and_change_nothing(
    purchasing: Purchasing, gateway: str
) -> None:
    req = requisition()
    rid = req.requisition_id
    await purchasing.purchases.start(req)
    before = await settled_history(purchasing, rid)

    goods = event(f"G-{rid}", "goods-received", receipt(rid))
    no_rid = {k: v for k, v in goods["data"].items() if k != "requisition_id"}
    bad_quantity = json.loads(json.dumps(goods["data"]))
    bad_quantity["lines"][0]["quantity"] = "ten"
    unknown_line = receipt(rid, lines=[ReceiptLine(line_no=9, quantity=Decimal(1))])
    refusals = {
        "another source's secret": await post(
            gateway, "warehouse", goods, secret=SECRETS["WEBHOOK_SECRET_SUPPLIER"]
        ),
        "no requisition": await post(gateway, "warehouse", {**goods, "data": no_rid}),
        "bad quantity": await post(gateway, "warehouse", {**goods, "data": bad_quantity}),
        "unknown type": await post(gateway, "supplier", {**goods, "type": "goods-received"}),
        "unknown line": await post(
            gateway, "warehouse", event(f"G9-{rid}", "goods-received", unknown_line)
        ),
        "other supplier": await post(
            gateway,
            "supplier",
            event(f"I-{rid}", "invoice-issued", invoice(rid, supplier_id="S-999")),
        ),
        "unknown purchase": await post(
            gateway, "warehouse", event(f"G-NOPE-{rid}", "goods-received", receipt("NOPE-1"))
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
        f"purchase {rid}: receipt GR-1001-1: no line 9 ordered",
    )
    assert found["other supplier"][:2] == (409, "UpdateRefused")
    assert "not the purchase's supplier SUP-102" in found["other supplier"][2]
    assert found["unknown purchase"] == (
        404,
        "UnknownWorkflow",
        "no workflow purchase-NOPE-1: purchase NOPE-1 is unknown",
    )
    assert await history_length(purchasing, rid) == before

    # Nothing was used up: the refused receipt event, now right, goes through.
    answer = await post(gateway, "warehouse", goods)
    assert answer.status_code == 200, answer.text
