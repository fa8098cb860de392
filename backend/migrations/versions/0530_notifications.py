"""Notifications (inbox, per-kind preferences, devices, push deliveries); tickets remember their gate.

Revision ID: 0530_notifications
Revises: 0410_vehicle_charging, 0300_events
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0530_notifications"
# Also after the events branch: this revision changes the tickets table.
down_revision = ("0410_vehicle_charging", "0300_events")
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def _user():
    return sa.ForeignKey("users.id", ondelete="CASCADE")


def upgrade():
    op.add_column("tickets", sa.Column("checked_in_gate", sa.String(40), nullable=True))
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, _user(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title_zh", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("body_zh", sa.String(1000), nullable=False),
        sa.Column("body_en", sa.String(1000), nullable=False),
        sa.Column("data", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("dedupe_key", sa.String(100), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("read_at", Timestamp, nullable=True),
    )
    op.create_index("ix_notifications_user_created", "notifications", ["user_id", "created_at", "id"])
    op.create_index("ix_notifications_user_dedupe", "notifications", ["user_id", "dedupe_key"])
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer, _user(), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("inbox", sa.Boolean, nullable=False),
        sa.Column("push", sa.Boolean, nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, _user(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("address", sa.String(1000), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("user_id", "provider", "address", name="uq_devices_user_address"),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "push_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("notification_id", sa.Integer, sa.ForeignKey("notifications.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("delivered_at", Timestamp, nullable=True),
    )
    op.create_index("ix_push_deliveries_notification_id", "push_deliveries", ["notification_id"])
    op.create_index("ix_push_deliveries_due", "push_deliveries", ["status", "next_attempt_at"])


def downgrade():
    for table in ("push_deliveries", "devices", "notification_preferences", "notifications"):
        op.drop_table(table)
    with op.batch_alter_table("tickets") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("checked_in_gate")
