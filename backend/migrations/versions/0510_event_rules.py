"""Events carry a refund policy by time before the start, and remember moving later.

Each event's single cut-off (`refund_until_hours`, a full refund before it) becomes the one
step of its policy, so what holders were promised does not change.

Revision ID: 0510_event_rules
Revises: 0410_vehicle_charging, 0300_events
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from backend.dbtypes import JSONDoc

revision = "0510_event_rules"
# Also after the events branch, whose table this changes.
down_revision = ("0410_vehicle_charging", "0300_events")
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
events = sa.table("events", sa.column("id", sa.Integer), sa.column("refund_until_hours", sa.Integer),
                  sa.column("refund_policy", JSONDoc))


def upgrade():
    op.add_column("events", sa.Column("refund_policy", JSONDoc, nullable=True))
    op.add_column("events", sa.Column("rescheduled_at", Timestamp, nullable=True))
    op.add_column("events", sa.Column("previous_starts_at", Timestamp, nullable=True))
    connection = op.get_bind()
    for event_id, hours in connection.execute(sa.select(events.c.id, events.c.refund_until_hours)).all():
        connection.execute(events.update().where(events.c.id == event_id).values(
            refund_policy=[{"hours_before": hours, "percent": 100}]))
    with op.batch_alter_table("events") as batch:  # SQLite drops columns by copying the table
        batch.alter_column("refund_policy", existing_type=JSONDoc, nullable=False)
        batch.drop_column("refund_until_hours")


def downgrade():
    op.add_column("events", sa.Column("refund_until_hours", sa.Integer, nullable=True))
    connection = op.get_bind()
    for event_id, policy in connection.execute(sa.select(events.c.id, events.c.refund_policy)).all():
        full = [step["hours_before"] for step in policy if step["percent"] == 100]
        connection.execute(events.update().where(events.c.id == event_id).values(
            refund_until_hours=min(full, default=0)))
    with op.batch_alter_table("events") as batch:
        batch.alter_column("refund_until_hours", existing_type=sa.Integer, nullable=False)
        batch.drop_column("previous_starts_at")
        batch.drop_column("rescheduled_at")
        batch.drop_column("refund_policy")
