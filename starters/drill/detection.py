"""The drill's detection part: stop business three ways and see the watchdog page each.

After the resilience part has settled, with a light load of new orders running and the carrier
delivering, the drill first keeps quiet (no alert may fire), then stops business one way at a
time and keeps it stopped until the expected alert fires (or DETECT_WITHIN passes): the worker
killed and kept down, the ERP answering nothing, an order whose delivery the carrier holds back.
Then it lifts the stop and waits for the alert to resolve. The watchdog runs in the stack's ops
worker with the drill's own rules (`watchdog-short.toml` / `watchdog-full.toml`: allowances of
seconds, time compressed but never faked). `domain.drill_detection` judges what happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from temporalio.client import Client
from temporalio.service import RPCError

from continuum import schedules
from continuum import search_attributes as sa
from continuum.alert_client import AlertClient, listing_query
from continuum.order_client import OrderClient
from continuum.settings import get_settings
from continuum.stack import Stack
from domain.alerts.contract import AlertState, AlertStatus, Message
from domain.drill import OrderKind
from domain.drill_detection import (
    DETECT_WITHIN,
    DetectionReport,
    FiredAlert,
    Stop,
    StopKind,
    judge,
    matches,
)
from domain.orders.models import Order
from starters.carrier import Carrier
from starters.drill.faults import FaultInjector, now
from starters.drill.phases import Phases

HERE = Path(__file__).parent
POLL = 1.0  # seconds between looks at the alerts
# A look that gets no answer (the ops worker away) is retried at the next poll, never waited out.
RPC_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class DetectionPlan:
    rules: Path  # the watchdog configuration the stack's ops worker runs with
    every_seconds: int  # the watchdog's schedule
    quiet_seconds: float  # no stop: no alert may fire
    rate: float  # new orders per second while detection runs
    # How long a stop is kept up waiting for its alert: at most the 15-minute promise; less
    # where the rules' allowances are seconds, so that a miss fails the drill soon.
    page_within: float
    resolve_within: float  # seconds an alert may take to resolve after its stop is lifted
    grace: timedelta  # after a stop is lifted, alerts still explained by it


SHORT_DETECTION = DetectionPlan(
    rules=HERE / "watchdog-short.toml",
    every_seconds=2,
    quiet_seconds=15.0,
    rate=1.0,
    page_within=120.0,
    resolve_within=120.0,
    grace=timedelta(seconds=45),
)
FULL_DETECTION = DetectionPlan(
    rules=HERE / "watchdog-full.toml",
    every_seconds=10,
    quiet_seconds=90.0,
    rate=1.0,
    page_within=DETECT_WITHIN.total_seconds(),
    resolve_within=600.0,
    grace=timedelta(minutes=3),
)
EXPECTED = {
    StopKind.WORKER_DOWN: "drill-orders-backlog",
    StopKind.ERP_DOWN: "drill-step-retrying",
    StopKind.UNDELIVERED: "drill-delivery-late",
}


def ops_env(plan: DetectionPlan) -> dict[str, str]:
    """What the stack's ops worker runs the drill's watchdog with."""
    return {
        "WATCHDOG_CONFIG_FILE": str(plan.rules),
        "WATCHDOG_EVERY_SECONDS": str(plan.every_seconds),
    }


@dataclass
class DetectionDrill:
    plan: DetectionPlan
    stack: Stack
    client: Client
    orders: OrderClient
    carrier: Carrier
    injector: FaultInjector
    console: Console
    make_order: Callable[[int], Order]  # the n-th order of the light load
    launched: list[str]
    kinds: dict[str, OrderKind]
    phases: Phases = field(default_factory=Phases)  # the detection's own parts, timed
    held: set[str] = field(default_factory=set)  # deliveries the carrier holds back
    _next: int = 0

    async def run(self) -> DetectionReport:
        alerts = AlertClient(self.client)
        settings = get_settings().model_copy(
            update={"watchdog_every_seconds": self.plan.every_seconds}
        )
        await schedules.apply(self.client, [schedules.watchdog_schedule(settings)])
        with self.phases.timed("detection: earlier alerts resolving"):
            await self._until_no_alert_open(alerts)
        done = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._load(done))
            group.create_task(self._deliver(done))
            try:
                quiet_from = now()
                self.console.log(f"detection: {self.plan.quiet_seconds:.0f} s without a stop")
                with self.phases.timed("detection: quiet"):
                    await asyncio.sleep(self.plan.quiet_seconds)
                quiet_until = now()
                stops = [
                    await self._stop(
                        alerts,
                        StopKind.WORKER_DOWN,
                        "worker killed, kept down",
                        self._worker_down,
                        self._worker_up,
                    ),
                    await self._stop(
                        alerts, StopKind.ERP_DOWN, "ERP down", self._erp_down, self._erp_up
                    ),
                    await self._undelivered(alerts),
                ]
            finally:
                done.set()
        with self.phases.timed("detection: reading alerts"):
            fired = await self._fired(alerts)
        return judge(quiet_from, quiet_until, stops, fired, self.plan.grace)

    # --- the stops ---------------------------------------------------------------------------

    async def _stop(
        self,
        alerts: AlertClient,
        kind: StopKind,
        label: str,
        stop: Callable[[], Awaitable[None]],
        lift: Callable[[], Awaitable[None]],
        subject: str | None = None,
    ) -> Stop:
        began = now()
        await stop()
        record = Stop(
            kind=kind, label=label, expected_rule=EXPECTED[kind], subject=subject, began=began
        )
        with self.phases.timed(f"detection: {kind.value} until paged"):
            alert = await self._wait_fired(alerts, record)
        with self.phases.timed(f"detection: {kind.value} lifted"):
            await lift()
        record = record.model_copy(update={"recovered": now(), "alert": alert})
        took = "missed" if alert is None else f"paged after {record.seconds_to_detect:.1f} s"
        self.console.log(f"detection: {label}: {took}; lifted")
        if alert is not None:
            with self.phases.timed(f"detection: {kind.value} until resolved"):
                await self._wait_resolved(alerts, alert)
        return record

    async def _worker_down(self) -> None:
        await asyncio.to_thread(self.stack.processes["worker"].kill)

    async def _worker_up(self) -> None:
        await asyncio.to_thread(self.stack.start_worker)

    async def _erp_down(self) -> None:
        # Longer than any wait: the stop lasts until the drill lifts it.
        await self.injector.faults("erp", "PUT", {"outage_seconds": DETECT_WITHIN.total_seconds()})

    async def _erp_up(self) -> None:
        await self.injector.faults("erp", "PUT", {})

    async def _undelivered(self, alerts: AlertClient) -> Stop:
        order = self._new_order()
        self.held.add(order.order_id)
        await self.orders.start(order)
        self.launched.append(order.order_id)

        async def hold() -> None:
            return None  # the carrier already holds it back

        async def deliver() -> None:
            self.held.discard(order.order_id)

        return await self._stop(
            alerts,
            StopKind.UNDELIVERED,
            f"delivery of {order.order_id} held back",
            hold,
            deliver,
            subject=order.order_id,
        )

    # --- the load and the carrier --------------------------------------------------------------

    def _new_order(self) -> Order:
        self._next += 1
        order = self.make_order(self._next)
        self.kinds[order.order_id] = OrderKind.STANDARD
        return order

    async def _load(self, done: asyncio.Event) -> None:
        origin = time.monotonic()
        while not done.is_set():
            order = self._new_order()
            await self.orders.start(order)
            self.launched.append(order.order_id)
            due = origin + self._next / self.plan.rate
            try:
                await asyncio.wait_for(done.wait(), max(0.0, due - time.monotonic()))
            except TimeoutError:
                continue

    async def _deliver(self, done: asyncio.Event) -> None:
        while not done.is_set():
            await self.carrier.round([i for i in self.launched if i not in self.held])
            try:
                await asyncio.wait_for(done.wait(), 0.5)
            except TimeoutError:
                continue

    # --- the alerts ----------------------------------------------------------------------------

    async def _fired(self, alerts: AlertClient, where: str = "") -> list[FiredAlert]:
        """Every alert that paged (of those `where` narrows the listing to), each occurrence
        (run) of a condition on its own. Each listed run's state is a query its worker answers
        (a closed one by replaying it): the waits below narrow the listing to the alerts they
        are about, and only the final look reads them all."""
        found: list[FiredAlert] = []
        runs = [
            wf
            async for wf in self.client.list_workflows(
                listing_query() + where, limit=1000, rpc_timeout=RPC_TIMEOUT
            )
        ]
        for wf in runs:
            handle = self.client.get_workflow_handle(wf.id, run_id=wf.run_id)
            try:
                state = await handle.query(
                    Message.STATE, result_type=AlertState, rpc_timeout=RPC_TIMEOUT
                )
            except RPCError:
                continue  # unreadable just now: the next look reads it
            if state.fired_at is None:
                continue  # dismissed before it paged anyone
            found.append(
                FiredAlert(
                    alert_id=wf.id,
                    rule=state.input.rule,
                    subject=state.input.subject,
                    fired_at=state.fired_at,
                    resolved_at=state.resolved_at,
                )
            )
        return found

    async def _wait_fired(self, alerts: AlertClient, stop: Stop) -> FiredAlert | None:
        deadline = time.monotonic() + self.plan.page_within
        rule = f" AND {sa.ALERT_RULE.name} = '{stop.expected_rule}'"
        while time.monotonic() < deadline:
            for alert in await self._fired(alerts, rule):
                if matches(stop, alert) and alert.fired_at >= stop.began:
                    return alert
            await asyncio.sleep(POLL)
        return None

    async def _wait_resolved(self, alerts: AlertClient, alert: FiredAlert) -> None:
        deadline = time.monotonic() + self.plan.resolve_within
        runs = f" AND WorkflowId = '{alert.alert_id}'"
        while time.monotonic() < deadline:
            for fired in await self._fired(alerts, runs):
                same = fired.alert_id == alert.alert_id and fired.fired_at == alert.fired_at
                if same and fired.resolved_at is not None:
                    return
            await asyncio.sleep(POLL)

    async def _until_no_alert_open(self, alerts: AlertClient) -> None:
        """Alerts the resilience part raised resolve before the quiet stretch starts."""
        deadline = time.monotonic() + self.plan.resolve_within
        open_ = [s for s in AlertStatus if s.is_open]
        while time.monotonic() < deadline:
            if not await alerts.list(open_):
                return
            await asyncio.sleep(POLL)
