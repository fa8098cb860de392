"""Flask CLI commands: `flask db upgrade` (Alembic) and `flask seed`."""
from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import current_app
from flask.cli import AppGroup

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


def alembic_config(connection=None) -> Config:
    """Return an Alembic config for the app's database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade_database(engine, revision: str = "heads") -> None:
    """Apply migrations up to the revision on the engine's database."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


@db_cli.command("upgrade")
@click.argument("revision", default="heads")
def upgrade(revision):
    """Apply migrations (all heads by default)."""
    upgrade_database(current_app.extensions["db_engine"], revision)
    click.echo(f"database upgraded to {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def downgrade(revision):
    """Revert migrations down to a revision."""
    with current_app.extensions["db_engine"].begin() as connection:
        command.downgrade(alembic_config(connection), revision)
    click.echo(f"database downgraded to {revision}")


@click.command("seed")
def seed():
    """Load the Chongqing demo (idempotent: existing demo rows are kept)."""
    from sqlmodel import Session

    from backend.seed.loader import load_demo

    with Session(current_app.extensions["db_engine"]) as session:
        counts = load_demo(session)
    click.echo("seeded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def init_app(app) -> None:
    """Register the commands."""
    app.cli.add_command(db_cli)
    app.cli.add_command(seed)
