"""Short-lived JWT access tokens."""
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt

from backend.dbtypes import utcnow
from backend.errors import ApiError

ALGORITHM = "HS256"
AUDIENCE = "cq-mobility-api"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: int
    roles: frozenset[str]
    organisation_ids: frozenset[int]

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def issue_access_token(*, principal: Principal, secret: str, ttl_s: int) -> str:
    """Sign an access token for the principal."""
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
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access_token(token: str, *, secret: str) -> Principal:
    """Verify an access token and return its principal; refuse anything else."""
    try:
        # A fixed algorithm list refuses `alg: none` and algorithm-confusion tokens.
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["exp", "sub", "iat"]})
    except jwt.ExpiredSignatureError as exc:
        raise ApiError(401, "invalid_token", "The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise ApiError(401, "invalid_token", "The access token is not valid.") from exc
    if claims.get("typ") != "access":
        raise ApiError(401, "invalid_token", "Not an access token.")
    return Principal(
        user_id=int(claims["sub"]),
        roles=frozenset(claims.get("roles", [])),
        organisation_ids=frozenset(int(o) for o in claims.get("orgs", [])),
    )
