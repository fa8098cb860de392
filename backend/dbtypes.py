"""Column types shared by every package: UTC timestamps and JSON that behave alike on both databases."""
import enum
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB

# Ids fit a 32-bit INTEGER column; a larger number would make the driver or database raise.
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


# Moments the platform deals in; anything outside is a typo or an attack, and the far ends of
# Python's calendar overflow as soon as an offset is applied (year 1 at +08:00, year 9999 at -05:00).
FIRST_YEAR, LAST_YEAR = 2000, 2099


def _within_calendar(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"dates must lie between {FIRST_YEAR}-01-01 and {LAST_YEAR + 1}-01-01")
    return value


# An RFC 3339 moment with an offset, inside the platform's calendar: every date a request sends.
Moment = Annotated[AwareDatetime, AfterValidator(_within_calendar)]


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so without this the same column would read naive there and aware
    on PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable), plain JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


def enum_column(enum_cls: type[enum.Enum]) -> SAEnum:
    """Store a str enum as its value in a plain VARCHAR, the same on both databases.

    A native PostgreSQL enum type would need its own migration for every new member.
    """
    return SAEnum(enum_cls, native_enum=False, create_constraint=False, length=32,
                  values_callable=lambda members: [m.value for m in members])
