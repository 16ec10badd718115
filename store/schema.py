"""The tables of Continuum's own state, one metadata for every backend (SQLite, PostgreSQL).

Names carry their owner (`sync_`, `webhook_`) so that the next tenants (inbox sessions, login
throttling, alerts) sit beside them without a clash. A change here ships with a migration in
`store/migrations/versions/`; the migrations, not this module, create the tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC moment on every backend: `timestamptz` on PostgreSQL; on SQLite a naive
    UTC text of fixed width, so that text order is time order and `<` compares moments."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

# Per feed ("orders", "customers"): where the next page starts, and the last page acknowledged
# (which sync, which page, what it did as JSON), so that a retried page is answered from here.
sync_watermarks = Table(
    "sync_watermarks",
    metadata,
    Column("feed", String(64), primary_key=True),
    Column("cursor", Text),
    Column("position", UtcDateTime),
    Column("synced_through", UtcDateTime),
    Column("acknowledged_at", UtcDateTime),
    Column("sync_id", Text),
    Column("page", Integer),
    Column("page_result", Text),
)

sync_quarantine = Table(
    "sync_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("record_id", Text, nullable=False),
    Column("field", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("record", Text, nullable=False),
    Column("record_updated_at", UtcDateTime),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("times", Integer, nullable=False, server_default=text("1")),
    Column("status", String(16), nullable=False, server_default=text("'open'")),
    Column("resolved_at", UtcDateTime),
    CheckConstraint("status IN ('open', 'resolved')", name="sync_quarantine_status"),
)
# One open entry per record: a second sighting updates it (ON CONFLICT on this index).
QUARANTINE_OPEN_WHERE = text("status = 'open'")
Index(
    "sync_quarantine_open",
    sync_quarantine.c.source,
    sync_quarantine.c.target,
    sync_quarantine.c.record_id,
    unique=True,
    sqlite_where=QUARANTINE_OPEN_WHERE,
    postgresql_where=QUARANTINE_OPEN_WHERE,
)

sync_drift = Table(
    "sync_drift",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("record_id", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("record_updated_at", UtcDateTime),
    Column("found_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'open'")),
    Column("repaired_at", UtcDateTime),
    CheckConstraint("status IN ('open', 'repaired')", name="sync_drift_status"),
)
DRIFT_OPEN_WHERE = text("status = 'open'")
Index(
    "sync_drift_open",
    sync_drift.c.source,
    sync_drift.c.target,
    sync_drift.c.record_id,
    unique=True,
    sqlite_where=DRIFT_OPEN_WHERE,
    postgresql_where=DRIFT_OPEN_WHERE,
)

# A webhook event, by (source, event id): claimed (`pending`) before it goes to Temporal,
# `accepted` after. The key is what makes two racing gateways record it once.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("source", String(64), nullable=False),
    Column("event_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("workflow_id", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("claimed_at", Double, nullable=False),  # unix seconds, the gateway's clock
    Column("accepted_at", Double),
    PrimaryKeyConstraint("source", "event_id", name="webhook_receipts_pkey"),
    CheckConstraint("state IN ('pending', 'accepted')", name="webhook_receipts_state"),
)

# An inbox session, server-side: the cookie carries only its token, this row (by the token's
# SHA-256, so a copy of the table opens no session) says whose it is and until when.
inbox_sessions = Table(
    "inbox_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", Text, nullable=False),
    Column("password_fingerprint", String(64), nullable=False),  # ends with a password change
    Column("created_at", Double, nullable=False),  # unix seconds, the gateway's clock
    Column("expires_at", Double, nullable=False),  # absolute: no refresh extends it
)
Index("inbox_sessions_user", inbox_sessions.c.username)

# Failed sign-ins per key (`user:<name>`, `addr:<ip>`) within a window, and the lock they earn.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", Double, nullable=False),
    Column("locked_until", Double),
)

# The incident console's audit (issue 15): every plan, apply, refusal, job event and per-item
# result, appended and never changed (triggers refuse UPDATE and DELETE, see migration 0003).
# `entry_key` makes a retried append (an activity run twice) one row; NULL for events that may
# repeat (refusals).
incident_audit = Table(
    "incident_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_key", Text, unique=True),
    Column("at", UtcDateTime, nullable=False),
    Column("plan_id", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    Column("action", String(32)),
    Column("actor", Text, nullable=False),
    Column("reason", Text),
    Column("ticket", Text),
    Column("item_count", Integer),
    Column("workflow_id", Text),
    Column("run_id", Text),
    Column("outcome", String(16)),
    Column("detail", Text),
    Column("body", Text),  # JSON: the signed plan (planned), the progress (finished)
)
Index("incident_audit_plan", incident_audit.c.plan_id, incident_audit.c.id)
Index("incident_audit_at", incident_audit.c.at)

# The configuration every worker of a task queue must share (issue 17, `continuum.peers`): its
# fingerprint (ERP backend and address, CRM address), what it says in words, and who wrote it.
# A worker whose fingerprint differs is refused while a peer still polls the queue.
worker_peers = Table(
    "worker_peers",
    metadata,
    Column("task_queue", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

# Today's SQLite files (`sync.db`, `gateway.db`) carried in, once each (`store.legacy`).
legacy_imports = Table(
    "legacy_imports",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("path", Text, nullable=False),
    Column("imported_at", UtcDateTime, nullable=False),
    Column("rows", Integer, nullable=False),
)
