"""`continuum purchase` as a person runs it: one clear line and a non-zero exit for every
mistake (a bad file names the file and the field), and a purchase on the real stack driven from
its requisition through approval, documents and an exception decided in part, to a cancel that
comes too late."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from continuum.purchasing.client import PurchaseClient
from continuum.stack import Stack
from domain.purchasing.models import PurchaseStatus
from starters.cli import app
from starters.console import console, err_console
from tests.integration.purchase_support import (
    SAMPLES,
    invoice,
    purchases,
    receipt,
    requisition,
    until_listed,
    wait_for,
)

__all__ = ["purchases"]
CLI = [sys.executable, "-m", "starters", "purchase"]


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): purchases with ids and invoice numbers of their own."""
    return shared_stack


def process(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """As a person runs it: its own process."""
    env = {**os.environ, **stack.client_env(), "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


async def cli(stack: Stack, *args: str) -> Result:
    """The same command in this process (a thread: the CLI runs its own event loop), with the
    stack's environment; a fresh interpreter per command would cost a second or more each."""
    runner = CliRunner(env=stack.client_env())
    return await asyncio.to_thread(runner.invoke, app, ["purchase", *args])


def one_line(answer: subprocess.CompletedProcess[str] | Result, code: int = 1) -> str:
    returned = (
        answer.returncode if isinstance(answer, subprocess.CompletedProcess) else answer.exit_code
    )
    assert returned == code, (answer, answer.stderr)
    assert "Traceback" not in answer.stderr
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    return lines[0]


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs print as a terminal 200 columns wide does (a message is one line)."""
    monkeypatch.setattr(err_console, "width", 200)
    monkeypatch.setattr(console, "width", 200)
    # Nothing listens there: a command that tried to connect would fail loudly.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")


def run(*args: str) -> Result:
    """A mistake caught before anything connects: run in this process, as typer would."""
    return CliRunner().invoke(app, ["purchase", *args])


def test_bad_files_name_the_file_and_the_field(tmp_path: Path, wide: None) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"requisition_id": "R-1",')
    message = one_line(run("start", "--file", str(broken)))
    assert f"{broken} is not valid JSON" in message and "line 1" in message

    data = json.loads((SAMPLES / "requisition.json").read_text())
    del data["currency"]
    data["lines"][1]["quantity"] = "many"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(data))
    message = one_line(run("start", "--file", str(wrong)))
    assert f"{wrong} is not a valid requisition" in message
    assert "currency: Field required" in message and "lines.1.quantity" in message

    # Well-formed, but against the rules: every violation named, nothing started.
    data = json.loads((SAMPLES / "requisition.json").read_text())
    data["lines"][0]["quantity"] = "0"
    data["currency"] = "euro"
    unruly = tmp_path / "unruly.json"
    unruly.write_text(json.dumps(data))
    message = one_line(run("start", "--file", str(unruly)))
    assert f"{unruly} is not a valid requisition" in message
    assert "currency: 'euro' is not an ISO 4217 code" in message
    assert "lines[0].quantity: must be above zero, got 0" in message

    missing = tmp_path / "nowhere.json"
    message = one_line(run("receive", "R-1", "--file", str(missing)))
    assert f"cannot read {missing}" in message

    # The sample receipt is for R-1001: handing it in for another purchase is a mistake.
    message = one_line(run("receive", "R-2", "--file", str(SAMPLES / "receipt.json")))
    assert message.endswith("is a goods receipt for requisition R-1001, not R-2")

    bill = json.loads((SAMPLES / "invoice.json").read_text())
    bill["due_on"] = "soon"
    bad_bill = tmp_path / "invoice.json"
    bad_bill.write_text(json.dumps(bill))
    message = one_line(run("invoice", "R-1001", "--file", str(bad_bill)))
    assert f"{bad_bill} is not a valid supplier invoice: due_on:" in message


def test_argument_mistakes_are_refused_before_anything_is_sent(wide: None) -> None:
    cases = {
        ("decide", "R-1", "--as", "bob"): "say one decision: --accept, --reject or --accept-lines",
        ("decide", "R-1", "--as", "bob", "--accept", "--reject"): "(not --accept and --reject)",
        ("decide", "R-1", "--as", "bob", "--accept-lines", "1,x"): "'x' is not a line number",
        ("decide", "R-1", "--as", "bob", "--accept-lines", "0"): "'0' is not a line number",
        ("confirm", "R-1", "--promised", "tomorrow"): "--promised: 'tomorrow' is not a date",
        ("list", "--supplier", "S-1", "--key", "po:1"): "choose one of --supplier and --key",
    }
    for args, expected in cases.items():
        assert expected in one_line(run(*args)), args

    usage = {
        ("strat",): "No such command 'strat'",
        ("decide", "R-1", "--accept"): "Missing option '--as'",
        ("cancel", "R-1"): "Missing option '--as'",
        ("receive", "R-1"): "Missing option '--file'",
        ("list", "--status", "Lost"): "Invalid value for '--status'",
    }
    for args, expected in usage.items():
        answer = run(*args)
        assert answer.exit_code == 2, (args, answer.stderr)
        assert expected in answer.stderr, (args, answer.stderr)


@pytest.mark.integration
async def test_unknown_purchase_ids_are_named(stack: Stack, tmp_path: Path, wide: None) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text((SAMPLES / "receipt.json").read_text().replace("R-1001", "NOPE-1"))
    for args in (
        ("status", "NOPE-1"),
        ("confirm", "NOPE-1"),
        ("receive", "NOPE-1", "--file", str(receipt)),
        ("decide", "NOPE-1", "--as", "petra", "--accept"),
    ):
        assert one_line(await cli(stack, *args)).endswith("unknown purchase NOPE-1"), args


@pytest.mark.integration
async def test_a_purchase_driven_from_the_cli(
    stack: Stack, purchases: PurchaseClient, tmp_path: Path, wide: None
) -> None:
    req = requisition()
    rid = req.requisition_id
    path = tmp_path / "requisition.json"
    path.write_text(req.model_dump_json())

    # Once as its own process, as a person runs it; the rest in this process.
    started = await asyncio.to_thread(process, stack, "start", "--file", str(path))
    assert started.returncode == 0, started.stderr
    assert f"started purchase {rid} (workflow purchase-{rid})" in started.stdout
    again = one_line(await cli(stack, "start", "--file", str(path)))
    assert again.endswith(f"purchase {rid} already exists")

    # 2,100 EUR: a purchasing manager approves it, and not the buyer who asked for it.
    await wait_for(
        purchases, rid, "awaited approval", lambda s: s.status.value == "AwaitingApproval"
    )
    own = one_line(await cli(stack, "decide", rid, "--as", "bruno", "--accept"))
    assert own.endswith(
        f"purchase {rid}: bruno requested purchase-{rid} and may not decide their own request"
    )
    approved = await cli(stack, "decide", rid, "--as", "petra", "--accept")
    assert approved.exit_code == 0, approved.stderr
    assert f"purchase {rid}: approved by petra" in approved.stdout

    await wait_for(
        purchases, rid, "awaited the supplier", lambda s: s.purchase_order_id is not None
    )
    goods = receipt(req).model_dump(mode="json")
    del goods["requisition_id"]  # the command names the purchase
    (tmp_path / "receipt.json").write_text(json.dumps(goods))
    early = one_line(await cli(stack, "receive", rid, "--file", str(tmp_path / "receipt.json")))
    assert "receipts and invoices are taken once the supplier confirmed the order" in early

    confirmed = await cli(stack, "confirm", rid, "--reference", "SO-77")
    assert confirmed.exit_code == 0, confirmed.stderr
    await wait_for(purchases, rid, "was confirmed", lambda s: s.status.value == "Receiving")
    taken = await cli(stack, "receive", rid, "--file", str(tmp_path / "receipt.json"))
    assert taken.exit_code == 0, taken.stderr
    assert f"receipt GR-{rid} taken by purchase {rid}" in taken.stdout

    # Both lines dearer than ordered, beyond tolerance: an exception review for a manager.
    bill = invoice(req, {1: "130.00", 2: "200.00"})
    (tmp_path / "invoice.json").write_text(bill.model_dump_json())
    taken = await cli(stack, "invoice", rid, "--file", str(tmp_path / "invoice.json"))
    assert taken.exit_code == 0 and f"invoice {bill.reference} taken" in taken.stdout
    refused = one_line(await cli(stack, "invoice", rid, "--file", str(tmp_path / "invoice.json")))
    assert f"purchase {rid} refused the invoice {bill.reference}: duplicate of" in refused

    review = await wait_for(purchases, rid, "opened a review", lambda s: bool(s.pending_review))
    assert review.status is PurchaseStatus.IN_EXCEPTION
    await until_listed(purchases, rid, "InException")
    listed = await cli(stack, "list", "--status", "InException")
    assert listed.exit_code == 0 and rid in listed.stdout

    decided = await cli(
        stack, "decide", rid, "--as", "petra", "--accept-lines", "1", "--comment", "ok"
    )
    assert decided.exit_code == 0, decided.stderr
    assert f"purchase {rid}: approved (lines 1) by petra" in decided.stdout
    paid = await wait_for(purchases, rid, "paid line 1", lambda s: bool(s.payments))
    assert [p.lines for p in paid.payments] == [[1]]

    status = await cli(stack, "status", rid)
    assert status.exit_code == 0, status.stderr
    for shown in (
        f"{rid} AwaitingCreditNote",
        "confirmed SO-77",
        f"receipt GR-{rid}: line 1 × 10, line 2 × 5",
        f"invoice {bill.reference}: 2,300.00 + tax 437.00 EUR",
        f"refused invoice {bill.reference}: duplicate of",
        "exception 1 decided by petra: accepted 1, rejected 2 — ok",
        f"invoice {bill.reference} lines 1, 1,547.00 EUR",
    ):
        assert shown in status.stdout, (shown, status.stdout)

    late = one_line(await cli(stack, "cancel", rid, "--as", "bruno", "--reason", "too dear"))
    assert late.endswith(
        f"purchase {rid} can no longer be cancelled: 1 payment(s) were made to the supplier"
    )


@pytest.mark.integration
async def test_a_cancelled_purchase_is_undone(
    stack: Stack, purchases: PurchaseClient, tmp_path: Path, wide: None
) -> None:
    req = requisition()
    path = tmp_path / "requisition.json"
    path.write_text(req.model_dump_json())
    assert (await cli(stack, "start", "--file", str(path))).exit_code == 0
    rid = req.requisition_id
    await wait_for(
        purchases, rid, "awaited approval", lambda s: s.status.value == "AwaitingApproval"
    )
    assert (await cli(stack, "decide", rid, "--as", "petra", "--accept")).exit_code == 0
    await wait_for(purchases, rid, "ordered", lambda s: s.purchase_order_id is not None)

    cancelled = await cli(stack, "cancel", rid, "--as", "bruno", "--reason", "not needed")
    assert cancelled.exit_code == 0, cancelled.stderr
    assert f"{rid} Cancelled — cancelled by bruno: not needed" in cancelled.stdout
    assert "↺ cancel purchase order" in cancelled.stdout
    again = one_line(await cli(stack, "cancel", rid, "--as", "petra"))
    assert again.endswith(f"purchase {rid} is already finished (Cancelled)")
