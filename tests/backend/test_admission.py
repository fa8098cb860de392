"""A process serves a bounded number of requests at once; the others wait their turn or hear 503."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from backend import admission


def test_a_request_given_no_turn_in_time_is_told_to_come_back(app, client, monkeypatch):
    turns = app.extensions["admission"].turns
    monkeypatch.setattr(admission, "REQUEST_WAIT_S", 0.2)
    held = [turns.acquire(timeout=1) for _ in range(app.config["REQUESTS_AT_ONCE"])]
    try:
        refused = client.get("/health")
    finally:
        for _ in held:
            turns.release()
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.json["code"] == "database_busy"
    assert client.get("/health").status_code == 200


def test_concurrent_clients_are_served_two_at_a_time_and_all_answered(app, live_server, monkeypatch):
    door = app.extensions["admission"]
    inside, most, lock = 0, 0, threading.Lock()
    serve = door.wsgi_app

    def slow_app(environ, start_response):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.1)  # long enough for the other clients to arrive meanwhile
        try:
            return serve(environ, start_response)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(door, "turns", threading.BoundedSemaphore(2))
    monkeypatch.setattr(door, "wsgi_app", slow_app)
    with ThreadPoolExecutor(8) as clients:
        answers = list(clients.map(lambda _: requests.get(f"{live_server}/health", timeout=10).status_code, range(16)))
    assert answers == [200] * 16
    assert most == 2
