"""Procure-to-pay's contract: what the workflow and every client of it agree on.

Workflow type, id scheme, the names of its query, signals and updates, and its search
attributes. Pure names and models (no Temporal import), as `domain.orders.contract`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from domain.purchasing.models import Requisition
from domain.purchasing.policy import PurchasingPolicy
from domain.visibility import Kind, SearchAttribute

WORKFLOW_NAME = "ProcureToPay"


def workflow_id(requisition_id: str) -> str:
    return f"purchase-{requisition_id}"


def exception_subject(requisition_id: str, round_no: int) -> str:
    """The subject of the `round_no`-th exception review (its Approval child is
    `approval_workflow_id` of it: `approval-purchase-R-1-exception-1`)."""
    return f"{workflow_id(requisition_id)}-exception-{round_no}"


class Message:
    """Names of the workflow's query, signal and updates."""

    STATUS = "status"  # query → PurchaseResult
    # signal SupplierConfirmation: the supplier confirmed the purchase order
    SUPPLIER_CONFIRMED = "supplier_confirmed"
    # update GoodsReceipt → DocumentAnswer: goods (or a return) arrived at the warehouse
    GOODS_RECEIVED = "goods_received"
    # update SupplierInvoice → DocumentAnswer: an invoice or credit note; a duplicate is refused
    # (answered, and kept in the result's `refused`)
    INVOICE_RECEIVED = "invoice_received"
    CANCEL = "cancel"  # update CancelPurchase → PurchaseResult


# What other systems may send a running purchase (the gateway's routes are checked against these).
SIGNALS = frozenset({Message.SUPPLIER_CONFIRMED})
UPDATES = frozenset({Message.GOODS_RECEIVED, Message.INVOICE_RECEIVED, Message.CANCEL})

# The status is the generic ProcessStatus (domain.visibility), StateSince as every process.
# The business keys (requisition, supplier, purchase order, invoice references) in one list,
# since SQL visibility allows only 10 Keyword attributes per namespace.
PURCHASE_KEYS = SearchAttribute("PurchaseKeys", Kind.KEYWORD_LIST)
PURCHASE_TOTAL = SearchAttribute("PurchaseTotal", Kind.DOUBLE)
SEARCH_ATTRIBUTES = [PURCHASE_KEYS, PURCHASE_TOTAL]


def supplier_key(supplier_id: str) -> str:
    """`supplier:S-1` in PurchaseKeys (so `PurchaseKeys = "supplier:S-1"` lists a supplier's)."""
    return f"supplier:{supplier_id}"


class Metric:
    COMPLETED = "continuum_purchases_completed"
    COMPENSATED = "continuum_purchases_compensated"
    EXCEPTIONS = "continuum_purchase_exceptions"


class ProcureToPayInput(BaseModel):
    requisition: Requisition
    policy: PurchasingPolicy = Field(default_factory=PurchasingPolicy)
