"""Tracing and metrics: one trace per order across processes, one Prometheus endpoint per worker.

Tracing (OpenTelemetry). `setup_tracing(service)` runs once per process (worker, erp, crm,
gateway, codec, cli); its spans carry `service.name=continuum-<service>`. Exporters:

- `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g. `http://otel-collector:4318`): spans go there over
  OTLP/HTTP (`<endpoint>/v1/traces`);
- `CONTINUUM_TRACE_CONSOLE=1`: spans are printed as JSON to stdout;
- neither: nothing is exported; httpx requests make no client spans and carry no `traceparent`,
  and the ERP and the CRM make no server spans (`instrument_app`): spans nobody receives cost
  CPU on the order path and tell nobody anything.

The path of one order is one trace: the Temporal client carries the context in workflow headers
(`temporalio.contrib.opentelemetry.TracingInterceptor`, see `continuum.client`), the worker
continues it in `RunWorkflow`/`StartActivity`/`RunActivity` spans, every httpx request made in
the process is a client span that sends a W3C `traceparent` header, and the services answer
with server spans in the same trace (`instrument_app`).

Metrics (Prometheus, served by the Temporal SDK's runtime on the worker: `worker_runtime`, at
`http://WORKER_METRICS_HOST:WORKER_METRICS_PORT/metrics`, default 127.0.0.1:9464; 0 turns it
off). These names are stable; dashboards and alerts depend on them. Business metrics:

- `continuum_orders_completed_total` (counter, `status`): orders that ended `Completed`;
- `continuum_orders_compensated_total` (counter, `status`): orders whose done steps were undone,
  ending `Compensated`, `Cancelled` or `Rejected`;
- `continuum_orders_failed_total` (counter, `status`): orders that ended otherwise: `Invalid`,
  `Rejected` or `Cancelled` before any write, `NeedsAttention` (an undo failed);
- `continuum_order_duration_seconds` (histogram, `status`): start of an order to its end;
- `continuum_approvals_waiting` (gauge): running `Approval` workflows in `ApprovalStatus=Pending`;
- `continuum_approvals_overdue` (gauge): of those, the ones past their `ApprovalDeadline` (the
  current level's SLA);
- `continuum_sync_lag_seconds` (gauge, `feed`): the age of the oldest ERP change the sync has
  not yet written to the CRM (0 when caught up, also when the ERP is quiet);
- `continuum_sync_quarantine_size` (gauge): records the sync put aside (`quarantine_size()`);
- `continuum_worker_ready` (gauge, `task_queue`): 1 while the worker polls, 0 while it drains.

The order counters and the histogram also carry the SDK's `namespace`, `task_queue` and
`workflow_type` labels; every series carries `service_name="temporal-core-sdk"`. The counters
are recorded from the workflow through `workflow.metric_meter()`, which records nothing while
a workflow is replayed, so a replay never counts an order twice.

The SDK's own metrics are on the same endpoint with the `temporal_` prefix, counters ending in
`_total`, durations in seconds (histograms), as a worker printed them: `temporal_request_total`,
`temporal_request_failure_total`, `temporal_request_latency`, `temporal_long_request_total`,
`temporal_long_request_latency`, `temporal_num_pollers`, `temporal_worker_start_total`,
`temporal_worker_task_slots_available`, `temporal_worker_task_slots_used`,
`temporal_sticky_cache_size`, `temporal_sticky_cache_hit_total`,
`temporal_workflow_task_queue_poll_succeed_total`,
`temporal_workflow_task_schedule_to_start_latency`,
`temporal_workflow_task_execution_latency`, `temporal_workflow_task_replay_latency`,
`temporal_workflow_completed_total`, `temporal_workflow_endtoend_latency`,
`temporal_activity_task_received_total`, `temporal_activity_schedule_to_start_latency`,
`temporal_activity_execution_latency`, `temporal_activity_succeed_endtoend_latency`; and once
something fails, e.g. `temporal_activity_execution_failed_total`, `temporal_workflow_failed_total`.
A series appears when it is first recorded: a fresh worker shows no order counters yet.

Health: the ERP, the CRM and the gateway answer `GET /healthz` (the process is up) and
`GET /readyz` (its store answers). The worker's readiness is `continuum_worker_ready 1` on its
metrics endpoint (the endpoint answering at all is its liveness).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from domain.orders.contract import Metric as OrderMetric

if TYPE_CHECKING:
    from fastapi import FastAPI

# Names as created in the SDK's meter; Prometheus adds `_total` to counters. The order
# workflow's own live in its contract, which the workflow imports.
ORDERS_COMPLETED = OrderMetric.COMPLETED
ORDERS_COMPENSATED = OrderMetric.COMPENSATED
ORDERS_FAILED = OrderMetric.FAILED
ORDER_DURATION = OrderMetric.DURATION
APPROVALS_WAITING = "continuum_approvals_waiting"
APPROVALS_OVERDUE = "continuum_approvals_overdue"
SYNC_LAG = "continuum_sync_lag_seconds"
SYNC_QUARANTINE = "continuum_sync_quarantine_size"
WORKER_READY = "continuum_worker_ready"

# Orders take seconds when all goes well and days when they wait for approval or delivery.
ORDER_DURATION_BUCKETS = [1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0, 86400.0, 259200.0]
DEFAULT_METRICS_PORT = 9464

_provider: TracerProvider | None = None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def exporting() -> bool:
    """Whether this process exports spans by configuration (OTLP endpoint or console)."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return bool(endpoint) or _flag("CONTINUUM_TRACE_CONSOLE")


def setup_tracing(service: str, *exporters: SpanExporter) -> TracerProvider:
    """The process's tracer provider, made on the first call; later calls only add `exporters`.

    When something exports spans, also instruments httpx (every client, also those made
    before) so that requests carry the W3C trace context.
    """
    global _provider
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    if _provider is None:
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": f"continuum-{service}", "service.namespace": "continuum"}
            )
        )
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        if endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
                f"{endpoint.rstrip('/')}/v1/traces"
            )
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
        if _flag("CONTINUUM_TRACE_CONSOLE"):
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(provider)
        _provider = provider
    for exporter in exporters:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Client spans only when something exports them: made and thrown away, they were ~10 % of
    # the worker's CPU per order (BENCHMARKS.md); no log line carries a trace id either.
    instrumentor = HTTPXClientInstrumentor()
    if (exporting() or exporters) and not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=_provider)
    return _provider


def instrument_app(app: FastAPI, service: str, *, calls_out: bool = True) -> FastAPI:
    """Server spans for a service's requests, continuing the caller's W3C trace context.

    Health probes are left out: they would be most of the spans and tell nothing. A service
    that calls nothing further (`calls_out=False`: the ERP, the CRM) makes no spans at all
    when this process exports none: they would carry the context nowhere and be thrown away,
    at ~9 % of the service's CPU under a burst of orders.
    """
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    if not calls_out and not exporting():
        return app
    provider = setup_tracing(service)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="healthz,readyz",
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    return app


def worker_runtime(host: str, port: int | None) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on host:port; None when port is 0/None.

    SDK metrics and the business metrics recorded through its meter share the endpoint.
    """
    if not port:
        return None
    prometheus = PrometheusConfig(
        bind_address=f"{host}:{port}",
        counters_total_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides={ORDER_DURATION: ORDER_DURATION_BUCKETS},
    )
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    except Exception as err:  # the bridge raises a bare exception when the port is taken
        raise RuntimeError(f"cannot serve metrics on {host}:{port}: {err}") from err
