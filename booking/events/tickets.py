"""Ticket codes for the QR, and check-in at the gate: each ticket admits once.

A code is `<ticket id>.<key id>.<signature>`: an HMAC, with the ticket-code key named by the
key id, over the ticket id, its event and a random serial kept only in the database, so codes
cannot be forged, guessed or moved to another event, and survive a rotation of SECRET_KEY.
"""
import base64
import hashlib
import hmac
from datetime import datetime

import segno
from sqlalchemy import update
from sqlmodel import Session, select

from backend.dbtypes import MAX_ID, utcnow
from backend.exceptions import Conflict
from backend.keys import Key, KeyRing
from booking.events.models import Ticket

SIGNATURE_CHARS = 22  # 132 bits of HMAC-SHA256


def _signature(ticket: Ticket, key: Key) -> str:
    mac = hmac.new(key.secret, f"ticket:{ticket.id}:{ticket.event_id}:{ticket.serial}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:SIGNATURE_CHARS]


def ticket_code(ticket: Ticket, *, keys: KeyRing) -> str:
    """Return the signed code printed in the ticket's QR, naming the key that signed it."""
    return f"{ticket.id}.{keys.current.kid}.{_signature(ticket, keys.current)}"


def scanned_ticket_id(code: str) -> int | None:
    """Return the ticket id a well-formed code names, or None; whether the code is genuine is `genuine`'s to say."""
    parts = _parts(code)
    return int(parts[0]) if parts else None


def _parts(code: str) -> tuple[str, str, str] | None:
    parts = code.strip().split(".")
    if len(parts) != 3:
        return None
    ticket_id, kid, signature = parts
    # isdigit() alone accepts Unicode digits ("²", "٣") that int() then refuses or reads.
    if not (ticket_id.isascii() and ticket_id.isdigit() and int(ticket_id) <= MAX_ID) \
            or len(signature) != SIGNATURE_CHARS:
        return None
    return ticket_id, kid, signature


def genuine(ticket: Ticket | None, code: str, *, keys: KeyRing) -> Ticket | None:
    """Return the ticket read for a code if the code is its genuine one, else None (forged or mangled).

    A code signed before a key rotation names the previous key, which still checks it.
    """
    parts = _parts(code)
    key = keys.find(parts[1]) if parts else None
    # The signature covers the ticket's id: a code read with another ticket does not match.
    if ticket is None or parts is None or key is None or not hmac.compare_digest(_signature(ticket, key), parts[2]):
        return None
    return ticket


def check_in(session: Session, *, event_id: int, code: str, keys: KeyRing,
             at: datetime | None = None, gate: str | None = None) -> str:
    """Admit a ticket once: admitted, already_checked_in, wrong_event or invalid."""
    ticket_id = scanned_ticket_id(code)
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    return admit(session, genuine(ticket, code, keys=keys), event_id=event_id, at=at, gate=gate)


def admit(session: Session, ticket: Ticket | None, *, event_id: int, at: datetime | None = None,
          gate: str | None = None) -> str:
    """Admit a ticket whose code was found genuine (None: it was not) once, and commit."""
    if ticket is None or not ticket.valid:
        return "invalid"
    if ticket.event_id != event_id:
        return "wrong_event"
    # One conditional update: of two gates scanning at once, exactly one changes the row. It is
    # answered by its row count alone, so the session's copy of the ticket is not brought up to date.
    admitted = session.exec(update(Ticket).where(Ticket.id == ticket.id, Ticket.checked_in_at.is_(None),
                                                 Ticket.valid).values(checked_in_at=at or utcnow(),
                                                                         checked_in_gate=gate)
                            .execution_options(synchronize_session=False))
    session.commit()
    return "admitted" if admitted.rowcount == 1 else "already_checked_in"


def lock_unused_tickets(session: Session, *, order_id: int) -> None:
    """Lock an order's tickets against the gate, refusing the order if one was already admitted.

    The row locks make a gate scanning at the same moment wait for the cancellation, which
    voids the tickets, so a seat is never both refunded and used.
    """
    rows = session.exec(select(Ticket.checked_in_at).where(Ticket.order_id == order_id)
                        .with_for_update()).all()
    if any(admitted is not None for admitted in rows):
        raise Conflict("ticket_used", "A ticket of this order was already admitted at the gate.")


def qr_svg(code: str) -> str:
    """Return the code as an SVG QR image."""
    return segno.make(code, error="m").svg_inline(scale=8)


def check_in_batch(session: Session, *, event_id: int, scans: list[tuple[str, datetime, str | None]],
                   keys: KeyRing) -> list[str]:
    """Apply scans made offline in the order they were made; repeats resolve to already_checked_in."""
    order = sorted(range(len(scans)), key=lambda i: scans[i][1])
    results = [""] * len(scans)
    for i in order:
        code, scanned_at, gate = scans[i]
        results[i] = check_in(session, event_id=event_id, code=code, keys=keys, at=scanned_at, gate=gate)
    return results
