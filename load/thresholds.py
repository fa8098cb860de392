"""Pass/fail thresholds read from the environment and enforced through locust's exit code."""
import json
import os

# Default p95 budgets in milliseconds per request name; LOAD_P95_MS overrides any of them as JSON.
DEFAULT_P95_MS = {"*": 1000}


def max_failure_ratio() -> float:
    """Return the largest tolerated share of failed requests (LOAD_MAX_FAILURE_RATIO)."""
    return float(os.environ.get("LOAD_MAX_FAILURE_RATIO", "0.01"))


def p95_budgets() -> dict[str, float]:
    """Return p95 budgets per request name, '*' being the default."""
    return {**DEFAULT_P95_MS, **json.loads(os.environ.get("LOAD_P95_MS", "{}"))}


def breaches(stats) -> list[str]:
    """Return what in locust's stats breaks a threshold (empty when the run passes)."""
    problems = []
    total = stats.total
    if total.num_requests and total.fail_ratio > max_failure_ratio():
        problems.append(f"failure ratio {total.fail_ratio:.3%} > {max_failure_ratio():.3%}")
    budgets = p95_budgets()
    for entry in stats.entries.values():
        budget = budgets.get(entry.name, budgets["*"])
        p95 = entry.get_response_time_percentile(0.95)
        if entry.num_requests and p95 > budget:
            problems.append(f"{entry.method} {entry.name}: p95 {p95:.0f} ms > {budget:.0f} ms")
    return problems
