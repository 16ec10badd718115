"""The approval inbox in a real browser: Debian's headless Chromium, driven by Playwright.

An order over the approval threshold waits for a sales manager. A finance person signs in, does
not see it, and is refused with the workflow's own words when they try anyway; a sales manager
sees it, approves it with a comment, and the order completes with that decision in its audit.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from continuum.approvals.client import ApprovalClient
from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.purchasing.client import PurchaseClient
from continuum.settings import ORDERS_TASK_QUEUE, get_settings
from continuum.stack import Stack
from domain.approvals.models import ApprovalState, ApprovalStatus
from domain.orders.models import OrderStatus
from domain.purchasing.models import PurchaseStatus, SupplierConfirmation
from services.gateway.approvals import subject_of, waiting_query
from starters.purchase_demo import Item, invoice, receipt_in_full, requisition, wait_for_status
from tests import samples
from tests.integration.conftest import erp_read
from tests.integration.test_encryption import temporal_bytes
from tests.integration.test_gateway import wait_status


@pytest.fixture(scope="module")
def gateway_stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): orders of its own, and one failed sign-in."""
    return shared_stack


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=(
            "Debian's chromium is not installed at /usr/bin/chromium "
            "(`apt-get install -y chromium`; .ci/run installs it in CI)"
        ),
    ),
]


@pytest.fixture
async def orders(gateway_stack: Stack) -> AsyncIterator[OrderClient]:
    client = await connect(gateway_stack.temporal_address, gateway_stack.data_converter())
    yield OrderClient(client, ORDERS_TASK_QUEUE)


@pytest.fixture
async def page(gateway_stack: Stack) -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(base_url=gateway_stack.url("gateway"))
            context.set_default_timeout(15_000)
            yield await context.new_page()
        finally:
            await browser.close()


async def sign_in(page: Page, user: str, password: str) -> None:
    await page.goto("/inbox")
    # Not signed in: the inbox sends the browser to the login page.
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Waiting for you")).to_be_visible()


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def reload_until_listed(page: Page, text: str, within: float = 30) -> None:
    """Visibility trails the workflow by a moment: reload the inbox until the row is there."""
    deadline = time.monotonic() + within
    row = page.get_by_role("link", name=text)
    while not await row.count():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the inbox:\n{await page.content()}")
        await page.reload()


async def test_a_sales_manager_approves_in_the_browser_and_the_order_completes(
    gateway_stack: Stack, orders: OrderClient, page: Page
) -> None:
    password = gateway_stack.client_env()["INBOX_DEMO_PASSWORD"]
    order = samples.order(unit_price="6000.00", quantity=1, customer_id="C-105")
    await orders.start(order, get_settings().approval_policy())
    await wait_status(orders, order.order_id, OrderStatus.AWAITING_APPROVAL)
    approval_id = f"approval-order-{order.order_id}"

    # Wrong password: refused on the login page.
    await page.goto("/login")
    await page.get_by_label("User name").fill("alice")
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Unknown user or wrong password.")

    # Finance does not hold the sales_manager role: not in bob's inbox, and the approval's page
    # (the customer's data with it) does not exist for him. First wait until visibility lists
    # it for a sales manager (the inbox's own query): before that, "bob doesn't see it" proves
    # nothing.
    listed_for_sales = waiting_query("alice", ["sales_manager"])
    deadline = time.monotonic() + 30
    while approval_id not in [w.id async for w in orders.client.list_workflows(listed_for_sales)]:
        assert time.monotonic() < deadline, f"visibility never listed {approval_id}"
        await asyncio.sleep(0.2)
    await sign_in(page, "bob", password)
    await expect(page.get_by_text(order.order_id)).to_have_count(0)
    answer = await page.goto(f"/inbox/{approval_id}")
    assert answer is not None and answer.status == 404
    await expect(page.get_by_text("No such approval.")).to_be_visible()
    await expect(page.get_by_text(order.customer.email)).to_have_count(0)
    # An id that does not exist looks the same: the inbox never tells which ids exist.
    shown_for_existing = await page.locator("main").inner_text()
    missing = await page.goto(f"/inbox/approval-order-{order.order_id}-no-such")
    assert missing is not None and missing.status == 404
    assert await page.locator("main").inner_text() == shown_for_existing
    await sign_out(page)

    await sign_in(page, "alice", password)
    await reload_until_listed(page, f"Order {order.order_id}")
    await page.get_by_role("link", name=f"Order {order.order_id}").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(order.order_id)
    await expect(page.get_by_text("SKU-001")).to_be_visible()
    # Personal data: shown to the approver, decrypted by the gateway; never stored in clear.
    email, street = order.customer.email, order.shipping_address.street
    await expect(page.get_by_text(email)).to_be_visible()
    await expect(page.get_by_text(street, exact=False)).to_be_visible()
    stored = temporal_bytes(gateway_stack)
    assert email.encode() not in stored and street.encode() not in stored
    await page.get_by_label("Comment").first.fill("known customer, checked the credit line")
    await page.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("status")).to_contain_text("You approved")
    audit = page.locator("ol.audit li")
    await expect(audit.last).to_contain_text("alice")
    await expect(audit.last).to_contain_text("approved")
    await expect(audit.last).to_contain_text("known customer, checked the credit line")

    state: ApprovalState = await orders.client.get_workflow_handle(approval_id).query(
        "state", result_type=ApprovalState
    )
    assert state.status is ApprovalStatus.APPROVED and state.decided_by == "alice"
    refusals = [e for e in state.audit if e.action.value == "refused"]
    assert refusals == []

    await wait_status(orders, order.order_id, OrderStatus.AWAITING_DELIVERY)
    await orders.deliver(order.order_id, carrier="test-carrier")
    result = await orders.result(order.order_id)
    assert result.status is OrderStatus.COMPLETED
    assert ("approved", "by alice") in [(s.step, s.detail) for s in result.steps]

    # Decided: it has left alice's inbox.
    await page.goto("/inbox")
    await expect(page.get_by_text(order.order_id)).to_have_count(0)


@pytest.fixture
async def purchases(gateway_stack: Stack) -> AsyncIterator[PurchaseClient]:
    client = await connect(gateway_stack.temporal_address, gateway_stack.data_converter())
    yield PurchaseClient(client, get_settings().task_queue)


async def test_a_buyer_sees_the_exception_side_by_side_and_accepting_some_lines_pays_only_those(
    gateway_stack: Stack, purchases: PurchaseClient, page: Page
) -> None:
    password = gateway_stack.client_env()["INBOX_DEMO_PASSWORD"]
    req = requisition(
        f"P-browser-{uuid.uuid4().hex[:8]}",
        "SUP-101",
        [
            Item("SKU-002", "Coffee grinder", "4", "52.00"),
            Item("SKU-006", "Tamper", "10", "9.50"),
            Item("SKU-005", "Descaling kit", "5", "6.00"),
        ],
    )
    rid = req.requisition_id
    await purchases.start(req)
    await purchases.confirm(SupplierConfirmation(requisition_id=rid, supplier_reference="SC-9"))
    await wait_for_status(purchases, rid, {PurchaseStatus.RECEIVING})
    await purchases.receive(receipt_in_full(req, f"GR-{rid}"))
    # Lines 1 and 2 over the order price, line 3 as ordered.
    sent = invoice(req, f"GP-{rid}", prices={1: "57.50", 2: "9.90"})
    await purchases.invoice(sent)
    pending = await wait_for_status(purchases, rid, {PurchaseStatus.IN_EXCEPTION})
    assert pending.pending_review is not None and pending.payments == []
    approval_id = pending.pending_review
    review = await ApprovalClient(purchases.client).state(subject_of(approval_id))
    assert review.kind == "purchase_exception" and review.parts == ["1", "2"]
    buyer = next(
        n for n, p in get_settings().approval_policy().people.items() if "buyer" in p.roles
    )

    await sign_in(page, buyer, password)
    await reload_until_listed(page, review.summary)
    await page.get_by_role("link", name=review.summary).click()
    table = page.locator("table.side-by-side")
    await expect(table.locator("thead")).to_contain_text(f"Receipt GR-{rid}")
    await expect(table.locator("thead")).to_contain_text(f"Invoice GP-{rid}")
    rows = table.locator("tbody tr.line")
    await expect(rows).to_have_count(3)
    # The lines are the requisition's as submitted (its descriptions come from the start input).
    await expect(rows.nth(0)).to_contain_text("Coffee grinder")
    # Per line: ordered at its price, the receipt, the invoice, and the match; under it, why.
    first = rows.nth(0)
    for text in ("SKU-002", "4 unit", "52.00", "4 × 57.50", "57.50", "price +5.50", "exception"):
        await expect(first).to_contain_text(text)
    why = table.locator('tr.why[data-line="1"]')
    await expect(why).to_contain_text("57.50")
    await expect(why.locator(".tolerance")).to_contain_text("tolerance applied: quantity 2 %")
    await expect(rows.nth(1)).to_contain_text("10 × 9.90")
    await expect(rows.nth(2)).to_contain_text("matched")
    boxes = page.get_by_role("checkbox")
    await expect(boxes).to_have_count(2)  # one per line in exception

    await page.get_by_role("checkbox", name=re.compile(r"^Line 1 ")).check()
    await page.get_by_label("Comment").first.fill("grinders went up, agreed by phone")
    await page.get_by_role("button", name="Accept selected lines").click()
    await expect(page.get_by_role("status")).to_contain_text("You accepted lines 1")
    await expect(page.locator("ol.audit li").last).to_contain_text(buyer)

    # Line 2 waits for a credit note; lines 1 (accepted) and 3 (matched) are paid, once.
    after = await wait_for_status(purchases, rid, {PurchaseStatus.AWAITING_CREDIT_NOTE})
    [payment] = after.payments
    assert sorted(payment.lines) == [1, 3]
    lines = {x.line_no: x for x in sent.lines}
    net = sum((lines[n].quantity * lines[n].unit_price for n in (1, 3)), Decimal("0"))
    assert payment.amount == (net * Decimal("1.19")).quantize(Decimal("0.01"))
    [decision] = after.decisions
    assert (decision.decided_by, decision.accepted_lines, decision.rejected_lines) == (
        buyer,
        [1],
        [2],
    )
    paid = await erp_read(gateway_stack, "/supplier-payments", requisition_id=rid)
    assert paid["count"] == 1 and sorted(paid["items"][0]["lines"]) == [1, 3]


async def test_a_purchasing_manager_sees_the_requisition_lines_and_approves_it(
    gateway_stack: Stack, purchases: PurchaseClient, page: Page
) -> None:
    password = gateway_stack.client_env()["INBOX_DEMO_PASSWORD"]
    # Over the 1,000 EUR threshold: a purchasing manager approves the requisition first.
    req = requisition(
        f"P-approve-{uuid.uuid4().hex[:8]}",
        "SUP-100",
        [
            Item("SKU-004", "Bean storage jar", "150", "6.50"),
            Item("SKU-010", "Water filter", "40", "8.00"),
        ],
        requested_by="bruno",
    )
    rid = req.requisition_id
    await purchases.start(req)
    await wait_for_status(purchases, rid, {PurchaseStatus.AWAITING_APPROVAL})
    approval = await ApprovalClient(purchases.client).state(f"purchase-{rid}")
    assert approval.kind == "purchase" and approval.pending_role == "purchasing_manager"

    await sign_in(page, "petra", password)
    await reload_until_listed(page, approval.summary)
    await page.get_by_role("link", name=approval.summary).click()
    rows = page.locator("table.side-by-side tbody tr.line")
    await expect(rows).to_have_count(2)
    for n, text in enumerate(["Bean storage jar", "Water filter"]):
        await expect(rows.nth(n)).to_contain_text(text)
    await expect(rows.nth(0)).to_contain_text("150 unit")
    await expect(rows.nth(1)).to_contain_text("8.00")
    await expect(page.get_by_text("1,295.00 EUR net")).to_be_visible()
    await expect(page.get_by_role("checkbox")).to_have_count(0)  # decided as a whole
    await page.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("status")).to_contain_text("You approved")
    after = await wait_for_status(purchases, rid, {PurchaseStatus.AWAITING_CONFIRMATION})
    assert after.approval is not None and after.approval.decided_by == "petra"
