"""The embedded default runs dispatch inside the server: a dispatcher per region and the demo fleet."""
import threading

from flask import Flask

from robotaxi_dispatch.cli import start_dispatchers
from robotaxi_dispatch.demo_fleet import DemoFleet

REGIONS = ["liangjiang", "yongchuan"]


def init_app(app: Flask) -> None:
    """Start dispatch threads with the first request when EMBEDDED_DISPATCH is on (`make run`)."""
    if not app.config.get("EMBEDDED_DISPATCH"):
        return
    started = threading.Lock()
    stop = threading.Event()

    @app.before_request
    def _start_once():
        if started.acquire(blocking=False):
            start_dispatchers(app, REGIONS, stop)
            demo = DemoFleet(app.extensions["db_engine"], app.extensions["redis"],
                             app.extensions["payment_gateway"], regions=REGIONS,
                             charging=app.extensions.get("charging_desk"))
            threading.Thread(target=demo.run, args=(stop,), name="demo-fleet", daemon=True).start()
