"""Every error is problem+json with a stable code, never HTML."""
import pytest

from backend import create_app
from tests.conftest import BASE_CONFIG


def _is_problem(answer, status, code):
    assert answer.status_code == status
    assert answer.content_type == "application/problem+json"
    assert answer.json["code"] == code
    assert answer.json["status"] == status
    assert {"type", "title", "detail"} <= answer.json.keys()


def test_unknown_route_is_problem_json(client):
    _is_problem(client.get("/no/such/path"), 404, "not_found")


def test_wrong_method_is_problem_json(client):
    _is_problem(client.delete("/api/v1/auth/login"), 405, "method_not_allowed")


def test_malformed_json_is_problem_json(client):
    answer = client.post("/api/v1/auth/login", data="{not json",
                         headers={"Content-Type": "application/json"})
    _is_problem(answer, 400, "malformed_json")


def test_body_over_limit_is_413(app, client):
    answer = client.post("/api/v1/auth/login", data="x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                         headers={"Content-Type": "application/json"})
    _is_problem(answer, 413, "payload_too_large")


def test_validation_error_names_the_field(client):
    answer = client.post("/api/v1/auth/register", json={"email": "nope", "password": 5})
    _is_problem(answer, 422, "validation_error")
    fields = {e["field"] for e in answer.json["errors"]}
    assert {"email", "password", "name"} <= fields


def test_unexpected_error_is_500_problem(backend):
    # A fresh app: routes cannot be added to one that has served requests.
    app = create_app({**BASE_CONFIG, **backend})

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("kaboom")

    answer = app.test_client().get("/boom-for-test")
    _is_problem(answer, 500, "internal_error")
    assert "kaboom" not in answer.get_data(as_text=True)


@pytest.mark.parametrize("language,title", [("en", "Not found"), ("zh-CN", "未找到"),
                                            ("en-GB,en;q=0.8", "Not found")])
def test_accept_language_picks_error_title(client, language, title):
    answer = client.get("/nowhere", headers={"Accept-Language": language})
    assert answer.json["title"] == title


def test_health_ready_metrics_and_docs(client):
    assert client.get("/health").json == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json["checks"] == {"database": "ok", "redis": "ok"}
    assert b"http_requests_total" in client.get("/metrics").data
    spec = client.get("/openapi.json").json
    assert "/api/v1/sites" in spec["paths"] and spec["openapi"].startswith("3.1")
    docs = client.get("/docs", follow_redirects=True)
    assert docs.status_code == 200
    page = docs.get_data(as_text=True)
    assert "swagger" in page.lower() and "cdn" not in page.lower()
