"""Purchasing documents for the reference ERP's tests; suppliers match its demo seed
(SUP-100..102 active, SUP-103 blocked, SUP-104 new)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from domain.purchasing.models import (
    DocumentKind,
    GoodsReceipt,
    InvoiceLine,
    PaymentDue,
    ReceiptKind,
    ReceiptLine,
    Requisition,
    RequisitionLine,
    SupplierInvoice,
)


def requisition(rid: str | None = None, supplier_id: str = "SUP-100") -> Requisition:
    """Two lines: 10 × 12.50 of beans (also bought in boxes of 5) and 2 × 80.00 of grinders."""
    return Requisition(
        requisition_id=rid or f"R-{uuid.uuid4().hex[:10]}",
        requested_by="bob",
        supplier_id=supplier_id,
        cost_centre="CC-1",
        currency="EUR",
        lines=[
            RequisitionLine(
                line_no=1,
                product="BEANS-1KG",
                quantity=Decimal(10),
                unit="kg",
                conversions={"box": Decimal(5)},
                expected_price=Decimal("12.50"),
                tax_rate=Decimal("0.19"),
            ),
            RequisitionLine(
                line_no=2,
                product="GRINDER",
                quantity=Decimal(2),
                expected_price=Decimal("80.00"),
                tax_rate=Decimal("0.19"),
            ),
        ],
    )


def receipt(
    rid: str,
    receipt_id: str = "WH-1",
    lines: dict[int, str] | None = None,
    *,
    kind: ReceiptKind = ReceiptKind.RECEIPT,
    unit: str | None = None,
) -> GoodsReceipt:
    """Everything ordered, unless `lines` says {line_no: quantity}."""
    wanted = lines or {1: "10", 2: "2"}
    return GoodsReceipt(
        requisition_id=rid,
        receipt_id=receipt_id,
        kind=kind,
        lines=[ReceiptLine(line_no=n, quantity=Decimal(q), unit=unit) for n, q in wanted.items()],
    )


def invoice(
    rid: str,
    reference: str | None = None,
    supplier_id: str = "SUP-100",
    *,
    kind: DocumentKind = DocumentKind.INVOICE,
    credits_reference: str | None = None,
) -> SupplierInvoice:
    """Everything ordered at the order's prices: 285.00 net, 54.15 tax, 339.15 gross; the
    reference is `INV-<rid>` unless given (a supplier's references are unique in the ERP)."""
    return SupplierInvoice(
        requisition_id=rid,
        supplier_id=supplier_id,
        reference=reference or f"INV-{rid}",
        kind=kind,
        currency="EUR",
        issued_on=date(2025, 3, 1),
        due_on=date(2025, 3, 31),
        lines=[
            InvoiceLine(line_no=1, quantity=Decimal(10), unit_price=Decimal("12.50")),
            InvoiceLine(line_no=2, quantity=Decimal(2), unit_price=Decimal("80.00")),
        ],
        tax=Decimal("54.15"),
        credits_reference=credits_reference,
    )


def due(reference: str, lines: list[int] | None = None, amount: str = "339.15") -> PaymentDue:
    """All of `invoice`'s gross, unless `lines` and `amount` say otherwise."""
    return PaymentDue(
        invoice_reference=reference,
        lines=lines or [1, 2],
        amount=Decimal(amount),
        tax=Decimal("54.15"),
        currency="EUR",
        due_on=date(2025, 3, 31),
    )
