"""The embedded demo: seeded robotaxis in Liangjiang serve a rider's ride from request to payment."""
from backend.seed.catalogue import DEMO_PASSWORD
from backend.seed.loader import load_demo
from robotaxi_dispatch.demo_fleet import DemoFleet
from robotaxi_dispatch.dispatcher import Dispatcher
from tests.factories import save_card


def test_seeded_fleet_serves_a_ride(app, client, session):
    load_demo(session)
    token = client.post("/api/v1/auth/login", json={"email": "citizen@demo.cq",
                                                     "password": DEMO_PASSWORD}).json["access_token"]
    rider = {"Authorization": f"Bearer {token}"}
    save_card(client, rider)
    ride = client.post("/api/v1/rides", headers=rider, json={
        "pickup": {"lat": 29.6600, "lon": 106.5450}, "dropoff": {"lat": 29.6900, "lon": 106.5800}}).json
    parts = app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"]
    dispatcher = Dispatcher(*parts, region="liangjiang", owner="demo-test")
    fleet = DemoFleet(*parts, regions=("liangjiang",), speedup=60)
    statuses = []
    for _ in range(40):
        dispatcher.step()
        fleet.step(1.0)
        statuses.append(client.get(f"/api/v1/rides/{ride['id']}", headers=rider).json["status"])
        if statuses[-1] == "completed":
            break
    assert statuses[-1] == "completed", statuses
    assert "assigned" in statuses or "in_progress" in statuses
    done = client.get(f"/api/v1/rides/{ride['id']}", headers=rider).json
    assert done["payment"]["status"] == "succeeded" and done["final_fare"]["amount"] > 0
