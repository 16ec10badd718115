"""What every worker process does around its worker: stop on SIGINT/SIGTERM (draining), and
leave with one clear line and an exit status when it cannot start."""

from __future__ import annotations

import asyncio
import logging
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
        sys.exit(2)
    except RuntimeError as err:
        if "Failed client connect" not in str(err):
            raise
        log.error("cannot reach Temporal: %s", err)
        sys.exit(1)
