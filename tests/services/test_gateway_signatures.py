"""Webhook signatures, the event mapping and the receipts store, without a server."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from pydantic import ValidationError

from continuum.defaults import WEBHOOKS
from services.gateway.events import EventMap, Route, load_secrets
from services.gateway.receipts import ClaimState, Receipts
from services.gateway.signatures import SignatureError, sign, verify

SECRET = "s3cret"
BODY = b'{"id": "E-1", "type": "shipment-delivered", "data": {"order_id": "O-1"}}'
NOW = 1_750_000_000


def problem(header: str | None, body: bytes = BODY, now: float = NOW, secret: str = SECRET) -> str:
    with pytest.raises(SignatureError) as refused:
        verify(secret, header, body, now)
    return refused.value.code


def test_a_signature_made_by_sign_verifies_and_matches_the_documented_recipe() -> None:
    header = sign(SECRET, BODY, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert verify(SECRET, header, BODY, NOW + 10) == NOW


def test_any_change_to_body_timestamp_or_secret_breaks_the_signature() -> None:
    header = sign(SECRET, BODY, NOW)
    assert problem(header, body=BODY.replace(b"O-1", b"O-2")) == "BadSignature"
    assert problem(header.replace(f"t={NOW}", f"t={NOW + 1}")) == "BadSignature"
    assert problem(header, secret="other") == "BadSignature"


def test_missing_or_malformed_headers_are_named() -> None:
    assert problem(None) == "MissingSignature"
    assert problem("") == "MissingSignature"
    assert problem("sha256=abc") == "MalformedSignature"
    assert problem(f"t={NOW}") == "MalformedSignature"
    assert problem("t=yesterday,v1=abc") == "MalformedSignature"
    assert problem("t=\u00b2,v1=abc") == "MalformedSignature"  # a digit to str, not to int()


def test_timestamps_outside_the_replay_window_are_refused_both_ways() -> None:
    header = sign(SECRET, BODY, NOW)
    assert verify(SECRET, header, BODY, NOW + 300) == NOW
    assert problem(header, now=NOW + 301) == "StaleTimestamp"
    assert problem(header, now=NOW - 301) == "StaleTimestamp"


def test_a_rotating_secret_may_sign_twice() -> None:
    old, new = sign("old", BODY, NOW), sign(SECRET, BODY, NOW)
    both = f"{old},v1={new.split('v1=')[1]}"
    assert verify(SECRET, both, BODY, NOW) == NOW
    assert problem(old) == "BadSignature"


def test_the_shipped_mapping_loads_and_names_a_secret_per_source() -> None:
    events = EventMap.load(WEBHOOKS)
    assert set(events.sources) == {"carrier", "shop", "payments", "supplier", "warehouse"}
    assert events.sources["shop"]["order-cancelled"].action == "update"
    with pytest.raises(ValueError, match="WEBHOOK_SECRET_SHOP"):
        load_secrets(events, {"WEBHOOK_SECRET_CARRIER": "a", "WEBHOOK_SECRET_PAYMENTS": "b"})


def test_a_mapping_that_cannot_work_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="must be Order"):
        Route.model_validate(
            {"action": "signal-with-start", "handler": "received", "data": "CancelRequest"}
        )
    with pytest.raises(ValidationError, match="data"):
        Route.model_validate({"action": "signal", "handler": "delivered", "data": "Nope"})


def test_purchase_routes_are_checked_against_the_purchasing_contract() -> None:
    events = EventMap.load(WEBHOOKS)
    invoices = events.sources["supplier"]["invoice-issued"]
    assert (invoices.process, invoices.action, invoices.handler) == (
        "purchase",
        "update",
        "invoice_received",
    )
    assert invoices.target.workflow_id("R-1") == "purchase-R-1"
    assert events.sources["carrier"]["shipment-delivered"].target.workflow_id("O-1") == "order-O-1"
    wrong = {
        "has no update handler 'delivered'": {"handler": "delivered", "data": "GoodsReceipt"},
        "goods_received takes GoodsReceipt, not SupplierInvoice": {"data": "SupplierInvoice"},
        "takes no Order data": {"data": "Order"},
        "sends its data": {"send": "notice"},
        "signal-with-start starts orders only": {
            "action": "signal-with-start",
            "handler": "supplier_confirmed",
            "data": "SupplierConfirmation",
        },
    }
    for message, change in wrong.items():
        route = {"process": "purchase", "action": "update", "handler": "goods_received"}
        with pytest.raises(ValidationError, match=message):
            Route.model_validate({**route, "data": "GoodsReceipt", **change})
    # An order route names no process, as before; a purchase handler is not an order's.
    with pytest.raises(ValidationError, match="the order workflow takes no GoodsReceipt data"):
        Route.model_validate(
            {"action": "update", "handler": "goods_received", "data": "GoodsReceipt"}
        )


def test_receipts_claim_once_then_replays_are_seen(tmp_path: Path) -> None:
    receipts = Receipts(tmp_path / "gateway.db", lease=60)
    try:
        first = receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW)
        assert first.state is ClaimState.CLAIMED
        # A concurrent duplicate while the first is in flight does not get to send too.
        again = receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW + 1)
        assert again.state is ClaimState.IN_FLIGHT
        # The same id from another source is another event.
        other = receipts.claim("shop", "E-1", "order-cancelled", "order-O-1", NOW)
        assert other.state is ClaimState.CLAIMED
        receipts.accept("carrier", "E-1", NOW + 2)
        replay = receipts.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW + 3)
        assert replay.state is ClaimState.ACCEPTED and replay.accepted_at == NOW + 2
        # A failed send releases its claim so the sender's retry goes through.
        receipts.release("shop", "E-1")
        retry = receipts.claim("shop", "E-1", "order-cancelled", "order-O-1", NOW + 4)
        assert retry.state is ClaimState.CLAIMED
        # A claim abandoned by a crash is taken over after the lease.
        late = receipts.claim("shop", "E-1", "order-cancelled", "order-O-1", NOW + 65)
        assert late.state is ClaimState.CLAIMED
    finally:
        receipts.close()
    # Accepted receipts survive a restart.
    reopened = Receipts(tmp_path / "gateway.db")
    try:
        state = reopened.claim("carrier", "E-1", "shipment-delivered", "order-O-1", NOW + 9)
        assert state.state is ClaimState.ACCEPTED
    finally:
        reopened.close()
