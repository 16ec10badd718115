"""`continuum alerts` as an operator runs it, against a real dev server and Alert workflows:
list, show, acknowledge, silence; one clear line and exit code 1 for every mistake."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from continuum.alert_client import OPEN, AlertClient
from continuum.client import connect
from continuum.stack import Stack
from domain.alerts.contract import AlertState, AlertStatus, Severity
from tests.integration.alert_desk import (
    alert_input,
    ops_worker,
    paged,
    raise_alert,
    state_of,
    wait_listed,
    wait_state,
)
from tests.integration.test_cli import cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack (`shared_stack`): each alert has a subject of its own."""
    return shared_stack


async def run_cli(stack: Stack | None, *args: str) -> subprocess.CompletedProcess[str]:
    # Off the event loop: the Alert workflows' worker runs on it and must answer the CLI.
    return await asyncio.to_thread(cli, stack, "alerts", *args)


def one_line_error(answer: subprocess.CompletedProcess[str], *words: str) -> str:
    assert answer.returncode == 1, answer
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert "Traceback" not in answer.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    client = await connect(stack.temporal_address, stack.data_converter())
    async with ops_worker(client, stack.data_dir / "alerts.log"):
        yield client


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("ack", "alert-x"), ["--by NAME"]),
        (("ack", "alert x!", "--by", "olga"), ["is not an alert id"]),
        (("silence", "alert-x", "--by", "olga", "--reason", "deploy"), ["--for 2h"]),
        (("silence", "alert-x", "--by", "olga", "--for", "2 hours", "--reason", "r"), ["--for"]),
        (("silence", "alert-x", "--by", "olga", "--for", "0m", "--reason", "r"), ["above zero"]),
        (("silence", "alert-x", "--by", "olga", "--for", "2h"), ["--reason"]),
        (("silence", "alert-x", "--by", "olga", "--for", "2h", "--reason", " "), ["--reason"]),
        (("list", "--status", "burning"), ["unknown status 'burning'", "firing"]),
    ],
)
async def test_bad_input_is_one_line_before_anything_connects(
    args: tuple[str, ...], words: list[str]
) -> None:
    # No stack: none of these gets as far as Temporal.
    one_line_error(await run_cli(None, *args), *words)


async def test_an_operator_lists_shows_and_acknowledges_an_alert(
    stack: Stack, client: Client
) -> None:
    critical = alert_input("order-stalled", Severity.CRITICAL)
    warning = alert_input("erp-retrying", Severity.WARNING)
    first = await raise_alert(client, critical)
    second = await raise_alert(client, warning)
    await wait_state(client, first, paged)
    await wait_listed(client, first, AlertStatus.FIRING)
    await wait_listed(client, second, AlertStatus.FIRING)

    listed = await run_cli(stack, "list")
    assert listed.returncode == 0, listed.stderr
    assert first in listed.stdout and second in listed.stdout
    # Critical before warning: what pages people first.
    assert listed.stdout.index(first) < listed.stdout.index(second)
    assert critical.subject in listed.stdout and "Firing" in listed.stdout

    shown = await run_cli(stack, "show", first)
    assert shown.returncode == 0, shown.stderr
    assert f"{first} Firing · critical · rule order-stalled" in shown.stdout
    assert critical.summary in shown.stdout and critical.runbook in shown.stdout
    assert "fired — seen by the test" in shown.stdout
    assert "notified level 1 ops-log" in shown.stdout

    # The fingerprint alone names it too.
    acked = await run_cli(
        stack, "ack", critical.fingerprint, "--by", "olga", "--comment", "ERP team called"
    )
    assert acked.returncode == 0, acked.stderr
    assert f"alert {first} acknowledged by olga; it is acknowledged" in acked.stdout
    state = await state_of(client, first)
    assert state.status is AlertStatus.ACKNOWLEDGED and state.acknowledged_by == "olga"
    assert (state.timeline[-1].event, state.timeline[-1].detail) == (
        "acknowledged",
        "ERP team called",
    )

    await wait_listed(client, first, AlertStatus.ACKNOWLEDGED)
    only_acked = await run_cli(stack, "list", "--status", "acknowledged", "--json")
    assert only_acked.returncode == 0, only_acked.stderr
    rows = [json.loads(line) for line in only_acked.stdout.splitlines()]
    assert first in [r["alert"] for r in rows] and second not in [r["alert"] for r in rows]
    mine = next(r for r in rows if r["alert"] == first)
    assert mine["state"]["acknowledged_by"] == "olga" and mine["severity"] == "critical"

    shown = await run_cli(stack, "show", first)
    assert "acknowledged by olga — ERP team called" in shown.stdout


async def test_an_acknowledgement_by_someone_unknown_is_refused_in_one_line(
    stack: Stack, client: Client
) -> None:
    alert = await raise_alert(client, alert_input())
    await wait_listed(client, alert, AlertStatus.FIRING)
    refused = await run_cli(stack, "ack", alert, "--by", "mallory")
    # The workflow's own sentence: who may not, and who may.
    one_line_error(refused, "'mallory' may not acknowledge this alert", "olga, oscar")
    assert (await state_of(client, alert)).status is AlertStatus.FIRING


async def test_silence_resolve_and_what_comes_after(stack: Stack, client: Client) -> None:
    given = alert_input("sync-lag", Severity.WARNING)
    alert = await raise_alert(client, given)
    await wait_state(client, alert, paged)

    silenced = await run_cli(
        stack, "silence", alert, "--by", "oscar", "--for", "1h30m", "--reason", "ERP upgrade"
    )
    assert silenced.returncode == 0, silenced.stderr
    assert f"alert {alert} silenced by oscar for 1h30m, until" in silenced.stdout
    state = await state_of(client, alert)
    assert state.status is AlertStatus.SILENCED and state.silenced_until is not None
    assert (state.timeline[-1].event, state.timeline[-1].by) == ("silenced", "oscar")
    assert state.timeline[-1].detail.endswith(": ERP upgrade")

    # The condition clears: the alert resolves (telling whom it paged), and its workflow is over.
    await raise_alert(client, given, firing=False)
    resolved = await client.get_workflow_handle(alert, result_type=AlertState).result()
    assert resolved.status is AlertStatus.RESOLVED
    one_line_error(
        await run_cli(stack, "ack", alert, "--by", "olga"), f"alert {alert} is already resolved"
    )
    # Its timeline stays readable.
    await wait_listed(client, alert, AlertStatus.RESOLVED)
    everything = await run_cli(stack, "list", "--all")
    assert alert in everything.stdout
    shown = await run_cli(stack, "show", alert)
    assert f"{alert} Resolved" in shown.stdout and "resolved" in shown.stdout.split("timeline:")[1]

    one_line_error(
        await run_cli(stack, "show", "alert-no-such-thing"), "unknown alert alert-no-such-thing"
    )
    one_line_error(
        await run_cli(stack, "ack", "alert-no-such-thing", "--by", "olga"),
        "unknown alert alert-no-such-thing",
    )


async def test_a_resolved_alert_is_not_listed_as_open_and_keeps_its_state(
    stack: Stack, client: Client
) -> None:
    # The client the CLI and the inbox share.
    given = alert_input("queue-backlog", Severity.INFO)
    alert = await raise_alert(client, given)
    await wait_listed(client, alert, AlertStatus.FIRING)
    await raise_alert(client, given, firing=False)
    await wait_listed(client, alert, AlertStatus.RESOLVED)
    rows = await AlertClient(client).list(OPEN)
    assert alert not in [r.alert_id for r in rows]
    resolved = await AlertClient(client).list([AlertStatus.RESOLVED])
    found = next(r for r in resolved if r.alert_id == alert)
    assert found.state is not None and found.state.resolved_at is not None
    assert found.rule == "queue-backlog" and found.execution == "completed"


async def test_a_terminated_alert_is_not_open_whatever_its_last_status(
    stack: Stack, client: Client
) -> None:
    alert = await raise_alert(client, alert_input("no-worker", Severity.CRITICAL))
    await wait_listed(client, alert, AlertStatus.FIRING)
    await client.get_workflow_handle(alert).terminate("operator cleanup")
    query = f"WorkflowId = '{alert}' AND ExecutionStatus = 'Terminated'"
    await wait_for_listing(client, query)

    assert alert not in [r.alert_id for r in await AlertClient(client).list(OPEN)]
    listed = await run_cli(stack, "list", "--all")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if alert in line)
    assert "Firing (terminated)" in line
    # Acknowledging it says what became of it.
    one_line_error(
        await run_cli(stack, "ack", alert, "--by", "olga"), f"alert {alert} is over (terminated)"
    )


async def wait_for_listing(client: Client, query: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not [wf async for wf in client.list_workflows(query)]:
        assert asyncio.get_running_loop().time() < deadline, f"never listed: {query}"
        await asyncio.sleep(0.2)
