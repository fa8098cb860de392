"""Fixtures: the app on each backend (SQLite/SpatiaLite + fakeredis, PostgreSQL/PostGIS + Redis).

Each backend gets a fresh database, migrated once per session, emptied after every test.
Outside CI a PostgreSQL that does not answer is skipped loudly; under CI=true it fails.
"""
import os
import threading
import uuid

import psycopg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel
from werkzeug.serving import make_server

from backend import create_app
from backend.cli import upgrade_database
from backend.ratelimit import limiter

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
SKIPPED = []

BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
    "LOGIN_RATE_LIMIT": "1000 per minute",
    "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
    "REGISTER_RATE_LIMIT": "1000 per minute",
    "STRIPE_API_KEY": None,
}


def _postgres_unavailable() -> str | None:
    """Return why PostgreSQL or Redis cannot serve the second half, or None."""
    try:
        with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"),
                             connect_timeout=3) as conn:
            available = conn.execute(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'").fetchone()[0]
        if not available:
            return "PostGIS is not installed on the PostgreSQL server"
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3).ping()
    except (psycopg.Error, redis.RedisError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _create_pg_database() -> tuple[str, str]:
    name = f"cq_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    return name, url


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request, tmp_path_factory):
    """Yield test settings for a freshly migrated database of one backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        yield {"DATABASE_URL": f"sqlite:///{path}", "REDIS_URL": None, "BACKEND": "sqlite"}
        return
    reason = _postgres_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true needs PostgreSQL+PostGIS and Redis: {reason}")
        SKIPPED.append(reason)
        pytest.skip(f"PostgreSQL/PostGIS half skipped: {reason}")
    name, url = _create_pg_database()
    yield {"DATABASE_URL": url, "REDIS_URL": REDIS_TEST_URL, "BACKEND": "postgres"}
    _drop_pg_database(name)


@pytest.fixture(scope="session")
def app(backend):
    """Return the app bound to the backend, with the schema migrated."""
    application = create_app({**BASE_CONFIG, **backend})
    upgrade_database(application.extensions["db_engine"])
    yield application
    application.extensions["db_engine"].dispose()


def _empty_tables(app) -> None:
    engine = app.extensions["db_engine"]
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Empty the database and Redis after each test that used the app."""
    yield
    if "app" in request.fixturenames:
        application = request.getfixturevalue("app")
        _empty_tables(application)
        application.extensions["redis"].flushdb()
        limiter.reset()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app):
    with Session(app.extensions["db_engine"], expire_on_commit=False) as db_session:
        yield db_session


@pytest.fixture
def live_server(app):
    """Serve the app on a free loopback port with a thread per request; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def pytest_terminal_summary(terminalreporter):
    if SKIPPED:
        terminalreporter.write_sep("!", "POSTGRESQL/POSTGIS BACKEND SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"reason: {SKIPPED[0]}")
        terminalreporter.write_line("Set TEST_DATABASE_URL to a PostgreSQL with PostGIS to run it.")
