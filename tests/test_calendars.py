"""Market calendars, session clocks and market detection."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from trader_env.calendars import CALENDARS, detect_market, is_us_equity_half_day
from trader_env.sessions import parse_session_clock, session_date_expr

UTC = dt.UTC


def _sessions(clock: str, *stamps: dt.datetime) -> list[dt.date]:
    frame = pl.DataFrame({"ts": list(stamps)}, schema={"ts": pl.Datetime("us", "UTC")})
    return frame.select(session_date_expr(clock))["session"].to_list()


def test_us_half_days_follow_the_nyse_rules() -> None:
    half_days = [
        dt.date(2017, 7, 3),
        dt.date(2017, 11, 24),
        dt.date(2018, 7, 3),
        dt.date(2018, 11, 23),
        dt.date(2018, 12, 24),
        dt.date(2019, 7, 3),
        dt.date(2019, 11, 29),
        dt.date(2019, 12, 24),
    ]
    days = [dt.date(2017, 1, 1) + dt.timedelta(days=i) for i in range(3 * 365)]
    assert [d for d in days if is_us_equity_half_day(d)] == half_days
    equity = CALENDARS["us_equity"]
    assert equity.session_close(dt.date(2019, 11, 29)) == dt.time(13, 0)
    assert equity.session_close(dt.date(2019, 11, 27)) == dt.time(16, 0)
    assert CALENDARS["crypto"].session_close(dt.date(2019, 11, 29)) is None


def test_fx_session_starts_at_17_new_york_across_daylight_saving() -> None:
    clock = CALENDARS["fx"].session_clock
    sessions = _sessions(
        clock,
        dt.datetime(2024, 3, 3, 22, 0, tzinfo=UTC),  # Sunday 17:00 EST -> Monday
        dt.datetime(2024, 3, 8, 21, 0, tzinfo=UTC),  # Friday 16:00 EST -> Friday
        dt.datetime(2024, 3, 10, 21, 0, tzinfo=UTC),  # Sunday 17:00 EDT -> Monday
        dt.datetime(2024, 3, 11, 20, 59, tzinfo=UTC),  # Monday 16:59 EDT -> Monday
    )
    assert sessions == [
        dt.date(2024, 3, 4),
        dt.date(2024, 3, 8),
        dt.date(2024, 3, 11),
        dt.date(2024, 3, 11),
    ]


def test_crypto_session_is_the_utc_day_and_equity_the_new_york_day() -> None:
    late = dt.datetime(2024, 3, 2, 23, 59, tzinfo=UTC)
    assert _sessions("UTC", late) == [dt.date(2024, 3, 2)]
    assert _sessions("America/New_York", late) == [dt.date(2024, 3, 2)]
    assert _sessions("America/New_York", dt.datetime(2024, 3, 3, 2, 0, tzinfo=UTC)) == [
        dt.date(2024, 3, 2)
    ]


def test_bad_session_clocks_are_refused_by_name() -> None:
    assert parse_session_clock("America/New_York@17:00") == ("America/New_York", dt.time(17))
    with pytest.raises(ValueError, match="unknown IANA timezone 'Mars/Base'"):
        parse_session_clock("Mars/Base")
    with pytest.raises(ValueError, match="must be HH:MM"):
        parse_session_clock("UTC@5pm")


def _frame(stamps: list[dt.datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": ["X"] * len(stamps), "ts": stamps},
        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC")},
    )


def test_detection_reads_weekends_and_day_span() -> None:
    start = dt.datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
    every_hour = [start + dt.timedelta(hours=h) for h in range(14 * 24)]
    assert detect_market(_frame(every_hour)).market == "crypto"
    weekdays = [t for t in every_hour if t.weekday() < 5]
    fx = detect_market(_frame(weekdays))
    assert fx.market == "fx" and fx.saturday_share == 0 and fx.median_day_span_hours == 23
    regular = [t for t in weekdays if 14 <= t.hour < 21]
    equity = detect_market(_frame(regular))
    assert equity.market == "us_equity" and "-> us_equity" in equity.evidence()
