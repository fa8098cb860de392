"""The embedded default's payment provider: Stripe's state machine, kept in the platform's database.

It answers like a provider and reports outcomes the way Stripe does, as signed webhook events
delivered to the platform's own webhook handler after the call has answered
(`payments.sandbox_outbox`), so the embedded platform runs the production code path.
Test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined.
"""
import hashlib
import secrets
from collections.abc import Callable

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.exceptions import Conflict, Invalid, NotFound
from payments.exceptions import PaymentDeclined, ProviderRefused
from payments.gateway import CaptureMethod, GatewayPayment, GatewayRefund, OffSession, SavedMethod
from payments.models import SandboxCard, SandboxIntent
from payments.sandbox_outbox import Outbox

DECLINED_CARD = "4000000000000002"
# Stripe's test card that saves fine and then declines every charge.
DECLINES_AFTER_SAVING = "4000000000000341"
BRANDS = {"4": "visa", "5": "mastercard", "6": "unionpay", "3": "amex"}
FEE_PER_MILLE = 6  # 0.6%, what domestic wallets typically charge merchants


def _luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number][::-1]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def _card(number: str) -> str:
    """Return a test card number without spaces, or refuse one that is not a card number."""
    card = number.replace(" ", "")
    if not (card.isdigit() and 12 <= len(card) <= 19 and _luhn_valid(card)):
        raise Invalid("invalid_card", "Not a valid card number.")
    return card


def _view(intent: SandboxIntent, decline_code: str | None = None) -> GatewayPayment:
    return GatewayPayment(
        id=intent.id, status=intent.status, amount=intent.amount, currency=intent.currency,
        amount_received=intent.amount_received,
        amount_refunded=sum(r["amount"] for r in intent.refunds), client_secret=intent.client_secret,
        fee=intent.amount_received * FEE_PER_MILLE // 1000,
        refunds=[(r["id"], r["amount"]) for r in intent.refunds], decline_code=decline_code)


def _pay(intent: SandboxIntent) -> str:
    """Take (or, for manual capture, authorise) the money of a payment waiting for it."""
    if intent.status != "requires_payment_method":
        raise Conflict("payment_not_confirmable", "The payment is {status}.", params={"status": intent.status})
    if intent.capture_method == "manual":
        intent.status = "requires_capture"
        return "payment_intent.amount_capturable_updated"
    intent.status, intent.amount_received = "succeeded", intent.amount
    return "payment_intent.succeeded"


def _new_intent(*, amount: int, currency: str, capture_method: CaptureMethod, metadata: dict[str, str],
                idempotency_key: str) -> SandboxIntent:
    intent_id = f"pi_sb{secrets.token_hex(12)}"
    return SandboxIntent(id=intent_id, idempotency_key=idempotency_key, status="requires_payment_method",
                         amount=amount, currency=currency, capture_method=capture_method,
                         client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}", details=metadata,
                         # Given, not defaulted: SQLModel asks pydantic whether a default factory takes
                         # arguments on every construction, and inspecting `list` costs 4 times the rest.
                         refunds=[])


def _event_object(event_type: str, intent: SandboxIntent) -> dict:
    """Return what an event says of the intent, as Stripe's event objects do."""
    if event_type == "charge.refunded":
        return {"id": f"ch_{intent.id[3:]}", "object": "charge", "payment_intent": intent.id,
                "amount_refunded": sum(r["amount"] for r in intent.refunds)}
    return {"id": intent.id, "object": "payment_intent", "status": intent.status, "amount": intent.amount,
            "amount_received": intent.amount_received, "currency": intent.currency.lower(),
            "capture_method": intent.capture_method, "metadata": intent.details}


class SandboxGateway:
    """A Stripe-like provider for the embedded default and for tests."""

    name = "sandbox"

    def __init__(self, engine, *, webhook_secret: str, deliver: Callable[[str, str], None],
                 background: bool = False):
        self._engine, self._deliver = engine, deliver
        # Through the attribute, so a test may stand in for the network that delivers.
        self.outbox = Outbox(engine, secret=webhook_secret, background=background,
                             deliver=lambda payload, signature: self._deliver(payload, signature))

    def _change(self, payment_id: str, change: Callable[[SandboxIntent], str | None]) -> GatewayPayment:
        """Apply a state change and record its event in the sandbox's own transaction, then send the event.

        A write transaction (BEGIN IMMEDIATE on SQLite, a row lock on PostgreSQL) makes each
        change atomic: of ten concurrent confirms of one payment exactly one charges.
        """
        with Session(self._engine, expire_on_commit=False) as session, write_transaction(session):
            intent = session.exec(select(SandboxIntent).where(SandboxIntent.id == payment_id)
                                  .with_for_update()).first()
            if intent is None:
                raise NotFound("payment_not_found", "No such sandbox payment.")
            event_type = change(intent)
            session.add(intent)
            event = self.outbox.record(session, event_type, _event_object(event_type, intent)) if event_type else None
        if event:
            self.outbox.send(event)
        return _view(intent, decline_code="card_declined" if event_type == "payment_intent.payment_failed" else None)

    def create_payment(self, *, amount: int, currency: str, capture_method: CaptureMethod,
                       metadata: dict[str, str], idempotency_key: str,
                       off_session: OffSession | None = None) -> GatewayPayment:
        """Create the intent and, off-session, charge the saved card in the same transaction."""
        new = _new_intent(amount=amount, currency=currency, capture_method=capture_method, metadata=metadata,
                          idempotency_key=idempotency_key)
        try:
            return self._create(new, off_session)
        except IntegrityError:
            # The key was used before (a retried call): answer as its intent stands, charged once.
            return self._create(None, off_session, idempotency_key=idempotency_key)

    def _create(self, new: SandboxIntent | None, off_session: OffSession | None, *,
                idempotency_key: str = "") -> GatewayPayment:
        """Insert a new intent unlooked-for, or lock the one a used key made; charge the card off-session."""
        # One transaction and one insert per new wallet payment (a key is new but for a retry); the
        # unique key or the row lock keeps a retried key from charging twice, and the event goes out
        # after the commit, as Stripe's would.
        with Session(self._engine, expire_on_commit=False) as session, write_transaction(session):
            intent = new or session.exec(select(SandboxIntent).where(
                SandboxIntent.idempotency_key == idempotency_key).with_for_update()).one()
            event_type, refused = None, False
            if off_session is not None and intent.status == "requires_payment_method":
                card = session.get(SandboxCard, off_session.method_id)
                refused = card is None or card.customer_id != off_session.customer_id
                if card is not None and not refused:
                    event_type = "payment_intent.payment_failed" if card.declines else _pay(intent)
            session.add(intent)  # after the card is read: a new intent is inserted once, already paid
            event = self.outbox.record(session, event_type, _event_object(event_type, intent)) if event_type else None
        if event:
            self.outbox.send(event)
        if refused:
            raise ProviderRefused("payment_method_unknown", "No such saved payment method.")
        return _view(intent, decline_code="card_declined" if event_type == "payment_intent.payment_failed" else None)

    def create_customer(self, *, user_id: int, idempotency_key: str) -> str:
        # The same key names the same customer, as Stripe's idempotency would answer.
        return "cus_sb" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]

    def save_method(self, *, customer_id: str, method: str, idempotency_key: str) -> SavedMethod:
        """Save a test card (the app would have tokenised it); the declined test card is refused."""
        card = _card(method)
        if card == DECLINED_CARD:
            raise PaymentDeclined("The card was declined.")
        saved = SandboxCard(id=f"pm_sb{secrets.token_hex(12)}", customer_id=customer_id,
                            brand=BRANDS.get(card[0], "card"), last4=card[-4:],
                            declines=card == DECLINES_AFTER_SAVING)
        with self._engine.begin() as connection:  # one insert: no ORM session to build
            connection.execute(insert(SandboxCard).values(**saved.model_dump()))
        return SavedMethod(id=saved.id, brand=saved.brand, last4=saved.last4)

    def remove_method(self, *, method_id: str) -> None:
        with Session(self._engine) as session, write_transaction(session):
            card = session.get(SandboxCard, method_id)
            if card is not None:
                session.delete(card)

    def confirm(self, *, payment_id: str, card_number: str) -> GatewayPayment:
        """Pay with a test card, as the app's payment sheet would."""
        card = _card(card_number)

        def pay(intent: SandboxIntent) -> str:
            if card == DECLINED_CARD and intent.status == "requires_payment_method":
                return "payment_intent.payment_failed"
            return _pay(intent)

        return self._change(payment_id, pay)

    def capture(self, *, payment_id: str, amount: int, idempotency_key: str) -> GatewayPayment:
        def capture(intent: SandboxIntent) -> str | None:
            if intent.status == "succeeded":
                return None  # already captured: a retried capture changes nothing
            if intent.status != "requires_capture" or amount > intent.amount:
                raise ProviderRefused("payment_not_capturable", "The payment is {status}.",
                                      params={"status": intent.status})
            intent.status, intent.amount_received = "succeeded", amount
            return "payment_intent.succeeded"

        return self._change(payment_id, capture)

    def cancel(self, *, payment_id: str, idempotency_key: str) -> GatewayPayment:
        def cancel(intent: SandboxIntent) -> str | None:
            if intent.status == "canceled":
                return None
            if intent.status not in ("requires_payment_method", "requires_capture"):
                raise ProviderRefused("payment_not_cancelable", "The payment is {status}.",
                                      params={"status": intent.status})
            intent.status = "canceled"
            return "payment_intent.canceled"

        return self._change(payment_id, cancel)

    def refund(self, *, payment_id: str, amount: int | None, idempotency_key: str) -> GatewayRefund:
        made: dict = {}  # the key's refund, as the locked change found or made it

        def refund(intent: SandboxIntent) -> str | None:
            made.update(next((r for r in intent.refunds if r["key"] == idempotency_key), {}))
            if made:
                return None
            left = intent.amount_received - sum(r["amount"] for r in intent.refunds)
            wanted = left if amount is None else amount
            if intent.status != "succeeded" or not 0 < wanted <= left:
                raise ProviderRefused("payment_not_refundable", "Nothing left to refund.")
            made.update(id=f"re_sb{secrets.token_hex(12)}", amount=wanted, key=idempotency_key)
            intent.refunds = [*intent.refunds, made]
            return "charge.refunded"

        self._change(payment_id, refund)
        return GatewayRefund(id=made["id"], payment_id=payment_id, amount=made["amount"],
                             status="succeeded")

    def retrieve(self, *, payment_id: str) -> GatewayPayment:
        with Session(self._engine) as session:
            intent = session.get(SandboxIntent, payment_id)
            if intent is None:
                raise NotFound("payment_not_found", "No such sandbox payment.")
            return _view(intent)
