"""Posts an alert to a generic webhook: Alertmanager's body, HMAC-signed, with an Idempotency-Key.

The signature is the gateway's scheme (`services/gateway/signatures.py`, as Stripe's): header
`X-Continuum-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, so a receiver
checks it the way our gateway checks its senders. Each attempt signs afresh (a retry is not
refused as stale); the body and the key stay the same, so a receiver drops a copy.
No retries here: failures are classified and Temporal retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from connectors.http_errors import raise_for_response, transport_errors

SYSTEM = "alert-webhook"
SIGNATURE_HEADER = "X-Continuum-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


async def post_alert(
    url: str, secret: str, payload: dict[str, Any], idempotency_key: str, *, http_timeout: float
) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
    }
    async with httpx.AsyncClient(timeout=http_timeout) as client:
        with transport_errors(SYSTEM):
            response = await client.post(url, content=body, headers=headers)
    raise_for_response(SYSTEM, response)
    return f"HTTP {response.status_code} from {response.url.host}"
