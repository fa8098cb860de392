"""Keyset pagination: a page starts strictly after the last row of the previous one.

Unlike an offset, a key stays put when rows are inserted or removed between two pages, so a
client walking a list never sees a row twice or misses one that was there when it began.
"""
from sqlalchemy import and_, or_


def beyond(columns: list, values: tuple, *, descending: bool):
    """Return the condition `columns` come after `values` in a (descending) lexicographic order."""
    column, value = columns[0], values[0]
    strictly = column < value if descending else column > value
    if len(columns) == 1:
        return strictly
    return or_(strictly, and_(column == value, beyond(columns[1:], values[1:], descending=descending)))
