"""Posts approval reminders and escalations to a configured webhook (JSON, Idempotency-Key).

No retries here: failures are classified and Temporal retries; the receiver drops a key it
has already seen, so a retried post is harmless.
"""

from __future__ import annotations

import httpx

from connectors.http_errors import raise_for_response, transport_errors
from domain.approvals.models import ApprovalNotice

SYSTEM = "notify-webhook"


async def post_notice(url: str, notice: ApprovalNotice, *, http_timeout: float = 10.0) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": notice.idempotency_key}
    async with httpx.AsyncClient(timeout=http_timeout) as client:
        with transport_errors(SYSTEM):
            response = await client.post(url, json=notice.model_dump(mode="json"), headers=headers)
    raise_for_response(SYSTEM, response)
