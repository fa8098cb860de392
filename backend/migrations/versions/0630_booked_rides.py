"""Rides booked ahead: when the rider wants to be picked up, and when the ride went to dispatch.

The index serves the release job and the capacity check: a region's booked rides by pickup time.

Revision ID: 0630_booked_rides
Revises: 0600_one_head
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0630_booked_rides"
down_revision = "0600_one_head"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.add_column("rides", sa.Column("pickup_at", Timestamp, nullable=True))
    op.add_column("rides", sa.Column("released_at", Timestamp, nullable=True))
    op.create_index("ix_rides_region_pickup_at", "rides", ["region", "pickup_at"])


def downgrade():
    op.drop_index("ix_rides_region_pickup_at", table_name="rides")
    with op.batch_alter_table("rides") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("released_at")
        batch.drop_column("pickup_at")
