"""Each process's Worker Versioning behaviour and why, as its workflow declares it.

The workflows declare it themselves (`@workflow.defn(versioning_behavior=...)`, which the SDK
reads); this table says why, for `continuum release status` and the README, and
tests/release/test_behaviours.py checks that both agree for every registered workflow.

The rule: pinned where a process is short (it finishes on the version it started on, so a
release needs no patch for it and the old workers drain in minutes); auto-upgrade where it
waits long (days), so that old workers need not stay up for it, at the price of keeping every
change behind `workflow.patched` and proving it with `continuum release check`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["pinned", "auto-upgrade"]


@dataclass(frozen=True)
class Declared:
    behaviour: Behaviour
    why: str


BEHAVIOURS: dict[str, Declared] = {
    "OrderToCash": Declared(
        "auto-upgrade",
        "waits days for an approval and for the delivery; pinning would keep each old version's"
        " workers up that long, so changes go behind workflow.patched and release check",
    ),
    "Approval": Declared(
        "auto-upgrade",
        "waits for people up to its deadline with reminders and escalations (days);"
        " changes go behind workflow.patched",
    ),
    "ProcureToPay": Declared(
        "auto-upgrade",
        "waits days for approvals, the supplier, goods, invoices, exception reviews and due"
        " dates; changes go behind workflow.patched",
    ),
    "ErpCrmSync": Declared(
        "pinned",
        "one sync pass takes minutes (its continue-as-new runs stay on the pass's version);"
        " the next pass starts on the new version",
    ),
    "ScheduledErpCrmSync": Declared(
        "pinned", "a schedule tick that starts or skips the sync: seconds"
    ),
    "ErpCrmReconcile": Declared("pinned", "one reconciliation pass: minutes"),
    "SyncQuarantineRedrive": Declared("pinned", "one re-drive of the quarantine: minutes"),
    "DailyReport": Declared("pinned", "one report: reads, renders, delivers; minutes"),
    # The ops worker's (continuum-ops), when it runs there.
    "Alert": Declared(
        "auto-upgrade",
        "stays open while its condition fires and escalates level by level (hours to days)",
    ),
    "Watchdog": Declared("pinned", "one evaluation of the rules per scheduled run: seconds"),
    # The events worker's (continuum-events).
    "EventPublisher": Declared(
        "auto-upgrade",
        "delivers a process's business events and completes after ten idle minutes, but waits"
        " as long as a sink is down (hours); changes go behind workflow.patched",
    ),
    "IncidentRepair": Declared(
        "pinned",
        "applies one frozen plan at a rate limit (minutes to hours): it finishes on the code"
        " that started it",
    ),
}


def declared(workflow_type: str) -> Declared | None:
    return BEHAVIOURS.get(workflow_type)
