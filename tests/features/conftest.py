"""Bars built directly as polars frames in the BARS_SCHEMA contract (no data layer)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from trader_env.contracts import BARS_SCHEMA
from trader_env.features import FeaturesConfig, load_features_config

#: 09:30 America/New_York in winter.
OPEN_UTC = timedelta(hours=14, minutes=30)

BarsFactory = Callable[..., pl.DataFrame]


def bars_from_closes(
    closes_by_session: Sequence[Sequence[float]],
    symbol: str = "AAA",
    first_session: date = date(2024, 1, 2),
    volumes: Sequence[float] | None = None,
) -> pl.DataFrame:
    """One-minute bars from 09:30 New York, one session per weekday; open = previous close
    (the first open equals the first close), high / low = max / min(open, close) +/- 0.5."""
    ts, close = [], []
    day = first_session
    for session in closes_by_session:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) + OPEN_UTC
        ts += [start + timedelta(minutes=i) for i in range(len(session))]
        close += list(session)
        day += timedelta(days=1)
    c = np.asarray(close, dtype=np.float64)
    o = np.concatenate([c[:1], c[:-1]])
    v = np.arange(1.0, len(c) + 1) * 10 if volumes is None else np.asarray(volumes, float)
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(c),
            "ts": ts,
            "open": o,
            "high": np.maximum(o, c) + 0.5,
            "low": np.minimum(o, c) - 0.5,
            "close": c,
            "volume": v,
        },
        schema=BARS_SCHEMA,
    )


def random_market(
    seed: int, symbols: int = 2, sessions: int = 60, bars: int = 60, sigma: float = 1e-3
) -> pl.DataFrame:
    """A seeded random-walk market of ``symbols`` x ``sessions`` x ``bars`` one-minute bars."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(symbols):
        returns = rng.normal(0.0, sigma, (sessions, bars))
        closes = 100.0 * np.exp(np.cumsum(returns.ravel())).reshape(sessions, bars)
        frame = bars_from_closes(closes.tolist(), symbol=f"S{k}")
        frames.append(frame.with_columns(volume=pl.lit(rng.lognormal(8, 0.5, frame.height))))
    return pl.concat(frames)


@pytest.fixture
def test_config() -> FeaturesConfig:
    """The ``test`` profile of assets_config/features.yaml."""
    return load_features_config(profile="test")


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    """2 symbols x 60 sessions x 60 bars, as in the test profile's target market."""
    return random_market(seed=7)


@pytest.fixture(scope="session")
def make_bars() -> BarsFactory:
    """:func:`bars_from_closes` (fixtures are the way to share helpers under importlib mode)."""
    return bars_from_closes


@pytest.fixture(scope="session")
def make_market() -> BarsFactory:
    """:func:`random_market`."""
    return random_market
