"""Purchasing as the business sees it: a requisition, the documents that follow it (purchase
order, goods receipts, supplier invoices and credit notes, payments) and what came of it.

Amounts are `Decimal` in the document's currency, net of tax (tax is its own figure);
quantities are in the line's purchase unit unless a document names another unit.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.approvals.models import ApprovalOutcome


class RequisitionLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_no: int  # 1, 2, ... unique within the requisition; documents refer to lines by it
    product: str
    description: str = ""
    # Tolerances and approval rules may depend on it (e.g. "capital_goods").
    category: str = ""
    quantity: Decimal
    unit: str = "unit"  # the purchase unit of measure
    # Other units a receipt or invoice may use: 1 <unit name> = factor × the purchase unit.
    conversions: dict[str, Decimal] = Field(default_factory=dict)
    expected_price: Decimal  # net, per purchase unit, in the requisition's currency
    tax_rate: Decimal = Decimal("0")  # e.g. 0.19

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.expected_price


class Requisition(BaseModel):
    """A request to buy, as it arrives. Types are checked on arrival; business rules in
    `domain.purchasing.rules.validate_requisition`."""

    model_config = ConfigDict(frozen=True)

    requisition_id: str
    requested_by: str  # a username: the approvals' requester (who may not approve it)
    supplier_id: str
    cost_centre: str
    currency: str  # ISO 4217
    lines: list[RequisitionLine]
    needed_by: date | None = None
    note: str = ""

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class SupplierStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class Supplier(BaseModel):
    """The ERP's supplier record."""

    supplier_id: str
    name: str
    currency: str
    status: SupplierStatus = SupplierStatus.ACTIVE
    # Not yet on the approved-supplier list: its first purchases need finance too.
    new: bool = False
    email: str | None = None


class PurchaseOrderStatus(StrEnum):
    SENT = "sent"  # created and sent to the supplier
    CONFIRMED = "confirmed"  # the supplier confirmed it
    CANCELLED = "cancelled"


class PurchaseOrder(BaseModel):
    """The ERP's purchase order."""

    purchase_order_id: str
    requisition_id: str
    supplier_id: str
    status: PurchaseOrderStatus
    total: Decimal
    currency: str
    supplier_reference: str | None = None  # the supplier's confirmation number


class SupplierConfirmation(BaseModel):
    """The supplier confirmed the purchase order (webhook source `supplier`, or the CLI)."""

    requisition_id: str
    supplier_reference: str = ""
    confirmed_at: datetime | None = None
    promised_date: date | None = None


class ReceiptKind(StrEnum):
    RECEIPT = "receipt"
    RETURN = "return"  # goods sent back to the supplier: counts against the received quantity


class ReceiptLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_no: int
    quantity: Decimal  # positive; a return is a ReceiptKind.RETURN document
    unit: str | None = None  # None: the line's purchase unit


class GoodsReceipt(BaseModel):
    """Goods arrived (or went back): the warehouse's webhook, the CLI, or the ERP's own receipt."""

    model_config = ConfigDict(frozen=True)

    requisition_id: str
    receipt_id: str  # the warehouse's number: the same receipt twice is recorded once
    kind: ReceiptKind = ReceiptKind.RECEIPT
    lines: list[ReceiptLine]
    received_at: datetime | None = None


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_no: int
    quantity: Decimal  # positive, also on a credit note (the kind gives the sign)
    unit_price: Decimal  # net, per `unit`
    unit: str | None = None  # None: the line's purchase unit


class SupplierInvoice(BaseModel):
    """A supplier's invoice or credit note, as it arrives."""

    model_config = ConfigDict(frozen=True)

    requisition_id: str
    supplier_id: str
    reference: str  # the supplier's invoice number
    kind: DocumentKind = DocumentKind.INVOICE
    currency: str
    issued_on: date
    due_on: date
    lines: list[InvoiceLine]
    tax: Decimal  # the document's tax as printed on it
    credits_reference: str | None = None  # a credit note: the invoice it corrects

    @property
    def net(self) -> Decimal:
        return sum((line.quantity * line.unit_price for line in self.lines), Decimal("0"))

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax


class DocumentAnswer(BaseModel):
    """What a receipt or invoice update answers: taken, or refused with the reason."""

    accepted: bool
    reason: str = ""
    status: str = ""  # the purchase's status afterwards


class RefusedDocument(BaseModel):
    """A document the purchase refused (e.g. a duplicate invoice): kept for audit."""

    reference: str
    kind: str
    reason: str
    at: datetime


class MatchStatus(StrEnum):
    OPEN = "open"  # nothing invoiced on the line yet
    MATCHED = "matched"
    WITHIN_TOLERANCE = "within_tolerance"
    EXCEPTION = "exception"


class Tolerance(BaseModel):
    """How far an invoice may stray from the order and the receipts and still be paid."""

    model_config = ConfigDict(frozen=True)

    quantity_pct: Decimal = Field(Decimal("0"), ge=0)  # invoiced over received, % of received
    price_pct: Decimal = Field(Decimal("0"), ge=0)  # unit price over the order price, %
    price_abs: Decimal = Field(Decimal("0"), ge=0)  # unit price over the order price, amount
    # Cap on a line's total amount variance (both of the above together), in the currency.
    amount_cap: Decimal | None = Field(None, ge=0)
    # Tax on the invoice may differ from the computed figure by this much (rounding).
    tax_abs: Decimal = Field(Decimal("0.05"), ge=0)


class LineMatch(BaseModel):
    """One order line against all receipts and invoices so far."""

    line_no: int
    product: str
    ordered: Decimal
    received: Decimal  # net of returns, in the purchase unit
    invoiced: Decimal  # net of credit notes, in the purchase unit
    order_price: Decimal
    invoiced_price: Decimal | None  # the invoices' net price per purchase unit; None: nothing yet
    quantity_variance: Decimal  # invoiced − received
    price_variance: Decimal  # invoiced_price − order_price (0 when nothing is invoiced)
    amount_variance: Decimal  # invoiced amount − received × order price, rounded to the currency
    status: MatchStatus
    reasons: list[str] = Field(default_factory=list)
    tolerance: Tolerance | None = None  # what was applied
    # The invoices and credit notes on the line (references): a decision covers these.
    documents: list[str] = Field(default_factory=list)


class MatchReport(BaseModel):
    """The three-way match of a purchase: per line, plus what concerns whole documents
    (a currency other than the order's, a tax figure that does not add up)."""

    lines: list[LineMatch]
    document_reasons: list[str] = Field(default_factory=list)
    total_variance: Decimal = Decimal("0")

    @property
    def exceptions(self) -> list[LineMatch]:
        return [line for line in self.lines if line.status is MatchStatus.EXCEPTION]

    @property
    def clean(self) -> bool:
        return not self.exceptions and not self.document_reasons


class ExceptionDecision(BaseModel):
    """A person's decision on an exception review, as the purchase keeps it (audit)."""

    round_no: int
    decided_by: str | None  # None: the review's deadline decided
    accepted_lines: list[int]  # accepted as invoiced; the others wait for a credit note
    rejected_lines: list[int]
    comment: str = ""
    at: datetime
    variance: Decimal  # what the reviewer saw
    # The invoices and credit notes the reviewer saw on those lines (`LineMatch.documents`,
    # see settlement.reviewed_documents): a later document on a line needs a new decision.
    # Empty: the decision stands whatever arrives later.
    documents: list[str] = Field(default_factory=list)


class PaymentDue(BaseModel):
    """What may be paid now for one invoice (its payable lines, less credits), and when."""

    invoice_reference: str
    lines: list[int]
    amount: Decimal  # gross, rounded to the currency's minor unit
    tax: Decimal
    currency: str
    due_on: date
    # Credit notes netted into this payment.
    credit_references: list[str] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """Stable per invoice and lines: the ERP sees the same payment as the same request."""
        return f"{self.invoice_reference}:" + ",".join(str(n) for n in sorted(self.lines))


class SupplierPayment(BaseModel):
    """The ERP's payment to the supplier."""

    payment_id: str
    purchase_order_id: str
    invoice_reference: str
    lines: list[int]
    amount: Decimal
    currency: str
    status: str  # paid


class PurchaseStatus(StrEnum):
    """Where a purchase stands; also its ProcessStatus search attribute."""

    RECEIVED = "Received"
    INVALID = "Invalid"
    AWAITING_APPROVAL = "AwaitingApproval"
    REJECTED = "Rejected"
    ORDERING = "Ordering"
    AWAITING_CONFIRMATION = "AwaitingConfirmation"
    CONFIRMATION_OVERDUE = "ConfirmationOverdue"
    RECEIVING = "Receiving"  # confirmed: goods and invoices arrive
    IN_EXCEPTION = "InException"  # a person decides on a match exception
    AWAITING_CREDIT_NOTE = "AwaitingCreditNote"
    AWAITING_PAYMENT = "AwaitingPayment"  # payments wait for their due date
    COMPLETED = "Completed"
    COMPENSATING = "Compensating"
    CANCELLED = "Cancelled"
    COMPENSATED = "Compensated"
    NEEDS_ATTENTION = "NeedsAttention"


class CancelPurchase(BaseModel):
    requisition_id: str
    requested_by: str
    reason: str = ""


class PurchaseEvent(BaseModel):
    at: datetime
    what: str
    detail: str = ""


class PurchaseResult(BaseModel):
    """The `status` query's answer and the workflow's result: also the audit evidence."""

    requisition_id: str
    status: PurchaseStatus = PurchaseStatus.RECEIVED
    reason: str = ""
    supplier_id: str
    currency: str
    total: Decimal
    approval: ApprovalOutcome | None = None
    purchase_order_id: str | None = None
    confirmed: SupplierConfirmation | None = None
    receipts: list[GoodsReceipt] = Field(default_factory=list)
    invoices: list[SupplierInvoice] = Field(default_factory=list)
    refused: list[RefusedDocument] = Field(default_factory=list)
    match: MatchReport | None = None
    decisions: list[ExceptionDecision] = Field(default_factory=list)
    # The exception review waiting on a person (its Approval child's workflow id), if any.
    pending_review: str | None = None
    payments: list[SupplierPayment] = Field(default_factory=list)
    compensated: list[str] = Field(default_factory=list)
    events: list[PurchaseEvent] = Field(default_factory=list)
