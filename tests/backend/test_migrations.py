"""Alembic builds the whole schema on an empty database of each backend."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from backend.cli import alembic_config


def test_every_model_table_is_created_by_migrations(app):
    engine = app.extensions["db_engine"]
    existing = set(inspect(engine).get_table_names())
    missing = {t.name for t in SQLModel.metadata.sorted_tables} - existing
    assert not missing, f"tables without a migration: {missing}"


def test_database_is_at_every_head(app):
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with app.extensions["db_engine"].connect() as conn:
        applied = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    assert applied == heads


def test_spatial_index_exists(app):
    engine = app.extensions["db_engine"]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            found = conn.execute(text(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'sites' "
                "AND indexdef ILIKE '%USING gist%'")).scalar()
        else:
            found = conn.execute(text(
                "SELECT count(*) FROM geometry_columns WHERE f_table_name = 'sites' "
                "AND spatial_index_enabled = 1")).scalar()
    assert found == 1


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """Compare only the app's own tables and indexes, not SpatiaLite's or PostGIS's."""
    if type_ == "table":
        return name in SQLModel.metadata.tables
    table = getattr(obj, "table", None)
    return table is None or table.name in SQLModel.metadata.tables


def test_migrations_build_exactly_what_the_models_declare(app):
    engine = app.extensions["db_engine"]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ours, "compare_type": True})
        drift = [d for d in compare_metadata(context, SQLModel.metadata) if not _spatial_index(d)]
    assert drift == []


def _spatial_index(diff) -> bool:
    # Spatial indexes are made by the geometry column's own DDL (gist / SpatiaLite R*Tree).
    return diff[0] in ("add_index", "remove_index") and diff[1].name.startswith("idx_")
