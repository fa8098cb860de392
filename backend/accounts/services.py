"""Account rules: registration, login, token rotation, roles and organisations."""
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.accounts.models import (
    Membership,
    Organisation,
    OrganisationPublic,
    RefreshToken,
    Role,
    TokenPair,
    User,
    UserPublic,
    UserRole,
)
from backend.accounts.tokens import Principal, issue_access_token
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, DomainError, Invalid, NotFound, Unauthenticated
from backend.i18n import pick
from backend.keys import KeyRing
from backend.offload import off_loop

# OWASP's argon2id baseline: 19 MiB, 2 passes.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return off_loop(_hasher.hash, password)


def register_user(session: Session, *, email: str, password: str, name: str,
                  phone: str | None = None) -> User:
    """Create a citizen account; the email must be new."""
    user = User(email=email.lower(), password_hash=hash_password(password), name=name, phone=phone)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("email_taken", "An account with this email already exists.") from exc
    session.add(UserRole(user_id=user.id, role=Role.citizen.value))
    session.commit()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User:
    """Return the user whose email and password match, or refuse with 401."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    try:
        off_loop(_hasher.verify, user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise Unauthenticated("invalid_credentials", "Email or password is wrong.")
    return user


def principal_of(session: Session, user_id: int) -> Principal:
    """Load the roles and organisations that go into the user's tokens."""
    roles = session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all()
    orgs = session.exec(select(Membership.organisation_id).where(Membership.user_id == user_id)).all()
    return Principal(user_id=user_id, roles=frozenset(roles), organisation_ids=frozenset(orgs))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_refresh_token(session: Session, *, user_id: int, family_id: str, ttl_s: int) -> str:
    token_id, secret = uuid.uuid4().hex, secrets.token_urlsafe(32)
    session.add(RefreshToken(id=token_id, user_id=user_id, family_id=family_id,
                             secret_hash=_digest(secret),
                             expires_at=utcnow() + timedelta(seconds=ttl_s)))
    return f"{token_id}.{secret}"


def issue_tokens(session: Session, *, user_id: int, keys: KeyRing, access_ttl_s: int,
                 refresh_ttl_s: int, family_id: str | None = None) -> TokenPair:
    """Issue an access token and a refresh token (a new family unless one is given)."""
    principal = principal_of(session, user_id)
    refresh = _new_refresh_token(session, user_id=user_id, family_id=family_id or uuid.uuid4().hex,
                                 ttl_s=refresh_ttl_s)
    session.commit()
    access = issue_access_token(principal=principal, keys=keys, ttl_s=access_ttl_s)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=access_ttl_s)


def _refused(detail: str) -> DomainError:
    return Unauthenticated("invalid_token", detail)


def rotate_refresh_token(session: Session, *, refresh_token: str, keys: KeyRing,
                         access_ttl_s: int, refresh_ttl_s: int) -> TokenPair:
    """Trade a refresh token for a new pair; a second use revokes its whole family."""
    token_id, _, secret = refresh_token.partition(".")
    # Mark the link used in the same statement that checks it, so two racing uses cannot both win.
    now = utcnow()
    row = session.get(RefreshToken, token_id) if token_id else None
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        raise _refused("Unknown refresh token.")
    if row.revoked_at is not None or row.expires_at <= now:
        raise _refused("The refresh token has expired or was revoked.")
    claimed = session.exec(
        RefreshToken.__table__.update()
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if claimed != 1:
        session.execute(RefreshToken.__table__.update()
                        .where(RefreshToken.family_id == row.family_id)
                        .values(revoked_at=now))
        session.commit()
        raise Unauthenticated("refresh_token_reused",
                       "This refresh token was already used; all its sessions are signed out.")
    return issue_tokens(session, user_id=row.user_id, keys=keys,
                        access_ttl_s=access_ttl_s, refresh_ttl_s=refresh_ttl_s,
                        family_id=row.family_id)


def user_public(session: Session, user: User, *, language: str) -> UserPublic:
    """Describe a user with roles and organisations, in the language."""
    principal = principal_of(session, user.id)
    orgs = session.exec(select(Organisation).where(
        Organisation.id.in_(principal.organisation_ids))).all() if principal.organisation_ids else []
    return UserPublic(
        id=user.id, email=user.email, name=user.name, phone=user.phone,
        roles=[Role(role) for role in sorted(principal.roles)],
        organisations=[OrganisationPublic(id=o.id, slug=o.slug, name=pick(o.name_zh, o.name_en, language),
                                          kind=o.kind) for o in orgs],
    )


def create_organisation(session: Session, *, slug: str, name_zh: str, name_en: str,
                        kind: str) -> Organisation:
    """Create an organisation with a unique slug."""
    org = Organisation(slug=slug, name_zh=name_zh, name_en=name_en, kind=kind)
    session.add(org)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("organisation_exists", "Organisation {slug} exists.", params={"slug": repr(slug)}) from exc
    return org


def grant_role(session: Session, *, user_id: int, role: Role, organisation_id: int | None) -> None:
    """Give a user a role; staff roles also make them a member of the organisation."""
    if session.get(User, user_id) is None:
        raise NotFound("not_found", "No user {user_id}.", params={"user_id": user_id})
    staff = role in (Role.operator, Role.organiser, Role.site_operator)
    if staff and (organisation_id is None or session.get(Organisation, organisation_id) is None):
        raise Invalid("organisation_required", "Staff roles need an existing organisation_id.")
    try:
        if staff and organisation_id is not None and session.get(Membership, (user_id, organisation_id)) is None:
            session.add(Membership(user_id=user_id, organisation_id=organisation_id))
        if session.get(UserRole, (user_id, role.value)) is None:
            session.add(UserRole(user_id=user_id, role=role.value))
        session.commit()
    except IntegrityError:
        # A concurrent grant of the same role or membership committed first: it holds already.
        session.rollback()
