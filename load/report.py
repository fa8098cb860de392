"""Turn locust's CSV stats into the results table: throughput, percentiles, ratio to the floor."""
import csv
from pathlib import Path

FLOOR_NAME = "GET /health"  # method and name, as locust reports them


def read_stats(csv_prefix: Path) -> list[dict]:
    """Return locust's per-request rows that saw requests (without the aggregate)."""
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        # Requests made only before the stats were reset (sign-ins at start) leave empty rows.
        rows = [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated" and int(row["Request Count"])]
    return rows


def results_table(rows: list[dict]) -> str:
    """Render a Markdown table with p50/p95/p99 and each p50 as a multiple of the floor's."""
    floor = next((r for r in rows if f"{r['Type']} {r['Name']}" == FLOOR_NAME), None)
    floor_p50 = float(floor["50%"]) if floor else None
    lines = ["| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms | p50 / floor |",
             "|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r["Name"], r["Type"])):
        ratio = f"{float(row['50%']) / floor_p50:.1f}x" if floor_p50 else "-"
        lines.append(f"| {row['Type']} {row['Name']} | {row['Request Count']} | "
                     f"{row['Failure Count']} | {float(row['Requests/s']):.1f} | {row['50%']} | "
                     f"{row['95%']} | {row['99%']} | {ratio} |")
    return "\n".join(lines) + "\n"


def probe_table(rows: list[dict]) -> str:
    """Render the capacity probes: throughput and percentiles, each as a share of the floor's throughput."""
    floor_rps = float(rows[0]["Requests/s"]) or None
    lines = ["| endpoint | requests | failures | req/s | p50 ms | p95 ms | req/s / floor |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        share = f"{float(row['Requests/s']) / floor_rps:.2f}" if floor_rps else "-"
        lines.append(f"| {row['Type']} {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
                     f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {share} |")
    return "\n".join(lines) + "\n"
