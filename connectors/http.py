"""The connectors' pooled HTTP client: httpx's interface over aiohttp's connection pool.

The ERP, CRM and webhook connectors keep one client each and call it on every step of every
order. httpx's own transport (httpcore over anyio) cost about 1.8 ms of CPU per request on this
machine against 0.55 ms through `httpx_aiohttp`'s transport (BENCHMARKS.md, "HTTP client"),
which was most of what separated a worker's order from the no-op twin's. Requests, responses,
timeouts and errors stay httpx's (the transport maps aiohttp's errors to httpx's, `_Transport`
puts a refused connection right), so the connectors and `connectors.http_errors` are unchanged.

Tracing: `continuum.telemetry.setup_tracing` instruments httpx only when the process exports
spans; a pooled client made after that is instrumented too (its transport is not httpx's own,
which the global instrumentation wraps). The worker sets tracing up before it builds clients.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor


class _Transport(AiohttpTransport):
    """`AiohttpTransport` with a lost or refused connection told apart from a timeout:
    httpx_aiohttp 0.2.0 maps every `aiohttp.ClientConnectionError` to `httpx.ConnectTimeout`,
    a refused connection included."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as err:
            cause = err.__cause__
            if isinstance(cause, TimeoutError) or not isinstance(
                cause, aiohttp.ClientConnectionError
            ):
                raise
            if isinstance(cause, aiohttp.ClientConnectorError):  # never connected
                raise httpx.ConnectError(str(cause), request=request) from cause
            raise httpx.ReadError(str(cause), request=request) from cause  # connection lost


def pooled_client(
    timeout: httpx.Timeout, *, max_connections: int = 100, max_keepalive: int = 20
) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive)
    client = httpx.AsyncClient(transport=_Transport(limits=limits), timeout=timeout)
    if HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor.instrument_client(client)
    return client
