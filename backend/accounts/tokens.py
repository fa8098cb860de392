"""Short-lived JWT access tokens."""
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt

from backend.bounded import BoundedCache
from backend.dbtypes import utcnow
from backend.exceptions import Unauthenticated
from backend.keys import KeyRing

ALGORITHM = "HS256"
AUDIENCE = "cq-mobility-api"
# A process verifies each token's signature and claims once; later requests with it check only
# its expiry. Only tokens that passed are kept, under the ring that verified them.
VERIFIED_TOKENS = 8192
_verified: BoundedCache[tuple["Principal", float]] = BoundedCache(VERIFIED_TOKENS)  # (ring, token) -> principal, expiry


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: int
    roles: frozenset[str]
    organisation_ids: frozenset[int]

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def issue_access_token(*, principal: Principal, keys: KeyRing, ttl_s: int) -> str:
    """Sign an access token for the principal with the ring's current key, naming it in `kid`."""
    now = utcnow()
    claims = {
        "sub": str(principal.user_id),
        "roles": sorted(principal.roles),
        "orgs": sorted(principal.organisation_ids),
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
        "aud": AUDIENCE,
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    return jwt.encode(claims, keys.current.secret, algorithm=ALGORITHM,
                      headers={"kid": keys.current.kid})


def read_access_token(token: str, *, keys: KeyRing) -> Principal:
    """Verify an access token with the ring's key it names and return its principal; refuse anything else."""
    known = _verified.get((keys, token)) or _verified.put((keys, token), _verify(token, keys))
    principal, expires_at = known
    if time.time() >= expires_at:  # as PyJWT decides it, without leeway
        raise Unauthenticated("invalid_token", "The access token has expired.")
    return principal


def _verify(token: str, keys: KeyRing) -> tuple[Principal, float]:
    """Check a token's key, signature and claims; return its principal and when it expires."""
    try:
        key = keys.find(str(jwt.get_unverified_header(token).get("kid", "")))
        if key is None:
            raise jwt.InvalidKeyError("unknown key id")
        # A fixed algorithm list refuses `alg: none` and algorithm-confusion tokens.
        claims = jwt.decode(token, key.secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["exp", "sub", "iat"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("invalid_token", "The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("invalid_token", "The access token is not valid.") from exc
    if claims.get("typ") != "access":
        raise Unauthenticated("invalid_token", "Not an access token.")
    return Principal(
        user_id=int(claims["sub"]),
        roles=frozenset(claims.get("roles", [])),
        organisation_ids=frozenset(int(o) for o in claims.get("orgs", [])),
    ), float(claims["exp"])
