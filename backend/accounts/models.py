"""Users, roles, organisations and refresh tokens."""
from datetime import datetime
from enum import Enum

from pydantic import field_validator
from sqlmodel import Field, SQLModel

from backend.dbtypes import DbId, UTCDateTime, utcnow

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,185}\.[A-Za-z]{2,}$"


class Role(str, Enum):
    """What a user may do: citizen, or a staff role within an organisation, or admin."""

    citizen = "citizen"
    operator = "operator"
    organiser = "organiser"
    site_operator = "site_operator"
    admin = "admin"


STAFF_ROLES = {Role.operator, Role.organiser, Role.site_operator}


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"
    id: int = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    kind: str = Field(max_length=32)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    name: str = Field(max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserRole(SQLModel, table=True):
    __tablename__ = "user_roles"
    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(max_length=32, primary_key=True)


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    organisation_id: int = Field(foreign_key="organisations.id", primary_key=True, ondelete="CASCADE")


class RefreshToken(SQLModel, table=True):
    """One link in a rotation family; reuse of a used link revokes the whole family."""

    __tablename__ = "refresh_tokens"
    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    family_id: str = Field(max_length=32, index=True)
    secret_hash: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UserRegister(SQLModel):
    """A new citizen account."""

    email: str = Field(max_length=254, schema_extra={"pattern": EMAIL_PATTERN})
    password: str = Field(min_length=8, max_length=128)
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32, schema_extra={"pattern": r"^\+?[0-9 \-]{5,20}$"})

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class UserLogin(SQLModel):
    """Email and password."""

    email: str = Field(max_length=254)
    password: str = Field(max_length=128)


class RefreshRequest(SQLModel):
    """A refresh token to trade for a new pair."""

    refresh_token: str = Field(max_length=200)


class OrganisationPublic(SQLModel):
    """An organisation (fleet, event organiser, site operator), named in the caller's language."""

    id: int
    slug: str
    name: str
    kind: str


class UserPublic(SQLModel):
    """A user with roles and organisations."""

    id: int
    email: str
    name: str
    phone: str | None = None
    roles: list[Role]
    organisations: list[OrganisationPublic]


class TokenPair(SQLModel):
    """A short-lived access token and a refresh token that works once."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


class AuthResponse(TokenPair):
    """A signed-in user with a fresh token pair."""

    user: UserPublic


class RoleGrant(SQLModel):
    """A role to grant; staff roles name their organisation."""

    role: Role
    organisation_id: DbId | None = None


class OrganisationCreate(SQLModel):
    """A new organisation (admin)."""

    slug: str = Field(min_length=2, max_length=64, schema_extra={"pattern": r"^[a-z0-9][a-z0-9-]+$"})
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    kind: str = Field(max_length=32,
                      schema_extra={"pattern": r"^(fleet_operator|event_organiser|site_operator|platform)$"})
