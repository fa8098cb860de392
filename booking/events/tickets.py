"""Ticket codes for the QR, and check-in at the gate: each ticket admits once.

A code is `<ticket id>.<signature>`: an HMAC over the ticket id, its event and a random serial
kept only in the database, so codes cannot be forged, guessed or moved to another event.
"""
import base64
import hashlib
import hmac
from datetime import datetime

import segno
from sqlalchemy import update
from sqlmodel import Session

from backend.dbtypes import utcnow
from booking.events.models import Ticket

SIGNATURE_CHARS = 22  # 132 bits of HMAC-SHA256


def ticket_code(ticket: Ticket, *, secret: str) -> str:
    """Return the signed code printed in the ticket's QR."""
    mac = hmac.new(secret.encode(), f"ticket:{ticket.id}:{ticket.event_id}:{ticket.serial}".encode(),
                   hashlib.sha256).digest()
    return f"{ticket.id}.{base64.urlsafe_b64encode(mac).decode()[:SIGNATURE_CHARS]}"


def ticket_of_code(session: Session, code: str, *, secret: str) -> Ticket | None:
    """Return the ticket a genuine code stands for, or None for anything forged or mangled."""
    ticket_id, _, signature = code.strip().partition(".")
    if not ticket_id.isdigit() or len(signature) != SIGNATURE_CHARS:
        return None
    ticket = session.get(Ticket, int(ticket_id))
    if ticket is None or not hmac.compare_digest(ticket_code(ticket, secret=secret), code.strip()):
        return None
    return ticket


def check_in(session: Session, *, event_id: int, code: str, secret: str,
             at: datetime | None = None) -> str:
    """Admit a ticket once: admitted, already_checked_in, wrong_event or invalid."""
    ticket = ticket_of_code(session, code, secret=secret)
    if ticket is None or not ticket.valid:
        return "invalid"
    if ticket.event_id != event_id:
        return "wrong_event"
    # One conditional update: of two gates scanning at once, exactly one changes the row.
    admitted = session.exec(update(Ticket).where(Ticket.id == ticket.id, Ticket.checked_in_at.is_(None),
                                                 Ticket.valid).values(checked_in_at=at or utcnow()))
    session.commit()
    return "admitted" if admitted.rowcount == 1 else "already_checked_in"


def qr_svg(code: str) -> str:
    """Return the code as an SVG QR image."""
    return segno.make(code, error="m").svg_inline(scale=8)


def check_in_batch(session: Session, *, event_id: int, scans: list[tuple[str, datetime]],
                   secret: str) -> list[str]:
    """Apply scans made offline in the order they were made; repeats resolve to already_checked_in."""
    order = sorted(range(len(scans)), key=lambda i: scans[i][1])
    results = [""] * len(scans)
    for i in order:
        code, scanned_at = scans[i]
        results[i] = check_in(session, event_id=event_id, code=code, secret=secret, at=scanned_at)
    return results
