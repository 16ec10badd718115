"""The connectors' pooled client (aiohttp's pool behind httpx's interface): failures come out as
the httpx errors `connectors.http_errors` tells apart, against real sockets on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from connectors.http import pooled_client
from connectors.http_errors import transport_errors
from continuum.supervisor import free_port
from domain.errors import TransientError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def _request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + await reader.readexactly(length)


async def answer_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:  # keep-alive: one connection, many requests
        try:
            seen = await _request(reader)
        except asyncio.IncompleteReadError:
            break
        body = b'{"traceparent": %d}' % (b"traceparent" in seen.lower())
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
    writer.close()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    writer.close()  # the request arrived; no answer comes


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    await reader.read()  # until the client gives up and closes
    writer.close()


async def test_a_pooled_client_keeps_httpx_requests_and_responses() -> None:
    async with serving(answer_json) as url, pooled_client(httpx.Timeout(5)) as client:
        answers = [await client.post(f"{url}/x", json={"n": n}) for n in range(3)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"traceparent": 0})] * 3


async def test_a_refused_connection_is_a_connection_error_not_a_timeout() -> None:
    async with pooled_client(httpx.Timeout(5)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/x")
        with pytest.raises(TransientError) as refused, transport_errors("erp"):
            await client.get(f"http://127.0.0.1:{free_port()}/x")
    assert refused.value.code == "ConnectionError"


async def test_a_server_hanging_up_mid_request_is_a_connection_error() -> None:
    async with serving(hang_up) as url, pooled_client(httpx.Timeout(5)) as client:
        with pytest.raises(TransientError) as lost, transport_errors("erp"):
            await client.post(f"{url}/x", json={})
    assert lost.value.code == "ConnectionError", lost.value


async def test_an_answer_that_never_comes_is_a_read_timeout() -> None:
    async with serving(never_answer) as url, pooled_client(httpx.Timeout(0.5)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"{url}/x", json={})
        with pytest.raises(TransientError) as slow, transport_errors("erp"):
            await client.post(f"{url}/x", json={})
    assert slow.value.code == "Timeout"


async def test_a_client_made_while_httpx_is_traced_sends_the_trace_context() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    instrumentor = HTTPXClientInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry  # tracing is off in tests
    untraced = pooled_client(httpx.Timeout(5))
    instrumentor.instrument(tracer_provider=provider)
    try:
        traced = pooled_client(httpx.Timeout(5))
        async with serving(answer_json) as url, untraced, traced:
            with trace.get_tracer("test", tracer_provider=provider).start_as_current_span("t"):
                told = (await traced.get(f"{url}/x")).json()
                not_told = (await untraced.get(f"{url}/x")).json()
    finally:
        instrumentor.uninstrument()
    assert (told, not_told) == ({"traceparent": 1}, {"traceparent": 0})
