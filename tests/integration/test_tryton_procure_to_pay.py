"""Procure-to-pay on the real stack with a real Tryton 8.2 as the ERP: what Tryton ends up holding.

One stack for the module (`Stack(erp_backend="tryton")` from the session's cached Tryton template,
tests/connectors/tryton_fixtures.py), its worker reaching Tryton through a `HoldingRelay`: a test
can let a write reach Tryton and commit, keep Tryton's answer from the worker, and kill the
worker or Tryton right then, the moment a retry must find what was done instead of doing it
again. Everything is counted in Tryton itself, read through its REST API: purchases, supplier
shipments, supplier invoices, payments. Each test uses its own requisition ids (and the demo
suppliers SUP-100..102 of services/demo_data.py), so the tests share the one Tryton.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from connectors.tryton import TrytonErpClient, TrytonSettings
from continuum.client import connect
from continuum.purchasing.client import PurchaseClient
from continuum.settings import get_settings
from continuum.stack import Stack
from domain.approvals.models import Verdict
from domain.errors import IntegrationError
from domain.purchasing.models import (
    PaymentDue,
    PurchaseResult,
    PurchaseStatus,
    SupplierConfirmation,
    SupplierInvoice,
)
from domain.purchasing.policy import PurchasingPolicy
from services.gateway.approvals import ApprovalDesk
from services.tryton.setup import TrytonLayout
from starters.purchase_demo import (
    Item,
    demo_purchases,
    invoice,
    play,
    receipt_in_full,
    requisition,
    wait_for_status,
)
from tests.connectors.tryton_fixtures import SKIP_REASON, TRYTON_MISSING, tryton_template
from tests.integration.conftest import free_ports
from tests.integration.holding_relay import Hold, HoldingRelay
from tests.integration.test_order_to_cash_stack import starts

__all__ = ["tryton_template"]  # a fixture, imported for pytest

pytestmark = [pytest.mark.integration, pytest.mark.skipif(TRYTON_MISSING, reason=SKIP_REASON)]

D = Decimal
T = TypeVar("T")


@dataclass
class TrytonStack:
    stack: Stack
    relay: HoldingRelay  # between the worker and Tryton


@pytest.fixture(scope="module")
def tryton_stack(
    tryton_template: TrytonLayout, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrytonStack]:
    ports = free_ports()
    with HoldingRelay(upstream_port=ports.erp) as relay:
        stack = Stack(
            tmp_path_factory.mktemp("tryton-p2p"),
            ports,
            erp_backend="tryton",
            erp_template=tryton_template.root,
            # A call whose answer is held waits for it until the test releases it, not the
            # default 10 s (a Tryton restart takes longer on a busy machine).
            worker_env={"ERP_URL": relay.url, "HTTP_TIMEOUT_SECONDS": "60"},
        )
        with stack:
            yield TrytonStack(stack, relay)


@pytest.fixture
async def purchases(tryton_stack: TrytonStack) -> AsyncIterator[PurchaseClient]:
    stack = tryton_stack.stack
    client = await connect(stack.temporal_address, stack.data_converter())
    yield PurchaseClient(client, get_settings().task_queue)


@pytest.fixture
async def tryton(tryton_stack: TrytonStack) -> AsyncIterator[TrytonErpClient]:
    """The connector straight on the stack's Tryton (not through the relay): used to read."""
    stack = tryton_stack.stack
    credentials = TrytonLayout(stack.erp_home).credentials()
    client = TrytonErpClient(
        TrytonSettings(
            url=stack.url("erp"),
            database=credentials.database,
            application_key=credentials.application_key,
            login=credentials.login,
            password=credentials.password,
        )
    )
    try:
        yield client
    finally:
        await client.aclose()


def fresh(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class InTryton:
    """What Tryton holds for one requisition, read from Tryton's own records."""

    purchases: list[dict[str, Any]]
    shipments: list[dict[str, Any]]  # stock.shipment.in
    returns: list[dict[str, Any]]  # stock.shipment.in.return
    invoices: list[dict[str, Any]]  # account.invoice, type in, any state
    payments: list[dict[str, Any]]  # account.payment, payable, against those invoices


async def in_tryton(tryton: TrytonErpClient, rid: str) -> InTryton:
    async def search(model: str, domain: list[Any], *fields: str) -> list[dict[str, Any]]:
        return await tryton._search(model, domain, ["state", *fields], order=[("id", "ASC")])

    purchases = await search(
        "purchase.purchase",
        [("description", "=", f"Continuum requisition {rid}")],
        "shipments",
        "shipment_returns",
        "total_amount",
    )
    ids = [int(p["id"]) for p in purchases]
    shipment_ids = [s for p in purchases for s in p["shipments"]]
    return_ids = [s for p in purchases for s in p["shipment_returns"]]
    invoices = await search(
        "account.invoice",
        [("type", "=", "in"), ("purchases", "in", ids)],
        "reference",
        "total_amount",
        "lines_to_pay",
    )
    lines = [line for i in invoices for line in i["lines_to_pay"]]
    return InTryton(
        purchases=purchases,
        shipments=await search("stock.shipment.in", [("id", "in", shipment_ids)], "reference"),
        returns=await search("stock.shipment.in.return", [("id", "in", return_ids)]),
        invoices=invoices,
        payments=await search(
            "account.payment",
            [("kind", "=", "payable"), ("line", "in", lines)],
            "amount",
            "reference",
        ),
    )


def one_of_each(held: InTryton, reference: str, gross: Decimal) -> None:
    """One purchase (done), one supplier shipment (done), one supplier invoice (paid, the
    invoice's gross) and one payment (succeeded, the same amount); nothing else."""
    assert [p["state"] for p in held.purchases] == ["done"], held.purchases
    assert [s["state"] for s in held.shipments] == ["done"], held.shipments
    assert held.returns == []
    assert [(i["reference"], i["state"], i["total_amount"]) for i in held.invoices] == [
        (reference, "paid", gross)
    ], held.invoices
    assert [(p["state"], p["amount"]) for p in held.payments] == [("succeeded", gross)]


def creates(model: str) -> Callable[[bytes], bool]:
    """A REST create of a `model` record (POST /<db>/rest/model/<model>)."""
    ending = f"/rest/model/{model} HTTP/".encode()

    def matches(request: bytes) -> bool:
        line = request.split(b"\r\n", 1)[0]
        return line.startswith(b"POST ") and ending in line

    return matches


def calls(method: str) -> Callable[[bytes], bool]:
    """A JSON-RPC call of `method` (POST /<db>/rpc/)."""
    wanted = f'"method":"{method}"'.encode()
    return lambda request: wanted in request.replace(b" ", b"")


def body(answer: bytes) -> Any:
    """The JSON an HTTP answer carries."""
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def succeeded(answer: bytes) -> bool:
    """A JSON-RPC answer with a result, not an error (a warning to acknowledge first)."""
    return body(answer).get("error") is None


async def held(hold: Hold, within: float = 60) -> Any:
    """Waits until Tryton has answered the held request; its answer's JSON."""
    answered = await asyncio.to_thread(hold.answered.wait, within)
    assert answered, "the request to hold was never answered by Tryton"
    return body(hold.answer)


async def received(purchases: PurchaseClient, rid: str) -> PurchaseResult:
    """Started, confirmed by the supplier, and the goods received in full."""
    await purchases.confirm(
        SupplierConfirmation(requisition_id=rid, supplier_reference=f"SC-{rid}")
    )
    state = await wait_for_status(purchases, rid, {PurchaseStatus.RECEIVING})
    return state


async def test_one_purchase_end_to_end_is_one_purchase_shipment_invoice_and_payment_in_tryton(
    purchases: PurchaseClient, tryton: TrytonErpClient
) -> None:
    [paid, _, _] = demo_purchases(fresh("e2e"))
    rid = paid.requisition.requisition_id
    await purchases.start(paid.requisition)
    played = await play(purchases, paid)
    assert [a.accepted for a in played.answers] == [True, True], played.answers
    result = await purchases.result(rid)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    sent = paid.documents[1]
    assert isinstance(sent, SupplierInvoice)
    held_now = await in_tryton(tryton, rid)
    one_of_each(held_now, sent.reference, sent.gross)
    # The process's ids are Tryton's: the purchase, and the payment of both lines.
    assert result.purchase_order_id == str(held_now.purchases[0]["id"])
    [payment] = result.payments
    assert payment.payment_id == str(held_now.payments[0]["id"])
    assert (payment.amount, payment.lines) == (sent.gross, [1, 2])
    assert D(held_now.purchases[0]["total_amount"]) == sent.gross


async def test_worker_killed_once_tryton_made_the_payment_pays_once(
    tryton_stack: TrytonStack, purchases: PurchaseClient, tryton: TrytonErpClient
) -> None:
    stack, relay = tryton_stack.stack, tryton_stack.relay
    req = requisition(
        fresh("P-kill"), "SUP-100", [Item("SKU-004", "Bean storage jar", "8", "6.50")]
    )
    rid = req.requisition_id
    await purchases.start(req)
    await received(purchases, rid)
    assert (await purchases.receive(receipt_in_full(req))).accepted
    # Tryton creates the payment and commits; the worker never hears of it, and dies.
    hold = relay.hold(creates("account.payment"))
    sent = invoice(req, f"BR-{rid}")
    assert (await purchases.invoice(sent)).accepted
    made = (await held(hold))["id"]
    stack.processes["worker"].kill()  # SIGKILL: no chance to finish anything
    hold.release()
    dead = await in_tryton(tryton, rid)
    assert [(p["id"], p["state"]) for p in dead.payments] == [(made, "draft")]
    stack.start_worker()
    result = await asyncio.wait_for(purchases.result(rid), 90)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    held_now = await in_tryton(tryton, rid)
    one_of_each(held_now, sent.reference, sent.gross)
    # The payment Tryton made before the kill is the one paid: found again, not made again.
    assert [p["id"] for p in held_now.payments] == [made]
    assert [p.payment_id for p in result.payments] == [str(made)]
    [paying] = [s for s in await starts(purchases.handle(rid)) if s.name == "pay_supplier"]
    assert paying.attempt > 1, paying


async def test_tryton_killed_once_it_posted_the_invoice_leaves_one_invoice_and_one_payment(
    tryton_stack: TrytonStack, purchases: PurchaseClient, tryton: TrytonErpClient
) -> None:
    stack, relay = tryton_stack.stack, tryton_stack.relay
    req = requisition(
        fresh("P-erp"),
        "SUP-101",
        [Item("SKU-006", "Tamper", "5", "10.00"), Item("SKU-002", "Coffee grinder", "1", "52.00")],
    )
    rid = req.requisition_id
    await purchases.start(req)
    await received(purchases, rid)
    assert (await purchases.receive(receipt_in_full(req))).accepted
    # Tryton posts the supplier's invoice and commits; it is killed before the answer is out.
    hold = relay.hold(calls("model.account.invoice.post"), succeeded)
    sent = invoice(req, f"GP-{rid}")
    assert (await purchases.invoice(sent)).accepted
    await held(hold)
    restarted = stack.restart("erp", kill=True)
    assert restarted.alive() and stack.processes["erp"] is restarted
    # The posting outlived the kill; the worker, still waiting for its answer, did nothing since.
    after_kill = await in_tryton(tryton, rid)
    assert [(i["reference"], i["state"]) for i in after_kill.invoices] == [
        (sent.reference, "posted")
    ]
    assert after_kill.payments == []
    hold.release()  # the worker's call fails now, and is retried
    result = await asyncio.wait_for(purchases.result(rid), 120)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    assert [a.reference for a in result.invoices] == [sent.reference] and result.refused == []
    one_of_each(await in_tryton(tryton, rid), sent.reference, sent.gross)
    [posting] = [
        s for s in await starts(purchases.handle(rid)) if s.name == "post_supplier_invoice"
    ]
    assert posting.attempt > 1, posting


async def test_an_invoice_over_tolerance_waits_in_the_inbox_and_is_paid_only_once_accepted(
    tryton_stack: TrytonStack, purchases: PurchaseClient, tryton: TrytonErpClient
) -> None:
    [_, over, _] = demo_purchases(fresh("exc"))
    rid = over.requisition.requisition_id
    await purchases.start(over.requisition)
    played = await play(purchases, over)
    assert [a.accepted for a in played.answers] == [True, True], played.answers
    waiting = played.result
    assert waiting is not None and waiting.status is PurchaseStatus.IN_EXCEPTION, waiting
    assert waiting.pending_review and waiting.payments == []
    [line] = waiting.match.exceptions if waiting.match else []
    assert line.line_no == 1, line

    # In a buyer's inbox (the gateway's own query), while Tryton holds the invoice unpaid.
    buyer = PurchasingPolicy().buyer_role
    people = get_settings().approval_policy().people
    login = min(name for name, p in people.items() if buyer in p.roles)
    desk = ApprovalDesk(purchases.client)
    deadline = asyncio.get_running_loop().time() + 30
    while waiting.pending_review not in [
        w.approval_id for w in await desk.waiting_for(login, [buyer])
    ]:
        assert asyncio.get_running_loop().time() < deadline, "never in the buyer's inbox"
        await asyncio.sleep(0.2)
    sent = over.documents[1]
    assert isinstance(sent, SupplierInvoice)
    before = await in_tryton(tryton, rid)
    assert [(i["reference"], i["state"]) for i in before.invoices] == [(sent.reference, "posted")]
    assert before.payments == []
    assert (await purchases.status(rid)).status is PurchaseStatus.IN_EXCEPTION

    await purchases.decide(rid, login, Verdict.APPROVED, comment="price agreed by phone")
    result = await asyncio.wait_for(purchases.result(rid), 60)
    assert result.status is PurchaseStatus.COMPLETED, result.reason
    [decision] = result.decisions
    assert (decision.decided_by, decision.rejected_lines) == (login, [])
    after = await in_tryton(tryton, rid)
    one_of_each(after, sent.reference, sent.gross)
    [payment] = result.payments
    assert payment.amount == sent.gross  # as invoiced, the dearer price accepted
    # Tryton made the payment after the buyer's decision (its clock is UTC, without a zone).
    [made] = await tryton._search(
        "account.payment", [("id", "=", after.payments[0]["id"])], ["create_date"]
    )
    assert made["create_date"] >= decision.at.replace(tzinfo=None), (made, decision.at)


class LostAnswers:
    """Matches each write to Tryton the first time it is sent (anything but a read or a login;
    a JSON-RPC call by its method and parameters, not its id): its answer is then lost once."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.lost: list[str] = []

    def __call__(self, request: bytes) -> bool:
        line, _, rest = request.partition(b"\r\n")
        if line.startswith(b"GET "):
            return False
        payload = rest.partition(b"\r\n\r\n")[2]
        if b"/rpc/" in line:
            call = json.loads(payload)
            if str(call["method"]).startswith("common."):
                return False
            payload = json.dumps([call["method"], call["params"]]).encode()
        key = line.split(b" ")[1] + payload
        if key in self.seen:
            return False
        self.seen.add(key)
        self.lost.append(
            line.decode().split(" ")[1].split("/", 2)[-1] + " " + payload[:60].decode()
        )
        return True


async def test_a_purchase_whose_every_write_loses_its_answer_once_is_one_of_each_in_tryton(
    tryton_stack: TrytonStack, tryton: TrytonErpClient
) -> None:
    """The connector's side of both kills, at every write of a purchase rather than one: each
    write reaches Tryton and commits, and its answer is lost (the connection closes, as when
    the worker or Tryton dies), the first time it is sent; the step is asked again with the
    same key, as Temporal retries it, until it answers. Through a relay of its own on the
    module's Tryton."""
    credentials = TrytonLayout(tryton_stack.stack.erp_home).credentials()
    lost = LostAnswers()
    with HoldingRelay(upstream_port=tryton_stack.stack.ports.erp) as relay:
        client = TrytonErpClient(
            TrytonSettings(
                url=relay.url,
                database=credentials.database,
                application_key=credentials.application_key,
                login=credentials.login,
                password=credentials.password,
            )
        )

        async def step(call: Callable[[], Awaitable[T]]) -> T:
            for _ in range(40):
                relay.hold(lost, drop=True)
                try:
                    return await call()
                except IntegrationError as err:
                    assert err.retryable, err
            raise AssertionError(f"never answered; lost: {lost.lost}")

        try:
            req = requisition(
                fresh("P-lost"),
                "SUP-102",
                [
                    Item("SKU-008", "Cup set", "6", "21.00"),
                    Item("SKU-005", "Descaling kit", "2", "30.00"),
                ],
            )
            rid = req.requisition_id
            po = await step(lambda: client.create_purchase_order(req, idempotency_key=f"{rid}:po"))
            pid = po.purchase_order_id
            await step(
                lambda: client.confirm_purchase_order(pid, "SC-1", idempotency_key=f"{rid}:c")
            )
            goods = receipt_in_full(req)
            await step(lambda: client.record_goods_receipt(pid, goods, idempotency_key=f"{rid}:gr"))
            sent = invoice(req, f"OS-{rid}")
            await step(lambda: client.post_supplier_invoice(pid, sent, idempotency_key=f"{rid}:i"))
            due = PaymentDue(
                invoice_reference=sent.reference,
                lines=[1, 2],
                amount=sent.gross,
                tax=sent.tax,
                currency="EUR",
                due_on=sent.due_on,
            )
            paid = await step(
                lambda: client.pay_supplier(pid, "SUP-102", due, idempotency_key=f"{rid}:pay")
            )
        finally:
            await client.aclose()
    assert paid.status == "paid" and paid.amount == sent.gross
    one_of_each(await in_tryton(tryton, rid), sent.reference, sent.gross)
    # Every kind of write lost its answer once: creates, buttons, wizards, the books.
    for write in ("purchase.purchase ", "stock.shipment.in ", "account.payment ", "invoice.post"):
        assert any(write in w for w in lost.lost), (write, lost.lost)
