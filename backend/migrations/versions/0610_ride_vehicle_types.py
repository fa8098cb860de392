"""Ride and vehicle statuses become enum columns; rides and vehicles point at each other by foreign key.

The statuses stay VARCHAR (as every enum column of the platform), widened to the length the
enum type declares. A ride's vehicle and a vehicle's ride are foreign keys that clear
themselves when the row they point at is deleted. References already dangling are cleared
first, so the keys can be added to a database that has data.

SQLite rebuilds a table to add a key: it drops the old one, and with foreign keys on that drop
would cascade into ride_events. The rebuild runs with them off and checks them before it ends.

Revision ID: 0610_ride_vehicle_types
Revises: 0600_one_head
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0610_ride_vehicle_types"
down_revision = "0600_one_head"
branch_labels = None
depends_on = None

# The tables whose status becomes an enum column; the first two also get a key each.
TABLES = ("vehicles", "rides", "ride_events")
KEYS = {"rides": ("fk_rides_vehicle_id", "vehicle_id", "vehicles"),
        "vehicles": ("fk_vehicles_ride_id", "ride_id", "rides")}


def _sqlite_foreign_keys(on: bool) -> None:
    """Switch SQLite's foreign keys, which only changes between transactions."""
    bind = op.get_bind()
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    bind.exec_driver_sql("BEGIN IMMEDIATE")


def _rebuild(change) -> None:
    """Apply `change(table, batch)` to each table, on SQLite without cascading deletes."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(False)
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            change(table, batch)
    if sqlite:
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
        _sqlite_foreign_keys(True)


def upgrade():
    op.execute("UPDATE rides SET vehicle_id = NULL WHERE vehicle_id IS NOT NULL "
               "AND vehicle_id NOT IN (SELECT id FROM vehicles)")
    op.execute("UPDATE vehicles SET ride_id = NULL WHERE ride_id IS NOT NULL "
               "AND ride_id NOT IN (SELECT id FROM rides)")

    def change(table, batch):
        batch.alter_column("status", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False)
        if table in KEYS:
            name, column, target = KEYS[table]
            batch.create_foreign_key(name, target, [column], ["id"], ondelete="SET NULL")
    _rebuild(change)


def downgrade():
    def change(table, batch):
        if table in KEYS:
            batch.drop_constraint(KEYS[table][0], type_="foreignkey")
        batch.alter_column("status", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False)
    _rebuild(change)
