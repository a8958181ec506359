"""Trading sessions: the calendar day of each bar in the exchange's own timezone."""

from __future__ import annotations

import polars as pl

DEFAULT_SESSION_TIMEZONE = "America/New_York"


def session_date_expr(timezone: str = DEFAULT_SESSION_TIMEZONE) -> pl.Expr:
    """Expression giving the session date (``pl.Date``) of the UTC ``ts`` column.

    Intraday equity sessions never cross local midnight, so the local calendar date identifies
    the session; for 24/7 markets pass ``"UTC"`` and a session is a UTC day.
    """
    return pl.col("ts").dt.convert_time_zone(timezone).dt.date().alias("session")


def with_sessions(bars: pl.DataFrame, timezone: str = DEFAULT_SESSION_TIMEZONE) -> pl.DataFrame:
    """Return ``bars`` with a ``session`` date column appended."""
    return bars.with_columns(session_date_expr(timezone))
