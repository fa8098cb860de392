"""A Python client generated from /openapi.json drives a citizen's booking over real HTTP.

The mobile team generates its client the same way (openapi-python-client, offline); every
answer below is parsed by that client into its typed models, errors included.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from booking.sites.models import Resource
from tests.booking.conftest import next_slot
from tests.factories import PASSWORD, make_org, make_site, make_user

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
# SVG is text, but the generator only returns raw bytes for octet-stream: read it as such.
CONFIG = "post_hooks: []\ncontent_type_overrides:\n  image/svg+xml: application/octet-stream\n"
CHARGER = {"kind": "charger", "name_en": "800 V supercharger", "capacity": 1,
           "attributes": {"power_kw": 480, "connector": "GB/T DC", "voltage_class": 800}}


@pytest.fixture
def api(app, live_server, tmp_path, backend):
    """Generate the client from the served spec, import it, and return (package, base URL)."""
    (tmp_path / "openapi.json").write_text(json.dumps(app.test_client().get("/openapi.json").json))
    (tmp_path / "config.yaml").write_text(CONFIG)
    package = f"cq_client_{backend['BACKEND']}"
    result = subprocess.run(
        [GENERATOR, "generate", "--path", tmp_path / "openapi.json", "--config", tmp_path / "config.yaml",
         "--output-path", tmp_path / package, "--meta", "none"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # every operation and answer was understood
    spec = importlib.util.spec_from_file_location(package, tmp_path / package / "__init__.py",
                                                  submodule_search_locations=[str(tmp_path / package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)
    yield package, live_server
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def _load(package: str, name: str):
    return importlib.import_module(f"{package}.{name}")


@pytest.fixture
def charger(session):
    """A citizen and a 24-hour charging station with one 800 V charger near Jiefangbei."""
    site = make_site(session, organisation=make_org(session), resources=[CHARGER])
    resource = session.exec(select(Resource).where(Resource.site_id == site.id)).one()
    citizen = make_user(session)
    return citizen, site, resource


def test_citizen_books_and_pays_through_the_generated_client(api, charger):
    package, base_url = api
    citizen, site, resource = charger
    models = _load(package, "models")
    client_module = _load(package, "client")
    anonymous = client_module.Client(base_url=base_url, raise_on_unexpected_status=True)

    login = _load(package, "api.accounts.log_in").sync(
        client=anonymous, body=models.UserLogin(email=citizen.email, password=PASSWORD))
    assert isinstance(login, models.AuthResponse)
    me = client_module.AuthenticatedClient(base_url=base_url, token=login.access_token,
                                           raise_on_unexpected_status=True)

    start, end = next_slot("charger")
    nearby = _load(package, "api.bookings.list_nearby_availability").sync(
        client=anonymous, lat=29.5576, lon=106.5772, from_=start, to=end, resource_kind=models.ResourceKind.CHARGER)
    assert isinstance(nearby, models.AvailabilityPage)
    assert [s.site.id for s in nearby.items] == [site.id]
    assert nearby.items[0].resources[0].slots, "the window has a free slot"

    create = _load(package, "api.bookings.create_booking")
    body = models.BookingCreate(resource_id=resource.id, start=start, end=end)
    held = create.sync(client=me, body=body, idempotency_key="first-try")
    assert isinstance(held, models.BookingPublic), held
    assert held.status == models.BookingStatus.HELD
    assert held.start.utcoffset().total_seconds() == 8 * 3600
    assert isinstance(held.payment, models.PaymentPublic) and held.payment.amount.currency == "CNY"

    paid = _load(package, "api.payments.confirm_sandbox_payment").sync(
        held.payment.id, client=me, body=models.CardBody(card_number="4242424242424242"))
    assert isinstance(paid, models.PaymentDetail)
    assert paid.status == models.PaymentStatus.AUTHORISED  # charging: captured as delivered
    booking = _load(package, "api.bookings.get_booking").sync(held.id, client=me)
    assert booking.status == models.BookingStatus.CONFIRMED

    # The same slot again, without the key: a typed 409 with its code and a Chinese title.
    taken = create.sync_detailed(client=me, body=body, accept_language="zh-CN")
    assert taken.status_code == 409
    assert isinstance(taken.parsed, models.Problem)
    assert (taken.parsed.code, taken.parsed.title) == ("slot_taken", "该时段已被预订")

    # A latitude off the globe: a typed 422 naming the field.
    invalid = _load(package, "api.bookings.list_nearby_availability").sync_detailed(
        client=anonymous, lat=91, lon=106.5772, from_=start, to=end, accept_language="en")
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.Problem)
    assert invalid.parsed.code == "validation_error" and invalid.parsed.title == "Invalid request"
    assert [(e.field, e.type_) for e in invalid.parsed.errors] == [("lat", "less_than_equal")]
