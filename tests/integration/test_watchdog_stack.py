"""The watchdog on the real stack: its schedule runs it on the ops worker (`python -m workers.ops`),
a stopped business worker pages within its window and the alert resolves when the worker is
back, the dead-man's switch shows on the gateway and on the ops worker's /metrics, and a bad rule
file stops the ops worker (and `continuum up`) in one line before anything runs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from continuum import schedules
from continuum.client import connect
from continuum.settings import Settings
from continuum.stack import Stack
from domain.alerts.contract import AlertState, AlertStatus, Message, fingerprint, workflow_id
from tests.integration.conftest import free_ports

EVERY_SECONDS = 3
NO_POLLER_FOR = 15
# Live pollers ask again every 10 s instead of every minute (time compressed, not faked).
LONG_POLL = ("--dynamic-config-value", 'matching.longPollExpirationInterval="10s"')
RULES = f"""
[receivers.log]
kind = "log"
target = "alerts.log"

[routes.critical]
[[routes.critical.levels]]
receivers = ["log"]
people = ["olga"]

[[rules]]
name = "business-worker-down"
kind = "no-worker"
severity = "critical"
task_queue = "continuum-orders"
no_poller_for = "{NO_POLLER_FOR}s"
clear_after = "0s"
runbook = "type=order running"
"""
DOWN = workflow_id(fingerprint("business-worker-down", "task-queue continuum-orders"))


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("watchdog-stack")
    rules = data / "watchdog.toml"
    rules.write_text(RULES)
    env = {"WATCHDOG_CONFIG_FILE": str(rules), "WATCHDOG_EVERY_SECONDS": str(EVERY_SECONDS)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():  # the gateway's /health/watchdog reads the interval
            patch.setenv(name, value)
        stack = Stack(
            data, free_ports(), with_gateway=True, with_ops_worker=True, temporal_flags=LONG_POLL
        )
        with stack:
            yield stack


@pytest.fixture(scope="module")
async def client(watched: Stack) -> AsyncIterator[Client]:
    client = await connect(watched.temporal_address, watched.data_converter())
    settings = Settings(WATCHDOG_EVERY_SECONDS=EVERY_SECONDS)
    await schedules.apply(client, [schedules.watchdog_schedule(settings)])
    yield client


async def eventually(what: str, ready: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds it took; fails after `within`."""
    start = time.monotonic()
    while not await ready():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.5)
    return time.monotonic() - start


async def alert(client: Client) -> AlertState | None:
    try:
        state: AlertState = await client.get_workflow_handle(DOWN).query(
            Message.STATE, result_type=AlertState
        )
    except Exception:  # not started yet
        return None
    return state


def pages(stack: Stack) -> list[dict[str, object]]:
    log = stack.data_dir / "alerts.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


async def test_the_schedule_runs_the_watchdog_and_its_heartbeat_shows(
    watched: Stack, client: Client
) -> None:
    health = f"{watched.url('gateway')}/health/watchdog"

    async def beating() -> bool:
        async with httpx.AsyncClient() as http:
            answer = await http.get(health, timeout=5)
        return answer.status_code == 200 and answer.json()["status"] == "ok"

    await eventually("a completed scheduled run on /health/watchdog", beating, within=60)
    async with httpx.AsyncClient(timeout=5) as http:
        metrics = (await http.get(f"http://127.0.0.1:{watched.ports.ops_metrics}/metrics")).text
    gauge = [
        line
        for line in metrics.splitlines()
        if line.startswith("continuum_watchdog_last_run_timestamp_seconds")
    ]
    assert gauge and time.time() - float(gauge[0].rsplit(" ", 1)[1]) < 60
    assert await alert(client) is None  # the business worker polls: nothing to say

    handle = client.get_schedule_handle(schedules.WATCHDOG_SCHEDULE)
    await handle.pause(note="maintenance")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(health)
        assert answer.status_code == 503
        assert answer.json()["status"] == "paused" and "maintenance" in answer.json()["detail"]
    finally:
        await handle.unpause(note="maintenance over")


async def test_a_stopped_business_worker_pages_within_its_window_and_resolves_when_back(
    watched: Stack, client: Client
) -> None:
    watched.processes["worker"].stop()
    # Its last poll can be up to a long poll (10 s) old when it stops; then the allowance, a
    # scheduled run, and the run itself.
    window = 10 + NO_POLLER_FOR + 2 * EVERY_SECONDS + 10

    async def paged() -> bool:
        state = await alert(client)
        return state is not None and state.status is AlertStatus.FIRING and bool(pages(watched))

    took = await eventually("the business-worker-down page", paged, within=window)
    state = await alert(client)
    assert state is not None
    assert state.input.summary == "no worker polls task queue continuum-orders"
    page = pages(watched)[0]
    assert page["alert_id"] == DOWN and page["receiver"] == "log"
    print(f"business worker stopped → paged in {took:.1f} s (window {window} s)")

    watched.restart("worker")

    async def resolved() -> bool:
        state = await alert(client)
        return state is not None and state.status is AlertStatus.RESOLVED

    await eventually("the alert resolved once the worker polls again", resolved, within=60)
    told = [p for p in pages(watched) if p["alert_id"] == DOWN]
    assert len(told) >= 2 and "resolved" in str(told[-1]["title"]).lower()


def _bad_rules(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "watchdog.toml"
    path.write_text(RULES.replace(f'no_poller_for = "{NO_POLLER_FOR}s"', 'no_poller_for = "soon"'))
    line = next(i for i, x in enumerate(path.read_text().splitlines(), 1) if "soon" in x)
    where = f"watchdog config {path} line {line}: rule 'business-worker-down', field no_poller_for"
    return path, f"{where}: not a duration: 'soon' (e.g. 90s"


def test_a_bad_rule_file_stops_the_ops_worker_in_one_line(tmp_path: Path) -> None:
    path, expected = _bad_rules(tmp_path)
    env = {**os.environ, "WATCHDOG_CONFIG_FILE": str(path), "CONTINUUM_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "workers.ops"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0]


def test_a_bad_rule_file_stops_continuum_up_before_anything_starts(tmp_path: Path) -> None:
    path, expected = _bad_rules(tmp_path)
    env = {**os.environ, "WATCHDOG_CONFIG_FILE": str(path), "COLUMNS": "400"}
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "starters", "up", "--data-dir", str(data), "--no-demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {expected}") and done.stderr.count("\n") == 1
    assert not (data / "logs").exists()  # nothing was started
