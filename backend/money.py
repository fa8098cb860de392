"""Money as the API shows it: integer minor units (fen) with a currency."""
from sqlmodel import SQLModel


class Money(SQLModel):
    amount: int
    currency: str = "CNY"
