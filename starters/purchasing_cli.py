"""`continuum purchase start --file F | status R | list | confirm R | receive R --file F |
invoice R --file F | decide R --as USER (--accept | --reject | --accept-lines 1,2) | cancel R`

A buyer's and a warehouse clerk's tool: start procure-to-pay for a requisition, report what the
supplier and the warehouse said, decide an exception. Every failure is one line on standard error
and exit code 1 (a bad file names the file and the field; a refusal says why); a mistyped command
or a missing option is typer's usage error, exit code 2.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from continuum.approvals.config import ApprovalConfigError
from continuum.client import connect
from continuum.codec import CodecError
from continuum.purchasing.client import PurchaseClient, PurchaseError
from continuum.purchasing.config import PurchasingConfigError
from continuum.settings import get_settings
from domain.approvals.models import ApprovalState, Verdict
from domain.purchasing.models import (
    DocumentAnswer,
    PurchaseResult,
    PurchaseStatus,
    SupplierConfirmation,
)
from starters.console import console, fail
from starters.console import run as run_command
from starters.purchase_file import (
    PurchaseFileError,
    load_invoice,
    load_receipt,
    load_requisition,
)

T = TypeVar("T")
purchase_app = typer.Typer(
    help="Start and drive one purchase (procure-to-pay).", no_args_is_help=True
)

File = Annotated[Path, typer.Option("--file", "-f", help="The document as JSON.")]
Who = Annotated[str, typer.Option("--as", help="Who you are (a username).")]


def with_purchases(fn: Callable[[PurchaseClient], Awaitable[T]]) -> T:
    async def go() -> T:
        return await fn(PurchaseClient(await connect(), get_settings().task_queue))

    return run_command(go(), PurchaseError, CodecError, ApprovalConfigError, PurchasingConfigError)


def _load(loader: Callable[..., T], *args: Any) -> T:
    """Read before connecting: a bad file is the person's mistake, not Temporal's."""
    try:
        return loader(*args)
    except PurchaseFileError as err:
        raise fail(str(err)) from None


def _say(text: str) -> None:
    console.print(text, highlight=False)


def print_result(result: PurchaseResult) -> None:
    _say(
        f"[bold]{escape(result.requisition_id)}[/] {result.status.value}"
        + (f" — {escape(result.reason)}" if result.reason else "")
    )
    order = f" · PO {result.purchase_order_id}" if result.purchase_order_id else ""
    if result.confirmed:
        ref = result.confirmed.supplier_reference
        order += f", confirmed {ref}" if ref else ", confirmed"
    _say(f"  supplier {result.supplier_id} · {result.total:,.2f} {result.currency}{order}")
    if result.approval:
        who = result.approval.decided_by or "the deadline"
        verdict = result.approval.verdict.value if result.approval.verdict else "cancelled"
        _say(f"  approval: {verdict} by {who}")
    for receipt in result.receipts:
        lines = ", ".join(f"line {r.line_no} × {r.quantity}" for r in receipt.lines)
        _say(f"  {receipt.kind.value} {escape(receipt.receipt_id)}: {lines}")
    for invoice in result.invoices:
        _say(
            f"  {invoice.kind.value.replace('_', ' ')} {escape(invoice.reference)}: "
            f"{invoice.net:,.2f} + tax {invoice.tax:,.2f} {invoice.currency}, "
            f"due {invoice.due_on}"
        )
    for refused in result.refused:
        _say(f"  refused {refused.kind} {escape(refused.reference)}: {escape(refused.reason)}")
    if result.match and result.match.lines:
        console.print(_match_table(result))
        for reason in result.match.document_reasons:
            _say(f"  document: {escape(reason)}")
    for d in result.decisions:
        who = d.decided_by or "the deadline"
        _say(
            f"  exception {d.round_no} decided by {who}: accepted {_nums(d.accepted_lines)}, "
            f"rejected {_nums(d.rejected_lines)}" + (f" — {escape(d.comment)}" if d.comment else "")
        )
    if result.pending_review:
        _say(
            f"  waiting for a decision: {result.pending_review} "
            f"(continuum purchase decide {result.requisition_id} --as USER --accept|--reject)"
        )
    for p in result.payments:
        _say(
            f"  paid {p.payment_id}: invoice {p.invoice_reference} lines {_nums(p.lines)}, "
            f"{p.amount:,.2f} {p.currency}"
        )
    for undone in result.compensated:
        _say(f"  ↺ {escape(undone)}")
    for event in result.events:
        detail = f" {escape(event.detail)}" if event.detail else ""
        _say(f"  · {event.at:%Y-%m-%d %H:%M:%S} {escape(event.what)}{detail}")


def _nums(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers) or "none"


def _match_table(result: PurchaseResult) -> Table:
    assert result.match is not None
    table = Table(title="three-way match")
    for column in ("line", "product", "ordered", "received", "invoiced", "price", "status"):
        table.add_column(column)
    for line in result.match.lines:
        price = f"{line.order_price}"
        if line.invoiced_price is not None and line.invoiced_price != line.order_price:
            price += f" → {line.invoiced_price}"
        status = line.status.value + (f": {'; '.join(line.reasons)}" if line.reasons else "")
        table.add_row(
            str(line.line_no),
            escape(line.product),
            str(line.ordered),
            str(line.received),
            str(line.invoiced),
            price,
            escape(status),
        )
    return table


@purchase_app.command("start")
def start(
    file: File,
    wait: Annotated[bool, typer.Option(help="Wait until the purchase finishes.")] = False,
) -> None:
    """Start procure-to-pay for the requisition in FILE."""
    requisition = _load(load_requisition, file)
    rid = requisition.requisition_id

    async def go(client: PurchaseClient) -> None:
        handle = await client.start(requisition)
        _say(f"started purchase {rid} (workflow {handle.id})")
        if wait:
            print_result(await client.result(rid))

    with_purchases(go)


@purchase_app.command("status")
def status(requisition_id: str) -> None:
    """Where a purchase stands: documents, the match, decisions, payments."""
    print_result(with_purchases(lambda c: c.status(requisition_id)))


@purchase_app.command("list")
def list_purchases(
    status: Annotated[
        list[PurchaseStatus] | None, typer.Option(help="Only these statuses (repeatable).")
    ] = None,
    supplier: Annotated[str | None, typer.Option(help="Only this supplier's.")] = None,
    key: Annotated[
        str | None, typer.Option(help="A business key: a requisition, po:ID, invoice:REF.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Recent purchases from Temporal's visibility, newest first."""
    if supplier and key:
        raise fail("choose one of --supplier and --key")
    wanted = f"supplier:{supplier}" if supplier else key
    rows = with_purchases(lambda c: c.list(status or [], wanted, limit))
    if not rows:
        _say("no purchases" + (" that match" if status or wanted else ""))
        return
    table = Table()
    for column in ("purchase", "supplier", "status", "total"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.requisition_id, row.supplier_id, row.status, f"{row.total:,.2f}")
    console.print(table)


@purchase_app.command("confirm")
def confirm(
    requisition_id: str,
    reference: Annotated[str, typer.Option(help="The supplier's confirmation number.")] = "",
    promised: Annotated[
        str | None, typer.Option(help="The delivery date the supplier promised, YYYY-MM-DD.")
    ] = None,
) -> None:
    """Report that the supplier confirmed the purchase order."""
    try:
        promised_date = date.fromisoformat(promised) if promised else None
    except ValueError:
        raise fail(f"--promised: {promised!r} is not a date (YYYY-MM-DD)") from None
    notice = SupplierConfirmation(
        requisition_id=requisition_id, supplier_reference=reference, promised_date=promised_date
    )
    with_purchases(lambda c: c.confirm(notice))
    _say(f"supplier confirmation reported for purchase {requisition_id}")


def _answered(answer: DocumentAnswer, what: str, requisition_id: str) -> None:
    if not answer.accepted:
        raise fail(f"purchase {requisition_id} refused the {what}: {answer.reason}")
    now = f" (now {answer.status})" if answer.status else ""
    _say(f"{what} taken by purchase {requisition_id}{now}")


@purchase_app.command("receive")
def receive(requisition_id: str, file: File) -> None:
    """Report goods received (or returned): the goods receipt in FILE."""
    receipt = _load(load_receipt, file, requisition_id)
    answer = with_purchases(lambda c: c.receive(receipt))
    _answered(answer, f"{receipt.kind.value} {receipt.receipt_id}", requisition_id)


@purchase_app.command("invoice")
def invoice(requisition_id: str, file: File) -> None:
    """Hand in the supplier's invoice or credit note in FILE."""
    document = _load(load_invoice, file, requisition_id)
    answer = with_purchases(lambda c: c.invoice(document))
    kind = document.kind.value.replace("_", " ")
    _answered(answer, f"{kind} {document.reference}", requisition_id)


def parse_lines(text: str) -> list[int]:
    """`1,2` → [1, 2]; anything else names what is wrong."""
    numbers: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdecimal() or int(part) < 1:
            raise fail(f"--accept-lines: {part!r} is not a line number (e.g. --accept-lines 1,2)")
        numbers.append(int(part))
    return sorted(set(numbers))


@purchase_app.command("decide")
def decide(
    requisition_id: str,
    who: Who,
    accept: Annotated[bool, typer.Option("--accept", help="Accept (approve) as it is.")] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help="Reject: the supplier is asked for a credit note.")
    ] = False,
    accept_lines: Annotated[
        str | None,
        typer.Option(help="Accept only these lines of the exception, e.g. 1,2; the rest waits."),
    ] = None,
    comment: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
) -> None:
    """Decide what waits on a person: a match exception, or the requisition's approval."""
    chosen = [name for name, on in (("--accept", accept), ("--reject", reject)) if on]
    if accept_lines is not None:
        chosen.append("--accept-lines")
    if len(chosen) != 1:
        given = f" (not {' and '.join(chosen)})" if chosen else ""
        raise fail(f"say one decision: --accept, --reject or --accept-lines 1,2{given}")
    lines = parse_lines(accept_lines) if accept_lines is not None else []
    verdict = Verdict.REJECTED if reject else Verdict.APPROVED
    state = with_purchases(lambda c: c.decide(requisition_id, who, verdict, comment.strip(), lines))
    _decided(requisition_id, who, state)


def _decided(requisition_id: str, who: str, state: ApprovalState) -> None:
    if state.verdict is None:  # a multi-level review moved on to its next level
        _say(
            f"purchase {requisition_id}: decided by {who}; "
            f"now waiting for {state.pending_role or '?'}"
        )
        return
    accepted = f" (lines {', '.join(state.accepted_parts)})" if state.accepted_parts else ""
    _say(f"purchase {requisition_id}: {state.verdict.value}{accepted} by {state.decided_by}")


@purchase_app.command("cancel")
def cancel(
    requisition_id: str,
    who: Who,
    reason: Annotated[str, typer.Option(help="Why (kept in the purchase's record).")] = "",
) -> None:
    """Cancel a purchase; what was done is undone, newest first (refused once paid)."""

    async def go(client: PurchaseClient) -> PurchaseResult:
        await client.cancel(requisition_id, who, reason)
        return await client.result(requisition_id)

    print_result(with_purchases(go))
