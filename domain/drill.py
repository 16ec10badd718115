"""The continuity drill's verdict: invariants over what the ERP, the CRM and Temporal hold.

Pure rules over collected facts: the drill gathers rows from the ERP's and CRM's databases,
workflow histories from Temporal and the windows of the faults it injected; these functions
judge them (stuck orders, duplicates, success rate, time to recover) without any I/O. When the
ERP→CRM sync ran in the drill, `check_sync` judges its passes and the CRM against the ERP.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.crm import CrmUpsert
from domain.drill_detection import DetectionReport

# The invariants' vocabulary lives in its own module (the purchases' judge shares it); its
# names are re-exported here, where the drill's callers have always found them.
from domain.drill_invariants import PURCHASE_INVARIANTS
from domain.drill_invariants import SUCCESS_TARGET as SUCCESS_TARGET
from domain.drill_invariants import Invariant as Invariant
from domain.drill_invariants import InvariantResult as InvariantResult
from domain.drill_invariants import Violation as Violation
from domain.drill_purchases import PurchaseCheck
from domain.orders.models import OrderStatus
from domain.sync.mapping import DEFAULT_MAPPING, ObjectMapping, SyncMapping, map_record
from domain.sync.models import canonical

RECOVERY_GOAL = timedelta(seconds=10)
ERP_RECORDS = ("reservations", "sales_orders", "payments", "shipments", "invoices")
WON = "closedwon"
AGREEING = ("dealstage", "amount")  # deal properties the sync and order-to-cash both write


class OrderKind(StrEnum):
    """What the drill meant an order to do; each kind has one expected outcome."""

    STANDARD = "standard"  # goes all the way: Completed
    APPROVAL = "approval"  # above the approval threshold: waits for a person
    DECLINED = "declined"  # the card is declined: its steps are undone
    INVALID = "invalid"  # fails validation: nothing is written anywhere


EXPECTED: dict[OrderKind, OrderStatus] = {
    OrderKind.STANDARD: OrderStatus.COMPLETED,
    OrderKind.APPROVAL: OrderStatus.AWAITING_APPROVAL,
    OrderKind.DECLINED: OrderStatus.COMPENSATED,
    OrderKind.INVALID: OrderStatus.INVALID,
}


class FaultKind(StrEnum):
    ERP_ERRORS = "erp_errors"
    ERP_OUTAGE = "erp_outage"
    CRM_RATE_LIMIT = "crm_rate_limit"
    WORKER_KILL = "worker_kill"
    TEMPORAL_RESTART = "temporal_restart"

    @property
    def is_restart(self) -> bool:
        return self in (FaultKind.WORKER_KILL, FaultKind.TEMPORAL_RESTART)


class OrderFacts(BaseModel):
    order_id: str
    kind: OrderKind
    # From Temporal: the OrderStatus it shows, None when Temporal does not know the order.
    status: OrderStatus | None = None
    running: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retries: int = 0  # activity attempts beyond the first
    task_retries: int = 0  # workflow tasks that timed out or failed (a dead worker's)
    undo_steps: int = 0  # compensating activities that completed
    steps: list[datetime] = Field(default_factory=list)  # activities completed
    progress: list[datetime] = Field(default_factory=list)  # any task completed
    # From the ERP's and the CRM's own databases.
    erp_records: dict[str, int] = Field(default_factory=dict)
    crm_deals: int = 0
    deal_stage: str | None = None

    @property
    def waiting_on_person(self) -> bool:
        return self.running and self.status is OrderStatus.AWAITING_APPROVAL

    @property
    def settled(self) -> bool:
        """Nothing more happens without a person: finished, or waiting for a decision."""
        return self.status is not None and (not self.running or self.waiting_on_person)

    @property
    def as_expected(self) -> bool:
        return self.settled and self.status is EXPECTED[self.kind]

    def in_flight_at(self, moment: datetime) -> bool:
        """Started and not finished at `moment`, and not (already) waiting for a person."""
        if self.started_at is None or self.started_at > moment:
            return False
        if self.finished_at is not None and self.finished_at <= moment:
            return False
        return not (self.waiting_on_person and all(t <= moment for t in self.progress))


class FaultWindow(BaseModel):
    kind: FaultKind
    label: str
    began: datetime  # injected, or the process stopped
    ended: datetime  # lifted, or the process back and ready
    # A restart: when the new process was launched. Recovery counts from here, so that the
    # process's own start-up is part of the time to recover.
    restarted: datetime | None = None
    # Evidence it happened: errors the service answered, or 1 for a process that came back.
    injected: int = 0
    note: str = ""


class Recovery(BaseModel):
    """From a restart to the first progress of an order that was in flight when it began."""

    fault: str
    in_flight: int
    resumed: int
    first_progress_seconds: float | None
    all_resumed_seconds: float | None

    @property
    def goal_met(self) -> bool | None:
        if self.first_progress_seconds is None:
            return None
        return self.first_progress_seconds <= RECOVERY_GOAL.total_seconds()


# Judged only when the sync was part of the drill.
SYNC_INVARIANTS = frozenset(
    {Invariant.SYNC_COMPLETED, Invariant.SYNC, Invariant.SYNC_AGREES, Invariant.SYNC_QUARANTINE}
)
# Judged by `detection_invariants`, from the detection part's own report.
DETECTION_INVARIANTS = frozenset({Invariant.DETECTED, Invariant.NO_FALSE_ALERT})


class SyncPass(BaseModel):
    """One run of the ERP→CRM sync the drill started (its continue-as-new runs included)."""

    label: str  # "during the load", "final"
    began: datetime  # the first attempt to start it
    ended: datetime  # its result arrived, or the drill stopped waiting
    completed: bool
    detail: str = ""  # how it ended, when it did not complete
    pages: int = 0
    records: int = 0  # ERP records read
    upserted: int = 0  # CRM writes acknowledged
    quarantined: int = 0
    retries: int = 0  # activity attempts beyond the first, from its histories
    drift: int | None = None  # reconciliation's drift, when the pass reconciled
    drift_detail: str = ""  # per CRM object type: how many missing, different, extra

    @property
    def seconds(self) -> float:
        return (self.ended - self.began).total_seconds()


class ErpSalesOrder(BaseModel):
    status: str
    total: str


class CrmDealFacts(BaseModel):
    dealstage: str | None = None
    amount: str | None = None


class SyncFacts(BaseModel):
    """What the sync should have mirrored and what the CRM holds, read from their databases."""

    passes: list[SyncPass]
    sales_orders: dict[str, ErpSalesOrder]  # ERP order id → its sales order
    customers: dict[str, str | None]  # ERP customer id → company
    deals: dict[str, list[CrmDealFacts]]  # order id → every live CRM deal carrying it
    contacts: dict[str, int]  # customer id → live CRM contacts carrying it
    companies: dict[str, int]  # customer id → live CRM companies carrying it
    quarantined: list[str]  # open quarantine entries, described
    # ERP keys of CRM objects made before the drill began (the CRM's own demo company and
    # contact): not the sync's, so not counted as unknown to the ERP.
    crm_seeded: list[str] = Field(default_factory=list)


class SyncCheck(BaseModel):
    """The ERP→CRM sync in the drill: its passes, and whether the CRM mirrors the ERP."""

    ran: bool
    detail: str
    passes: list[SyncPass] = Field(default_factory=list)
    erp_records: int = 0  # sales orders, customers and companies the CRM should hold
    crm_objects: int = 0  # live deals, contacts and companies carrying an ERP key
    duplicates: int = 0
    missing: int = 0
    extra: int = 0  # CRM objects whose ERP record does not exist
    disagreeing: int = 0  # deals whose stage or amount is not what the ERP's order maps to
    quarantined: int = 0
    faults_met: list[str] = Field(default_factory=list)  # fault windows a pass overlapped
    violations: list[Violation] = Field(default_factory=list)

    @property
    def pages(self) -> int:
        return sum(p.pages for p in self.passes)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.passes)

    @property
    def retries(self) -> int:
        return sum(p.retries for p in self.passes)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.passes)


class ContinuityReport(BaseModel):
    started_at: datetime
    finished_at: datetime
    orders: int
    by_kind: dict[str, int]
    by_status: dict[str, int]
    valid_orders: int
    as_expected: int
    success_rate: float
    completed: int
    retries_absorbed: int
    workflow_task_retries: int
    compensations: int  # orders whose done steps were undone
    undo_steps: int
    faults: list[FaultWindow]
    recoveries: list[Recovery]
    fault_stats: dict[str, dict[str, int]] = Field(default_factory=dict)
    sync: SyncCheck | None = None
    purchases: PurchaseCheck | None = None
    detection: DetectionReport | None = None
    invariants: list[InvariantResult]
    # Wall-clock seconds per part of the drill (stack start, load, settling, detection...), in
    # the order they ran: where the drill's own time goes.
    phases: dict[str, float] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(result.held for result in self.invariants)


def success(facts: Sequence[OrderFacts]) -> tuple[int, int, float]:
    """(orders that ended as expected, valid orders, their ratio); invalid orders don't count."""
    valid = [f for f in facts if f.kind is not OrderKind.INVALID]
    good = sum(f.as_expected for f in valid)
    return good, len(valid), (good / len(valid) if valid else 1.0)


def violations(
    facts: Sequence[OrderFacts],
    faults: Sequence[FaultWindow],
    sync: SyncCheck | None = None,
    purchases: PurchaseCheck | None = None,
) -> list[Violation]:
    found: list[Violation] = []
    for f in facts:
        found += _order_violations(f)
    good, valid, rate = success(facts)
    if rate < SUCCESS_TARGET:
        found.append(
            Violation(
                invariant=Invariant.SUCCESS_RATE,
                detail=f"{good} of {valid} valid orders ({rate:.1%}) ended as expected",
            )
        )
    for window in faults:
        if window.injected <= 0:
            found.append(
                Violation(
                    invariant=Invariant.FAULTS_INJECTED,
                    detail=f"{window.label}: no sign that it happened",
                )
            )
    if sync is not None and sync.ran:
        found += sync.violations
    if purchases is not None:
        found += purchases.violations
    return found


def _order_violations(f: OrderFacts) -> list[Violation]:
    def broke(invariant: Invariant, detail: str) -> Violation:
        return Violation(invariant=invariant, detail=f"{f.order_id}: {detail}", order_id=f.order_id)

    if f.status is None:
        return [broke(Invariant.KNOWN, "Temporal has no such order")]
    found: list[Violation] = []
    if not f.settled:
        found.append(broke(Invariant.NONE_STUCK, f"still {f.status.value}"))
    doubled = [f"{n} {table}" for table, n in sorted(f.erp_records.items()) if n > 1]
    if f.crm_deals > 1:
        doubled.append(f"{f.crm_deals} CRM deals")
    if doubled:
        found.append(broke(Invariant.NO_DUPLICATES, ", ".join(doubled)))
    if f.status is OrderStatus.COMPLETED:
        absent = [t for t in ERP_RECORDS if f.erp_records.get(t, 0) == 0]
        if f.crm_deals == 0:
            absent.append("CRM deal")
        elif f.deal_stage != WON:
            absent.append(f"won CRM deal (stage {f.deal_stage})")
        if absent:
            found.append(broke(Invariant.COMPLETED_IN_BOTH, "no " + ", ".join(absent)))
    written = f.crm_deals + sum(n for n in f.erp_records.values())
    if f.kind is OrderKind.INVALID and written:
        found.append(broke(Invariant.INVALID_WROTE_NOTHING, "records were written"))
    return found


def check_sync(
    facts: SyncFacts, faults: Sequence[FaultWindow], mapping: SyncMapping = DEFAULT_MAPPING
) -> SyncCheck:
    """Judges the sync's passes and the CRM against the ERP, record by record."""
    check = SyncCheck(ran=True, detail="", passes=facts.passes)

    def broke(invariant: Invariant, detail: str, order_id: str | None = None) -> None:
        check.violations.append(Violation(invariant=invariant, detail=detail, order_id=order_id))

    for p in facts.passes:
        if not p.completed:
            broke(Invariant.SYNC_COMPLETED, f"{p.label} pass: {p.detail or 'did not complete'}")

    seeded = set(facts.crm_seeded)

    def mirror(what: str, expected: Iterable[str], found: dict[str, int]) -> None:
        """One CRM object per ERP record: none doubled, none missing, none made up."""
        wanted = set(expected)
        held = {k: n for k, n in found.items() if n and (k in wanted or k not in seeded)}
        check.erp_records += len(wanted)
        check.crm_objects += sum(held.values())
        for key in sorted(wanted | set(held)):
            n = held.get(key, 0)
            order_id = key if what == "deal" else None
            if key not in wanted:
                check.extra += n
                broke(Invariant.SYNC, f"{key}: {n} {what}(s) with no ERP record", order_id)
            elif n == 0:
                check.missing += 1
                broke(Invariant.SYNC, f"{key}: no {what} in the CRM", order_id)
            elif n > 1:
                check.duplicates += n - 1
                broke(Invariant.SYNC, f"{key}: {n} {what}s in the CRM", order_id)

    mirror("deal", facts.sales_orders, {k: len(v) for k, v in facts.deals.items()})
    mirror("contact", facts.customers, facts.contacts)
    with_company = [c for c, company in facts.customers.items() if (company or "").strip()]
    mirror("company", with_company, facts.companies)

    rules = _agreeing_rules(mapping)
    for order_id, sales_order in sorted(facts.sales_orders.items()):
        record = {"order_id": order_id, **sales_order.model_dump()}
        want = map_record(rules, record)
        if not isinstance(want, CrmUpsert):
            reason = f"{want.field} {want.reason}" if want is not None else "skipped"
            check.disagreeing += 1
            broke(Invariant.SYNC_AGREES, f"{order_id}: the ERP's order maps to no deal: {reason}")
            continue
        for deal in facts.deals.get(order_id, []):
            held = deal.model_dump()
            off = [
                f"{name} {held.get(name)!r}, the ERP's order maps to {value!r}"
                for name, value in want.properties.items()
                if canonical(held.get(name)) != canonical(value)
            ]
            if off:
                check.disagreeing += 1
                broke(Invariant.SYNC_AGREES, f"{order_id}: " + "; ".join(off), order_id)
                break

    check.quarantined = len(facts.quarantined)
    for entry in facts.quarantined:
        broke(Invariant.SYNC_QUARANTINE, entry)
    check.faults_met = [
        w.label
        for w in faults
        if any(p.began < w.ended and w.began < p.ended for p in facts.passes)
    ]
    check.detail = (
        f"{len(check.passes)} passes, {check.pages} pages, {check.records} ERP records read, "
        f"{check.retries} retries absorbed, {check.seconds:.0f} s syncing"
    )
    return check


def _agreeing_rules(mapping: SyncMapping) -> ObjectMapping:
    """The orders→deals mapping cut down to the properties order-to-cash writes from the same
    facts (stage from the status, amount from the total): those must agree whoever wrote last.
    The deal's name is left out: order-to-cash names it after the order, the sync after the
    customer, so it depends on who wrote last."""
    deals = next(m for m in mapping.for_source("orders") if m.target == "deals")
    fields = [rule for rule in deals.fields if rule.target in AGREEING]
    return deals.model_copy(update={"fields": fields})


def recovery(window: FaultWindow, facts: Iterable[OrderFacts]) -> Recovery:
    """Orders in flight when the fault began, and how soon after the restart they moved.

    Progress counts only from the restart on (the new process launched; the end of the window
    when there is none), so a step finished during a shutdown is not mistaken for recovery.
    """
    origin = window.restarted or window.ended
    in_flight = [f for f in facts if f.in_flight_at(window.began)]
    delays = [
        (min(later) - origin).total_seconds()
        for f in in_flight
        if (later := [t for t in f.progress if t > origin])
    ]
    return Recovery(
        fault=window.label,
        in_flight=len(in_flight),
        resumed=len(delays),
        first_progress_seconds=round(min(delays), 2) if delays else None,
        all_resumed_seconds=round(max(delays), 2) if delays else None,
    )


def per_bucket(
    times: Iterable[datetime], start: datetime, end: datetime, bucket: float
) -> list[int]:
    """How many moments fall in each `bucket`-second slot from `start` to `end`."""
    slots = max(1, int((end - start).total_seconds() // bucket) + 1)
    counts = [0] * slots
    for moment in times:
        index = int((moment - start).total_seconds() // bucket)
        if 0 <= index < slots:
            counts[index] += 1
    return counts


def build_report(
    facts: Sequence[OrderFacts],
    faults: Sequence[FaultWindow],
    *,
    started_at: datetime,
    finished_at: datetime,
    fault_stats: dict[str, dict[str, int]] | None = None,
    sync: SyncCheck | None = None,
    purchases: PurchaseCheck | None = None,
) -> ContinuityReport:
    good, valid, rate = success(facts)
    broken = violations(facts, faults, sync, purchases)
    by_invariant: dict[Invariant, list[Violation]] = {}
    for v in broken:
        by_invariant.setdefault(v.invariant, []).append(v)
    ran = sync is not None and sync.ran
    judged = [
        i
        for i in Invariant
        if (ran or i not in SYNC_INVARIANTS)
        and (purchases is not None or i not in PURCHASE_INVARIANTS)
        and i not in DETECTION_INVARIANTS
    ]
    statuses = Counter(f.status.value if f.status else "unknown" for f in facts)
    return ContinuityReport(
        started_at=started_at,
        finished_at=finished_at,
        orders=len(facts),
        by_kind=dict(Counter(f.kind.value for f in facts)),
        by_status=dict(statuses.most_common()),
        valid_orders=valid,
        as_expected=good,
        success_rate=round(rate, 4),
        completed=statuses.get(OrderStatus.COMPLETED.value, 0),
        retries_absorbed=sum(f.retries for f in facts),
        workflow_task_retries=sum(f.task_retries for f in facts),
        compensations=sum(f.undo_steps > 0 for f in facts),
        undo_steps=sum(f.undo_steps for f in facts),
        faults=list(faults),
        recoveries=[recovery(w, facts) for w in faults if w.kind.is_restart],
        fault_stats=fault_stats or {},
        sync=sync,
        purchases=purchases,
        invariants=[
            InvariantResult(
                invariant=i,
                held=not by_invariant.get(i),
                violations=len(by_invariant.get(i, [])),
                examples=[v.detail for v in by_invariant.get(i, [])[:5]],
            )
            for i in judged
        ],
    )


def detection_invariants(detection: DetectionReport) -> list[InvariantResult]:
    """The watchdog's part of the drill: no stop missed or left unresolved, no false alert."""
    problems = [*detection.missed, *detection.unresolved]
    return [
        InvariantResult(
            invariant=Invariant.DETECTED,
            held=not problems,
            violations=len(problems),
            examples=problems[:5],
        ),
        InvariantResult(
            invariant=Invariant.NO_FALSE_ALERT,
            held=not detection.false_alerts,
            violations=len(detection.false_alerts),
            examples=detection.false_alerts[:5],
        ),
    ]
