"""When a running purchase takes a document or a cancellation: the state-dependent refusals
(the documents' own rules are in `domain.purchasing.rules`). Pure: the workflow passes its state."""

from __future__ import annotations

from domain.purchasing.models import CancelPurchase, PurchaseStatus

# A purchase in one of these takes nothing more.
ENDED = frozenset(
    {
        PurchaseStatus.INVALID,
        PurchaseStatus.REJECTED,
        PurchaseStatus.COMPLETED,
        PurchaseStatus.CANCELLED,
        PurchaseStatus.COMPENSATED,
        PurchaseStatus.NEEDS_ATTENTION,
    }
)
# Before the supplier confirmed the order there is nothing to receive or invoice.
BEFORE_ORDER = frozenset(
    {
        PurchaseStatus.RECEIVED,
        PurchaseStatus.AWAITING_APPROVAL,
        PurchaseStatus.ORDERING,
        PurchaseStatus.AWAITING_CONFIRMATION,
        PurchaseStatus.CONFIRMATION_OVERDUE,
    }
)


def document_gate(
    requisition_id: str, status: PurchaseStatus, confirmed: bool, cancelling: bool
) -> str | None:
    """Why purchase `requisition_id` takes no receipt or invoice now, or None."""
    if status in ENDED or status is PurchaseStatus.COMPENSATING or cancelling:
        shown = "being cancelled" if cancelling and status not in ENDED else status.value
        return f"purchase {requisition_id} is {shown}: it takes no more documents"
    if not confirmed or status in BEFORE_ORDER:
        return (
            f"purchase {requisition_id} is {status.value}: receipts and invoices are taken once "
            "the supplier confirmed the order"
        )
    return None


def cancel_problem(
    request: CancelPurchase,
    requisition_id: str,
    status: PurchaseStatus,
    payments: int,
    paying: bool,
    cancelling: CancelPurchase | None,
) -> str | None:
    """Why purchase `requisition_id` cannot be cancelled now, or None when it can."""
    if request.requisition_id != requisition_id:
        return f"unknown purchase {request.requisition_id!r}: this is {requisition_id!r}"
    if not request.requested_by.strip():
        return "requested_by must not be empty"
    if status in ENDED or status is PurchaseStatus.COMPENSATING:
        return f"purchase {requisition_id} is already {status.value}"
    if payments or paying:
        what = f"{payments} payment(s) were made" if payments else "a payment is being made"
        return f"purchase {requisition_id} can no longer be cancelled: {what} to the supplier"
    if cancelling is not None:
        return f"purchase {requisition_id} is already being cancelled by {cancelling.requested_by}"
    return None
