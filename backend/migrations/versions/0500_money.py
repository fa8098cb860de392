"""Money that cannot leak: payment instructions (the outbox of captures, cancels and refunds),
the wallet (provider customers, saved payment methods, the sandbox's saved cards), and
Idempotency-Key claims kept in the database.

Revision ID: 0500_money
Revises: 0410_vehicle_charging
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0500_money"
# Also after 0100_payments, whose table the instructions refer to (a merge of the two branches).
down_revision = ("0410_vehicle_charging", "0100_payments")
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "payment_instructions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("payment_id", sa.Integer, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Integer),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("done_at", Timestamp),
    )
    op.create_index("ix_payment_instructions_payment_id", "payment_instructions", ["payment_id"])
    op.create_index("ix_payment_instructions_due", "payment_instructions", ["state", "next_attempt_at"])

    op.create_table(
        "payment_customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("gateway", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("default_method_id", sa.Integer),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("user_id", "gateway", name="uq_payment_customers_user_gateway"),
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("gateway", sa.String(16), nullable=False),
        sa.Column("gateway_method_id", sa.String(255), nullable=False, unique=True),
        sa.Column("brand", sa.String(32), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_payment_methods_user_id", "payment_methods", ["user_id"])
    op.create_table(
        "sandbox_cards",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("brand", sa.String(32), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("declines", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_table(
        "idempotency_claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("mimetype", sa.String(100)),
        sa.Column("body", sa.Text),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("owner", "key", name="uq_idempotency_claims_owner_key"),
    )


def downgrade():
    for table in ("idempotency_claims", "sandbox_cards", "payment_methods", "payment_customers", "payment_instructions"):
        op.drop_table(table)
