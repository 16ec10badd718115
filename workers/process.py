"""What every worker process does around its worker: stop on SIGINT/SIGTERM (draining), and
leave with one clear line and an exit status when it cannot start."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any


def stop_on_signals() -> asyncio.Event:
    """Set on SIGINT or SIGTERM: the worker then drains (`graceful_shutdown_timeout`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_worker(
    serve: Callable[[], Coroutine[Any, Any, None]],
    log: logging.Logger,
    what: str,
    refusals: tuple[type[BaseException], ...],
) -> None:
    """Runs `serve()`; a refusal (bad configuration, store, versioning) exits 2 and an
    unreachable Temporal exits 1, each with one log line naming the problem."""
    try:
        asyncio.run(serve())
    except refusals as err:
        log.error("cannot start the %s: %s", what, err)
        leave(2)
    except RuntimeError as err:
        if "Failed client connect" not in str(err):
            raise
        log.error("cannot reach Temporal: %s", err)
        leave(1)
    leave(0)


def leave(status: int) -> None:
    """Exits once spans and logs are out, without tearing the interpreter down: the Temporal
    client's Rust threads can outlive the event loop and abort the process while it finalizes
    (temporalio/sdk-python#300: "PyGILState_Release ... must be current when releasing"),
    which turned a clean refusal (2) into SIGABRT."""
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
