"""A purchase laid out side by side for the person deciding on it: per order line what was
ordered, what each receipt and each invoice says about it, and the three-way match with its
variances, reasons and the tolerance applied.

Pure: it takes the requisition (the workflow's start input) and the `status` query's
PurchaseResult as they are, either possibly missing, and leaves the HTML to the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    LineMatch,
    MatchStatus,
    PurchaseResult,
    ReceiptKind,
    Requisition,
    SupplierInvoice,
    Tolerance,
)

# The Approval kinds the purchase workflow starts: a requisition's approval and an exception
# review (its parts are the line numbers in exception).
PURCHASE_KINDS = frozenset({"purchase", "purchase_exception"})
EXCEPTION_KIND = "purchase_exception"
NOT_ON_IT = "—"

STATUS_LABEL = {
    MatchStatus.OPEN: "open",
    MatchStatus.MATCHED: "matched",
    MatchStatus.WITHIN_TOLERANCE: "within tolerance",
    MatchStatus.EXCEPTION: "exception",
}


def qty(value: Decimal) -> str:
    """A quantity as people write it: 10, 2.5, never 1E+1 or 10.000."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def signed(value: Decimal, places: int = 2) -> str:
    """A variance with its sign: +1.50, −2.00, 0.00."""
    text = f"{abs(value):,.{places}f}"
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else text


def qty_signed(value: Decimal) -> str:
    """A quantity variance with its sign: +2, −0.5, 0."""
    text = qty(abs(value))
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else text


def tolerance_text(tolerance: Tolerance | None) -> str:
    if tolerance is None:
        return NOT_ON_IT
    parts = [
        f"quantity {qty(tolerance.quantity_pct)} %",
        f"price {qty(tolerance.price_pct)} % or {tolerance.price_abs:,.2f}",
    ]
    if tolerance.amount_cap is not None:
        parts.append(f"cap {tolerance.amount_cap:,.2f}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Document:
    """A column of the side-by-side table: one receipt or one invoice."""

    key: str
    title: str  # "Receipt GR-1", "Return GR-2", "Invoice INV-7", "Credit note CN-1"
    dated: str
    detail: str = ""  # an invoice's net, tax and due date


@dataclass(frozen=True)
class LineRow:
    line_no: int
    product: str
    description: str
    unit: str
    ordered: Decimal
    order_price: Decimal
    receipts: list[str]  # per receipt column, in the purchase's order
    invoices: list[str]  # per invoice column
    match: LineMatch | None
    part: str | None  # the value of its checkbox when the approver may accept it alone

    @property
    def status(self) -> str:
        return STATUS_LABEL[self.match.status] if self.match else "not matched yet"

    @property
    def css(self) -> str:
        return self.match.status.value if self.match else "open"

    @property
    def tolerance(self) -> str:
        return tolerance_text(self.match.tolerance if self.match else None)

    @property
    def price_pct(self) -> str:
        """The price variance as a share of the order price: "+12.0 %"."""
        if not self.match or self.match.invoiced_price is None or not self.order_price:
            return ""
        return f"{signed(self.match.price_variance / self.order_price * 100, 1)} %"


@dataclass(frozen=True)
class PurchasePage:
    """Everything the approval page shows about its purchase."""

    process_id: str
    result: PurchaseResult | None
    requisition: Requisition | None
    receipts: list[Document] = field(default_factory=list)
    invoices: list[Document] = field(default_factory=list)
    lines: list[LineRow] = field(default_factory=list)
    # Why some of it could not be read just now (the page shows the approval either way).
    problem: str | None = None

    @property
    def currency(self) -> str:
        if self.result:
            return self.result.currency
        return self.requisition.currency if self.requisition else ""

    @property
    def document_reasons(self) -> list[str]:
        match = self.result.match if self.result else None
        return list(match.document_reasons) if match else []

    @property
    def parts(self) -> list[LineRow]:
        return [line for line in self.lines if line.part is not None]


def _receipt_cell(receipt: GoodsReceipt, line_no: int) -> str:
    found = [line for line in receipt.lines if line.line_no == line_no]
    if not found:
        return NOT_ON_IT
    sign = "−" if receipt.kind is ReceiptKind.RETURN else ""
    return "; ".join(
        f"{sign}{qty(line.quantity)}" + (f" {line.unit}" if line.unit else "") for line in found
    )


def _invoice_cell(invoice: SupplierInvoice, line_no: int) -> str:
    found = [line for line in invoice.lines if line.line_no == line_no]
    if not found:
        return NOT_ON_IT
    sign = "−" if invoice.kind is DocumentKind.CREDIT_NOTE else ""
    return "; ".join(
        f"{sign}{qty(line.quantity)}"
        + (f" {line.unit}" if line.unit else "")
        + f" × {line.unit_price:,.2f}"
        for line in found
    )


def _receipt_column(receipt: GoodsReceipt) -> Document:
    word = "Return" if receipt.kind is ReceiptKind.RETURN else "Receipt"
    dated = receipt.received_at.strftime("%Y-%m-%d") if receipt.received_at else ""
    return Document(receipt.receipt_id, f"{word} {receipt.receipt_id}", dated)


def _invoice_column(invoice: SupplierInvoice) -> Document:
    word = "Credit note" if invoice.kind is DocumentKind.CREDIT_NOTE else "Invoice"
    detail = (
        f"net {invoice.net:,.2f} + tax {invoice.tax:,.2f} {invoice.currency}, "
        f"due {invoice.due_on:%Y-%m-%d}"
    )
    if invoice.credits_reference:
        detail += f", credits {invoice.credits_reference}"
    return Document(
        invoice.reference, f"{word} {invoice.reference}", f"{invoice.issued_on:%Y-%m-%d}", detail
    )


def purchase_page(
    process_id: str,
    requisition: Requisition | None,
    result: PurchaseResult | None,
    parts: list[str],
    problem: str | None = None,
) -> PurchasePage:
    """One row per order line (the requisition's, else the match's), one column per document."""
    receipts = list(result.receipts) if result else []
    invoices = list(result.invoices) if result else []
    matches = {m.line_no: m for m in (result.match.lines if result and result.match else [])}
    wanted = set(parts)
    rows: list[LineRow] = []
    if requisition is not None:
        for line in requisition.lines:
            rows.append(
                LineRow(
                    line_no=line.line_no,
                    product=line.product,
                    description=line.description,
                    unit=line.unit,
                    ordered=line.quantity,
                    order_price=line.expected_price,
                    receipts=[_receipt_cell(r, line.line_no) for r in receipts],
                    invoices=[_invoice_cell(i, line.line_no) for i in invoices],
                    match=matches.get(line.line_no),
                    part=str(line.line_no) if str(line.line_no) in wanted else None,
                )
            )
    else:  # the start input could not be read: the match knows the lines too
        for m in matches.values():
            rows.append(
                LineRow(
                    line_no=m.line_no,
                    product=m.product,
                    description="",
                    unit="",
                    ordered=m.ordered,
                    order_price=m.order_price,
                    receipts=[_receipt_cell(r, m.line_no) for r in receipts],
                    invoices=[_invoice_cell(i, m.line_no) for i in invoices],
                    match=m,
                    part=str(m.line_no) if str(m.line_no) in wanted else None,
                )
            )
    return PurchasePage(
        process_id=process_id,
        result=result,
        requisition=requisition,
        receipts=[_receipt_column(r) for r in receipts],
        invoices=[_invoice_column(i) for i in invoices],
        lines=rows,
        problem=problem,
    )
