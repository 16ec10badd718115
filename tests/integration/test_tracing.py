"""One order, one trace: the client's start, the workflow, its activities, their HTTP calls and
the ERP's and CRM's own server spans share one trace id.

The client and the worker run in this process and export to an in-memory exporter; the ERP and
CRM are the real services as processes and export over OTLP/HTTP to a receiver in this test,
as they would to a collector. The services' server spans having the client spans of this
process as parents proves the W3C `traceparent` reached them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from connectors.hubspot import HubSpotCrmClient
from connectors.reference_erp import ReferenceErpClient
from continuum.client import connect
from continuum.order_client import OrderClient
from continuum.stack import Stack
from continuum.supervisor import wait_until
from continuum.telemetry import setup_tracing
from domain.orders.contract import workflow_id
from domain.orders.models import OrderStatus
from tests import samples
from tests.integration.conftest import free_ports
from tests.integration.otlp_receiver import OtlpReceiver, ReceivedSpan
from workers.registry import build_worker

SERVER = 2  # opentelemetry.proto Span.SpanKind.SPAN_KIND_SERVER


@pytest.fixture(scope="module")
def memory() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    # Before the receiver's endpoint is in the environment: this process keeps its spans here.
    setup_tracing("worker", exporter)
    return exporter


@pytest.fixture(scope="module")
def receiver(memory: InMemorySpanExporter) -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced_stack(
    tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver
) -> Iterator[Stack]:
    """Temporal, the ERP and the CRM as processes exporting their spans to the receiver."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export within 0.1 s, not 5 s
        stack = Stack(tmp_path_factory.mktemp("tracing"), free_ports())
        try:
            stack.start(with_worker=False)
            yield stack
        finally:
            stack.stop()


def url_of(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url") or "")


async def test_one_order_is_one_trace_into_the_erp_and_crm(
    traced_stack: Stack, memory: InMemorySpanExporter, receiver: OtlpReceiver
) -> None:
    stack, secrets = traced_stack, traced_stack.client_env()
    erp = ReferenceErpClient(stack.url("erp"), secrets["ERP_API_TOKEN"])
    crm = HubSpotCrmClient(stack.url("crm"), access_token=secrets["CRM_API_TOKEN"])
    client = await connect(stack.temporal_address)
    task_queue = f"tracing-{uuid.uuid4().hex[:8]}"
    order = samples.order(customer_id="C-100")
    orders = OrderClient(client, task_queue)
    try:
        async with build_worker(client, task_queue, erp, crm):
            await orders.start(order)
            deadline = time.monotonic() + 60
            while (await orders.status(order.order_id)).status is not OrderStatus.AWAITING_DELIVERY:
                assert time.monotonic() < deadline, "the order never shipped"
                await asyncio.sleep(0.1)
            await orders.deliver(order.order_id, carrier="test-carrier")
            assert (await orders.result(order.order_id)).status is OrderStatus.COMPLETED
    finally:
        await erp.aclose()
        await crm.aclose()

    ours = memory.get_finished_spans()
    start = next(
        s
        for s in ours
        if s.name == "StartWorkflow:OrderToCash"
        and (s.attributes or {}).get("temporalWorkflowID") == workflow_id(order.order_id)
    )
    trace_id = start.context.trace_id
    in_trace = [s for s in ours if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert "RunWorkflow:OrderToCash" in names
    for step in (
        "check_credit",
        "reserve_stock",
        "capture_payment",
        "upsert_deal",
        "create_invoice",
    ):
        assert f"StartActivity:{step}" in names and f"RunActivity:{step}" in names, step

    calls = [s for s in in_trace if s.kind is SpanKind.CLIENT and url_of(s)]
    erp_calls = {
        format_span_id(s.context.span_id) for s in calls if url_of(s).startswith(stack.url("erp"))
    }
    crm_calls = {
        format_span_id(s.context.span_id) for s in calls if url_of(s).startswith(stack.url("crm"))
    }
    assert erp_calls and crm_calls, sorted(url_of(s) for s in calls)
    # The HTTP calls hang under the activities that made them.
    run_activity = {s.context.span_id for s in in_trace if s.name.startswith("RunActivity:")}
    assert all(s.parent is not None and s.parent.span_id in run_activity for s in calls)

    hex_trace = format_trace_id(trace_id)

    def served(service: str, calls: set[str]) -> list[ReceivedSpan]:
        return [
            s
            for s in receiver.received()
            if s.service == service and s.kind == SERVER and s.parent_span_id in calls
        ]

    # Every call the worker made got its server span, in the same trace, child of that call.
    wait_until(
        lambda: {s.parent_span_id for s in served("continuum-erp", erp_calls)} == erp_calls,
        30,
        "the ERP's server spans",
    )
    wait_until(
        lambda: {s.parent_span_id for s in served("continuum-crm", crm_calls)} == crm_calls,
        30,
        "the CRM's server spans",
    )
    erp_spans = served("continuum-erp", erp_calls)
    assert {s.trace_id for s in erp_spans + served("continuum-crm", crm_calls)} == {hex_trace}
    routes = {s.name for s in erp_spans}
    assert {"POST /api/reservations", "POST /api/payments"} <= routes, sorted(routes)
