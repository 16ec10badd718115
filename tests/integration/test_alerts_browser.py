"""The inbox's Alerts page in a real browser (Debian's headless Chromium, driven by Playwright),
against the real stack with its gateway: an operator signs in, sees the firing alert with its
timeline, acknowledges it from the page; the Alert workflow records who. Someone without the
operations role does not get the page, and a POST without the session's CSRF token changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect
from temporalio.client import Client

from continuum.client import connect
from continuum.stack import Stack
from domain.alerts.contract import AlertStatus, Severity
from tests.integration.alert_desk import (
    alert_input,
    ops_worker,
    paged,
    raise_alert,
    state_of,
    wait_listed,
    wait_state,
)
from tests.integration.test_inbox_browser import page, sign_in, sign_out

pytestmark = pytest.mark.integration
__all__ = ["page"]  # the browser fixture, shared with the approvals' browser test


@pytest.fixture(scope="module")
def gateway_stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): each alert has a subject of its own."""
    return shared_stack


@pytest.fixture
async def client(gateway_stack: Stack) -> AsyncIterator[Client]:
    client = await connect(gateway_stack.temporal_address, gateway_stack.data_converter())
    async with ops_worker(client, gateway_stack.data_dir / "alerts.log"):
        yield client


async def reload_until(page: Page, selector: str, within: float = 30) -> None:
    """The page reads visibility, which trails the workflow by a moment: reload until shown."""
    deadline = time.monotonic() + within
    while not await page.locator(selector).count():
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} never showed:\n{await page.content()}")
        await page.reload()


async def test_an_operator_acknowledges_a_firing_alert_in_the_browser(
    gateway_stack: Stack, client: Client, page: Page
) -> None:
    password = gateway_stack.client_env()["INBOX_DEMO_PASSWORD"]
    given = alert_input("order-stalled", Severity.CRITICAL)
    alert = await raise_alert(client, given)
    await wait_state(client, alert, paged)
    await wait_listed(client, alert, AlertStatus.FIRING)

    await sign_in(page, "olga", password)
    await page.get_by_role("link", name="Alerts").click()
    await expect(page.get_by_role("heading", name="Alerts", level=1)).to_be_visible()
    row = f'.alerts-firing li[data-alert="{alert}"]'
    await reload_until(page, row)
    item = page.locator(row)
    await expect(item).to_contain_text(given.summary)
    await expect(item).to_contain_text("Firing")
    # Its timeline, folded: who was notified at which level.
    await item.get_by_text("Timeline").click()
    await expect(item.locator("ol.timeline li").last).to_contain_text("notified")
    await expect(item.locator("ol.timeline li").last).to_contain_text("ops-log")

    await item.get_by_label("Comment").fill("on it, calling the carrier")
    await item.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("status")).to_contain_text("You acknowledged it")
    await expect(page.get_by_role("heading", level=1)).to_have_text(given.summary)
    timeline = page.locator("ol.timeline li")
    await expect(timeline.last).to_contain_text("acknowledged")
    await expect(timeline.last).to_contain_text("olga")
    await expect(timeline.last).to_contain_text("on it, calling the carrier")

    state = await state_of(client, alert)
    assert state.status is AlertStatus.ACKNOWLEDGED and state.acknowledged_by == "olga"
    assert state.timeline[-1].detail == "on it, calling the carrier"

    # Back on the list it has moved to the acknowledged ones.
    await page.get_by_role("link", name="← Alerts").click()
    await reload_until(page, f'.alerts-acknowledged li[data-alert="{alert}"]')
    await expect(page.locator(f'.alerts-firing li[data-alert="{alert}"]')).to_have_count(0)
    acked = page.locator(f'.alerts-acknowledged li[data-alert="{alert}"]')
    await expect(acked).to_contain_text("acknowledged by olga")
    await expect(acked.get_by_role("button", name="Acknowledge")).to_have_count(0)


async def test_the_workflow_refusal_shows_and_a_form_without_its_token_changes_nothing(
    gateway_stack: Stack, client: Client, page: Page
) -> None:
    password = gateway_stack.client_env()["INBOX_DEMO_PASSWORD"]
    given = alert_input("erp-retrying", Severity.WARNING)
    # Only Oscar may act on this one: Olga is refused by the workflow, in its words.
    given.responders = ["oscar"]
    alert = await raise_alert(client, given)
    await wait_state(client, alert, paged)

    await sign_in(page, "olga", password)
    await page.goto(f"/alerts/{alert}")
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "'olga' may not acknowledge this alert: not one of its people (oscar)"
    )
    assert (await state_of(client, alert)).status is AlertStatus.FIRING

    # A form posted from elsewhere (no CSRF token of this session): refused, nothing happens.
    forged = await page.request.post(
        f"/alerts/{alert}/acknowledge", form={"comment": "forged"}, max_redirects=0
    )
    assert forged.status == 403
    assert (await state_of(client, alert)).acknowledged_by is None

    # Silence needs a reason: the page asks for one before the workflow is bothered.
    await page.goto(f"/alerts/{alert}")
    await page.get_by_label("Silence for").select_option("2h")
    await page.get_by_label("Reason").fill("ERP upgrade tonight")
    await page.get_by_role("button", name="Silence").click()
    await expect(page.get_by_role("alert")).to_contain_text("'olga' may not silence this alert")
    await sign_out(page)

    await sign_in(page, "oscar", password)
    await page.goto(f"/alerts/{alert}")
    await page.get_by_label("Silence for").select_option("2h")
    await page.get_by_label("Reason").fill("ERP upgrade tonight")
    await page.get_by_role("button", name="Silence").click()
    await expect(page.get_by_role("status")).to_contain_text("You silenced it")
    await expect(page.locator("ol.timeline li").last).to_contain_text("ERP upgrade tonight")
    state = await state_of(client, alert)
    assert state.status is AlertStatus.SILENCED and state.silenced_until is not None


async def test_the_alerts_page_is_for_the_operations_role_only(
    gateway_stack: Stack, client: Client, page: Page
) -> None:
    password = gateway_stack.client_env()["INBOX_DEMO_PASSWORD"]
    alert = await raise_alert(client, alert_input())
    await wait_listed(client, alert, AlertStatus.FIRING)

    # Not signed in: to the login page first.
    await page.goto("/alerts")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    await sign_in(page, "alice", password)  # a sales manager
    await expect(page.get_by_role("link", name="Alerts")).to_have_count(0)
    for path in ("/alerts", f"/alerts/{alert}"):
        answer = await page.goto(path)
        assert answer is not None and answer.status == 403
        await expect(page.get_by_role("alert")).to_have_text(
            "The Alerts page is for the operations role."
        )
    posted = await page.request.post(f"/alerts/{alert}/acknowledge", max_redirects=0)
    assert posted.status == 403
    assert (await state_of(client, alert)).status is AlertStatus.FIRING
    await sign_out(page)

    await sign_in(page, "olga", password)
    missing = await page.goto("/alerts/alert-no-such-thing")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("alert")).to_have_text("No such alert.")
