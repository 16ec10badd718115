"""Exactly-once writes: the answer to a write is stored under its idempotency key.

In one transaction: look the key up; if it is known, replay the stored answer (same key and
request) or refuse with 409 (same key, another request); otherwise do the write and store the
answer next to it. So a write and its stored answer commit together or not at all, and a
retry after a lost response gets the first answer, byte for byte, without the write being
done again. Business refusals (4xx) are answers too and are stored; a crash (5xx) rolls
everything back and stores nothing, so a retry runs the write afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from services.erp.errors import ErpError
from services.erp.store import Database, Tx, format_ts

REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class WriteRequest:
    key: str
    method: str
    path: str
    body_sha256: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    replayed: bool = False


def fingerprint(payload: BaseModel | None) -> str:
    """sha256 of the request as the API understood it: canonical JSON, keys sorted."""
    data = payload.model_dump(mode="json") if payload is not None else None
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_once(
    db: Database, request: WriteRequest, status: int, operation: Callable[[Tx], BaseModel]
) -> Answer:
    with db.transaction() as tx:
        stored = tx.one(
            "SELECT method, path, body_sha256, status, body FROM idempotency_keys WHERE key = ?",
            (request.key,),
        )
        if stored is not None:
            if (stored["method"], stored["path"], stored["body_sha256"]) != (
                request.method,
                request.path,
                request.body_sha256,
            ):
                raise ErpError(
                    409,
                    "IdempotencyConflict",
                    f"Idempotency-Key {request.key!r} was already used for"
                    f" {stored['method']} {stored['path']} with another request body",
                )
            return Answer(int(stored["status"]), bytes(stored["body"]), replayed=True)
        # A refusal must leave no trace of the half-done write, yet its answer is stored.
        tx.run("SAVEPOINT operation")
        try:
            body = operation(tx).model_dump_json().encode()
        except ErpError as err:
            if err.status >= 500:
                raise
            tx.run("ROLLBACK TO operation")
            status, body = err.status, err.body()
        tx.run("RELEASE operation")
        tx.run(
            "INSERT INTO idempotency_keys (key, method, path, body_sha256, status, body,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (request.key, request.method, request.path, request.body_sha256, status, body, tx.now),
        )
        return Answer(status, body)


# Stored answers are kept this long, then forgotten, so that the table stays bounded. A key is
# only ever replayed by the retries of one activity (an order's step), which give up long before:
# a retry after this would write again, so keep it far beyond any retry horizon.
RETENTION = timedelta(days=30)


def forget_before(db: Database, cutoff: datetime) -> int:
    """Forgets the stored answers older than `cutoff`; how many went."""
    with db.transaction() as tx:
        gone = tx.run("DELETE FROM idempotency_keys WHERE created_at < ?", (format_ts(cutoff),))
        return gone.rowcount
