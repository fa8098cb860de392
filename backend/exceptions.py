"""Domain exceptions: a refused operation in the domain's words, with a stable code.

Domain packages raise these and never an HTTP status; `backend/errors.py` maps each family to
one status in a single table. `code` is stable for clients; `detail` says why, in English: a
fixed text, or a template with named `{placeholders}` filled from `params`, so that the message
catalogue can translate it whole.
"""


class DomainError(Exception):
    """A rule refused the operation."""

    def __init__(self, code: str, detail: str = "", errors: list | None = None, params: dict | None = None):
        self.template, self.params = detail, params or {}
        self.detail = detail.format(**params) if params else detail
        super().__init__(self.detail or code)
        self.code = code
        self.errors = errors


class BadRequest(DomainError):
    """The request could not be read at all (malformed body, bad signature)."""


class Invalid(DomainError):
    """The request was read but breaks a rule about its own content."""


class Unauthenticated(DomainError):
    """Nobody, or nobody valid, is logged in."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class NotFound(DomainError):
    """The object does not exist, or is not the caller's to see."""


class Conflict(DomainError):
    """The object's current state refuses the operation."""


class PaymentRequired(DomainError):
    """The service needs a payment the caller has not authorised."""


class TooManyRequests(DomainError):
    """The caller is over a limit; `retry_after_s` says when to come back."""

    def __init__(self, code: str, detail: str = "", retry_after_s: int | None = None):
        super().__init__(code, detail)
        self.retry_after_s = retry_after_s


class Unavailable(DomainError):
    """A dependency is down for a moment; `retry_after_s` says when to come back."""

    def __init__(self, code: str, detail: str = "", retry_after_s: int | None = None):
        super().__init__(code, detail)
        self.retry_after_s = retry_after_s


class SlotTaken(Conflict):
    """Someone else holds an overlapping booking of the resource."""

    def __init__(self, detail: str = "Someone else has this slot."):
        super().__init__("slot_taken", detail)


class IllegalTransition(Conflict):
    """A ride or vehicle cannot make this move from its current status."""

    def __init__(self, what: str, current: str):
        super().__init__("illegal_transition", "Cannot {what} from status {current}.",
                         params={"what": what, "current": repr(current)})
