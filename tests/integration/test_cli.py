"""The `continuum` CLI as a person runs it: one clear line and a non-zero exit for every mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from continuum.order_client import OrderClient
from continuum.stack import Stack
from tests import samples
from tests.integration.test_order_to_cash_stack import drive_to_end, wait_for

CLI = [sys.executable, "-m", "starters"]


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): only orders of its own, and order ids nobody has."""
    return shared_stack


def cli(stack: Stack | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(stack.client_env() if stack else {}), "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


def test_malformed_order_file_names_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"order_id": "O-1",')
    answer = cli(None, "order", "start", "--file", str(broken))
    assert answer.returncode == 1
    assert "is not valid JSON" in answer.stderr and "line 1" in answer.stderr
    assert len(answer.stderr.strip().splitlines()) == 1

    wrong = tmp_path / "wrong.json"
    data = samples.order().model_dump(mode="json")
    data["lines"][0]["quantity"] = 0
    del data["currency"]
    wrong.write_text(json.dumps(data))
    answer = cli(None, "order", "start", "--file", str(wrong))
    assert answer.returncode == 1
    assert "currency: Field required" in answer.stderr


def test_a_typo_in_a_command_is_refused() -> None:
    answer = cli(None, "order", "strat")
    assert answer.returncode == 2
    assert "No such command 'strat'" in answer.stderr


def test_unknown_order_id(stack: Stack) -> None:
    for args in (
        ("status", "NOPE-1"),
        ("approve", "NOPE-1", "--by", "alice"),
        ("deliver", "NOPE-1"),
    ):
        answer = cli(stack, "order", *args)
        assert answer.returncode == 1, answer
        assert "unknown order NOPE-1" in answer.stderr
        assert "Traceback" not in answer.stderr


async def test_start_status_and_a_decision_on_a_decided_order(
    stack: Stack, orders: OrderClient, tmp_path: Path
) -> None:
    order = samples.order(unit_price="6000.00", quantity=1, customer_id="C-105")
    path = tmp_path / "order.json"
    path.write_text(order.model_dump_json())
    assert cli(stack, "order", "start", "--file", str(path)).returncode == 0

    # The order may still be checking; the CLI then says it is not waiting yet.
    for _ in range(50):
        approved = cli(stack, "order", "approve", order.order_id, "--by", "alice")
        if "not waiting for approval" not in approved.stderr:
            break
    assert approved.returncode == 0, approved.stderr
    assert f"order {order.order_id} approved by alice" in approved.stdout
    again = cli(stack, "order", "reject", order.order_id, "--by", "dave")
    assert again.returncode == 1
    assert f"already decided: order-{order.order_id} is approved by alice" in again.stderr

    # Visibility still says AwaitingApproval (settled, for the carrier) until the order moves on.
    await wait_for(orders, order.order_id, "approved")
    await drive_to_end(orders, [order.order_id])
    status = cli(stack, "order", "status", order.order_id)
    assert (
        status.returncode == 0
        and "Completed" in status.stdout
        and "create_invoice" in status.stdout
    )
    late = cli(stack, "order", "cancel", order.order_id, "--by", "ops")
    assert late.returncode == 1 and "already finished" in late.stderr
