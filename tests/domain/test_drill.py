"""The continuity drill's verdict: invariants, success rate, time to recover, on made-up facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.drill import (
    ERP_RECORDS,
    SYNC_INVARIANTS,
    CrmDealFacts,
    ErpSalesOrder,
    FaultKind,
    FaultWindow,
    Invariant,
    OrderFacts,
    OrderKind,
    SyncCheck,
    SyncFacts,
    SyncPass,
    build_report,
    check_sync,
    per_bucket,
    recovery,
    success,
    violations,
)
from domain.orders.models import OrderStatus

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ONE_EACH = dict.fromkeys(ERP_RECORDS, 1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def completed(order_id: str = "O-1", **changes: object) -> OrderFacts:
    facts = OrderFacts(
        order_id=order_id,
        kind=OrderKind.STANDARD,
        status=OrderStatus.COMPLETED,
        erp_records=dict(ONE_EACH),
        crm_deals=1,
        deal_stage="closedwon",
    )
    return facts.model_copy(update=changes)


def window(kind: FaultKind, began: float, ended: float, injected: int = 1) -> FaultWindow:
    return FaultWindow(
        kind=kind, label=kind.value, began=at(began), ended=at(ended), injected=injected
    )


def broken(facts: list[OrderFacts], *faults: FaultWindow) -> set[Invariant]:
    return {v.invariant for v in violations(facts, faults)}


def test_a_clean_run_breaks_nothing() -> None:
    facts = [
        completed("O-1"),
        OrderFacts(
            order_id="O-2",
            kind=OrderKind.APPROVAL,
            status=OrderStatus.AWAITING_APPROVAL,
            running=True,
        ),
        OrderFacts(
            order_id="O-3",
            kind=OrderKind.DECLINED,
            status=OrderStatus.COMPENSATED,
            erp_records={"reservations": 1, "sales_orders": 1},
            crm_deals=1,
            deal_stage="closedlost",
            undo_steps=3,
        ),
        OrderFacts(order_id="O-4", kind=OrderKind.INVALID, status=OrderStatus.INVALID),
    ]
    assert violations(facts, [window(FaultKind.WORKER_KILL, 1, 3)]) == []
    assert success(facts) == (3, 3, 1.0)


def test_an_order_still_running_without_waiting_on_a_person_is_stuck() -> None:
    stuck = completed(status=OrderStatus.PROCESSING, running=True)
    waiting = completed("O-2", status=OrderStatus.AWAITING_DELIVERY, running=True)
    assert Invariant.NONE_STUCK in broken([stuck])
    found = violations([stuck, waiting], [])
    assert [v.order_id for v in found if v.invariant is Invariant.NONE_STUCK] == ["O-1", "O-2"]
    assert "still Processing" in found[0].detail


def test_an_order_temporal_does_not_know_is_reported_alone() -> None:
    lost = OrderFacts(order_id="O-9", kind=OrderKind.STANDARD)
    assert broken([lost]) == {Invariant.KNOWN, Invariant.SUCCESS_RATE}


def test_a_second_payment_or_deal_is_a_duplicate() -> None:
    twice_paid = completed(erp_records={**ONE_EACH, "payments": 2})
    two_deals = completed("O-2", crm_deals=2)
    found = [v for v in violations([twice_paid, two_deals], []) if v.order_id]
    assert [(v.invariant, v.detail) for v in found] == [
        (Invariant.NO_DUPLICATES, "O-1: 2 payments"),
        (Invariant.NO_DUPLICATES, "O-2: 2 CRM deals"),
    ]


def test_a_completed_order_missing_from_the_erp_or_crm_is_reported() -> None:
    no_invoice = completed(erp_records={**ONE_EACH, "invoices": 0})
    no_deal = completed("O-2", crm_deals=0)
    open_deal = completed("O-3", deal_stage="contractsent")
    details = [v.detail for v in violations([no_invoice, no_deal, open_deal], [])]
    assert details == [
        "O-1: no invoices",
        "O-2: no CRM deal",
        "O-3: no won CRM deal (stage contractsent)",
    ]


def test_an_invalid_order_that_wrote_anything_is_reported() -> None:
    wrote = OrderFacts(
        order_id="O-1",
        kind=OrderKind.INVALID,
        status=OrderStatus.INVALID,
        erp_records={"reservations": 1},
    )
    assert broken([wrote]) == {Invariant.INVALID_WROTE_NOTHING}


def test_success_rate_counts_valid_orders_that_ended_as_expected() -> None:
    facts = [completed(f"O-{i}") for i in range(49)]
    facts.append(completed("O-49", status=OrderStatus.COMPENSATED))  # should have completed
    facts.append(OrderFacts(order_id="O-50", kind=OrderKind.INVALID, status=OrderStatus.INVALID))
    assert success(facts) == (49, 50, 0.98)
    assert Invariant.SUCCESS_RATE not in broken(facts)
    facts.append(completed("O-51", status=OrderStatus.REJECTED))
    assert success(facts)[:2] == (49, 51)
    assert Invariant.SUCCESS_RATE in broken(facts)


def test_a_fault_without_evidence_breaks_the_run() -> None:
    silent = window(FaultKind.ERP_OUTAGE, 0, 8, injected=0)
    assert broken([completed()], silent) == {Invariant.FAULTS_INJECTED}


def sync_pass(began: float, ended: float, **changes: object) -> SyncPass:
    done = SyncPass(label="during the load", began=at(began), ended=at(ended), completed=True)
    return done.model_copy(update=changes)


def mirrored(**changes: object) -> SyncFacts:
    """The CRM in step with the ERP: an invoiced, a cancelled and an open order, two customers
    (one with a company)."""
    facts = SyncFacts(
        passes=[sync_pass(0, 10, pages=4, records=30, retries=2), sync_pass(20, 22, pages=2)],
        sales_orders={
            "O-1": ErpSalesOrder(status="invoiced", total="49.00"),
            "O-2": ErpSalesOrder(status="cancelled", total="24.50"),
            "O-3": ErpSalesOrder(status="open", total="73.5"),
        },
        customers={"C-1": "ACME", "C-2": None},
        deals={
            "O-1": [CrmDealFacts(dealstage="closedwon", amount="49")],
            "O-2": [CrmDealFacts(dealstage="closedlost", amount="24.50")],
            "O-3": [CrmDealFacts(dealstage="contractsent", amount="73.50")],
        },
        contacts={"C-1": 1, "C-2": 1},
        companies={"C-1": 1},
        quarantined=[],
    )
    return facts.model_copy(update=changes)


def sync_broken(check: SyncCheck) -> dict[Invariant, list[str]]:
    found: dict[Invariant, list[str]] = {}
    for v in violations([completed()], [], check):
        found.setdefault(v.invariant, []).append(v.detail)
    return found


def test_a_crm_in_step_with_the_erp_breaks_no_sync_invariant() -> None:
    faults = [window(FaultKind.CRM_RATE_LIMIT, 5, 12), window(FaultKind.WORKER_KILL, 15, 18)]
    # The CRM's own demo contact, there before the drill: not the sync's doing.
    facts = mirrored(contacts={"C-1": 1, "C-2": 1, "DEMO-1": 1}, crm_seeded=["DEMO-1"])
    check = check_sync(facts, faults)
    assert sync_broken(check) == {}
    assert (check.erp_records, check.crm_objects) == (6, 6)
    assert (check.pages, check.records, check.retries, check.seconds) == (6, 30, 2, 12.0)
    assert check.faults_met == ["crm_rate_limit"]  # no pass ran during the kill


def test_a_doubled_a_missing_and_an_unknown_crm_object_break_the_mirror() -> None:
    deal = CrmDealFacts(dealstage="closedwon", amount="49.00")
    facts = mirrored(
        deals={**mirrored().deals, "O-1": [deal, deal], "O-9": [deal]},
        contacts={"C-1": 1},
        companies={"C-1": 1, "C-2": 1},
    )
    check = check_sync(facts, [])
    assert sync_broken(check) == {
        Invariant.SYNC: [
            "O-1: 2 deals in the CRM",
            "O-9: 1 deal(s) with no ERP record",
            "C-2: no contact in the CRM",
            "C-2: 1 company(s) with no ERP record",
        ]
    }
    assert (check.duplicates, check.missing, check.extra) == (1, 1, 2)


def test_a_deal_whose_stage_or_amount_is_not_the_erps_breaks_agreement() -> None:
    facts = mirrored(
        deals={
            **mirrored().deals,
            "O-1": [CrmDealFacts(dealstage="contractsent", amount="49.00")],  # a stale write
            "O-3": [CrmDealFacts(dealstage="contractsent", amount="0.01")],
        },
        sales_orders={**mirrored().sales_orders, "O-4": ErpSalesOrder(status="lost", total="1")},
    )
    facts.deals["O-4"] = [CrmDealFacts(dealstage="closedlost", amount="1")]
    check = check_sync(facts, [])
    found = sync_broken(check)
    assert list(found) == [Invariant.SYNC_AGREES]
    assert found[Invariant.SYNC_AGREES] == [
        "O-1: dealstage 'contractsent', the ERP's order maps to 'closedwon'",
        "O-3: amount '0.01', the ERP's order maps to '73.5'",
        "O-4: the ERP's order maps to no deal: status 'lost' is not one of "
        "['cancelled', 'invoiced', 'open']",
    ]
    assert check.disagreeing == 3


def test_an_unfinished_pass_and_a_quarantined_record_break_the_sync() -> None:
    stuck = sync_pass(0, 180, completed=False, detail="not finished within 180 s")
    facts = mirrored(passes=[stuck], quarantined=["customers→contacts C-2: email bad"])
    found = sync_broken(check_sync(facts, []))
    assert found == {
        Invariant.SYNC_COMPLETED: ["during the load pass: not finished within 180 s"],
        Invariant.SYNC_QUARANTINE: ["customers→contacts C-2: email bad"],
    }


def test_the_sync_invariants_are_judged_only_when_the_sync_ran() -> None:
    not_run = SyncCheck(ran=False, detail="not run")
    assert violations([completed()], [], not_run) == []
    report = build_report([completed()], [], started_at=T0, finished_at=at(1), sync=not_run)
    assert SYNC_INVARIANTS.isdisjoint(r.invariant for r in report.invariants)
    ran = check_sync(mirrored(quarantined=["orders→deals O-3: total bad"]), [])
    report = build_report([completed()], [], started_at=T0, finished_at=at(1), sync=ran)
    held = {r.invariant: r.held for r in report.invariants}
    assert {i for i in SYNC_INVARIANTS if held[i]} == SYNC_INVARIANTS - {Invariant.SYNC_QUARANTINE}
    assert not report.passed


def test_recovery_is_measured_from_the_restart_to_the_first_progress_in_flight() -> None:
    kill = window(FaultKind.WORKER_KILL, 10, 13)
    fast = completed("O-1", started_at=at(9), finished_at=at(17), progress=[at(5), at(16), at(17)])
    slow = completed("O-2", started_at=at(8), running=True, progress=[at(20.5)])
    done = completed("O-3", started_at=at(1), finished_at=at(2), progress=[at(2)])
    later = completed("O-4", started_at=at(11), progress=[at(14)])
    # Waiting for a person since before the fault: nothing in flight to recover.
    waiting = completed(
        "O-5",
        status=OrderStatus.AWAITING_APPROVAL,
        running=True,
        started_at=at(1),
        progress=[at(2)],
    )
    found = recovery(kill, [fast, slow, done, later, waiting])
    assert (found.in_flight, found.resumed) == (2, 2)
    assert (found.first_progress_seconds, found.all_resumed_seconds) == (3.0, 7.5)
    assert found.goal_met is True


def test_recovery_ignores_progress_made_before_the_restart_was_complete() -> None:
    restart = window(FaultKind.TEMPORAL_RESTART, 10, 14)
    order = completed(started_at=at(9), finished_at=at(30), progress=[at(11), at(30)])
    found = recovery(restart, [order])
    assert found.first_progress_seconds == 16.0 and found.goal_met is False
    # Counted from the launch of the new process when there is one: its start-up is included.
    launched = restart.model_copy(update={"restarted": at(12)})
    assert recovery(launched, [order]).first_progress_seconds == 18.0
    nothing = recovery(restart, [completed()])
    assert (nothing.in_flight, nothing.first_progress_seconds, nothing.goal_met) == (0, None, None)


def test_per_bucket_counts_moments_per_slot_and_drops_the_rest() -> None:
    moments = [at(0), at(0.5), at(2.1), at(5.9), at(-1), at(99)]
    assert per_bucket(moments, T0, at(6), 2.0) == [2, 1, 1, 0]


def test_the_report_judges_each_invariant_and_sums_retries_and_compensations() -> None:
    facts = [
        completed("O-1", retries=3, task_retries=1),
        completed("O-2", status=OrderStatus.COMPENSATED, undo_steps=2, retries=1),
        completed("O-3", status=OrderStatus.PROCESSING, running=True),
    ]
    faults = [window(FaultKind.ERP_ERRORS, 0, 5, injected=12), window(FaultKind.WORKER_KILL, 6, 8)]
    report = build_report(facts, faults, started_at=T0, finished_at=at(60))
    assert not report.passed
    held = {r.invariant: r.held for r in report.invariants}
    assert held[Invariant.NONE_STUCK] is False and held[Invariant.NO_DUPLICATES] is True
    assert Invariant.SYNC not in held  # no sync ran: not judged
    assert (report.retries_absorbed, report.workflow_task_retries) == (4, 1)
    assert (report.compensations, report.undo_steps) == (1, 2)
    assert report.by_status == {"Completed": 1, "Compensated": 1, "Processing": 1}
    assert [r.fault for r in report.recoveries] == ["worker_kill"]
    assert report.success_rate == round(1 / 3, 4)
