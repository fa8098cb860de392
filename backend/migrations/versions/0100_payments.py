"""Payments, their ledger, webhook events seen, and the sandbox provider's state.

Revision ID: 0100_payments
Revises: 0001_foundation
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0100_payments"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("payable_type", sa.String(16), nullable=False),
        sa.Column("payable_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("gateway", sa.String(16), nullable=False),
        sa.Column("gateway_payment_id", sa.String(255), nullable=False, unique=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("capture_method", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("amount_captured", sa.Integer, nullable=False),
        sa.Column("amount_refunded", sa.Integer, nullable=False),
        sa.Column("client_secret", sa.String(255)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_index("ix_payments_user_id", "payments", ["user_id"])
    op.create_index("ix_payments_status", "payments", ["status"])
    op.create_index("ix_payments_payable", "payments", ["payable_type", "payable_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("payment_id", sa.Integer, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("payable_type", sa.String(16), nullable=False),
        sa.Column("payable_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_ledger_entries_payment_id", "ledger_entries", ["payment_id"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
    )
    op.create_table(
        "sandbox_intents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("capture_method", sa.String(16), nullable=False),
        sa.Column("amount_received", sa.Integer, nullable=False),
        sa.Column("client_secret", sa.String(128), nullable=False),
        sa.Column("details", JSONDoc, nullable=False),
        sa.Column("refunds", JSONDoc, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )


def downgrade():
    for table in ("sandbox_intents", "webhook_events", "ledger_entries", "payments"):
        op.drop_table(table)
