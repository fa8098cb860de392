"""The spec a client is generated from: ids, answers, errors, headers, examples, times, 405."""
import re

import pytest

PROBLEM = {"$ref": "#/components/schemas/Problem"}
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json


def _operations(spec):
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in METHODS]


def test_operation_ids_are_camel_case_verbs_and_unique(spec):
    ids = [op["operationId"] for _, _, op in _operations(spec)]
    assert len(ids) == len(set(ids)) > 50
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+|[a-z]+", i) for i in ids), ids
    assert "createBooking" in ids


def test_every_operation_documents_a_success_and_its_errors_as_problems(spec):
    for path, method, op in _operations(spec):
        statuses = op["responses"].keys()
        assert any(s.startswith("2") for s in statuses), (method, path)
        for status in statuses - {s for s in statuses if s.startswith("2")}:
            assert op["responses"][status]["content"] == {"application/problem+json": {"schema": PROBLEM}}, \
                (method, path, status)
        assert "422" in statuses and "503" in statuses
        if op.get("security"):
            assert "401" in statuses, (method, path)
        if "requestBody" in op:
            assert op["requestBody"]["content"]["application/json"].get("example"), (method, path)
            assert {"400", "413"} <= statuses


def test_declared_errors_reach_the_spec(spec):
    create = spec["paths"]["/api/v1/bookings"]["post"]
    assert {"401", "404", "409"} <= create["responses"].keys()
    assert "404 on purpose" in create["responses"]["404"]["description"]
    assert "idempotency_key_reused" in create["responses"]["409"]["description"]
    headers = {p.get("$ref") for p in create["parameters"]}
    assert {"#/components/parameters/IdempotencyKey", "#/components/parameters/AcceptLanguage"} <= headers
    assert "Idempotent-Replayed" in create["responses"]["201"]["headers"]
    assert "403" in spec["paths"]["/api/v1/ops/metrics"]["get"]["responses"]
    assert "Retry-After" in spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"]["headers"]


def test_problem_schema_is_the_one_object_served(spec, client):
    schemas = spec["components"]["schemas"]
    assert "ValidationErrorModel" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail", "code"}
    answer = client.get("/api/v1/sites?lat=91&lon=0")
    assert answer.status_code == 422 and isinstance(answer.json, dict)
    assert answer.json["errors"] == [{"field": "lat", "message": answer.json["errors"][0]["message"],
                                      "type": "less_than_equal"}]


def test_every_operation_has_a_typed_answer(spec):
    untyped = [(method, path) for path, method, op in _operations(spec)
               for status, answer in op["responses"].items() if status.startswith("2") and status != "204"
               for media in answer.get("content", {"": {}}).values()
               if media.get("schema", {}).get("type") not in ("string",) and "$ref" not in media.get("schema", {})]
    assert not untyped
    streams = [path for path, _, op in _operations(spec)
               if "text/event-stream" in op["responses"].get("200", {}).get("content", {})]
    assert sorted(streams) == ["/api/v1/me/stream", "/api/v1/ops/stream", "/api/v1/rides/{ride_id}/events"]


def test_spec_describes_tags_security_and_schemas(spec):
    assert all(tag.get("description") for tag in spec["tags"])
    assert spec["components"]["securitySchemes"]["bearer"]["description"]
    assert "+08:00" in spec["info"]["description"]
    undescribed = [name for name, schema in spec["components"]["schemas"].items() if not schema.get("description")]
    assert not undescribed


def test_wrong_method_names_the_allowed_ones(client):
    answer = client.delete("/api/v1/auth/login")
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(", ")) >= {"POST"}


@pytest.mark.parametrize("moment", ["0.0348", "1764100000", "tomorrow"])
def test_query_times_are_rfc3339_only(client, moment):
    answer = client.get(f"/api/v1/events?from={moment}")
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "from"
