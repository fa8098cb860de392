"""`flask dispatch run` (the dispatcher process) and `flask dispatch simulate` (policies compared)."""
import json
import os
import signal
import socket
import sys
import threading
from dataclasses import asdict

import click
import prometheus_client
from flask import current_app
from flask.cli import AppGroup

from robotaxi_dispatch import quality, streams
from robotaxi_dispatch.console.live import ConsolePublisher
from robotaxi_dispatch.dispatcher import TICK_S, Dispatcher
from robotaxi_dispatch.engine.simulation import Scenario, Simulation

dispatch_cli = AppGroup("dispatch", help="Robotaxi dispatch.")


def start_dispatchers(app, regions: list[str], stop: threading.Event) -> list[threading.Thread]:
    """Start a dispatcher and a console frame publisher per region; they run until `stop` is set."""
    engine, r, desk = app.extensions["db_engine"], app.extensions["redis"], app.extensions.get("charging_desk")
    workers = {f"dispatch-{region}": Dispatcher(engine, r, app.extensions["payment_gateway"], region=region,
                                                charging=desk).run
               for region in regions}
    owner = f"{socket.gethostname()}:{os.getpid()}"
    workers.update({f"console-{region}": ConsolePublisher(engine, r, region=region, owner=owner, charging=desk).run
                    for region in regions})
    threads = [threading.Thread(target=run, args=(stop,), name=name, daemon=True) for name, run in workers.items()]
    for thread in threads:
        thread.start()
    return threads


@dispatch_cli.command("run")
@click.option("--region", "regions", multiple=True, default=("liangjiang", "yongchuan"))
@click.option("--metrics-port", type=int, envvar="DISPATCH_METRICS_PORT",
              help="serve this process's Prometheus metrics (tick duration, stream lag, open requests) here")
@click.option("--metrics-host", default="127.0.0.1", envvar="DISPATCH_METRICS_HOST", show_default=True)
def run_command(regions, metrics_port, metrics_host):
    """Dispatch rides of the regions until interrupted (holding each region's lease)."""
    if metrics_port:
        prometheus_client.start_http_server(metrics_port, addr=metrics_host)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as the Flask app
    threads = start_dispatchers(app, list(regions), stop)
    click.echo(f"dispatching {', '.join(regions)}")
    try:
        while any(t.is_alive() for t in threads):
            stop.wait(1)
    except KeyboardInterrupt:
        stop.set()


@dispatch_cli.command("rebalancing")
@click.argument("region")
@click.argument("state", type=click.Choice(["on", "off"]))
def rebalancing_command(region, state):
    """Let the region's dispatcher rebalance idle vehicles, or stop it (operators' switch)."""
    redis = current_app.extensions["redis"]
    if state == "off":
        redis.set(streams.rebalancing_key(region), "off")
    else:
        redis.delete(streams.rebalancing_key(region))
    click.echo(f"rebalancing {state} in {region}")


def init_app(app) -> None:
    """Register the command."""
    app.cli.add_command(dispatch_cli)


@dispatch_cli.command("simulate")
@click.option("--requests-per-hour", type=float, default=Scenario.requests_per_hour,
              help="demand averaged over the day; the hour's profile scales it")
@click.option("--vehicles", type=int, default=Scenario.vehicles)
@click.option("--minutes", type=int, default=Scenario.minutes, help="measured window")
@click.option("--warmup-minutes", type=int, default=Scenario.warmup_minutes, help="simulated before it, not measured")
@click.option("--start-hour", type=float, default=Scenario.start_hour, help="local hour the window starts at")
@click.option("--policy", type=click.Choice(["batch", "greedy"]), default=Scenario.policy)
@click.option("--rebalance/--no-rebalance", default=Scenario.rebalance)
@click.option("--tick-s", type=float, default=TICK_S, help="dispatch tick (the production dispatcher's)")
@click.option("--seed", type=int, default=Scenario.seed)
@click.option("--booked-share", type=click.FloatRange(0, 1), default=Scenario.booked_share,
              help="share of the demand booked ahead (reported apart: booked_on_time_share)")
@click.option("--booked-notice-minutes", type=float, default=Scenario.booked_notice_minutes,
              help="how long before their pickup booked rides are known")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="also compare greedy, batch and batch+rebalancing over fleet sizes on this demand; draw a PNG")
def simulate_command(plot_path, **options):
    """Simulate a fleet on the city's demand and print the standard dispatch figures as JSON."""
    scenario = Scenario(**options)
    simulation = Simulation(scenario)
    with click.progressbar(range(scenario.ticks), file=sys.stderr,
                           label=f"{scenario.policy}: {scenario.vehicles} vehicles") as bar:
        for _ in bar:
            simulation.tick()
    result = {**asdict(scenario), **simulation.summary()}
    if plot_path:
        result["sweep"] = _sweep(scenario, plot_path)
    click.echo(json.dumps(result, indent=2))


def _sweep(scenario: Scenario, path: str) -> list[dict]:
    """Run every policy at every fleet size of the plot and draw it."""
    runs = quality.sweep_scenarios(scenario)
    rows = []
    with click.progressbar(runs, file=sys.stderr, label="policies x fleet sizes",
                           item_show_func=lambda r: r and f"{r[0]}, {r[1].vehicles} vehicles") as bar:
        for name, each in bar:
            rows.append({"name": name, "vehicles": each.vehicles, **quality.run(each)})
    quality.plot(rows, path, f"{scenario.requests_per_hour:.0f} requests/h (day mean), "
                             f"{scenario.start_hour:.0f}:00 + {scenario.minutes} min, {scenario.tick_s:g} s tick")
    return rows
