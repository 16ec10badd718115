"""The watchdog's configuration file and its heartbeat, for the ops worker, `continuum up`, the
schedules and the gateway.

The heartbeat is the dead-man's switch seen from outside the watchdog: the schedule's recent
actions, newest first, until one whose run completed. A schedule that is missing, paused, or whose
last completed run is older than three intervals (and a margin for the run itself) is not ok.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from continuum.settings import Settings
from domain.alerts.contract import ReceiverKind, Route, Severity
from domain.watchdog.config import ReceiverConfig, WatchdogConfig, WatchdogConfigError, parse_config
from domain.watchdog.contract import SCHEDULE_ID

_RPC_TIMEOUT = timedelta(seconds=5)


def load_watchdog_config(settings: Settings) -> WatchdogConfig:
    """WATCHDOG_CONFIG_FILE (else the shipped one), checked whole; log receivers' relative
    paths under the data directory; the approval policy's business calendar unless it has one.
    Raises WatchdogConfigError: one line naming the file, line, rule and field."""
    path = settings.watchdog_config_file
    try:
        text = path.read_text()
    except OSError as err:
        raise WatchdogConfigError(f"cannot read watchdog config {path}: {err.strerror}") from None
    config = parse_config(text, str(path))
    receivers = {
        name: _under(receiver, settings.data_dir) for name, receiver in config.receivers.items()
    }
    calendar = config.calendar or settings.approval_policy().calendar
    return config.model_copy(update={"receivers": receivers, "calendar": calendar})


def _under(receiver: ReceiverConfig, data_dir: Path) -> ReceiverConfig:
    if receiver.kind is not ReceiverKind.LOG or Path(receiver.target).is_absolute():
        return receiver
    return receiver.model_copy(update={"target": str((data_dir / receiver.target).resolve())})


def log_files(config: WatchdogConfig) -> list[str]:
    """Where alerts are written when only log receivers are configured (`continuum up` says)."""
    kinds = {r.kind for r in config.receivers.values()}
    if kinds - {ReceiverKind.LOG}:
        return []
    return sorted({r.target for r in config.receivers.values()})


def severity_routes(config: WatchdogConfig) -> dict[Severity, Route]:
    """The route of each severity: what an Alertmanager alert of that severity takes."""
    return {s: config.route_named(s.value) for s in Severity if s.value in config.routes}


# --- the heartbeat -----------------------------------------------------------------------------


class Beat(StrEnum):
    OK = "ok"
    LATE = "late"  # the last completed run is too old
    PAUSED = "paused"
    MISSING = "missing"  # no schedule: `continuum schedules apply` creates it


class WatchdogHeartbeat(BaseModel):
    status: Beat
    last_run: datetime | None = None  # when the newest completed run closed
    last_started: datetime | None = None  # when the schedule last started a run
    every_seconds: int
    late_after_seconds: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Beat.OK


def late_after(every_seconds: int) -> timedelta:
    """Three missed runs, plus half a minute for a run to do its work."""
    return timedelta(seconds=3 * every_seconds + 30)


async def watchdog_heartbeat(
    client: Client, every_seconds: int, now: datetime
) -> WatchdogHeartbeat:
    late = late_after(every_seconds)
    beat = WatchdogHeartbeat(
        status=Beat.MISSING,
        every_seconds=every_seconds,
        late_after_seconds=int(late.total_seconds()),
    )
    try:
        described = await client.get_schedule_handle(SCHEDULE_ID).describe(rpc_timeout=_RPC_TIMEOUT)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        beat.detail = f"no schedule {SCHEDULE_ID}: `continuum schedules apply` creates it"
        return beat
    recent = list(reversed(described.info.recent_actions))
    beat.last_started = recent[0].started_at if recent else None
    for action in recent:
        started = action.action
        if not isinstance(started, ScheduleActionExecutionStartWorkflow):
            continue
        handle = client.get_workflow_handle(
            started.workflow_id, run_id=started.first_execution_run_id
        )
        try:
            run = await handle.describe(rpc_timeout=_RPC_TIMEOUT)
        except RPCError:
            continue  # gone with its retention: an older one may still tell
        if run.status is WorkflowExecutionStatus.COMPLETED and run.close_time is not None:
            beat.last_run = run.close_time
            break
    if described.schedule.state.paused:
        beat.status = Beat.PAUSED
        beat.detail = f"schedule {SCHEDULE_ID} is paused: {described.schedule.state.note}"
    elif beat.last_run is None or now - beat.last_run > late:
        beat.status = Beat.LATE
        beat.detail = (
            "no completed run among the schedule's recent ones"
            if beat.last_run is None
            else f"last completed run {int((now - beat.last_run).total_seconds())} s ago"
        )
    else:
        beat.status = Beat.OK
    return beat
