"""Database engine and per-request sessions for SQLite/SpatiaLite and PostgreSQL/PostGIS."""
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from flask import current_app, g
from geoalchemy2.admin.dialects.sqlite import load_spatialite
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, create_engine

# Debian's name for the SpatiaLite module; the loader finds it on the library path.
os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")


# A pooled connection idle this long is pinged before use; one in steady use is not.
PING_AFTER_IDLE_S = 1.0
_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _sqlite_module():
    """Return a sqlite3 module that can load extensions (pyenv builds cannot)."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    import pysqlite3.dbapi2

    return pysqlite3.dbapi2


def _configure_sqlite(engine: Engine) -> None:
    """Load SpatiaLite on every connection and let callers ask for BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Take transaction control from the driver so BEGIN can be chosen per transaction.
        dbapi_conn.isolation_level = None
        load_spatialite(dbapi_conn, transaction=True, init_mode="WGS84")
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # A write transaction takes the database lock up front, so check-then-insert is atomic.
        immediate = bool(conn.get_execution_options().get("sqlite_immediate"))
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        conn.info["sqlite_immediate"] = immediate

    @event.listens_for(engine, "before_cursor_execute")
    def _upgrade_to_writer(conn, cursor, statement, _params, _context, _many):
        # A deferred reader that starts writing after another writer committed would fail at
        # once with "database is locked" (its snapshot is stale). Instead end the read-only part
        # and continue as a writer: the READ COMMITTED behaviour PostgreSQL gives by default.
        # Rules that need check-and-write atomicity use write_transaction().
        if conn.info.get("sqlite_immediate", True) or not _WRITES.match(statement):
            return
        cursor.execute("COMMIT")
        cursor.execute("BEGIN IMMEDIATE")
        conn.info["sqlite_immediate"] = True


def make_engine(url: str) -> Engine:
    """Create the engine for a database URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Writers queue on SQLite's lock while holding a connection: allow as many connections
        # as a rush of requests can bring, since SQLite's are cheap.
        engine = create_engine(
            url,
            module=_sqlite_module(),
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=32, max_overflow=256, pool_timeout=60,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Let the pool drop connections a PostgreSQL restart has cut, pinging only those that sat idle.

    pool_pre_ping would ping on every checkout: a round trip each, and a write request checks
    out once per transaction. A connection checked in less than PING_AFTER_IDLE_S ago was
    working then; should the server have gone since, the request fails as an in-flight one
    would, and the disconnect invalidates the pool for the next.
    """

    @event.listens_for(engine, "checkin")
    def _rest(_dbapi_conn, record):
        record.info["rested_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy):
        rested_at = record.info.get("rested_at")  # none on a new connection: nothing to ping
        if rested_at is None or time.monotonic() - rested_at < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as cut:
            # Every connection opened before the restart is dead too: reconnect them all.
            raise exc.InvalidatePoolError() from cut


def get_engine() -> Engine:
    """Return the current app's engine."""
    return current_app.extensions["db_engine"]


def get_session() -> Session:
    """Return the session of the current request, opening it on first use."""
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def reads_on_their_own(session: Session) -> Session:
    """Let a session that has not begun run each statement as its own transaction (autocommit).

    For a session that only reads until it closes or commits: a search needs neither BEGIN nor
    ROLLBACK, two of its three round trips to PostgreSQL, and under load each round trip is a wait
    for the interpreter's lock. Statements under READ COMMITTED see their own snapshot anyway. A
    session already in a transaction keeps it; after a commit the next transaction is ordinary.
    """
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session


@contextmanager
def write_transaction(session: Session):
    """Run a block as one serialized write transaction and commit it.

    On SQLite this is BEGIN IMMEDIATE (one writer at a time); on PostgreSQL an ordinary
    transaction whose guarantees come from constraints and row locks.
    """
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={"sqlite_immediate": True})
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise


@contextmanager
def unique_or(conflict: Exception):
    """Raise `conflict` when the block breaks a unique rule, as a racing duplicate insert does.

    A check before the insert answers the common case; this answers the two requests that
    passed the check together, which the database's unique index tells apart.
    """
    try:
        yield
    except IntegrityError as exc:
        raise conflict from exc


@event.listens_for(Session, "do_orm_execute")
def _lock_reads_afresh(state) -> None:
    """Read a row locked FOR UPDATE as it is now, not as this session last saw it.

    Sessions keep their objects across commits (expire_on_commit=False), and a query returns an
    object already in the session with the attributes it had: without this, a lock taken to decide
    on a row (a payment's news on its booking or order) would decide on what the request saw before
    another transaction changed it.
    """
    # Select keeps its FOR UPDATE clause in _for_update_arg; no public accessor says whether it has one.
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)


def _close_session(_exc):
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app) -> None:
    """Create the engine and close each request's session when it ends."""
    app.extensions["db_engine"] = make_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_session)
