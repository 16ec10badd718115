"""The proof of payload encryption on the stack `make run` starts.

After orders ran, the customer's e-mail address and street appear nowhere in the Temporal
server's SQLite files, yet the CLI and (through the codec endpoint) the Web UI show them.
The approval inbox shows them too, decrypted by the gateway, while the same server's files hold
neither: tests/integration/test_inbox_browser.py checks that in a real browser.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from continuum.client import connect
from continuum.codec import KEY_FILE_ENV, KEY_FILE_NAME, KEYS_ENV
from continuum.order_client import OrderClient, OrderError
from continuum.settings import ORDERS_TASK_QUEUE
from continuum.stack import Stack
from domain.orders.contract import workflow_id
from domain.orders.models import Order, OrderStatus
from tests import samples
from tests.integration.conftest import free_ports
from tests.integration.test_order_to_cash_stack import drive_to_end

EMAIL = "ada.k7q2@example.com"
STREET = "742 Evergreen Terrace K7Q2"
BAD_EMAIL = "not-an-address-k7q2"  # quoted by the validation failure's message
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """As `make run` starts it: no keys in the environment, so the stack makes its key file."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv(KEYS_ENV, raising=False)
        env.delenv(KEY_FILE_ENV, raising=False)
        stack = Stack(tmp_path_factory.mktemp("encrypted"), free_ports())
        with stack:
            yield stack


@dataclass
class Ran:
    order: Order
    invalid: Order
    failure: str


@pytest.fixture(scope="module")
async def ran(stack: Stack) -> AsyncIterator[Ran]:
    """One order completed, one refused as invalid, through a client with the stack's keys."""
    orders = OrderClient(
        await connect(stack.temporal_address, stack.data_converter()), ORDERS_TASK_QUEUE
    )
    base = samples.order(customer_id="C-102")
    order = base.model_copy(
        update={
            "customer": base.customer.model_copy(update={"email": EMAIL}),
            "shipping_address": base.shipping_address.model_copy(update={"street": STREET}),
        }
    )
    await orders.start(order)
    [result] = await drive_to_end(orders, [order.order_id])
    assert result.status is OrderStatus.COMPLETED, result.reason
    other = samples.order(customer_id="C-102")
    invalid = other.model_copy(
        update={"customer": other.customer.model_copy(update={"email": BAD_EMAIL})}
    )
    await orders.start(invalid)
    with pytest.raises(OrderError) as refused:
        await orders.result(invalid.order_id)
    yield Ran(order, invalid, str(refused.value))


def temporal_bytes(stack: Stack) -> bytes:
    """The server's database as it is on disk: the main file, its WAL and shared memory."""
    files = sorted(stack.data_dir.glob("temporal.db*"))
    assert any(f.name == "temporal.db-wal" for f in files), files  # the stack runs in WAL mode
    return b"".join(f.read_bytes() for f in files)


def test_the_stack_made_its_own_key_file(stack: Stack) -> None:
    key_file = stack.data_dir / KEY_FILE_NAME
    assert stack.client_env()[KEY_FILE_ENV] == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_no_personal_data_in_the_temporal_database(stack: Stack, ran: Ran) -> None:
    stored = temporal_bytes(stack)
    # The reads are not vacuous: the ids the server must index are there in plain text.
    assert workflow_id(ran.order.order_id).encode() in stored
    for personal in (EMAIL, STREET, BAD_EMAIL):
        assert personal.encode() not in stored, f"{personal} is stored in plain text"


def test_the_client_with_the_keys_reads_them(ran: Ran) -> None:
    # The validation failure travelled encrypted and came back readable.
    assert BAD_EMAIL in ran.failure


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        timeout=60,
    )


def test_the_cli_shows_them_with_the_key_under_the_data_dir(stack: Stack, ran: Ran) -> None:
    # A person's shell: only the address and the data dir, where `make run` left the key.
    shell = {"TEMPORAL_ADDRESS": stack.temporal_address, "CONTINUUM_DATA_DIR": str(stack.data_dir)}
    shown = cli(shell, "order", "show", ran.order.order_id)
    assert shown.returncode == 0, shown.stderr
    assert EMAIL in shown.stdout and STREET in shown.stdout


def test_the_cli_without_the_key_says_so(stack: Stack, ran: Ran) -> None:
    elsewhere = {
        "TEMPORAL_ADDRESS": stack.temporal_address,
        "CONTINUUM_DATA_DIR": str(stack.data_dir / "nowhere"),
    }
    refused = cli(elsewhere, "order", "show", ran.order.order_id)
    assert refused.returncode == 1
    assert KEYS_ENV in refused.stderr and "Traceback" not in refused.stderr
    assert EMAIL not in refused.stdout + refused.stderr


async def test_the_web_ui_decodes_through_the_codec_endpoint(stack: Stack, ran: Ran) -> None:
    codec = stack.url("codec")
    async with httpx.AsyncClient(timeout=10) as http:
        ui_settings = (await http.get(f"{stack.ui_url}/api/v1/settings")).json()
        assert ui_settings["Codec"]["Endpoint"] == codec

        # What the UI's browser does: the raw (encrypted) input, POSTed to /decode from its origin.
        client = await connect(stack.temporal_address)  # payloads stay raw: no codec needed
        handle = client.get_workflow_handle(workflow_id(ran.order.order_id))
        started = (
            (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
        )
        raw = json_format.MessageToDict(Payloads(payloads=started.input.payloads))
        assert EMAIL.encode() not in base64.b64decode(raw["payloads"][0]["data"])
        answer = await http.post(
            f"{codec}/decode", json=raw, headers={"Origin": stack.ui_url, "X-Namespace": "default"}
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == stack.ui_url
        plain = base64.b64decode(answer.json()["payloads"][0]["data"]).decode()
        assert EMAIL in plain and STREET in plain

        preflight = {"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"}
        assert (await http.options(f"{codec}/decode", headers=preflight)).status_code == 400


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install)")
async def test_the_web_ui_page_shows_the_input_decrypted(stack: Stack, ran: Ran) -> None:
    """A real browser on the order's page: the UI fetches the codec endpoint by itself."""
    from playwright.async_api import async_playwright

    url = f"{stack.ui_url}/namespaces/default/workflows/{workflow_id(ran.order.order_id)}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(url)
            await page.get_by_text(EMAIL).first.wait_for(timeout=30_000)
            assert STREET in await page.content()
        finally:
            await browser.close()
