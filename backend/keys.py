"""Signing keys derived from SECRET_KEY, one per purpose, each with a key id, kept on a ring.

Access tokens, ticket codes and the sandbox's webhook secret each get their own key (HKDF,
RFC 5869, with the purpose as `info`), so none can stand in for another. A signature carries
the id of the key that made it; after a rotation the previous SECRET_KEY(s) stay on the ring to
check what they signed (printed tickets), while only the current one signs.
"""
import hashlib
import hmac
from dataclasses import dataclass
from functools import cache

ACCESS_TOKEN = "access-token"
TICKET_CODE = "ticket-code"
SANDBOX_WEBHOOK = "sandbox-webhook"
_SALT = b"cq-mobility-keys-v1"


@dataclass(frozen=True)
class Key:
    kid: str
    secret: bytes


@cache  # every signed-in request verifies with a derived key: derive it once per secret and purpose
def derive(secret_key: str, purpose: str) -> Key:
    """Return the key of one purpose derived from a SECRET_KEY, with its public id."""
    prk = hmac.new(_SALT, secret_key.encode(), hashlib.sha256).digest()
    secret = hmac.new(prk, purpose.encode() + b"\x01", hashlib.sha256).digest()
    # The id names the key without revealing it: a hash of the derived secret.
    return Key(kid=hashlib.sha256(b"kid:" + secret).hexdigest()[:8], secret=secret)


@dataclass(frozen=True)
class KeyRing:
    """The current key, which signs, and the previous ones, which only verify."""

    current: Key
    previous: tuple[Key, ...] = ()

    def find(self, kid: str) -> Key | None:
        return next((key for key in (self.current, *self.previous) if key.kid == kid), None)


def ring(config, purpose: str) -> KeyRing:
    """Return the purpose's ring from SECRET_KEY and SECRET_KEY_PREVIOUS (comma-separated)."""
    previous = [k.strip() for k in (config.get("SECRET_KEY_PREVIOUS") or "").split(",") if k.strip()]
    return KeyRing(current=derive(config["SECRET_KEY"], purpose),
                   previous=tuple(derive(k, purpose) for k in previous))
