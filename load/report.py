"""Turn locust's CSV stats into the results table: throughput, percentiles, ratio to the floor."""
import csv
from pathlib import Path

FLOOR_NAME = "GET /health"  # method and name, as locust reports them


def read_stats(csv_prefix: Path) -> list[dict]:
    """Return locust's per-request rows (without the aggregate)."""
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]
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
