"""`flask dispatch run` (the dispatcher process) and `flask dispatch simulate` (policies compared)."""
import json
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from robotaxi_dispatch.dispatcher import Dispatcher
from robotaxi_dispatch.engine.simulation import TICK_S, Simulation

dispatch_cli = AppGroup("dispatch", help="Robotaxi dispatch.")


def start_dispatchers(app, regions: list[str], stop: threading.Event) -> list[threading.Thread]:
    """Start one dispatcher thread per region; they run until `stop` is set."""
    threads = []
    for region in regions:
        dispatcher = Dispatcher(app.extensions["db_engine"], app.extensions["redis"],
                                app.extensions["payment_gateway"], region=region,
                                charging=app.extensions.get("charging_desk"))
        thread = threading.Thread(target=dispatcher.run, args=(stop,), name=f"dispatch-{region}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


@dispatch_cli.command("run")
@click.option("--region", "regions", multiple=True, default=("liangjiang", "yongchuan"))
def run_command(regions):
    """Dispatch rides of the regions until interrupted (holding each region's lease)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = start_dispatchers(current_app._get_current_object(), list(regions), stop)
    click.echo(f"dispatching {', '.join(regions)}")
    try:
        while any(t.is_alive() for t in threads):
            stop.wait(1)
    except KeyboardInterrupt:
        stop.set()


def init_app(app) -> None:
    """Register the command."""
    app.cli.add_command(dispatch_cli)


@dispatch_cli.command("simulate")
@click.option("--vehicles", type=int, default=2000)
@click.option("--minutes", type=int, default=60)
@click.option("--policy", type=click.Choice(["batch", "greedy"]), default="batch")
@click.option("--start-hour", type=int, default=8, help="local hour the simulation starts at")
@click.option("--seed", type=int, default=2026)
def simulate_command(vehicles, minutes, policy, start_hour, seed):
    """Simulate a fleet on hotspot demand and print served share, waits, empty km, utilisation."""
    simulation = Simulation(vehicles=vehicles, policy=policy, start_hour=start_hour, seed=seed)
    ticks = minutes * 60 // TICK_S
    with click.progressbar(range(ticks), label=f"{policy}: {vehicles} vehicles, {minutes} min",
                           file=sys.stderr) as bar:
        for _ in bar:
            simulation.tick()
    click.echo(json.dumps({"policy": policy, "vehicles": vehicles, "minutes": minutes,
                           **simulation.outcome.summary()}, indent=2))
