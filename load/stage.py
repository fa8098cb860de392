"""A scratch PostgreSQL/PostGIS database with the Chongqing demo, and a Redis db, for load runs and profiles."""
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def flask(env: dict, *args: str) -> None:
    """Run a `flask --app wsgi` command with the given environment."""
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True)


@contextmanager
def seeded_database(prefix: str):
    """Yield the environment of a freshly migrated and seeded database; drop it afterwards.

    LOAD_DATABASE_URL is an admin URL of the PostgreSQL server, LOAD_REDIS_URL the Redis db
    (flushed first).
    """
    admin = os.environ.get("LOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_url = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/13")
    redis.Redis.from_url(redis_url).flushdb()
    env = {**os.environ, "DATABASE_URL": make_url(admin).set(database=name).render_as_string(hide_password=False),
           "REDIS_URL": redis_url, "SECRET_KEY": uuid.uuid4().hex * 2, "STRIPE_API_KEY": "",
           "LOGIN_RATE_LIMIT": "100000 per minute", "LOGIN_ACCOUNT_RATE_LIMIT": "100000 per minute",
           "REGISTER_RATE_LIMIT": "100000 per minute"}
    try:
        flask(env, "db", "upgrade")
        flask(env, "seed")
        yield env
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
