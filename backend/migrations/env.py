"""Alembic environment: runs on the connection the app hands over (see backend.cli)."""
from alembic import context
from geoalchemy2 import alembic_helpers  # noqa: F401  registers create_geospatial_table & co.

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    include_object=alembic_helpers.include_object,
    process_revision_directives=alembic_helpers.writer,
    render_item=alembic_helpers.render_item,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
