"""Helpers for the Alert tests: routes, raising an alert as the watchdog does (signal-with-start),
waiting on its state with a bound, and real receivers: log files, an HTTP webhook receiver that
checks the HMAC as the gateway does, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.alerts.delivery import AlertDelivery, DeliveryConfig
from activities.events.handover import EventHandover
from continuum.supervisor import free_port
from domain.alerts.contract import (
    TASK_QUEUE,
    AlertInput,
    AlertState,
    Level,
    Message,
    Observation,
    Receiver,
    ReceiverKind,
    Route,
    Severity,
    fingerprint,
    workflow_id,
)
from services.gateway.signatures import HEADER, SignatureError, verify
from workflows.alerts.alert import Alert

Handle = WorkflowHandle[Alert, AlertState]
PEOPLE = ["olga", "omar"]


def log_receiver(name: str) -> Receiver:
    """A LOG receiver writing `<name>.log` beside the delivery's default log file."""
    return Receiver(name=name, kind=ReceiverKind.LOG, target=f"{name}.log")


def three_levels(repeat_every: timedelta = timedelta(hours=1)) -> Route:
    return Route(
        levels=[
            Level(receivers=[log_receiver("oncall")], people=["olga"]),
            Level(after=timedelta(minutes=10), receivers=[log_receiver("lead")], people=["omar"]),
            Level(after=timedelta(minutes=30), receivers=[log_receiver("head")]),
        ],
        repeat_every=repeat_every,
    )


def alert_input(route: Route | None = None, **changes: Any) -> AlertInput:
    subject = f"order-O-{uuid.uuid4().hex[:8]}"
    rule = "order-stalled"
    base = AlertInput(
        fingerprint=fingerprint(rule, subject),
        rule=rule,
        severity=Severity.CRITICAL,
        subject=subject,
        summary=f"{subject} waits for delivery",
        runbook="continuum incidents find --where 'status = AwaitingDelivery'",
        route=route or three_levels(),
        clear_after=timedelta(minutes=5),
        responders=PEOPLE,
    )
    return base.model_copy(update=changes)


def firing(detail: str = "AwaitingDelivery for 3 business days") -> Observation:
    return Observation(firing=True, at=datetime.now(UTC), detail=detail)


def clear() -> Observation:
    return Observation(firing=False, at=datetime.now(UTC), detail="delivered")


async def observe(
    client: Client, source: AlertInput, seen: Observation, task_queue: str = TASK_QUEUE
) -> Handle:
    """As the watchdog raises it: signal-with-start, the alert's id is its fingerprint."""
    return await client.start_workflow(
        Alert.run,
        source,
        id=workflow_id(source.fingerprint),
        task_queue=task_queue,
        start_signal=Message.OBSERVE,
        start_signal_args=[seen],
    )


async def wait_state(
    handle: Handle, wanted: Callable[[AlertState], bool], within: float = 15.0
) -> AlertState:
    deadline = time.monotonic() + within
    state: AlertState | RPCError | None = None
    while True:
        try:
            # A query that meets the alert continuing as new on a loaded machine can go
            # unanswered until the server's deadline: ask again, within the same bound.
            state = await handle.query(Alert.state, rpc_timeout=timedelta(seconds=5))
        except RPCError as err:
            state = err
        if isinstance(state, AlertState) and wanted(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"alert never reached the wanted state: {state}")
        await asyncio.sleep(0.05)


def events(state: AlertState, *names: str) -> list[tuple[str, int | None, str | None]]:
    return [(e.event, e.level, e.receiver) for e in state.timeline if not names or e.event in names]


def notified(state: AlertState) -> list[str]:
    return [e.receiver or "" for e in state.timeline if e.event == "notified"]


@dataclass
class Logs:
    """The LOG receivers' files: one JSON line per notice."""

    directory: Path

    @property
    def default(self) -> Path:
        return self.directory / "alerts.log"

    def lines(self, name: str) -> list[dict[str, Any]]:
        path = self.directory / f"{name}.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def config(self, **more: Any) -> DeliveryConfig:
        return DeliveryConfig(log_file=self.default, **more)


def alert_worker(client: Client, task_queue: str, config: DeliveryConfig) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[Alert],
        # The alert hands its business events over (a no-op: events are off).
        activities=[*AlertDelivery(config).all(), *EventHandover(client, False).all()],
    )


async def end_all(client: Client, ids: set[str]) -> None:
    """Terminates what is still running: an alert left open on the time-skipping server stalls
    the next test's updates and queries."""
    for alert_id in sorted(ids):
        try:
            await client.get_workflow_handle(alert_id).terminate("test over")
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise


# --- a webhook receiver ------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool  # the HMAC checked out, as the gateway checks its senders

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class WebhookReceiver:
    """A real HTTP server: answers the scripted statuses first (then 200), keeps what it got."""

    secret: str
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    hold: threading.Event | None = None  # when set: requests wait until it is set
    signed_only: bool = True  # False: a plain receiver (apprise's json:// posts are not signed)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        self.attempts += 1
        if self.hold is not None:
            self.hold.wait(timeout=20)
        try:
            verify(self.secret, headers.get(HEADER), body, now=time.time())
            signed = True
        except SignatureError:
            signed = False
        status = self.statuses.pop(0) if self.statuses else 200
        if status < 300:
            self.received.append(Received(headers, body, signed))
        return status if signed or not self.signed_only else 401

    def keys(self) -> list[str]:
        return [r.headers["Idempotency-Key"] for r in self.received]


@contextmanager
def webhook_receiver(
    secret: str, statuses: list[int] | None = None, *, signed_only: bool = True
) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(
        secret=secret, statuses=list(statuses or []), signed_only=signed_only
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:  # quiet test output
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{port}/alerts"
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- an SMTP server ----------------------------------------------------------------------------


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
