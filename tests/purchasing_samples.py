"""Purchases for tests: a requisition and its documents in a line each, amounts as strings."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    InvoiceLine,
    ReceiptKind,
    ReceiptLine,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
)

RID = "R-1"
SUPPLIER = "S-1"
ISSUED = date(2026, 3, 2)
DUE = date(2026, 4, 1)

# (line_no, quantity) or (line_no, quantity, unit); invoices add the unit price:
# (line_no, quantity, unit_price) or (line_no, quantity, unit_price, unit).
Row = tuple[Any, ...]


def line(
    line_no: int = 1,
    quantity: str = "10",
    price: str = "10.00",
    *,
    product: str | None = None,
    tax_rate: str = "0.19",
    category: str = "",
    unit: str = "unit",
    conversions: dict[str, str] | None = None,
) -> RequisitionLine:
    return RequisitionLine(
        line_no=line_no,
        product=product or f"product-{line_no}",
        quantity=Decimal(quantity),
        expected_price=Decimal(price),
        tax_rate=Decimal(tax_rate),
        category=category,
        unit=unit,
        conversions={k: Decimal(v) for k, v in (conversions or {}).items()},
    )


def requisition(*lines: RequisitionLine, **changes: Any) -> Requisition:
    base: dict[str, Any] = {
        "requisition_id": RID,
        "requested_by": "carl",
        "supplier_id": SUPPLIER,
        "cost_centre": "CC-100",
        "currency": "EUR",
        "lines": list(lines) or [line()],
    }
    return Requisition(**(base | changes))


def receipt(
    receipt_id: str, *rows: Row, kind: ReceiptKind = ReceiptKind.RECEIPT, rid: str = RID
) -> GoodsReceipt:
    return GoodsReceipt(
        requisition_id=rid,
        receipt_id=receipt_id,
        kind=kind,
        lines=[
            ReceiptLine(line_no=r[0], quantity=Decimal(r[1]), unit=r[2] if len(r) > 2 else None)
            for r in rows
        ],
    )


def returned(receipt_id: str, *rows: Row) -> GoodsReceipt:
    return receipt(receipt_id, *rows, kind=ReceiptKind.RETURN)


def invoice(
    reference: str,
    *rows: Row,
    tax: str | None = None,
    tax_rate: str = "0.19",
    kind: DocumentKind = DocumentKind.INVOICE,
    credits: str | None = None,
    currency: str = "EUR",
    supplier_id: str = SUPPLIER,
    rid: str = RID,
    issued_on: date = ISSUED,
    due_on: date = DUE,
) -> SupplierInvoice:
    """`tax` defaults to `tax_rate` of the net, rounded to the cent."""
    lines = [
        InvoiceLine(
            line_no=r[0],
            quantity=Decimal(r[1]),
            unit_price=Decimal(r[2]),
            unit=r[3] if len(r) > 3 else None,
        )
        for r in rows
    ]
    net = sum((il.quantity * il.unit_price for il in lines), Decimal(0))
    printed = (
        Decimal(tax)
        if tax is not None
        else (net * Decimal(tax_rate)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    )
    return SupplierInvoice(
        requisition_id=rid,
        supplier_id=supplier_id,
        reference=reference,
        kind=kind,
        currency=currency,
        issued_on=issued_on,
        due_on=due_on,
        lines=lines,
        tax=printed,
        credits_reference=credits,
    )


def credit_note(reference: str, credits: str, *rows: Row, **changes: Any) -> SupplierInvoice:
    return invoice(reference, *rows, kind=DocumentKind.CREDIT_NOTE, credits=credits, **changes)


def invoice_for(req: Requisition, reference: str, *rows: Row, **changes: Any) -> SupplierInvoice:
    """An invoice whose tax is each line's rate of its net (rounded to the cent)."""
    rates = {ln.line_no: ln.tax_rate for ln in req.lines}
    tax = sum(
        (Decimal(r[1]) * Decimal(r[2]) * rates.get(r[0], Decimal(0)) for r in rows), Decimal(0)
    )
    return invoice(
        reference, *rows, tax=str(tax.quantize(Decimal("0.01"), ROUND_HALF_UP)), **changes
    )
