"""A provider that fails the ways real ones do, and the money as both sides see it after the runner."""
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

from sqlmodel import select

from backend.dbtypes import utcnow
from payments import runner
from payments.models import Payment, PaymentInstruction, SandboxIntent

# Raise before acting; act and then time out (the answer is lost); never be called (the process
# died between commit and call).
MODES = ["raise", "timeout", "crash"]


@contextmanager
def failing(gateway, method: str, mode: str, *, only_for: str | None = None):
    """Make one gateway method fail for the block (for one provider payment id, or all)."""
    if mode == "crash":
        with mock.patch.object(runner, "execute", lambda *a, **k: runner.Ran(False, None)):
            yield
        return
    real = getattr(gateway, method)

    def broken(**kwargs):
        if only_for is not None and kwargs["payment_id"] != only_for:
            return real(**kwargs)
        if mode == "timeout":
            real(**kwargs)
            raise TimeoutError("read timed out")
        raise ConnectionError("provider unreachable")

    with mock.patch.object(gateway, method, broken):
        yield


def run_runner(app, session) -> None:
    """Run the instruction runner as the scheduler would, past every backoff."""
    session.commit()  # a fresh snapshot, as the scheduler's own session has
    runner.run_due(session, app.extensions["payment_gateway"], now=utcnow() + timedelta(hours=2))


def money(session, payment_id: int) -> dict:
    """Return the platform's and the provider's view of one payment's money."""
    session.commit()
    payment = session.get(Payment, payment_id, populate_existing=True)
    intent = session.get(SandboxIntent, payment.gateway_payment_id, populate_existing=True)
    states = session.exec(select(PaymentInstruction.state).where(
        PaymentInstruction.payment_id == payment_id)).all()
    return {"status": payment.status.value, "captured": payment.amount_captured,
            "refunded": payment.amount_refunded, "provider_received": intent.amount_received,
            "provider_refunded": sum(r["amount"] for r in intent.refunds), "provider_status": intent.status,
            "instructions": sorted(s.value for s in states)}


def refunded_in_full(amount: int) -> dict:
    """What a payment of `amount` refunded in full looks like on both sides."""
    return {"status": "refunded", "captured": amount, "refunded": amount, "provider_received": amount,
            "provider_refunded": amount, "provider_status": "succeeded", "instructions": ["done"]}
