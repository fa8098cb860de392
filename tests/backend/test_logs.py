"""Request ids and JSON log lines."""
import io
import json
import logging

from backend import logs


def test_a_request_gets_an_id_and_keeps_a_sane_one_it_was_sent(client):
    fresh = client.get("/health")
    assert len(fresh.headers["X-Request-ID"]) == 32
    kept = client.get("/health", headers={"X-Request-ID": "gw-7f3a.2"})
    assert kept.headers["X-Request-ID"] == "gw-7f3a.2"
    hostile = client.get("/health", headers={"X-Request-ID": "a\" injected=1 " + "x" * 100})
    assert hostile.headers["X-Request-ID"] != "a\" injected=1 " and len(hostile.headers["X-Request-ID"]) == 32


def test_log_lines_are_json_with_time_level_and_request_id(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("INFO")
        out = io.StringIO()
        root.handlers[0].stream = out
        token = logs.request_id.set("req-42")
        logging.getLogger("dispatch").info("tick %s", 7)
        logs.request_id.reset(token)
        line = json.loads(out.getvalue().splitlines()[-1])
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert line["message"] == "tick 7" and line["level"] == "INFO" and line["name"] == "dispatch"
    assert line["request_id"] == "req-42" and line["time"]
