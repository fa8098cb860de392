"""Payments are recorded before the provider is asked: the provider's id may be missing for a while.

Revision ID: 0640_payment_intent_first
Revises: 0600_one_head
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0640_payment_intent_first"
down_revision = "0600_one_head"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    with op.batch_alter_table("payments") as batch:
        batch.alter_column("gateway_payment_id", existing_type=sa.String(255), nullable=True)
        batch.add_column(sa.Column("provider_request", JSONDoc, nullable=True))


def downgrade():
    op.execute("DELETE FROM payments WHERE gateway_payment_id IS NULL")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("provider_request")
        batch.alter_column("gateway_payment_id", existing_type=sa.String(255), nullable=False)
