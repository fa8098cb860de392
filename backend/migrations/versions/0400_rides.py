"""Robotaxi vehicles, rides and ride events.

Revision ID: 0400_rides
Revises: 0001_foundation
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0400_rides"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("plate", sa.String(16), nullable=False, unique=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ride_id", sa.Integer),
        sa.Column("lat", sa.Float), sa.Column("lon", sa.Float), sa.Column("heading", sa.Float),
        sa.Column("speed_mps", sa.Float), sa.Column("soc", sa.Float),
        sa.Column("position_at", Timestamp),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_vehicles_organisation_id", "vehicles", ["organisation_id"])
    op.create_index("ix_vehicles_region_status", "vehicles", ["region", "status"])
    op.create_index("ix_vehicles_lat_lon", "vehicles", ["lat", "lon"])
    op.create_table(
        "rides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("pickup_lat", sa.Float, nullable=False), sa.Column("pickup_lon", sa.Float, nullable=False),
        sa.Column("dropoff_lat", sa.Float, nullable=False), sa.Column("dropoff_lon", sa.Float, nullable=False),
        sa.Column("passengers", sa.Integer, nullable=False),
        sa.Column("distance_m", sa.Integer, nullable=False),
        sa.Column("trip_s", sa.Integer, nullable=False),
        sa.Column("quoted_fare_fen", sa.Integer, nullable=False),
        sa.Column("authorised_fen", sa.Integer, nullable=False),
        sa.Column("fare_fen", sa.Integer),
        sa.Column("cancellation_fee_fen", sa.Integer),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment_status", sa.String(24), nullable=False),
        sa.Column("vehicle_id", sa.Integer),
        sa.Column("pickup_eta_s", sa.Integer),
        sa.Column("requested_at", Timestamp, nullable=False),
        sa.Column("assigned_at", Timestamp), sa.Column("picked_up_at", Timestamp),
        sa.Column("ended_at", Timestamp),
    )
    op.create_index("ix_rides_user_id", "rides", ["user_id"])
    op.create_index("ix_rides_vehicle_id", "rides", ["vehicle_id"])
    op.create_index("ix_rides_region_status", "rides", ["region", "status"])
    op.create_table(
        "ride_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ride_id", sa.Integer, sa.ForeignKey("rides.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("data", JSONDoc, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
    )
    op.create_index("ix_ride_events_ride_id", "ride_events", ["ride_id"])


def downgrade():
    for table in ("ride_events", "rides", "vehicles"):
        op.drop_table(table)
