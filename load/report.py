"""Turn locust's CSV stats into the results table (throughput, percentiles, ratio to the floor) and a chart."""
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
        # a stream's delivery lag is no request: the floor says nothing about it
        ratio = f"{float(row['50%']) / floor_p50:.1f}x" if floor_p50 and row["Type"] != "SSE" else "-"
        lines.append(f"| {row['Type']} {row['Name']} | {row['Request Count']} | "
                     f"{row['Failure Count']} | {float(row['Requests/s']):.1f} | {row['50%']} | "
                     f"{row['95%']} | {row['99%']} | {ratio} |")
    return "\n".join(lines) + "\n"


def probe_table(rows: list[dict], locust_cpu: list[float]) -> str:
    """Render the capacity probes: throughput and percentiles, each as a share of the floor's throughput,
    and the share of a core locust used to make them."""
    floor_rps = float(rows[0]["Requests/s"]) or None
    lines = ["| endpoint | requests | failures | req/s | p50 ms | p95 ms | req/s / floor | locust CPU |",
             "|---|---|---|---|---|---|---|---|"]
    for row, cpu in zip(rows, locust_cpu):
        share = f"{float(row['Requests/s']) / floor_rps:.2f}" if floor_rps else "-"
        lines.append(f"| {row['Type']} {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
                     f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {share} | {cpu:.0%} |")
    return "\n".join(lines) + "\n"


def plot_history(csv_prefix: Path, png: Path, title: str) -> None:
    """Chart the run over time from locust's history: users, requests a second, p50 and p95 of every request."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    from matplotlib import pyplot

    with open(f"{csv_prefix}_stats_history.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    if not rows:
        return
    began = int(rows[0]["Timestamp"])
    seconds = [int(row["Timestamp"]) - began for row in rows]

    def series(column):
        return [float(row[column]) if row[column] not in ("", "N/A") else float("nan") for row in rows]

    figure, (load, latency) = pyplot.subplots(2, 1, sharex=True, figsize=(9, 6))
    load.plot(seconds, series("User Count"), label="users", color="tab:gray")
    load.set_ylabel("users")
    rate = load.twinx()
    rate.plot(seconds, series("Requests/s"), label="requests/s", color="tab:blue")
    rate.plot(seconds, series("Failures/s"), label="failures/s", color="tab:red")
    rate.set_ylabel("per second")
    rate.legend(loc="upper left")
    latency.plot(seconds, series("50%"), label="p50")
    latency.plot(seconds, series("95%"), label="p95")
    latency.set_yscale("log")
    latency.set_ylabel("ms (last 10 s, every request)")
    latency.set_xlabel("seconds since the start")
    latency.legend(loc="upper left")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(png, dpi=80)
    pyplot.close(figure)
