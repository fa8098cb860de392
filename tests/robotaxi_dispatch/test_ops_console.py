"""The operator console in a real browser: log in, watch the simulated fleet move, command a vehicle.

Playwright drives the system's Chromium (Debian's package, installed by `make setup`); a
screenshot of each run is saved under test-artifacts/.
"""
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from backend.seed.catalogue import DEMO_PASSWORD
from backend.seed.loader import load_demo
from robotaxi_dispatch.console.live import ConsolePublisher
from robotaxi_dispatch.demo_fleet import DemoFleet
from robotaxi_dispatch.dispatcher import Dispatcher
from robotaxi_dispatch.rides.models import Vehicle

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Headless as root in a closed network: no sandbox, no background calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Yield a headless Chromium driven by Playwright."""
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs Chromium for the console test (make setup installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def simulation(app, session):
    """Seed the demo city and run its dispatcher and simulated fleet until the test ends."""
    load_demo(session)
    parts = app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"]
    dispatcher = Dispatcher(*parts, region="liangjiang", owner="console-test")
    fleet = DemoFleet(*parts, regions=("liangjiang",), speedup=30)
    frames = ConsolePublisher(parts[0], parts[1], region="liangjiang", owner="console-test")
    stop = threading.Event()

    def run():
        while not stop.wait(0.3):
            dispatcher.step()
            fleet.step(0.3)
            frames.step()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/ops")
    page.fill("input[name=email]", "operator@demo.cq")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#connection.on", timeout=15_000)


def test_operator_watches_fleet_move_and_pulls_a_vehicle_over(app, session, browser, live_server, simulation,
                                                                backend):
    page = browser.new_page(viewport={"width": 1400, "height": 850})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _log_in(page, live_server)
    expect(page.locator("#kpi-vehicles")).to_have_text(re.compile(r"^[1-9]\d*$"))
    vehicle_id = session.exec(select(Vehicle.id).where(Vehicle.region == "liangjiang").order_by(Vehicle.id)).first()

    page.fill("#find-id", str(vehicle_id))
    page.click("#find button")
    page.wait_for_selector("#vehicle:not([hidden])")
    first = page.inner_text("#v-position")
    # The simulated fleet reports new positions; the panel follows the live stream.
    expect(page.locator("#v-position")).not_to_have_text(first, timeout=15_000)

    page.click("[data-command=pull_over]")
    page.wait_for_selector("#v-status[data-status=pulled_over]")
    assert "Pull over" in page.inner_text("#command-result")
    token = page.evaluate("() => sessionStorage.getItem('access')")
    detail = app.test_client().get(f"/api/v1/ops/vehicles/{vehicle_id}",
                                   headers={"Authorization": f"Bearer {token}"}).json
    assert detail["status"] == "pulled_over"
    page.wait_for_timeout(1000)  # later frames from the server agree with the command
    assert page.get_attribute("#v-status", "data-status") == "pulled_over"

    page.click("[data-command=resume]")
    page.wait_for_selector("#v-status[data-status=available]")
    page.click("[data-command=resume]")  # illegal when in service: the 409 is shown, not swallowed
    expect(page.locator("#command-result")).to_contain_text("Cannot resume")

    page.click("#language")
    assert page.inner_text("h1") == "重庆自动驾驶出租车运营台"
    assert page.inner_text("#v-status") == "空闲"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ops-console-{backend['BACKEND']}.png"))
    assert errors == []
    page.close()


def test_console_refuses_accounts_without_operator_role(session, browser, live_server):
    load_demo(session)
    page = browser.new_page()
    page.goto(f"{live_server}/ops")
    page.fill("input[name=email]", "citizen@demo.cq")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("This account has no operator role.")
    assert page.is_hidden("#console")
    page.close()
