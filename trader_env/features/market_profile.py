"""The market a bar series comes from, resolved once: type, session clock, bar interval and
the annualisation base every later step uses (features, regimes, splits, the environment).
"""

from __future__ import annotations

from datetime import time

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from trader_env.calendars import CALENDARS, MarketType, detect_market
from trader_env.features.frequency import infer_bar_frequency
from trader_env.sessions import with_sessions


class MarketProfile(BaseModel):
    """Resolved market of a bar series (JSON-serialisable; stored in the splits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    market: MarketType = Field(description="us_equity, crypto or fx.")
    detected: bool = Field(description="Read from the bars (data.yaml left `market` null).")
    evidence: str = Field(description="Why this market type (detection) or 'data.yaml'.")
    session_clock: str = Field(
        description="Session clock: 'TZ' or 'TZ@HH:MM' (trader_env.sessions)."
    )
    session_open: time = Field(description="Local time-of-day origin of a session.")
    session_minutes: float = Field(description="Nominal session length (minutes).")
    sessions_per_year: float = Field(description="Sessions per year (annualisation).")
    has_close: bool = Field(description="Whether sessions are separated by a closed market.")
    bar_seconds: float = Field(description="Median bar spacing inside a session (seconds).")
    session_bars: float = Field(
        description="Bars of a nominal session, session_minutes * 60 / bar_seconds: what '1d' "
        "means in windows (390 for 1-minute US equities)."
    )
    bars_per_year: float = Field(
        description="session_bars * sessions_per_year: the annualisation base of the "
        "environment (98,280 for 1-minute US equities, 17,520 for 30-minute crypto)."
    )
    bars_per_session: float = Field(
        description="Bars of a session as measured in the data (median span; 391 for the SPY "
        "sample, which has a 16:00 closing bar): the regimes' annualisation base (with "
        "sessions_per_year), the session length of the embargo and of the warm-up share."
    )

    def bars(self, minutes: float) -> float:
        """Bars in ``minutes`` of trading time (fractional)."""
        return minutes * 60.0 / self.bar_seconds

    def with_overrides(
        self,
        session_clock: str | None = None,
        session_open: time | None = None,
        session_minutes: float | None = None,
        sessions_per_year: float | None = None,
        bars_per_session: float | None = None,
    ) -> MarketProfile:
        """A copy with the given values replaced (None keeps the market's), bars per year
        recomputed."""
        values = self.model_dump()
        for key, value in {
            "session_clock": session_clock,
            "session_open": session_open,
            "session_minutes": session_minutes,
            "sessions_per_year": sessions_per_year,
            "bars_per_session": bars_per_session,
        }.items():
            if value is not None:
                values[key] = value
        values["session_bars"] = values["session_minutes"] * 60.0 / values["bar_seconds"]
        values["bars_per_year"] = values["session_bars"] * values["sessions_per_year"]
        return MarketProfile.model_validate(values)


def market_profile(
    bars: pl.DataFrame, market: MarketType | None = None, session_clock: str | None = None
) -> MarketProfile:
    """Resolve the market of (symbol, ts)-sorted ``bars``.

    ``market`` None detects it (:func:`trader_env.calendars.detect_market`);
    ``session_clock`` None takes the market calendar's. Bar spacing and measured bars per
    session are medians over the data's sessions (:func:`~trader_env.features.frequency.infer_bar_frequency`),
    so half days and gaps do not move them.
    """
    if market is None:
        detection = detect_market(bars)
        market_type, evidence = detection.market, detection.evidence()
    else:
        market_type, evidence = market, "data.yaml"
    calendar = CALENDARS[market_type]
    clock = session_clock or calendar.session_clock
    frequency = infer_bar_frequency(with_sessions(bars.select("symbol", "ts"), clock))
    return MarketProfile(
        market=market_type,
        detected=market is None,
        evidence=evidence,
        session_clock=clock,
        session_open=calendar.session_open,
        session_minutes=calendar.session_minutes,
        sessions_per_year=calendar.sessions_per_year,
        has_close=calendar.has_close,
        bar_seconds=frequency.bar_seconds,
        session_bars=calendar.session_minutes * 60.0 / frequency.bar_seconds,
        bars_per_year=calendar.session_minutes
        * 60.0
        / frequency.bar_seconds
        * calendar.sessions_per_year,
        bars_per_session=frequency.bars_per_session,
    )
