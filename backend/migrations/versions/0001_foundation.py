"""Foundation: accounts, organisations, sites, resources, car models, service areas.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001_foundation"
down_revision = None
branch_labels = ("foundation",)
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        # btree_gist lets exclusion constraints mix = on ids with && on time ranges.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(32)),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
    )
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("organisation_id", sa.Integer,
                  sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("family_id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp),
        sa.Column("revoked_at", Timestamp),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_geospatial_table(
        "sites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("address_zh", sa.String(300), nullable=False),
        sa.Column("address_en", sa.String(300), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("opening_hours", JSONDoc, nullable=False),
        sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
    )
    op.create_geospatial_index("idx_sites_location", "sites", ["location"],
                               postgresql_using="gist", postgresql_ops={})
    op.create_index("ix_sites_organisation_id", "sites", ["organisation_id"])
    op.create_index("ix_sites_kind", "sites", ["kind"])
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("attributes", JSONDoc, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_resources_site_id", "resources", ["site_id"])
    op.create_table(
        "car_models",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("maker", sa.String(100), nullable=False),
        sa.Column("powertrain", sa.String(8), nullable=False),
        sa.Column("range_km", sa.Integer, nullable=False),
        sa.Column("autonomy_level", sa.String(8), nullable=False),
    )
    op.create_geospatial_table(
        "service_areas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("area", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_geospatial_index("idx_service_areas_area", "service_areas", ["area"],
                               postgresql_using="gist", postgresql_ops={})
    op.create_index("ix_service_areas_region", "service_areas", ["region"])


def downgrade():
    op.drop_index("ix_service_areas_region", "service_areas")
    op.drop_geospatial_index("idx_service_areas_area", "service_areas", column_name="area")
    op.drop_geospatial_table("service_areas")
    op.drop_table("car_models")
    op.drop_table("resources")
    op.drop_geospatial_index("idx_sites_location", "sites", column_name="location")
    op.drop_geospatial_table("sites")
    for table in ("refresh_tokens", "memberships", "user_roles", "users", "organisations"):
        op.drop_table(table)
