"""What paying costs the database: statements per request, pinned so a cut does not creep back.

Events the sandbox owes the webhook are held back while counting, as a server delivers them
from its outbox thread after the request has answered; the webhook's own cost is counted apart.
"""
from contextlib import contextmanager
from unittest import mock

import pytest

from backend.db import write_transaction
from payments import services, wallet
from payments.models import PaymentStatus
from payments.runner import run_after_commit
from tests.factories import save_card, statements_run

VISA = "4242424242424242"


@pytest.fixture
def held_events(gateway):
    """Hold back the sandbox's events (a server sends them after answering); yield them to send."""
    held = []
    with mock.patch.object(gateway.outbox, "send", held.append):
        yield held


@contextmanager
def statements(app):
    """Collect the statements run in the block, leaving out SQLite's explicit BEGINs."""
    with statements_run(app) as seen:
        work: list[str] = []
        yield work
    work += [s for s in seen if not s.startswith("BEGIN")]


def one_by_one(app) -> int:
    """Tell whether the backend inserts rows one statement each (SQLite), where PostgreSQL batches them."""
    return int(app.extensions["db_engine"].dialect.name == "sqlite")


def _start(session, gateway, payer, payable_id: int, **extra):
    return services.start_payment(session, gateway, payable_type="probe", payable_id=payable_id,
                                  user_id=payer[0].id, amount=2500, **extra)




def test_saving_a_first_card(app, client, payer, held_events):
    with statements(app) as seen:
        save_card(client, payer[1])
    # Customer: read. Provider: the card. Method: replay check, insert; the customer with it as default.
    assert len(seen) == 5


def test_starting_a_payment_the_payer_confirms(app, session, gateway, payer, probe, held_events):
    with statements(app) as seen:
        _start(session, gateway, payer, 1)
    # The intent (insert, committed first); the provider's intent (inserted, its key unlooked-for);
    # the answer (one update that locks and reads the row back).
    assert len(seen) == 3


def test_confirming_records_the_charge_and_its_fee_in_one_read_and_one_insert(
        app, client, session, gateway, payer, probe, held_events):
    payment = _start(session, gateway, payer, 1)
    session.commit()
    with statements(app) as seen:
        answer = client.post(f"/api/v1/payments/{payment.id}/sandbox/confirm", json={"card_number": VISA},
                             headers=payer[1])
    assert answer.status_code == 200 and answer.json["status"] == "succeeded"
    assert [e["kind"] for e in answer.json["ledger"]] == ["charge", "fee"]
    # Own payment; provider (lock, event, update); answer (lock, update, ledger read, one insert of both);
    # the detail's ledger and open instructions.
    assert len(seen) == 10 + one_by_one(app)
    with statements(app) as seen:
        gateway.outbox._attempt(held_events[-1].id, held_events[-1].payload)
    # The webhook finds no news in the payment; the provider forgets the taken event.
    assert len(seen) == 2


def test_authorising_against_the_wallet(app, client, session, gateway, payer, probe, held_events):
    save_card(client, payer[1])
    session.commit()  # a fresh snapshot that sees the card
    method = wallet.default_method(session, gateway, user_id=payer[0].id)
    with statements(app) as seen:
        payment = _start(session, gateway, payer, 1, capture_method="manual", off_session=method)
    assert payment.status == PaymentStatus.authorised and probe.authorised == [1]
    # The intent; the provider (card, event, intent); the answer (filled in, then authorised).
    assert len(seen) == 6


def test_a_refund_is_made_and_recorded_once(app, client, session, gateway, payer, probe, held_events):
    paid = _start(session, gateway, payer, 1).id
    client.post(f"/api/v1/payments/{paid}/sandbox/confirm", json={"card_number": VISA}, headers=payer[1])
    with write_transaction(session):
        owed = services.settle_payable(session, payable_type="probe", payable_id=1, keep_fen=0, reason="gone")
    with statements(app) as seen:
        run_after_commit(session, gateway, owed)
    assert services.payment_for(session, "probe", 1).status == PaymentStatus.refunded
    # Claim, payment; provider (lock, event, update); the answer (lock, ledger read and insert,
    # payment, instruction).
    assert len(seen) == 10


def test_settling_a_payment_read_with_its_payable_reads_it_no_more(app, session, gateway, payer, probe, held_events):
    payment = _start(session, gateway, payer, 1)
    session.commit()
    with write_transaction(session), statements(app) as seen:
        owed = services.settle(session, payment, keep_fen=0, reason="gone")
    # Nobody paid yet: the cancel is recorded, nothing read.
    assert owed is not None and owed.kind == "cancel"
    assert len(seen) == 1 and seen[0].lstrip().startswith("INSERT INTO payment_instructions")
