"""`continuum purchase` as a person runs it: one clear line and a non-zero exit for every
mistake (a bad file names the file and the field), and a purchase driven from start to cancel."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from domain.purchasing.models import PurchaseStatus
from starters.cli import app
from starters.console import console, err_console
from tests.integration.purchase_support import (
    SAMPLES,
    Purchasing,
    purchasing,
    requisition,
    until_listed,
)

__all__ = ["purchasing"]
CLI = [sys.executable, "-m", "starters", "purchase"]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """As a person runs it: its own process."""
    full = {**os.environ, **env, "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full, timeout=60)


async def acli(purchasing: Purchasing, *args: str) -> subprocess.CompletedProcess[str]:
    """In a thread: the worker serving the CLI's requests runs on this test's event loop."""
    return await asyncio.to_thread(cli, purchasing.env(), *args)


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
async def test_unknown_purchase_ids_are_named(purchasing: Purchasing, tmp_path: Path) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text((SAMPLES / "receipt.json").read_text().replace("R-1001", "NOPE-1"))
    for args in (
        ("status", "NOPE-1"),
        ("confirm", "NOPE-1"),
        ("receive", "NOPE-1", "--file", str(receipt)),
        ("decide", "NOPE-1", "--as", "bob", "--accept"),
    ):
        assert one_line(await acli(purchasing, *args)).endswith("unknown purchase NOPE-1"), args


@pytest.mark.integration
async def test_a_purchase_driven_from_the_cli(purchasing: Purchasing, tmp_path: Path) -> None:
    req = requisition()
    rid = req.requisition_id
    path = tmp_path / "requisition.json"
    path.write_text(req.model_dump_json())

    started = await acli(purchasing, "start", "--file", str(path))
    assert started.returncode == 0, started.stderr
    assert f"started purchase {rid} (workflow purchase-{rid})" in started.stdout
    again = one_line(await acli(purchasing, "start", "--file", str(path)))
    assert again.endswith(f"purchase {rid} already exists")

    await until_listed(purchasing.purchases, rid, f"supplier:{req.supplier_id}")
    listed = await acli(purchasing, "list", "--supplier", req.supplier_id)
    assert listed.returncode == 0 and rid in listed.stdout and "2,100.00" in listed.stdout

    confirmed = await acli(purchasing, "confirm", rid, "--reference", "SO-77")
    assert confirmed.returncode == 0, confirmed.stderr
    # The documents as the samples have them, without a requisition id: the command names it.
    receipt = json.loads((SAMPLES / "receipt.json").read_text())
    del receipt["requisition_id"]
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    taken = await acli(purchasing, "receive", rid, "--file", str(tmp_path / "receipt.json"))
    assert taken.returncode == 0, taken.stderr
    assert f"receipt GR-1001-1 taken by purchase {rid}" in taken.stdout

    bill = json.loads((SAMPLES / "invoice.json").read_text())
    bill["requisition_id"] = rid
    (tmp_path / "invoice.json").write_text(json.dumps(bill))
    taken = await acli(purchasing, "invoice", rid, "--file", str(tmp_path / "invoice.json"))
    assert taken.returncode == 0 and "invoice INV-2026-0042 taken" in taken.stdout
    refused = one_line(
        await acli(purchasing, "invoice", rid, "--file", str(tmp_path / "invoice.json"))
    )
    assert refused.endswith(
        f"purchase {rid} refused the invoice INV-2026-0042: duplicate of INV-2026-0042"
    )

    status = await acli(purchasing, "status", rid)
    assert status.returncode == 0, status.stderr
    for shown in (
        f"{rid} Receiving",
        "confirmed SO-77",
        "receipt GR-1001-1: line 1 × 10, line 2 × 1",
        "invoice INV-2026-0042: 2,100.00 + tax 399.00 EUR",
        "refused invoice INV-2026-0042: duplicate of INV-2026-0042",
    ):
        assert shown in status.stdout, status.stdout

    # Nothing waits on a person yet; then an exception review of lines 1 and 2 opens.
    nothing = one_line(await acli(purchasing, "decide", rid, "--as", "bob", "--accept"))
    assert nothing.endswith(f"purchase {rid} has no decision waiting (Receiving)")
    review = await purchasing.open_review(rid, [1, 2])
    decided = await acli(purchasing, "decide", rid, "--as", "bob", "--accept-lines", "1")
    assert decided.returncode == 0, decided.stderr
    assert f"purchase {rid}: approved" in decided.stdout and "by bob" in decided.stdout
    outcome = await review.result()
    assert outcome.approved and outcome.decided_by == "bob"

    cancelled = await acli(purchasing, "cancel", rid, "--as", "rita", "--reason", "not needed")
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"{rid} Cancelled — cancelled by rita: not needed" in cancelled.stdout
    final = await purchasing.purchases.result(rid)
    assert final.status is PurchaseStatus.CANCELLED
