"""The incident console's append-only audit (issue 15): plans, applies, refusals, job events and
per-item results. Triggers refuse UPDATE and DELETE on both backends, so that not even a bug in
Continuum rewrites what an operator did.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.schema import UtcDateTime

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = "incident audit is append-only"

_POSTGRES = [
    f"""CREATE FUNCTION incident_audit_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER incident_audit_no_change BEFORE UPDATE OR DELETE ON incident_audit
    FOR EACH ROW EXECUTE FUNCTION incident_audit_append_only()""",
    # TRUNCATE skips row triggers: it gets its own.
    """CREATE TRIGGER incident_audit_no_truncate BEFORE TRUNCATE ON incident_audit
    FOR EACH STATEMENT EXECUTE FUNCTION incident_audit_append_only()""",
]
_SQLITE = [
    f"""CREATE TRIGGER incident_audit_no_update BEFORE UPDATE ON incident_audit
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    f"""CREATE TRIGGER incident_audit_no_delete BEFORE DELETE ON incident_audit
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
]


def upgrade() -> None:
    op.create_table(
        "incident_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_key", sa.Text, unique=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32)),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("ticket", sa.Text),
        sa.Column("item_count", sa.Integer),
        sa.Column("workflow_id", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("outcome", sa.String(16)),
        sa.Column("detail", sa.Text),
        sa.Column("body", sa.Text),
    )
    op.create_index("incident_audit_plan", "incident_audit", ["plan_id", "id"])
    op.create_index("incident_audit_at", "incident_audit", ["at"])
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER incident_audit_no_truncate ON incident_audit")
        op.execute("DROP TRIGGER incident_audit_no_change ON incident_audit")
        op.execute("DROP FUNCTION incident_audit_append_only()")
    op.drop_index("incident_audit_at", table_name="incident_audit")
    op.drop_index("incident_audit_plan", table_name="incident_audit")
    op.drop_table("incident_audit")
