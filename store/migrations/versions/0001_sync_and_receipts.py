"""The sync's watermarks, quarantine and drift, the gateway's webhook receipts, and the record
of today's SQLite files imported.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_watermarks",
        sa.Column("feed", sa.String(64), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("position", UtcDateTime),
        sa.Column("synced_through", UtcDateTime),
        sa.Column("acknowledged_at", UtcDateTime),
        sa.Column("sync_id", sa.Text),
        sa.Column("page", sa.Integer),
        sa.Column("page_result", sa.Text),
    )
    op.create_table(
        "sync_quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("record_updated_at", UtcDateTime),
        sa.Column("first_seen", UtcDateTime, nullable=False),
        sa.Column("last_seen", UtcDateTime, nullable=False),
        sa.Column("times", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'open'")),
        sa.Column("resolved_at", UtcDateTime),
        sa.CheckConstraint("status IN ('open', 'resolved')", name="sync_quarantine_status"),
    )
    open_only = sa.text("status = 'open'")
    op.create_index(
        "sync_quarantine_open",
        "sync_quarantine",
        ["source", "target", "record_id"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    op.create_table(
        "sync_drift",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("record_updated_at", UtcDateTime),
        sa.Column("found_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'open'")),
        sa.Column("repaired_at", UtcDateTime),
        sa.CheckConstraint("status IN ('open', 'repaired')", name="sync_drift_status"),
    )
    op.create_index(
        "sync_drift_open",
        "sync_drift",
        ["source", "target", "record_id"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    op.create_table(
        "webhook_receipts",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("workflow_id", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.Double, nullable=False),
        sa.Column("accepted_at", sa.Double),
        sa.PrimaryKeyConstraint("source", "event_id", name="webhook_receipts_pkey"),
        sa.CheckConstraint("state IN ('pending', 'accepted')", name="webhook_receipts_state"),
    )
    op.create_table(
        "legacy_imports",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("imported_at", UtcDateTime, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("legacy_imports", "webhook_receipts", "sync_drift", "sync_quarantine"):
        op.drop_table(table)
    op.drop_table("sync_watermarks")
