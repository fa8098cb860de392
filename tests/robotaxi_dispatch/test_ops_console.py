"""The operator console in a real browser: log in, watch the simulated fleet move, command a vehicle.

Playwright drives the system's Chromium (Debian's package, installed by `make setup`);
screenshots at a laptop's, a control room's and a phone's width are saved under test-artifacts/.
"""
import os
import re
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from backend.accounts.models import User
from backend.dbtypes import utcnow
from backend.seed.catalogue import DEMO_PASSWORD
from backend.seed.loader import load_demo
from robotaxi_dispatch.console.live import ConsolePublisher
from robotaxi_dispatch.demo_fleet import DemoFleet
from robotaxi_dispatch.dispatcher import Dispatcher
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus

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
    """Seed the demo city and run both regions' dispatchers, frames and simulated fleet until the test ends."""
    load_demo(session)
    parts = app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"]
    regions = ("liangjiang", "yongchuan")
    dispatchers = [Dispatcher(*parts, region=region, owner="console-test") for region in regions]
    fleet = DemoFleet(*parts, regions=regions, speedup=30)
    publishers = [ConsolePublisher(parts[0], parts[1], region=region, owner="console-test",
                                   charging=app.extensions["charging_desk"]) for region in regions]
    stop = threading.Event()

    def run():
        while not stop.wait(0.3):
            for dispatcher in dispatchers:
                dispatcher.step()
            fleet.step(0.3)
            for publisher in publishers:
                publisher.step()
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
    page = browser.new_page(viewport={"width": 1280, "height": 800})
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
    assert errors == []
    page.close()


def _busy_hour(session) -> None:
    """Give the screen something to show: an hour of Liangjiang rides, some found no vehicle, and a fault."""
    rider = session.exec(select(User.id).where(User.email == "citizen@demo.cq")).one()
    now = utcnow()
    for n in range(60):
        requested = now - timedelta(minutes=n)
        status = RideStatus.no_vehicle if n % 7 == 3 else RideStatus.completed
        session.add(Ride(user_id=rider, status=status, region="liangjiang",
                         pickup_lat=29.655 + (n * 37 % 80) / 1000, pickup_lon=106.535 + (n * 53 % 70) / 1000,
                         dropoff_lat=29.70, dropoff_lon=106.56, passengers=1, distance_m=4000, trip_s=600,
                         quoted_fare_fen=1500, authorised_fen=2000, requested_at=requested,
                         picked_up_at=requested + timedelta(seconds=90 + n * 7)
                         if status == RideStatus.completed else None))
    faulty = session.exec(select(Vehicle).where(Vehicle.region == "liangjiang").order_by(Vehicle.id.desc())).first()
    faulty.status = VehicleStatus.fault
    session.add(faulty)
    session.commit()


def test_console_at_a_laptop_a_control_room_and_a_phone(session, browser, live_server, simulation, backend):
    _busy_hour(session)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _log_in(page, live_server)
    expect(page.locator("#alert-list li.fault")).to_have_count(1)
    assert page.inner_text("#alert-badge") != ""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1280, 800), (1920, 1080), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(1500)  # a few frames at the new size; the chart redraws on resize
        map_box, legend_box = page.locator("#map").bounding_box(), page.locator("#legend").bounding_box()
        assert map_box["width"] >= min(width, 1280) * 0.6 and map_box["height"] >= 300, (width, map_box)
        assert legend_box["y"] > map_box["y"] + map_box["height"] / 2, "the legend stays clear of the inset"
        page.screenshot(path=str(ARTIFACTS / f"ops-console-{width}-{backend['BACKEND']}.png"), full_page=width < 720)
    assert errors == []
    page.close()


def test_an_unknown_vehicle_clears_the_panel_and_says_so_in_the_operators_language(session, browser, live_server,
                                                                                     simulation):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    _log_in(page, live_server)
    known = session.exec(select(Vehicle.id).order_by(Vehicle.id)).first()
    page.fill("#find-id", str(known))
    page.click("#find button")
    page.wait_for_selector("#vehicle:not([hidden])")
    page.fill("#find-id", "999999")
    page.click("#find button")
    expect(page.locator("#find-error")).to_have_text("No such vehicle in your fleet.")
    assert page.is_hidden("#vehicle"), "the vehicle shown before is not left on screen"
    page.click("#language")
    expect(page.locator("#find-error")).to_have_text("您的车队中没有这辆车。")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "find-id"
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
