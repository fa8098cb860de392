"""Events, ticket tiers, orders, tickets and waiting lists.

Revision ID: 0300_events
Revises: 0001_foundation
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0300_events"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("venue_site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("title_zh", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("description_zh", sa.String(4000), nullable=False),
        sa.Column("description_en", sa.String(4000), nullable=False),
        sa.Column("refund_until_hours", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("starts_at", Timestamp, nullable=False),
        sa.Column("ends_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_events_organisation_id", "events", ["organisation_id"])
    op.create_index("ix_events_status", "events", ["status"])
    op.create_index("ix_events_starts_at", "events", ["starts_at"])
    op.create_table(
        "ticket_tiers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("name_zh", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("price_fen", sa.Integer, nullable=False),
        sa.Column("quota", sa.Integer, nullable=False),
        sa.Column("per_order_limit", sa.Integer, nullable=False),
        sa.Column("sold", sa.Integer, nullable=False),
        sa.Column("sales_start", Timestamp, nullable=False),
        sa.Column("sales_end", Timestamp, nullable=False),
        sa.CheckConstraint("sold >= 0 AND sold <= quota", name="ck_ticket_tiers_sold"),
    )
    op.create_index("ix_ticket_tiers_event_id", "ticket_tiers", ["event_id"])
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("total_fen", sa.Integer, nullable=False),
        sa.Column("refunded_fen", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    for column in ("user_id", "event_id", "status"):
        op.create_index(f"ix_orders_{column}", "orders", [column])
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("tier_id", sa.Integer, sa.ForeignKey("ticket_tiers.id"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_fen", sa.Integer, nullable=False),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("tier_id", sa.Integer, sa.ForeignKey("ticket_tiers.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("checked_in_at", Timestamp),
    )
    for column in ("order_id", "event_id", "user_id"):
        op.create_index(f"ix_tickets_{column}", "tickets", [column])
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tier_id", sa.Integer, sa.ForeignKey("ticket_tiers.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("offer_order_id", sa.Integer, sa.ForeignKey("orders.id")),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("tier_id", "user_id", name="uq_waitlist_tier_user"),
    )
    op.create_index("ix_waitlist_entries_tier_id", "waitlist_entries", ["tier_id"])


def downgrade():
    for table in ("waitlist_entries", "tickets", "order_items", "orders", "ticket_tiers", "events"):
        op.drop_table(table)
