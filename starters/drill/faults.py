"""The drill's fault timeline and the hands that inject it into a running embedded stack.

ERP and CRM faults go through the services' `PUT /admin/faults`; restarts through the stack:
the worker is killed with SIGKILL and started again, the Temporal dev server is stopped and
started again on the same SQLite file. Steps run one after another at their offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, Field

from continuum.stack import Stack
from domain.drill import FaultKind, FaultWindow


class FaultStep(BaseModel):
    kind: FaultKind
    at: float = Field(ge=0, description="seconds after the first order")
    seconds: float = Field(0.0, ge=0, description="how long an ERP or CRM fault lasts")
    rate: float = Field(0.0, ge=0, le=1, description="share of requests that fail")


def timeline(outage: float, *, errors_at: float, spacing: float) -> list[FaultStep]:
    """Every fault once, in this order, `spacing` seconds apart (the outage lasts `outage`)."""
    window = spacing * 0.7
    return [
        FaultStep(kind=FaultKind.ERP_ERRORS, at=errors_at, seconds=window, rate=0.2),
        FaultStep(kind=FaultKind.CRM_RATE_LIMIT, at=errors_at + spacing, seconds=window, rate=0.5),
        FaultStep(kind=FaultKind.ERP_OUTAGE, at=errors_at + 2 * spacing, seconds=outage),
        FaultStep(kind=FaultKind.WORKER_KILL, at=errors_at + 3 * spacing + outage),
        FaultStep(kind=FaultKind.TEMPORAL_RESTART, at=errors_at + 4 * spacing + outage),
    ]


# The full drill: a 30 s ERP outage among the rest; the short one (make test): an 8 s outage.
FULL_TIMELINE = timeline(30.0, errors_at=10.0, spacing=25.0)
SHORT_TIMELINE = timeline(8.0, errors_at=4.0, spacing=10.0)

GAP = 5.0  # seconds at least between the end of one fault and the next

LABELS = {
    FaultKind.ERP_ERRORS: "ERP errors {rate:.0%}",
    FaultKind.CRM_RATE_LIMIT: "CRM 429 storm {rate:.0%}",
    FaultKind.ERP_OUTAGE: "ERP outage {seconds:.0f}s",
    FaultKind.WORKER_KILL: "worker SIGKILL + restart",
    FaultKind.TEMPORAL_RESTART: "Temporal stop + restart",
}


def now() -> datetime:
    return datetime.now(UTC)


class FaultInjector:
    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http

    async def run(
        self,
        steps: Sequence[FaultStep],
        origin: float,
        announce: Callable[[str], object] | None = None,
    ) -> list[FaultWindow]:
        """Each step at `origin` (a `time.monotonic()`) plus its offset; their windows."""
        windows: list[FaultWindow] = []
        calm_until = origin
        for step in sorted(steps, key=lambda s: s.at):
            # Late after a slow restart? Still leave a gap, so each recovery is seen apart.
            due = max(origin + step.at, calm_until)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            window = await self.inject(step)
            windows.append(window)
            calm_until = time.monotonic() + GAP
            if announce is not None:
                took = (window.ended - window.began).total_seconds()
                announce(f"fault: {window.label} for {took:.1f} s, evidence {window.injected}")
        return windows

    async def inject(self, step: FaultStep) -> FaultWindow:
        label = LABELS[step.kind].format(rate=step.rate, seconds=step.seconds)
        if step.kind is FaultKind.WORKER_KILL:
            return await self._restart("worker", label, step.kind, kill=True)
        if step.kind is FaultKind.TEMPORAL_RESTART:
            return await self._restart("temporal", label, step.kind, kill=False)
        service = "crm" if step.kind is FaultKind.CRM_RATE_LIMIT else "erp"
        config: dict[str, Any] = {"retry_after_seconds": 1, "seed": 7}
        if step.kind is FaultKind.ERP_OUTAGE:
            config["outage_seconds"] = step.seconds
            counter = "outage_rejections"
        else:
            statuses = [429] if step.kind is FaultKind.CRM_RATE_LIMIT else [502, 503]
            config.update(error_rate=step.rate, error_statuses=statuses)
            counter = "errors"
        before = (await self.faults(service, "GET"))["stats"][counter]
        began = now()
        await self.faults(service, "PUT", config)
        await asyncio.sleep(step.seconds)
        after = (await self.faults(service, "PUT", {}))["stats"][counter]
        return FaultWindow(
            kind=step.kind, label=label, began=began, ended=now(), injected=after - before
        )

    async def _restart(self, name: str, label: str, kind: FaultKind, *, kill: bool) -> FaultWindow:
        """What `Stack.restart` does, timed: the stop (or SIGKILL), the launch, the ready."""
        worker, proc = self.stack.processes["worker"], self.stack.processes[name]
        old_pid = proc.pid
        began = now()
        await asyncio.to_thread(proc.kill if kill else proc.stop)
        restarted = now()
        start = self.stack.start_worker if name == "worker" else self.stack.start_temporal
        proc = await asyncio.to_thread(start)
        ended = now()
        note = f"ready {(ended - restarted).total_seconds():.1f} s after launch"
        if name == "temporal":
            # The worker must ride out the server's absence on its own.
            if worker.alive():
                note += "; the worker kept running through it"
            else:
                note += "; the worker died with the server and was started again"
                await asyncio.to_thread(self.stack.start_worker)
            ops = self.stack.processes.get("ops-worker")
            if ops is not None and not ops.alive():
                note += "; the ops worker died with the server and was started again"
                await asyncio.to_thread(self.stack.start_ops_worker)
        return FaultWindow(
            kind=kind,
            label=label,
            began=began,
            ended=ended,
            restarted=restarted,
            injected=int(proc.alive() and proc.pid != old_pid),
            note=note,
        )

    async def faults(
        self, service: str, method: str, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        token = self.stack.client_env()[f"{service.upper()}_ADMIN_TOKEN"]
        answer = await self.http.request(
            method,
            f"{self.stack.url(service)}/admin/faults",
            json=config,
            headers={"Authorization": f"Bearer {token}"},
        )
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state
