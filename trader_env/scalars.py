"""Typed values of polars aggregates.

``Series.median()``, ``.min()``, ``.max()`` and friends are typed as any Python literal or
None, because the column's dtype is only known at run time. These helpers state the type a
caller expects and fail with a message naming the value when it is not (None when the
column was empty or all null).
"""

from __future__ import annotations

import datetime as dt


def as_float(value: object, what: str) -> float:
    """``value`` (an int or float aggregate) as a float; ``what`` names it in the error."""
    if not isinstance(value, int | float):
        raise TypeError(f"{what}: expected a number, got {value!r}")
    return float(value)


def as_datetime(value: object, what: str) -> dt.datetime:
    """``value`` (a Datetime column's aggregate) as a datetime; ``what`` names it."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{what}: expected a datetime, got {value!r}")
    return value


def as_date(value: object, what: str) -> dt.date:
    """``value`` (a Date column's aggregate) as a date; ``what`` names it."""
    if not isinstance(value, dt.date):
        raise TypeError(f"{what}: expected a date, got {value!r}")
    return value
