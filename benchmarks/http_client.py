"""`python -m benchmarks.http_client [--requests 3000] [--rounds 2] [--record]`: the client CPU
per request of the connectors' pooled client (`connectors.http.pooled_client`: httpx over
aiohttp's pool) against httpx's own transport (httpcore over anyio), as the ERP connector calls
it: a JSON POST with an idempotency key, 10 at a time, over keep-alive to a local uvicorn that
answers a small JSON body. Rounds alternate the two clients; the CPU is this process's
(`time.process_time`), the server's is left out. Compare the two within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import append_section
from benchmarks.load import Meter
from benchmarks.sync import machine
from connectors.http import pooled_client
from continuum.supervisor import ManagedProcess, free_port, http_ok

BODY = b'{"sales_order_id": "SO-1", "status": "open", "lines": [{"sku": "A-1", "quantity": 2}]}'
UVICORN = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The server: reads the request, answers BODY (uvicorn serves it in its own process)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


async def cpu_per_request(client: httpx.AsyncClient, url: str, requests: int) -> float:
    """Microseconds of this process's CPU per request, after a warm-up of 200."""
    gate = asyncio.Semaphore(10)

    async def one(n: int) -> None:
        async with gate:
            answer = await client.post(
                url,
                json={"order_id": f"O-{n}", "lines": [{"sku": "A-1", "quantity": 2}]},
                headers={"Authorization": "Bearer b", "Idempotency-Key": f"k-{n}"},
            )
            answer.raise_for_status()
            answer.json()

    await asyncio.gather(*(one(n) for n in range(200)))
    began = time.process_time()
    await asyncio.gather(*(one(n) for n in range(requests)))
    return (time.process_time() - began) / requests * 1e6


async def main(requests: int, rounds: int, record: bool) -> None:
    where = machine()
    port = free_port()
    server = ManagedProcess(
        "uvicorn",
        [*UVICORN, "benchmarks.http_client:app", "--port", str(port)],
        log_path=Path(tempfile.mkdtemp(prefix="continuum-http-")) / "uvicorn.log",
    ).start()
    figures: dict[str, list[float]] = {"httpx (httpcore)": [], "pooled (aiohttp)": []}
    try:
        server.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/"))
        meter = Meter(lambda: [server.pid])
        meter.start()
        timeout = httpx.Timeout(10.0, connect=5.0)
        makers: dict[str, Callable[[], httpx.AsyncClient]] = {
            "httpx (httpcore)": lambda: httpx.AsyncClient(timeout=timeout),
            "pooled (aiohttp)": lambda: pooled_client(timeout),
        }
        for _ in range(rounds):
            for name, make in makers.items():
                async with make() as client:
                    url = f"http://127.0.0.1:{port}/sales-orders"
                    figures[name].append(await cpu_per_request(client, url, requests))
        window = meter.stop()
    finally:
        server.stop()
    rows = "\n".join(
        f"| {name} | {' / '.join(f'{v:.0f}' for v in values)} | {min(values):.0f} |"
        for name, values in figures.items()
    )
    best = {name: min(values) for name, values in figures.items()}
    ratio = best["pooled (aiohttp)"] / best["httpx (httpcore)"]
    body = (
        f"- {requests} JSON POSTs per round, 10 at a time, keep-alive, to a local uvicorn;"
        f" {rounds} rounds each; client CPU only\n- the machine: {window.describe()}\n\n"
        "| client | µs of CPU per request, by round | best |\n| --- | --- | --- |\n"
        f"{rows}\n\n- **pooled / httpx: {ratio:.2f}** of the CPU per request\n"
    )
    print(body)
    if record:
        command = f"python -m benchmarks.http_client --requests {requests} --rounds {rounds}"
        append_section("HTTP client: the connectors' pooled client", command, where, body)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_client", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per client")
    parser.add_argument("--record", action="store_true", help="append to BENCHMARKS.md")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds, args.record))


if __name__ == "__main__":
    cli()
