"""Procure-to-pay in the daily report: first-pass match rate, exceptions by reason and age,
cycle time requisition → payment and days payable outstanding, computed from the records the
purchases keep (events, decisions, payments) as the workflow writes them; and the reasons the
three-way match writes all fall into a named kind."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from connectors.report_files import summary_rows, write_report
from domain.erp import PurchaseChange
from domain.purchasing.figures import (
    SOURCES,
    PurchaseLedger,
    PurchaseRecord,
    PurchaseRuns,
    ReasonKind,
    exception_reviews,
    invoice_matches,
    ledger_lines,
    payments_made,
    purchase_figures,
    reason_kind,
)
from domain.purchasing.matching import three_way_match
from domain.purchasing.models import (
    ExceptionDecision,
    PurchaseEvent,
    PurchaseResult,
    PurchaseStatus,
    SupplierPayment,
    Tolerance,
)
from domain.purchasing.policy import TolerancePolicy
from domain.reports import (
    CrmFigures,
    DailyReport,
    ErpFigures,
    OrderRuns,
    ReportWindow,
    SyncFigures,
    order_kpis,
)
from tests.purchasing_samples import (
    credit_note,
    invoice,
    invoice_for,
    line,
    receipt,
    requisition,
    returned,
)

D = Decimal
START = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 3 March in Europe/Berlin
END = START + timedelta(days=1)
NOW = END + timedelta(hours=6)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def result(rid: str, events: list[tuple[float, str, str]], **changes: object) -> PurchaseResult:
    base = PurchaseResult(
        requisition_id=rid,
        supplier_id="S-1",
        currency="EUR",
        total=D("100"),
        events=[PurchaseEvent(at=at(h), what=w, detail=d) for h, w, d in events],
    )
    return base.model_copy(update=changes)


def payment(reference: str, amount: str) -> SupplierPayment:
    return SupplierPayment(
        payment_id=f"P-{reference}",
        purchase_order_id="PO-1",
        invoice_reference=reference,
        lines=[1],
        amount=D(amount),
        currency="EUR",
        status="paid",
    )


# The exception review event as workflows/purchasing/review.py writes it.
PRICE_REVIEW = (
    "line 1: invoiced at 12.00 but ordered at 10.00 (+20.0 %, tolerance 2 %) | "
    "invoice INV-2: tax 1.00 but its lines' tax is 22.80 (tolerance 0.05) → purchasing_manager"
)


def clean_purchase() -> PurchaseResult:
    """Received, invoiced (dated 2 days before), matched and paid in the window."""
    inv = invoice("INV-1", (1, "10", "10.00"), issued_on=date(2026, 3, 1))
    return result(
        "R-clean",
        [
            (1, "invoice INV-1", "taken"),
            (1.1, "post_supplier_invoice", ""),
            (5, "pay_supplier", ""),
        ],
        status=PurchaseStatus.COMPLETED,
        invoices=[inv],
        payments=[payment("INV-1", "119.00")],
    )


def disputed_purchase() -> PurchaseResult:
    """Invoiced 20 % over the price: a review opened in the window and still waiting."""
    inv = invoice("INV-2", (1, "10", "12.00"), tax="1.00")
    return result(
        "R-disputed",
        [(2, "invoice INV-2", "taken"), (2.5, "exception review 1", PRICE_REVIEW)],
        status=PurchaseStatus.IN_EXCEPTION,
        invoices=[inv],
        pending_review="approval-purchase-R-disputed-exception-1",
    )


def accepted_purchase() -> PurchaseResult:
    """A quantity exception opened the day before, accepted in the window; a second invoice on
    another line matched at once."""
    first = invoice("INV-3", (1, "12", "10.00"))
    second = invoice("INV-4", (2, "1", "5.00"))
    review = "line 1: invoiced 12 but received 10 (+20.0 %, tolerance 5 %) → buyer"
    decision = ExceptionDecision(
        round_no=1,
        decided_by="bea",
        accepted_lines=[1],
        rejected_lines=[],
        at=at(3),
        variance=D("20"),
    )
    return result(
        "R-accepted",
        [
            (-20, "invoice INV-3", "taken"),
            (-19, "exception review 1", review),
            (4, "invoice INV-4", "taken"),
        ],
        status=PurchaseStatus.AWAITING_PAYMENT,
        invoices=[first, second],
        decisions=[decision],
    )


def test_a_review_is_read_back_from_the_event_the_workflow_writes() -> None:
    [review] = exception_reviews(disputed_purchase(), None)
    assert review.lines == [1] and review.round_no == 1
    assert review.reasons == [
        "invoiced at 12.00 but ordered at 10.00 (+20.0 %, tolerance 2 %)",
        "invoice INV-2: tax 1.00 but its lines' tax is 22.80 (tolerance 0.05)",
    ]
    assert review.kinds == [ReasonKind.PRICE, ReasonKind.TAX]
    assert review.closed_at is None and review.outcome == "open"
    assert review.age_seconds(NOW) == (NOW - at(2.5)).total_seconds()


def test_a_decided_a_withdrawn_and_an_ended_review() -> None:
    [accepted] = exception_reviews(accepted_purchase(), None)
    assert (accepted.outcome, accepted.decided_by, accepted.closed_at) == ("accepted", "bea", at(3))
    withdrawn = result(
        "R-w",
        [
            (1, "exception review 1", "line 1: invoiced 12 but received 10 → buyer"),
            (2, "exception review 1 withdrawn", "its exception was cleared by a later document"),
        ],
    )
    [review] = exception_reviews(withdrawn, None)
    assert (review.outcome, review.closed_at) == ("withdrawn", at(2))
    [ended] = exception_reviews(disputed_purchase(), at(7))
    assert (ended.outcome, ended.closed_at) == ("ended", at(7))


def test_an_invoice_is_first_pass_unless_a_later_review_names_its_lines_or_itself() -> None:
    accepted = accepted_purchase()
    matches = invoice_matches(accepted, exception_reviews(accepted, None))
    assert {m.reference: m.first_pass for m in matches} == {"INV-3": False, "INV-4": True}
    disputed = disputed_purchase()
    [m] = invoice_matches(disputed, exception_reviews(disputed, None))
    assert not m.first_pass
    # A review named only by a document reason flags that invoice, not the others.
    only_tax = result(
        "R-tax",
        [
            (1, "invoice INV-5", "taken"),
            (1, "invoice INV-6", "taken"),
            (2, "exception review 1", "invoice INV-6: tax 9 but its lines' tax is 1 → buyer"),
        ],
        invoices=[invoice("INV-5", (1, "1", "1")), invoice("INV-6", (2, "1", "1"), tax="9")],
    )
    found = invoice_matches(only_tax, exception_reviews(only_tax, None))
    assert {m.reference: m.first_pass for m in found} == {"INV-5": True, "INV-6": False}


def test_a_credit_note_is_no_invoice_to_match() -> None:
    credited = result(
        "R-c",
        [(1, "invoice INV-7", "taken"), (2, "credit_note CN-1", "taken")],
        invoices=[invoice("INV-7", (1, "1", "1")), credit_note("CN-1", "INV-7", (1, "1", "1"))],
    )
    assert [m.reference for m in invoice_matches(credited, [])] == ["INV-7"]


def test_each_payment_takes_the_moment_of_its_event() -> None:
    [paid] = payments_made(clean_purchase())
    assert paid.paid_at == at(5) and paid.amount == D("119.00")
    # Issued 1 March (UTC midnight), paid 3 March 04:00 UTC.
    assert paid.days_payable == (at(5) - datetime(2026, 3, 1, tzinfo=UTC)).total_seconds() / 86400


def test_the_days_figures() -> None:
    runs = PurchaseRuns(
        started=2,
        records=[
            PurchaseRecord(
                workflow_id="purchase-R-clean",
                execution_status="COMPLETED",
                process_status="Completed",
                started_at=at(-48),
                closed_at=at(5),
                result=clean_purchase(),
            ),
            PurchaseRecord(
                workflow_id="purchase-R-disputed",
                execution_status="RUNNING",
                process_status="InException",
                started_at=at(1),
                result=disputed_purchase(),
            ),
            PurchaseRecord(
                workflow_id="purchase-R-accepted",
                execution_status="RUNNING",
                process_status="AwaitingPayment",
                started_at=at(-30),
                result=accepted_purchase(),
            ),
            PurchaseRecord(
                workflow_id="purchase-R-unread",
                execution_status="TERMINATED",
                process_status="Receiving",
                started_at=at(0.5),
                closed_at=at(1),
            ),
        ],
    )
    f = purchase_figures(runs, START, END, NOW)
    assert (f.started, f.closed) == (2, 2)
    assert f.closed_by_status == {"Completed": 1, "failed": 1}
    assert f.open_by_status == {"AwaitingPayment": 1, "InException": 1}
    # INV-1 and INV-4 matched at once, INV-2 went to a review; INV-3 came the day before.
    assert (f.invoices, f.first_pass) == (3, 2)
    assert f.first_pass_rate == 2 / 3
    assert f.exceptions_opened == 1  # the one of the day; the quantity one opened the day before
    assert f.exceptions_by_reason == {"price": 1, "tax": 1}
    assert f.exceptions_open == 1
    assert f.open_age_p50_seconds == f.open_age_max_seconds == (NOW - at(2.5)).total_seconds()
    assert f.open_age_buckets == {"< 1 day": 0, "1–3 days": 1, "3–7 days": 0, "> 7 days": 0}
    assert f.exceptions_decided == 1
    assert f.decide_p50_seconds == (at(3) - at(-19)).total_seconds()
    assert f.completed == 1 and f.cycle_p50_seconds == (at(5) - at(-48)).total_seconds()
    assert f.payments == 1 and f.paid == {"EUR": D("119.00")}
    days = (at(5) - datetime(2026, 3, 1, tzinfo=UTC)).total_seconds() / 86400
    assert f.dpo_days == {"EUR": round(days, 2)}
    assert "1 purchase(s) did not answer" in f.note
    assert set(f.sources) == set(SOURCES)


def test_dpo_weighs_each_payment_by_its_amount() -> None:
    two = clean_purchase().model_copy(
        update={
            "invoices": [
                invoice("INV-1", (1, "1", "1"), issued_on=date(2026, 2, 21)),
                invoice("INV-9", (1, "1", "1"), issued_on=date(2026, 3, 1)),
            ],
            "payments": [payment("INV-1", "300"), payment("INV-9", "100")],
            "events": [
                PurchaseEvent(at=at(1), what="invoice INV-1", detail="taken"),
                PurchaseEvent(at=at(1), what="invoice INV-9", detail="taken"),
                PurchaseEvent(at=at(1), what="pay_supplier"),
                PurchaseEvent(at=at(1), what="pay_supplier"),
            ],
        }
    )
    record = PurchaseRecord(
        workflow_id="p",
        execution_status="COMPLETED",
        process_status="Completed",
        started_at=at(-1),
        closed_at=at(2),
        result=two,
    )
    f = purchase_figures(PurchaseRuns(started=0, records=[record]), START, END, NOW)
    first = (at(1) - datetime(2026, 2, 21, tzinfo=UTC)).total_seconds() / 86400
    second = (at(1) - datetime(2026, 3, 1, tzinfo=UTC)).total_seconds() / 86400
    assert f.dpo_days == {"EUR": round((300 * first + 100 * second) / 400, 2)}


def test_a_quiet_day_has_no_rates_to_show() -> None:
    f = purchase_figures(PurchaseRuns(started=0), START, END, NOW)
    assert f.first_pass_rate is None and f.cycle_p50_seconds is None and f.dpo_days == {}
    assert f.open_age_buckets == {} and f.note == ""


def test_every_reason_the_match_writes_has_a_kind() -> None:
    req = requisition(
        line(1, "10", "10.00", conversions={"box": "12"}),
        line(2, "4", "2.50"),
    )
    strict = TolerancePolicy(default=Tolerance(amount_cap=D("1")))
    scenarios = [
        ([receipt("GR-1", (1, "10"))], [invoice_for(req, "I-1", (1, "12", "10.00"))]),
        ([receipt("GR-1", (1, "10"))], [invoice_for(req, "I-1", (1, "10", "12.00"))]),
        ([receipt("GR-1", (1, "10"))], [invoice("I-1", (1, "10", "10.00"), tax="3")]),
        ([receipt("GR-1", (1, "10"))], [invoice_for(req, "I-1", (1, "10", "10"), currency="USD")]),
        ([receipt("GR-1", (1, "10"))], [invoice_for(req, "I-1", (3, "1", "10.00"))]),
        ([receipt("GR-1", (1, "10"))], [invoice_for(req, "I-1", (1, "1", "10.00", "crate"))]),
        ([receipt("GR-1", (9, "1"))], []),
        ([receipt("GR-1", (1, "2")), returned("RT-1", (1, "3"))], []),
        (
            [receipt("GR-1", (1, "10"))],
            [
                invoice_for(req, "I-1", (1, "1", "10.00")),
                credit_note("CN-1", "I-1", (1, "2", "10.00"), tax="3.80"),
            ],
        ),
        ([receipt("GR-1", (1, "10"))], [credit_note("CN-1", "I-9", (1, "1", "10.00"))]),
        ([receipt("GR-1", (1, "1"), rid="R-other")], []),
    ]
    seen: set[ReasonKind] = set()
    for receipts, invoices in scenarios:
        report = three_way_match(req, receipts, invoices, strict)
        reasons = report.document_reasons + [r for x in report.lines for r in x.reasons]
        assert reasons, (receipts, invoices)
        for reason in reasons:
            kind = reason_kind(reason)
            assert kind is not ReasonKind.OTHER, reason
            seen.add(kind)
    assert seen == set(ReasonKind) - {ReasonKind.OTHER}


def test_the_ledger_adds_the_erps_orders_per_currency_without_cancelled_ones() -> None:
    def change(po: str, currency: str, status: str = "confirmed") -> PurchaseChange:
        return PurchaseChange(
            purchase_order_id=po,
            requisition_id=po,
            supplier_id="S-1",
            status=status,
            total=D("100"),
            received=D("80"),
            invoiced=D("50"),
            paid=D("59.50"),
            currency=currency,
            updated_at=START,
        )

    lines = ledger_lines(
        [
            change("1", "EUR"),
            change("2", "EUR"),
            change("3", "USD"),
            change("4", "EUR", "cancelled"),
        ]
    )
    assert [(x.currency, x.orders, x.received, x.paid) for x in lines] == [
        ("EUR", 2, D("160"), D("119.00")),
        ("USD", 1, D("80"), D("59.50")),
    ]
    assert lines[0].received_not_invoiced == D("60")


def test_the_files_show_the_section_and_where_each_figure_comes_from(tmp_path: Path) -> None:
    runs = PurchaseRuns(
        started=1,
        records=[
            PurchaseRecord(
                workflow_id="purchase-R-clean",
                execution_status="COMPLETED",
                process_status="Completed",
                started_at=at(-48),
                closed_at=at(5),
                result=clean_purchase(),
            ),
            PurchaseRecord(
                workflow_id="purchase-R-disputed",
                execution_status="RUNNING",
                process_status="InException",
                started_at=at(1),
                result=disputed_purchase(),
            ),
        ],
    )
    figures = purchase_figures(runs, START, END, NOW)
    figures.ledger = PurchaseLedger(lines=ledger_lines([]))
    window = ReportWindow(
        day=date(2026, 3, 3), timezone="Europe/Berlin", start=START, end=END, as_of=NOW
    )
    report = DailyReport(
        window=window,
        kpis=order_kpis(OrderRuns(started=0)),
        erp=ErpFigures(note="none"),
        crm=CrmFigures(available=False),
        sync=SyncFigures(available=False),
        purchases=figures,
    )
    assert not report.empty  # a purchase started: not an empty day
    written = write_report(report, tmp_path)
    assert {
        "purchase_exceptions.csv",
        "purchase_cycles.csv",
        "purchase_ledger.csv",
        "purchase_exceptions_by_reason.png",
        "purchase_outcomes.png",
        "purchase_exception_age.png",
        "purchase_cycle_times.png",
    } <= set(written.files)
    summary = {(s, f): v for s, f, v in summary_rows(report)}
    assert summary[("purchases", "first_pass_rate")] == 0.5
    assert summary[("purchases", "exceptions_price")] == 1
    assert summary[("purchases", "dpo_days_EUR")] == figures.dpo_days["EUR"]
    directory = tmp_path / "2026-03-03"
    rows = list(csv.DictReader(io.StringIO((directory / "purchase_exceptions.csv").read_text())))
    assert [(r["requisition_id"], r["outcome"], r["kinds"]) for r in rows] == [
        ("R-disputed", "open", "price tax")
    ]
    page = (directory / "index.html").read_text()
    assert "<h2>Procure-to-pay</h2>" in page
    assert "first-pass match rate</td><td>50.0% of 2 invoice(s)" in page
    assert "Where each figure comes from" in page and "Temporal visibility" in page


def test_the_listed_reviews_are_the_days_and_those_still_open() -> None:
    old = result(
        "R-old",
        [
            (-40, "exception review 1", "line 1: invoiced 12 but received 10 → buyer"),
            (-30, "exception review 1 withdrawn", "cleared"),
        ],
    )
    records = [
        PurchaseRecord(
            workflow_id=f"purchase-{r.requisition_id}",
            execution_status="RUNNING",
            started_at=at(-50),
            result=r,
        )
        for r in (old, accepted_purchase(), disputed_purchase())
    ]
    f = purchase_figures(PurchaseRuns(started=0, records=records), START, END, NOW)
    assert [(x.requisition_id, x.outcome) for x in f.exceptions] == [
        ("R-accepted", "accepted"),  # opened the day before, decided that day
        ("R-disputed", "open"),
    ]
