"""Column types shared by every package: UTC timestamps and JSON that behave alike on both databases."""
import enum
from datetime import datetime, timezone
from typing import Annotated

from pydantic import Field
from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB

# Ids fit a 32-bit INTEGER column; a larger number would make the driver or database raise.
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


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
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# JSONB on PostgreSQL (indexable), plain JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


def enum_column(enum_cls: type[enum.Enum]) -> SAEnum:
    """Store a str enum as its value in a plain VARCHAR, the same on both databases.

    A native PostgreSQL enum type would need its own migration for every new member.
    """
    return SAEnum(enum_cls, native_enum=False, create_constraint=False, length=32,
                  values_callable=lambda members: [m.value for m in members])
