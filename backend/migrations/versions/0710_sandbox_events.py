"""The sandbox keeps each webhook event with the change it reports until the platform has taken it.

Revision ID: 0710_sandbox_events
Revises: 0700_one_head
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0710_sandbox_events"
down_revision = "0700_one_head"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "sandbox_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_sandbox_events_next_attempt_at", "sandbox_events", ["next_attempt_at"])


def downgrade():
    op.drop_index("ix_sandbox_events_next_attempt_at", table_name="sandbox_events")
    op.drop_table("sandbox_events")
