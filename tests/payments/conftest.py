"""A probe payable that records what payments told it, and a citizen who pays."""
import pytest

from payments.effects import register_payable
from tests.factories import bearer, make_user


class ProbePayable:
    """Counts outcomes per payable id; `fulfillable` decides whether a success is kept."""

    def __init__(self):
        self.succeeded, self.authorised, self.failed = [], [], []
        self.fulfillable = True

    def on_succeeded(self, session, payable_id):
        self.succeeded.append(payable_id)
        return self.fulfillable

    def on_authorised(self, session, payable_id):
        self.authorised.append(payable_id)
        return self.fulfillable

    def on_failed(self, session, payable_id):
        self.failed.append(payable_id)


@pytest.fixture
def probe():
    handler = ProbePayable()
    register_payable("probe", handler)
    return handler


@pytest.fixture
def gateway(app):
    return app.extensions["payment_gateway"]


@pytest.fixture
def payer(app, session):
    user = make_user(session)
    return user, bearer(app, session, user)
