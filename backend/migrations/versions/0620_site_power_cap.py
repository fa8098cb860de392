"""Ordered charging: a site's power cap, fleet sessions' deadlines and energy, command payloads.

Revision ID: 0620_site_power_cap
Revises: 0600_one_head
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0620_site_power_cap"
down_revision = "0600_one_head"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    op.add_column("sites", sa.Column("power_cap_kw", sa.Float, nullable=True))
    op.add_column("charging_sessions", sa.Column("needed_by", sa.DateTime(timezone=True), nullable=True))
    op.add_column("charging_sessions", sa.Column("wanted_wh", sa.Float, nullable=True))
    op.add_column("charger_commands", sa.Column("payload", JSONDoc, nullable=True))


def downgrade():
    with op.batch_alter_table("charger_commands") as batch:
        batch.drop_column("payload")
    with op.batch_alter_table("charging_sessions") as batch:
        batch.drop_column("wanted_wh")
        batch.drop_column("needed_by")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("power_cap_kw")
