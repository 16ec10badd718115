"""People deciding on a purchase: the requisition's approval and the exception reviews, each
an `Approval` child (the inbox shows them with the purchase's details through `process_id`).

An exception review offers the lines in exception as parts: approving all of them (or naming
none) accepts them as invoiced, approving some accepts those and rejects the rest, rejecting
(or the deadline's rejection) asks the supplier for a credit note. One review runs at a time;
one whose exception a later document clears is withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from domain.approvals.contract import approval_workflow_id
    from domain.approvals.models import ApprovalRequest
    from domain.approvals.policy import ApprovalPlan
    from domain.purchasing.contract import Metric, exception_subject, workflow_id
    from domain.purchasing.models import ExceptionDecision, MatchReport, Requisition
    from domain.purchasing.policy import PurchasingPolicy, exception_plan
    from domain.purchasing.settlement import (
        exception_variance,
        reviewed_documents,
        undecided_exceptions,
    )
    from workflows.approval_child import ApprovalHandle, cancel_approval, start_approval
    from workflows.failures import reason
    from workflows.purchasing.business_events import PurchaseAnnouncer
    from workflows.purchasing.tracking import PurchaseTracker


def approval_request(
    req: Requisition,
    policy: PurchasingPolicy,
    plan: ApprovalPlan,
    *,
    subject_id: str,
    kind: str,
    amount: Decimal,
    summary: str,
    parts: list[str] | None = None,
) -> ApprovalRequest:
    return ApprovalRequest(
        subject_id=subject_id,
        kind=kind,
        # The requester may not approve their own purchase, nor accept its variances.
        requester=req.requested_by,
        amount=amount,
        currency=req.currency,
        summary=summary,
        levels=plan.levels,
        final_deadline=plan.final_deadline,
        deadline_outcome=plan.deadline_outcome,
        escalations=policy.escalations(),
        calendar=policy.calendar,
        people=policy.people,
        process_id=workflow_id(req.requisition_id),
        parts=parts or [],
    )


@dataclass
class Review:
    round_no: int
    handle: ApprovalHandle
    lines: list[int]  # the lines in exception it decides
    reasons: list[str]  # the document reasons it decides
    variance: Decimal
    documents: list[str]  # the invoices and credit notes on those lines the reviewer saw

    def done(self) -> bool:
        return self.handle.done()

    def describe(self) -> str:
        what = [f"line {n}" for n in self.lines] + self.reasons
        return f"exception review {self.round_no}: {', '.join(what)}"


class ExceptionReviews:
    def __init__(
        self,
        req: Requisition,
        policy: PurchasingPolicy,
        track: PurchaseTracker,
        announce: PurchaseAnnouncer,
    ) -> None:
        self.req, self.policy, self.track, self.announce = req, policy, track, announce
        self.pending: Review | None = None
        self.rounds = 0
        # Document reasons (another currency, a tax figure) someone decided on. The match puts
        # them on the document's lines too, so the lines' verdicts decide what is paid; a reason
        # no line carries is reviewed on its own, as a whole.
        self.decided_reasons: set[str] = set()

    def undecided(
        self, report: MatchReport, decisions: list[ExceptionDecision]
    ) -> tuple[list[int], list[str]]:
        """The lines in exception and the document reasons nobody has decided on yet (a line
        decided before a later document arrived on it counts as undecided again)."""
        reasons = [r for r in report.document_reasons if r not in self.decided_reasons]
        return undecided_exceptions(report, decisions), reasons

    async def open(self, report: MatchReport, lines: list[int], reasons: list[str]) -> None:
        self.rounds += 1
        rid, n = self.req.requisition_id, self.rounds
        subject = exception_subject(rid, n)
        variance = exception_variance(report, lines)
        plan = exception_plan(variance, self.policy)
        why = [
            f"line {x.line_no}: {'; '.join(x.reasons)}" for x in report.lines if x.line_no in lines
        ] + reasons
        summary = (
            f"Purchase {rid} · supplier {self.req.supplier_id} · variance {variance} "
            f"{self.req.currency}: {' | '.join(why)}"
        )
        request = approval_request(
            self.req,
            self.policy,
            plan,
            subject_id=subject,
            kind="purchase_exception",
            amount=variance,
            summary=summary,
            parts=[str(x) for x in lines],
        )
        handle = await start_approval(request, f"Exception review {n} of purchase {rid}")
        seen = reviewed_documents(report, lines)
        self.pending = Review(n, handle, lines, reasons, variance, seen)
        review_id = self.track.result.pending_review = approval_workflow_id(subject)
        self.track.record(f"exception review {n}", f"{' | '.join(why)} → {plan.levels[0].role}")
        self.announce.exception_opened(n, review_id, lines, why, variance, plan.levels[0].role)
        workflow.metric_meter().create_counter(Metric.EXCEPTIONS, "Exception reviews").add(1)

    def cleared(self, report: MatchReport) -> bool:
        """Whether the pending review's exception no longer stands (a later document fixed it)."""
        review = self.pending
        if review is None:
            return False
        standing = {x.line_no for x in report.exceptions}
        return not standing & set(review.lines) and not set(report.document_reasons) & set(
            review.reasons
        )

    async def withdraw(self, why: str) -> None:
        review = self.pending
        if review is None:
            return
        await cancel_approval(review.handle)
        self._close()
        self.track.record(f"exception review {review.round_no} withdrawn", why)
        self.announce.exception_withdrawn(review.round_no, review.variance)

    def decision(self) -> ExceptionDecision:
        """The finished review's decision, which the purchase keeps as evidence. A review that
        failed (nobody could decide) counts as a rejection, its failure in the comment."""
        review = self.pending
        assert review is not None and review.done()
        self._close()
        try:
            outcome = review.handle.result()
            approved, who, comment = outcome.approved, outcome.decided_by, outcome.comment
            accepted = ([int(p) for p in outcome.parts] or review.lines) if approved else []
            by = who or "the review's deadline"
        except ChildWorkflowError as err:
            approved, who, comment, accepted = False, None, f"review failed: {reason(err)}", []
            by = "nobody (the review failed)"
        self.decided_reasons |= set(review.reasons)
        decision = ExceptionDecision(
            round_no=review.round_no,
            decided_by=who,
            accepted_lines=accepted,
            rejected_lines=[n for n in review.lines if n not in accepted],
            comment=comment,
            at=workflow.now(),
            variance=review.variance,
            documents=review.documents,
        )
        verdict = "accepted" if approved else "rejected"
        self.track.record(
            f"exception review {review.round_no} {verdict}",
            f"by {by}: accepted lines {_listed(accepted)}, "
            f"rejected {_listed(decision.rejected_lines)}"
            + (f"; {', '.join(review.reasons)}" if review.reasons else ""),
        )
        self.announce.exception_decided(decision)
        return decision

    def _close(self) -> None:
        self.pending = None
        self.track.result.pending_review = None


def _listed(lines: list[int]) -> str:
    return ", ".join(str(n) for n in lines) or "none"
