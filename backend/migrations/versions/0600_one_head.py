"""One head again: money, event rules, chargers and notifications were built side by side.

Revision ID: 0600_one_head
Revises: 0500_money, 0510_event_rules, 0520_ocpp, 0530_notifications
"""

revision = "0600_one_head"
down_revision = ("0500_money", "0510_event_rules", "0520_ocpp", "0530_notifications")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to change: this revision only joins the branches."""
