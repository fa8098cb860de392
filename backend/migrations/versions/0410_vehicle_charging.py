"""Vehicles remember the charging slot booked for them and where they are heading to use it.

The booking id is a plain reference: dispatch knows bookings only through the charging desk.

Revision ID: 0410_vehicle_charging
Revises: 0400_rides
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0410_vehicle_charging"
down_revision = "0400_rides"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("vehicles", sa.Column("charge_booking_id", sa.Integer, nullable=True))
    op.add_column("vehicles", sa.Column("target_lat", sa.Float, nullable=True))
    op.add_column("vehicles", sa.Column("target_lon", sa.Float, nullable=True))


def downgrade():
    with op.batch_alter_table("vehicles") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("target_lon")
        batch.drop_column("target_lat")
        batch.drop_column("charge_booking_id")
