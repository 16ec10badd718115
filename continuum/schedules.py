"""Temporal Schedules from configuration: the watchdog, the ERP→CRM sync and the daily report.

`apply` makes the server hold exactly the desired schedules: it creates what is missing and
updates only a schedule whose action, timing or policy differs, keeping its paused state and
note (a person's pause survives a deploy). Applying twice changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from continuum.settings import Settings
from domain.reports import SCHEDULED_WORKFLOW_ID as REPORT_WORKFLOW_ID
from domain.reports import WORKFLOW_NAME as REPORT_WORKFLOW
from domain.reports import ReportError, ReportRequest, zone
from domain.sync.contract import SCHEDULED_WORKFLOW as SYNC_WORKFLOW
from domain.sync.contract import SCHEDULED_WORKFLOW_ID as SYNC_WORKFLOW_ID
from domain.sync.models import SyncInput
from domain.watchdog import contract as watchdog

SYNC_SCHEDULE = "erp-crm-sync"
REPORT_SCHEDULE = "daily-report"
WATCHDOG_SCHEDULE = watchdog.SCHEDULE_ID


class ScheduleError(Exception):
    """A schedule operation that cannot be done; the message says why."""


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DesiredSchedule:
    schedule_id: str
    summary: str
    schedule: Schedule


@dataclass(frozen=True)
class Applied:
    schedule_id: str
    change: Change
    differences: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleRow:
    schedule_id: str
    workflow: str
    paused: bool
    note: str
    next_run: datetime | None
    last_run: datetime | None


def _report_time(text: str) -> tuple[int, int]:
    hour, _, minute = text.partition(":")
    return int(hour), int(minute)


def desired_schedules(settings: Settings) -> list[DesiredSchedule]:
    try:
        zone(settings.report_timezone)
    except ReportError as err:
        raise ScheduleError(f"REPORT_TIMEZONE: {err}") from None
    every = timedelta(minutes=settings.sync_every_minutes)
    hour, minute = _report_time(settings.report_time)
    sync = Schedule(
        action=ScheduleActionStartWorkflow(
            SYNC_WORKFLOW,
            SyncInput(),
            id=SYNC_WORKFLOW_ID,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A sync still running when the next one is due: skip it, the running one catches up
        # (the tick itself also skips when a sync started by anyone else holds the sync's id).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
    )
    report = Schedule(
        action=ScheduleActionStartWorkflow(
            REPORT_WORKFLOW,
            ReportRequest(timezone=settings.report_timezone),
            id=REPORT_WORKFLOW_ID,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)])
            ],
            time_zone_name=settings.report_timezone,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(minutes=settings.schedule_catchup_window_minutes),
        ),
    )
    return [
        watchdog_schedule(settings),
        DesiredSchedule(
            SYNC_SCHEDULE, f"ERP→CRM sync every {settings.sync_every_minutes} min", sync
        ),
        DesiredSchedule(
            REPORT_SCHEDULE,
            f"daily report at {settings.report_time} {settings.report_timezone}",
            report,
        ),
    ]


def watchdog_schedule(settings: Settings) -> DesiredSchedule:
    """The watchdog on the ops queue every WATCHDOG_EVERY_SECONDS (a minute; seconds in tests)."""
    every = timedelta(seconds=settings.watchdog_every_seconds)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            watchdog.WORKFLOW_NAME,
            watchdog.WatchdogRun(),
            id=watchdog.WORKFLOW_ID,
            task_queue=watchdog.TASK_QUEUE,
            # A run that finds no worker is dropped, not kept: the next tick judges afresh.
            execution_timeout=max(every * 5, timedelta(minutes=5)),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A run still going when the next is due: skip it. After an outage one run is enough.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(every, timedelta(seconds=10))
        ),
    )
    return DesiredSchedule(
        watchdog.SCHEDULE_ID, f"watchdog every {settings.watchdog_every_seconds} s", schedule
    )


# --- comparing what is there with what is wanted ---------------------------------------------


def _ranges(ranges: Sequence[ScheduleRange]) -> list[tuple[int, int, int]]:
    # The server fills in end and step; (5) and (5, 5, 1) are the same range.
    return [(r.start, max(r.end, r.start), r.step or 1) for r in ranges]


def _seconds(value: timedelta | None) -> float:
    return value.total_seconds() if value else 0.0


def _shape(schedule: Schedule, args: list[Any]) -> dict[str, Any]:
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    spec, policy = schedule.spec, schedule.policy
    return {
        "workflow": action.workflow,
        "workflow id": action.id,
        "task queue": action.task_queue,
        "input": args,
        "intervals": [(_seconds(i.every), _seconds(i.offset)) for i in spec.intervals],
        "calendars": [
            [
                _ranges(getattr(c, part))
                for part in ("second", "minute", "hour", "day_of_month", "month", "year")
            ]
            + [_ranges(c.day_of_week)]
            for c in spec.calendars
        ],
        "cron": list(spec.cron_expressions),
        "time zone": spec.time_zone_name or "",
        "jitter": _seconds(spec.jitter),
        "overlap": policy.overlap.name,
        "catch-up window": _seconds(policy.catchup_window),
        "pause on failure": policy.pause_on_failure,
    }


def _dump(values: Sequence[Any]) -> list[Any]:
    return [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in values]


async def _differences(client: Client, want: Schedule, have: Schedule) -> list[str]:
    wanted = want.action
    assert isinstance(wanted, ScheduleActionStartWorkflow)
    action = have.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        return ["action"]
    try:
        args = await client.data_converter.decode(
            list(action.args),  # raw payloads once described
            [type(a) for a in wanted.args],
        )
    except Exception:  # a payload this build cannot read is a difference, not a crash
        args = ["<unreadable>"]
    want_shape = _shape(want, _dump(wanted.args))
    have_shape = _shape(have, _dump(args))
    return [key for key in want_shape if want_shape[key] != have_shape[key]]


# --- operations --------------------------------------------------------------------------------


async def apply(client: Client, desired: Sequence[DesiredSchedule]) -> list[Applied]:
    results: list[Applied] = []
    for item in desired:
        handle = client.get_schedule_handle(item.schedule_id)
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise ScheduleError(f"schedule {item.schedule_id}: {err.message}") from None
            try:
                await client.create_schedule(item.schedule_id, item.schedule)
                results.append(Applied(item.schedule_id, Change.CREATED))
                continue
            except ScheduleAlreadyRunningError:  # another apply created it meanwhile
                description = await handle.describe()
        differences = await _differences(client, item.schedule, description.schedule)
        if not differences:
            results.append(Applied(item.schedule_id, Change.UNCHANGED))
            continue

        def keep_state(
            input: ScheduleUpdateInput, want: Schedule = item.schedule
        ) -> ScheduleUpdate:
            # Paused or not, and the note saying why, are a person's to change, not apply's.
            state = input.description.schedule.state
            return ScheduleUpdate(schedule=dataclasses.replace(want, state=state))

        await handle.update(keep_state)
        results.append(Applied(item.schedule_id, Change.UPDATED, tuple(differences)))
    return results


async def list_schedules(client: Client) -> list[ScheduleRow]:
    rows: list[ScheduleRow] = []
    async for entry in await client.list_schedules():
        sched, info = entry.schedule, entry.info
        recent = info.recent_actions if info else []
        upcoming = info.next_action_times if info else []
        rows.append(
            ScheduleRow(
                schedule_id=entry.id,
                workflow=getattr(sched.action, "workflow", "?") if sched else "?",
                paused=sched.state.paused if sched else False,
                note=(sched.state.note or "") if sched else "",
                next_run=upcoming[0] if upcoming else None,
                last_run=recent[-1].started_at if recent else None,
            )
        )
    return sorted(rows, key=lambda r: r.schedule_id)


async def _on(client: Client, schedule_id: str, what: str, op: Any) -> None:
    handle = client.get_schedule_handle(schedule_id)
    try:
        await op(handle)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise ScheduleError(
                f"unknown schedule {schedule_id!r}; `continuum schedules list` shows them"
            ) from None
        raise ScheduleError(f"cannot {what} schedule {schedule_id}: {err.message}") from None


async def pause(client: Client, schedule_id: str, note: str) -> None:
    await _on(client, schedule_id, "pause", lambda h: h.pause(note=note))


async def resume(client: Client, schedule_id: str, note: str) -> None:
    await _on(client, schedule_id, "resume", lambda h: h.unpause(note=note))


async def trigger(client: Client, schedule_id: str) -> None:
    """Runs the action now, under the schedule's overlap policy."""
    await _on(client, schedule_id, "trigger", lambda h: h.trigger())
