"""Market calendars: what a trading session is for US equities, 24/7 crypto and 24/5 FX.

A calendar fixes, per market type:

- the **session clock** (:func:`trader_env.sessions.session_date_expr`): which bars form one
  session. US equities: the New York calendar day (the regular session 09:30-16:00, 13:00 on
  half days, never crosses midnight). Crypto trades 24/7 and has no close: a session is the UTC
  calendar day, a bookkeeping day for daily turnover, drawdown halts and the intraday
  flat-at-close rule (the position is closed at the day's last bar, 23:59 UTC for 1-minute
  bars, as a day trader would). FX trades 24/5 from Sunday 17:00 to Friday 17:00 New York time:
  a session is the FX trading day that starts at 17:00 New York (``America/New_York@17:00``),
  dated by the day it ends, so Sunday evening's bars belong to Monday's session and the weekend
  gap falls between Friday's and Monday's sessions;
- the **time-of-day origin and period** of the ``tod_sin`` / ``tod_cos`` features;
- **sessions per year** for annualisation (252 / 365 / 260); bars per year is that times the
  bars of a session (derived from the data, see
  :func:`trader_env.features.market_profile.market_profile`);
- whether the market has a **daily close** (a gap between sessions). Without one, feature
  windows run across session boundaries by default (nothing to restart at), which is what
  keeps the warm-up of 30-minute crypto bars at a few bars per symbol instead of 63 %.

US-equity half days (13:00 close) follow the NYSE rules: July 3 when it falls Monday to
Thursday, the day after Thanksgiving, and December 24 when it falls Monday to Thursday.
No calendar library is used: ``exchange_calendars`` would add pandas-heavy dependencies and
data for 50 exchanges to answer these three questions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import polars as pl

#: Market types of ``data.yaml``'s ``market`` key.
MarketType = Literal["us_equity", "crypto", "fx"]
MARKET_TYPES: tuple[MarketType, ...] = ("us_equity", "crypto", "fx")


@dataclass(frozen=True)
class MarketCalendar:
    """The session rules of one market type (see the module docstring).

    ``session_clock``: ``"<IANA timezone>"`` or ``"<IANA timezone>@HH:MM"`` (sessions start
    at that local time; :func:`trader_env.sessions.session_date_expr`). ``session_open``:
    local time (in the clock's timezone) at which a regular session opens, the origin of the
    time-of-day phase; ``session_minutes``: its nominal length (minutes), the phase's period.
    """

    market: MarketType
    session_clock: str
    session_open: dt.time
    session_minutes: float
    sessions_per_year: float
    has_close: bool
    trades_weekends: bool

    def session_close(self, session: dt.date) -> dt.time | None:
        """Local closing time of ``session`` (13:00 on US half days); None without a close."""
        if not self.has_close:
            return None
        if self.market == "us_equity" and is_us_equity_half_day(session):
            return dt.time(13, 0)
        opened = dt.datetime.combine(session, self.session_open)
        return (opened + dt.timedelta(minutes=self.session_minutes)).time()


CALENDARS: dict[MarketType, MarketCalendar] = {
    "us_equity": MarketCalendar(
        market="us_equity",
        session_clock="America/New_York",
        session_open=dt.time(9, 30),
        session_minutes=390.0,
        sessions_per_year=252.0,
        has_close=True,
        trades_weekends=False,
    ),
    "crypto": MarketCalendar(
        market="crypto",
        session_clock="UTC",
        session_open=dt.time(0, 0),
        session_minutes=1440.0,
        sessions_per_year=365.0,
        has_close=False,
        trades_weekends=True,
    ),
    "fx": MarketCalendar(
        market="fx",
        session_clock="America/New_York@17:00",
        session_open=dt.time(17, 0),
        session_minutes=1440.0,
        # 52 weeks of 5 trading days.
        sessions_per_year=260.0,
        has_close=False,
        trades_weekends=False,
    ),
}


def is_us_equity_half_day(day: dt.date) -> bool:
    """Whether NYSE closes at 13:00 on ``day`` (July 3 Mon-Thu, the day after Thanksgiving,
    December 24 Mon-Thu). Holidays themselves are not sessions and are not listed."""
    weekday = day.weekday()  # Monday = 0
    if (day.month, day.day) in ((7, 3), (12, 24)):
        return weekday <= 3
    if day.month == 11 and weekday == 4:
        # Thanksgiving is the fourth Thursday of November: the Friday after falls on 23..29.
        return 23 <= day.day <= 29
    return False


#: Share of bars on Saturdays (UTC) above which a series trades on weekends (24/7: ~1/7).
WEEKEND_SHARE = 0.05
#: Median UTC-day span (hours) from which a weekday market counts as round-the-clock (FX);
#: US equities span 6.5 h regular, 16 h with extended hours.
ROUND_THE_CLOCK_HOURS = 20.0


@dataclass(frozen=True)
class MarketDetection:
    """The market type read from the bars and the evidence for it."""

    market: MarketType
    saturday_share: float  # share of bars starting on a Saturday (UTC), 0..1
    median_day_span_hours: float  # median over (symbol, UTC day) of last - first bar (hours)

    def evidence(self) -> str:
        """One line saying why."""
        return (
            f"{self.saturday_share:.1%} of bars on Saturdays (UTC), median span of a UTC day "
            f"{self.median_day_span_hours:.1f} h -> {self.market}"
        )


def detect_market(bars: pl.DataFrame) -> MarketDetection:
    """Market type of a (symbol, ts) frame, ``ts`` UTC: bars on Saturdays -> ``crypto``
    (24/7); otherwise UTC days spanning >= 20 h -> ``fx`` (24/5, weekend gap); otherwise
    ``us_equity`` (regular or extended hours on weekdays). Daily bars read as ``us_equity``
    unless they trade on weekends; set ``market`` in ``data.yaml`` to override."""
    if bars.height == 0:
        raise ValueError("detect_market: no bars")
    stats = (
        bars.lazy()
        .select("symbol", "ts", day=pl.col("ts").dt.date())
        .group_by("symbol", "day")
        .agg(span=(pl.col("ts").max() - pl.col("ts").min()).dt.total_seconds(), n=pl.len())
        .select(
            saturday=(
                pl.col("n").filter(pl.col("day").dt.weekday() == 6).sum() / pl.col("n").sum()
            ),
            span=pl.col("span").median() / 3600.0,
        )
        .collect()
        .row(0, named=True)
    )
    saturday, span = float(stats["saturday"] or 0.0), float(stats["span"])
    if saturday >= WEEKEND_SHARE:
        market: MarketType = "crypto"
    elif span >= ROUND_THE_CLOCK_HOURS:
        market = "fx"
    else:
        market = "us_equity"
    return MarketDetection(market, saturday, span)
