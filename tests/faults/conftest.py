"""Fault fixtures: a Redis server of the test's own, which a test may stop and start again."""
import shutil
import socket
import subprocess
import time

import pytest
import redis

from backend import create_app
from backend.ratelimit import limiter
from tests.conftest import BASE_CONFIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process on a port of its own, kept in memory only like production's cache."""

    def __init__(self, port: int):
        self.port, self.process = port, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill the server: everything it held is gone, as after a crash."""
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis():
    """Yield a private Redis server; it is stopped at the end whatever the test did to it."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(_free_port())
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def outage_app(app, backend, own_redis):
    """Return the app on the test's database, with the private Redis as its Redis."""
    faulty = create_app({**BASE_CONFIG, "DATABASE_URL": backend["DATABASE_URL"], "REDIS_URL": own_redis.url})
    yield faulty
    faulty.extensions["db_engine"].dispose()
    limiter.init_app(app)  # the limiter is one object: give its storage back to the suite's app
