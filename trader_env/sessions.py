"""Trading sessions: which session each bar belongs to, from a session clock.

A session clock is ``"<IANA timezone>"`` (a session is the local calendar day, e.g.
``"America/New_York"`` for US equities, ``"UTC"`` for 24/7 crypto) or
``"<IANA timezone>@HH:MM"`` (a session starts every day at that local time and is dated by the
day on which it ends, e.g. ``"America/New_York@17:00"`` for FX: Sunday 17:00 to Monday 17:00 is
Monday's session). See :mod:`trader_env.calendars` for the clock of each market type.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

DEFAULT_SESSION_TIMEZONE = "America/New_York"
_DAY_MINUTES = 1440


def parse_session_clock(clock: str) -> tuple[str, dt.time]:
    """``(timezone, session start)`` of a session clock; raises ``ValueError`` naming the clock
    when the timezone is unknown or the start is not ``HH:MM``."""
    timezone, _, start = clock.partition("@")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {timezone!r} in session clock {clock!r}") from None
    if not start:
        return timezone, dt.time(0, 0)
    try:
        return timezone, dt.datetime.strptime(start, "%H:%M").time()
    except ValueError:
        raise ValueError(
            f"session clock {clock!r}: the start after '@' must be HH:MM (e.g. "
            "'America/New_York@17:00')"
        ) from None


def check_session_clock(clock: str) -> str:
    """``clock`` unchanged if it parses (pydantic validator)."""
    parse_session_clock(clock)
    return clock


def clock_timezone(clock: str) -> str:
    """The IANA timezone of a session clock."""
    return parse_session_clock(clock)[0]


def session_date_expr(clock: str = DEFAULT_SESSION_TIMEZONE) -> pl.Expr:
    """Expression giving the session date (``pl.Date``) of the UTC ``ts`` column.

    With a start time, local times from the start onwards belong to the next day's session
    (shifting by the minutes to midnight; a 17:00 start adds 7 hours before taking the date).
    """
    timezone = clock_timezone(clock)
    local = pl.col("ts").dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    return session_of_local_time(local, clock)


def session_of_local_time(local: pl.Expr, clock: str) -> pl.Expr:
    """Session date (``session``) of ``local``, naive wall-clock times in the clock's timezone
    (lets a caller that already converted ``ts`` skip a second conversion)."""
    start = parse_session_clock(clock)[1]
    start_minutes = start.hour * 60 + start.minute
    if start_minutes:
        local = local + pl.duration(minutes=_DAY_MINUTES - start_minutes)
    return local.dt.date().alias("session")


def with_sessions(bars: pl.DataFrame, clock: str = DEFAULT_SESSION_TIMEZONE) -> pl.DataFrame:
    """Return ``bars`` with a ``session`` date column appended."""
    return bars.with_columns(session_date_expr(clock))
