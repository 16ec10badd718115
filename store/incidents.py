"""The incident console's audit: who planned or applied what, why, under which ticket, when, on
which processes, and what became of each one. Append-only: rows are only ever added (the
database itself refuses UPDATE and DELETE on the table, migration 0003).

Re-drives of the broker's dead letters are kept here too, under `dead-letter-<number>`.

The repair job appends from activities, which Temporal may run twice: such appends carry a
key (`plan:<id>:item:<workflow id>`, ...) and a second one with the same key adds nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from domain.incidents.contract import ItemResult, Plan, RepairProgress
from store.database import Store
from store.schema import incident_audit


class AuditEvent(StrEnum):
    PLANNED = "planned"  # a signed plan was written (nothing changed)
    APPLY_REQUESTED = "apply-requested"  # a person asked to apply it, and it was verified
    REFUSED = "refused"  # an apply (or plan) was refused: tampered, expired, not a plan, role
    STARTED = "started"  # the repair job began (its workflow id in detail)
    CANARY = "canary"  # the canary's verdict
    ITEM = "item"  # one process's result: fixed / not fixed / skipped / failed
    STOPPED = "stopped"  # the job stopped early (canary failed, cancelled)
    FINISHED = "finished"  # the job's totals
    REDRIVEN = "redriven"  # a dead letter put back on its inbound subject (not a plan's)


def dead_letter_ref(sequence: int) -> str:
    """The audit's `plan` column for a dead letter's re-drive: which letter, by its number."""
    return f"dead-letter-{sequence}"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    plan_id: str
    event: str
    actor: str
    action: str | None = None
    reason: str | None = None
    ticket: str | None = None
    items: int | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    outcome: str | None = None
    detail: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class IncidentAudit:
    """`store`: the shared `Store`, or a URL or SQLite file of one."""

    def __init__(self, store: Store | str | Path) -> None:
        self.store = store if isinstance(store, Store) else Store(store)

    def _append(self, key: str | None, **values: object) -> bool:
        """True when the row was added; False when an entry with `key` was already there."""
        row = {"entry_key": key, **values}
        with self.store.write() as db:
            if key is None:
                db.execute(incident_audit.insert().values(**row))
                return True
            done = db.execute(
                self.store.insert(incident_audit)
                .values(**row)
                .on_conflict_do_nothing(index_elements=[incident_audit.c.entry_key])
                # The driver's rowcount is not to be trusted after ON CONFLICT (psycopg says 1).
                .returning(incident_audit.c.id)
            )
            return done.first() is not None

    def planned(self, plan: Plan) -> bool:
        """The signed plan as written, whole: its items, operator, reason and ticket."""
        return self._append(
            f"plan:{plan.plan_id}:planned",
            at=plan.created_at,
            plan_id=plan.plan_id,
            event=AuditEvent.PLANNED,
            action=plan.action,
            actor=plan.operator,
            reason=plan.reason,
            ticket=plan.ticket,
            item_count=len(plan.items),
            detail=plan.where,
            body=plan.model_dump_json(),
        )

    def apply_requested(self, plan: Plan, by: str, at: datetime | None = None) -> bool:
        return self._append(
            f"plan:{plan.plan_id}:apply",
            at=at or _now(),
            plan_id=plan.plan_id,
            event=AuditEvent.APPLY_REQUESTED,
            action=plan.action,
            actor=by,
            reason=plan.reason,
            ticket=plan.ticket,
            item_count=len(plan.items),
        )

    def refused(
        self, plan_id: str, by: str, why: str, action: str | None = None, at: datetime | None = None
    ) -> None:
        """Every refusal is kept, however often it is tried (no key)."""
        self._append(
            None,
            at=at or _now(),
            plan_id=plan_id,
            event=AuditEvent.REFUSED,
            action=action,
            actor=by,
            detail=why,
        )

    def job(
        self,
        plan_id: str,
        event: AuditEvent,
        by: str,
        detail: str = "",
        at: datetime | None = None,
        progress: RepairProgress | None = None,
    ) -> bool:
        """A job event (started, canary, stopped, finished), once per plan and event."""
        return self._append(
            f"plan:{plan_id}:{event}",
            at=at or _now(),
            plan_id=plan_id,
            event=event,
            action=progress.action if progress else None,
            actor=by,
            item_count=progress.total if progress else None,
            detail=detail,
            body=progress.model_dump_json() if progress else None,
        )

    def item(
        self, plan_id: str, action: str, by: str, result: ItemResult, run_id: str | None = None
    ) -> bool:
        """One process's result, once per plan and process."""
        return self._append(
            f"plan:{plan_id}:item:{result.workflow_id}",
            at=result.at,
            plan_id=plan_id,
            event=AuditEvent.ITEM,
            action=action,
            actor=by,
            workflow_id=result.workflow_id,
            run_id=run_id,
            outcome=result.outcome,
            detail=result.detail,
        )

    def redriven(
        self, sequence: int, by: str, what: str, why_dead: str, at: datetime | None = None
    ) -> None:
        """A dead letter put back (`continuum incidents redrive`): what it was, where it went,
        why it had been set aside. Every re-drive is kept (no key: after the dead-letter stream
        is reset, a letter number comes again)."""
        self._append(
            None,
            at=at or _now(),
            plan_id=dead_letter_ref(sequence),
            event=AuditEvent.REDRIVEN,
            action="redrive",
            actor=by,
            reason=why_dead,
            detail=what,
        )

    def plan(self, plan_id: str) -> Plan | None:
        """The plan as it was planned (the inbox applies it from here; verify it all the same,
        the database is not the key's keeper)."""
        a = incident_audit
        with self.store.read() as db:
            body = db.scalar(
                select(a.c.body).where(a.c.plan_id == plan_id, a.c.event == AuditEvent.PLANNED)
            )
        if body is None:
            return None
        try:
            return Plan.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            return None

    def entries(
        self,
        plan_id: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[AuditEntry]:
        """Oldest first (the story as it happened), the newest `limit` of them."""
        a = incident_audit
        query = select(
            a.c.id,
            a.c.at,
            a.c.plan_id,
            a.c.event,
            a.c.actor,
            a.c.action,
            a.c.reason,
            a.c.ticket,
            a.c.item_count,
            a.c.workflow_id,
            a.c.run_id,
            a.c.outcome,
            a.c.detail,
        )
        if plan_id is not None:
            query = query.where(a.c.plan_id == plan_id)
        if since is not None:
            query = query.where(a.c.at >= since)
        query = query.order_by(a.c.id.desc()).limit(limit)
        with self.store.read() as db:
            rows = db.execute(query).all()
        return [AuditEntry(*row) for row in reversed(rows)]
