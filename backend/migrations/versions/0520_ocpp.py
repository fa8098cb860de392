"""Chargers on the line: charge points, connectors' live state, charging sessions, commands.

Revision ID: 0520_ocpp
Revises: 0410_vehicle_charging, 0200_bookings
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0520_ocpp"
down_revision = ("0410_vehicle_charging", "0200_bookings")  # merges: needs bookings and outages
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "charge_points",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("identity", sa.String(48), nullable=False, unique=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("protocol", sa.String(16)),
        sa.Column("vendor", sa.String(50)),
        sa.Column("model", sa.String(50)),
        sa.Column("booted_at", Timestamp),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(100)),
        sa.Column("last_seen_at", Timestamp),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_charge_points_site_id", "charge_points", ["site_id"])
    op.create_index("ix_charge_points_owner", "charge_points", ["owner"])
    op.create_table(
        "charge_connectors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("charge_point_id", sa.Integer, sa.ForeignKey("charge_points.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_at", Timestamp),
        sa.Column("faults", JSONDoc, nullable=False),
        sa.Column("outage_id", sa.Integer, sa.ForeignKey("outages.id", ondelete="SET NULL")),
        sa.UniqueConstraint("charge_point_id", "evse_id", "connector_id", name="uq_charge_connectors_plug"),
    )
    op.create_index("ix_charge_connectors_charge_point_id", "charge_connectors", ["charge_point_id"])
    op.create_table(
        "charging_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connector_id", sa.Integer, sa.ForeignKey("charge_connectors.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id"), unique=True),
        sa.Column("id_token", sa.String(20)),
        sa.Column("reservation", sa.String(16)),
        sa.Column("remote_start", sa.String(16)),
        sa.Column("transaction_id", sa.String(36)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", Timestamp),
        sa.Column("last_energy_at", Timestamp),
        sa.Column("ended_at", Timestamp),
        sa.Column("unplugged_at", Timestamp),
        sa.Column("meter_start_wh", sa.Float),
        sa.Column("meter_wh", sa.Float),
        sa.Column("power_w", sa.Float),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_index("ix_charging_sessions_connector_id", "charging_sessions", ["connector_id"])
    op.create_index("ix_charging_sessions_id_token", "charging_sessions", ["id_token"])
    op.create_index("ix_charging_sessions_transaction", "charging_sessions", ["connector_id", "transaction_id"])
    op.create_table(
        "charger_commands",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("charge_point_id", sa.Integer, sa.ForeignKey("charge_points.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("charging_sessions.id", ondelete="CASCADE")),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.String(200)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("answered_at", Timestamp),
    )
    op.create_index("ix_charger_commands_pending", "charger_commands", ["status", "charge_point_id"])


def downgrade():
    op.drop_table("charger_commands")
    op.drop_table("charging_sessions")
    op.drop_table("charge_connectors")
    op.drop_table("charge_points")
