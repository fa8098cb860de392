"""0610 turns ride and vehicle statuses into enum columns and adds their keys; 0611 the ride's request id."""
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from backend.cli import upgrade_database
from backend.db import make_engine
from tests.conftest import _create_pg_database, _drop_pg_database

BEFORE, AFTER, REQUEST_ID = "0600_one_head", "0610_ride_vehicle_types", "0611_ride_request_id"


@pytest.fixture
def engine(backend, tmp_path):
    """An empty database of the backend, apart from the app's own."""
    if backend["BACKEND"] == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
        yield engine
        engine.dispose()
        return
    name, url = _create_pg_database()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    _drop_pg_database(name)


def _downgrade(engine, revision):
    from alembic import command

    from backend.cli import alembic_config

    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def _fill(engine):
    """A vehicle serving a ride with two events, and a ride whose vehicle row is gone."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisations (id, slug, name_zh, name_en, kind) "
                          "VALUES (1, 'fleet', '车队', 'Fleet', 'fleet')"))
        conn.execute(text("INSERT INTO users (id, email, password_hash, name, created_at) "
                          "VALUES (1, 'r@x.cq', 'x', 'Rider', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO vehicles (id, organisation_id, plate, model, seats, region, status, ride_id, "
                          "created_at) VALUES (7, 1, '渝A0001', 'rt6', 4, 'liangjiang', 'dispatched', 3, "
                          "CURRENT_TIMESTAMP)"))
        for ride_id, vehicle_id in ((3, 7), (4, 99)):
            conn.execute(text(
                "INSERT INTO rides (id, user_id, status, region, pickup_lat, pickup_lon, dropoff_lat, dropoff_lon, "
                "passengers, distance_m, trip_s, quoted_fare_fen, authorised_fen, currency, payment_status, "
                "vehicle_id, requested_at) VALUES (:id, 1, 'assigned', 'liangjiang', 29.7, 106.56, 29.68, 106.55, "
                "1, 2000, 300, 1500, 1500, 'CNY', 'authorised', :vehicle, CURRENT_TIMESTAMP)"),
                {"id": ride_id, "vehicle": vehicle_id})
        for reason in ("requested", "assigned"):
            conn.execute(text("INSERT INTO ride_events (ride_id, status, reason, data, at) "
                              "VALUES (3, :status, :reason, '{}', CURRENT_TIMESTAMP)"),
                         {"status": reason, "reason": reason})


def _rows(engine):
    with engine.connect() as conn:
        return (conn.execute(text("SELECT id, status, ride_id FROM vehicles")).all(),
                conn.execute(text("SELECT id, status, vehicle_id FROM rides ORDER BY id")).all(),
                conn.execute(text("SELECT ride_id, status FROM ride_events ORDER BY id")).all())


def _keys(engine):
    inspector = inspect(engine)
    return {fk["name"]: (fk["referred_table"], fk["options"].get("ondelete"))
            for table in ("rides", "vehicles") for fk in inspector.get_foreign_keys(table)
            if fk["constrained_columns"] in (["vehicle_id"], ["ride_id"])}


def test_upgrade_keeps_rows_and_adds_keys_that_clear_themselves(engine):
    upgrade_database(engine, BEFORE)
    _fill(engine)
    upgrade_database(engine, AFTER)
    vehicles, rides, events = _rows(engine)
    assert vehicles == [(7, "dispatched", 3)]
    assert rides == [(3, "assigned", 7), (4, "assigned", None)]  # the dangling reference is cleared
    assert events == [(3, "requested"), (3, "assigned")]  # not cascaded away by SQLite's table rebuild
    assert _keys(engine) == {"fk_rides_vehicle_id": ("vehicles", "SET NULL"),
                             "fk_vehicles_ride_id": ("rides", "SET NULL")}
    with engine.begin() as conn, pytest.raises(IntegrityError):
        conn.execute(text("UPDATE rides SET vehicle_id = 12345 WHERE id = 3"))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM vehicles WHERE id = 7"))
    assert _rows(engine)[1][0] == (3, "assigned", None)


def test_downgrade_drops_the_keys_and_keeps_rows(engine):
    upgrade_database(engine, BEFORE)
    _fill(engine)
    upgrade_database(engine, AFTER)
    _downgrade(engine, BEFORE)
    assert _keys(engine) == {}
    assert _rows(engine)[2] == [(3, "requested"), (3, "assigned")]
    if engine.dialect.name == "sqlite":  # the rebuild left the connection's foreign keys on
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _ride_columns(engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("rides")}


def test_rides_gain_and_lose_the_request_id_in_place(engine):
    upgrade_database(engine, BEFORE)
    _fill(engine)
    upgrade_database(engine, REQUEST_ID)
    assert "request_id" in _ride_columns(engine)
    _downgrade(engine, AFTER)
    assert "request_id" not in _ride_columns(engine)
    assert _rows(engine)[2] == [(3, "requested"), (3, "assigned")]  # the rides were not rebuilt
