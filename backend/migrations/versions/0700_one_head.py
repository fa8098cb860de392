"""One head again: ride types, site power caps, booked rides and intent-first payments were built side by side.

Revision ID: 0700_one_head
Revises: 0611_ride_request_id, 0620_site_power_cap, 0630_booked_rides, 0640_payment_intent_first
"""

revision = "0700_one_head"
down_revision = ("0611_ride_request_id", "0620_site_power_cap", "0630_booked_rides", "0640_payment_intent_first")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to change: this revision only joins the branches."""
