"""Money as the API shows it: integer minor units (fen) with a currency."""
from sqlmodel import SQLModel


class Money(SQLModel):
    """An amount in minor units (fen) with its currency."""

    amount: int
    currency: str = "CNY"
