"""Bookings of resource slots and resource outages.

Revision ID: 0200_bookings
Revises: 0001_foundation
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0200_bookings"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id"), nullable=False),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("start_at", Timestamp, nullable=False),
        sa.Column("end_at", Timestamp, nullable=False),
        sa.Column("blocked_until", Timestamp, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("exclusive", sa.Boolean, nullable=False),
        sa.Column("hold_expires_at", Timestamp),
        sa.Column("price_fen", sa.Integer, nullable=False),
        sa.Column("final_price_fen", sa.Integer),
        sa.Column("fee_fen", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("settlement", JSONDoc, nullable=False),
        sa.Column("disrupted", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("end_at > start_at", name="ck_bookings_period"),
        sa.CheckConstraint("quantity >= 1", name="ck_bookings_quantity"),
    )
    op.create_index("ix_bookings_user_id", "bookings", ["user_id"])
    op.create_index("ix_bookings_site_id", "bookings", ["site_id"])
    op.create_index("ix_bookings_status", "bookings", ["status"])
    op.create_index("ix_bookings_resource_period", "bookings", ["resource_id", "start_at"])
    if op.get_bind().dialect.name == "postgresql":
        # The database itself refuses two live bookings of one capacity-1 resource that overlap.
        op.execute("ALTER TABLE bookings ADD CONSTRAINT bookings_no_double_booking "
                   "EXCLUDE USING gist (resource_id WITH =, "
                   "tstzrange(start_at, blocked_until, '[)') WITH &&) WHERE (active AND exclusive)")
    op.create_table(
        "outages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("start_at", Timestamp, nullable=False),
        sa.Column("end_at", Timestamp, nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_outages_resource_id", "outages", ["resource_id"])


def downgrade():
    op.drop_table("outages")
    op.drop_table("bookings")
