"""Pass/fail thresholds per load profile, read from the environment and enforced through the exit code."""
import json
import os

# The evening's targets: no failures, p95 <= 300 ms for reads and <= 600 ms for writes. The short
# run is a smoke test on a shared CI machine: 1% failures, 1 s for anything. A ride stream's
# positions ("SSE", publish to arrival) arrive within a second (DESIGN's delivery target).
# Nearby availability against the floor (`GET /health`): its throughput at the same concurrency
# at least a fifth of the floor's, its p50 in the mix at most three times the floor's.
PROFILES = {
    "short": {"failures": 0.01, "p95_ms": {"GET": 1000, "*": 1000}, "availability_share": 0.0,
              "availability_p50_vs_floor": None},
    "evening": {"failures": 0.0, "p95_ms": {"GET": 300, "SSE": 1000, "*": 600}, "availability_share": 0.2,
                "availability_p50_vs_floor": 3.0},
}
AVAILABILITY = "GET /api/v1/availability"
FLOOR = "GET /health"


def profile() -> dict:
    """Return the thresholds of LOAD_PROFILE (short unless told)."""
    return PROFILES[os.environ.get("LOAD_PROFILE", "short")]


def max_failure_ratio() -> float:
    """Return the largest tolerated share of failed requests (LOAD_MAX_FAILURE_RATIO overrides)."""
    return float(os.environ.get("LOAD_MAX_FAILURE_RATIO", profile()["failures"]))


def p95_budget(method: str, name: str) -> float:
    """Return the p95 budget of a request: LOAD_P95_MS (JSON by name) first, then by method."""
    overrides = json.loads(os.environ.get("LOAD_P95_MS", "{}"))
    by_method = profile()["p95_ms"]
    return overrides.get(name, by_method.get(method, by_method["*"]))


def breaches(stats) -> list[str]:
    """Return what in locust's stats breaks a threshold (empty when the run passes)."""
    problems = []
    total = stats.total
    if total.num_requests and total.fail_ratio > max_failure_ratio():
        problems.append(f"failure ratio {total.fail_ratio:.3%} > {max_failure_ratio():.3%}")
    for entry in stats.entries.values():
        budget = p95_budget(entry.method, entry.name)
        p95 = entry.get_response_time_percentile(0.95)
        if entry.num_requests and p95 > budget:
            problems.append(f"{entry.method} {entry.name}: p95 {p95:.0f} ms > {budget:.0f} ms")
    return problems


def floor_breaches(mix: list[dict], probes: list[dict]) -> list[str]:
    """Return how nearby availability falls short of the floor (locust CSV rows: the mix, then the probes)."""
    by_name = {f"{row['Type']} {row['Name']}": row for row in mix}
    floor_probe, availability_probe = probes
    problems = []
    share = float(availability_probe["Requests/s"]) / max(float(floor_probe["Requests/s"]), 1e-9)
    if share < profile()["availability_share"]:
        problems.append(f"availability throughput {share:.2f} of the floor's < {profile()['availability_share']}")
    limit = profile()["availability_p50_vs_floor"]
    if limit and AVAILABILITY in by_name and FLOOR in by_name:
        ratio = float(by_name[AVAILABILITY]["50%"]) / max(float(by_name[FLOOR]["50%"]), 1.0)
        if ratio > limit:
            problems.append(f"availability p50 {ratio:.1f}x the floor's > {limit}x")
    return problems
