"""A ride keeps the request id of the call that created it: the dispatcher logs its assignment under it.

Revision ID: 0611_ride_request_id
Revises: 0610_ride_vehicle_types
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0611_ride_request_id"
down_revision = "0610_ride_vehicle_types"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("rides", sa.Column("request_id", sa.String(64), nullable=True))


def downgrade():
    # In place on SQLite too (3.35+): rebuilding rides would cascade into ride_events.
    op.drop_column("rides", "request_id")
