"""Server-side inbox sessions and login throttling (shared by every gateway replica).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("password_fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("inbox_sessions_user", "inbox_sessions", ["username"])
    op.create_table(
        "login_failures",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Double, nullable=False),
        sa.Column("locked_until", sa.Double),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_index("inbox_sessions_user", table_name="inbox_sessions")
    op.drop_table("inbox_sessions")
