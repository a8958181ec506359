"""Small synthetic markets built directly as MarketArrays for the environment's tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from trader_env.contracts import MarketArrays

MINUTE_US = 60_000_000
DAY_US = 86_400 * 1_000_000
OPEN_2024_01_02_US = 1_704_205_800 * 1_000_000  # 2024-01-02 14:30 UTC (09:30 New York)


def build_market_arrays(
    n_sessions: int = 3,
    bars_per_session: int = 20,
    n_features: int = 6,
    seed: int = 0,
    symbol: str = "TEST",
    close: np.ndarray | None = None,
    open_: np.ndarray | None = None,
) -> MarketArrays:
    """A seeded random-walk market of ``n_sessions`` sessions, one bar a minute.

    ``close`` / ``open_`` (float64, length ``n_sessions * bars_per_session``) replace the
    random prices when given; ``open_`` defaults to the previous close (first bar: its close).
    Features are seeded noise, regimes cycle through the four codes.
    """
    rng = np.random.default_rng(seed)
    n = n_sessions * bars_per_session
    if close is None:
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    close = np.asarray(close, dtype=np.float64)
    if open_ is None:
        open_ = np.concatenate(([close[0]], close[:-1]))
    open_ = np.asarray(open_, dtype=np.float64)
    session = np.repeat(np.arange(n_sessions, dtype=np.int64), bars_per_session)
    minute = np.tile(np.arange(bars_per_session, dtype=np.int64), n_sessions)
    ts = OPEN_2024_01_02_US + session * DAY_US + minute * MINUTE_US
    return MarketArrays(
        symbol=symbol,
        ts=ts.astype(np.int64),
        open=open_,
        high=np.maximum(open_, close) * 1.001,
        low=np.minimum(open_, close) * 0.999,
        close=close,
        features=rng.normal(0.0, 1.0, (n, n_features)).astype(np.float32),
        feature_names=tuple(f"f{i}" for i in range(n_features)),
        regime=(np.arange(n) % 4).astype(np.int8),
        session_id=session,
    )


@pytest.fixture(scope="session")
def make_arrays() -> Callable[..., MarketArrays]:
    """The :func:`build_market_arrays` builder (session-scoped, so hypothesis can use it)."""
    return build_market_arrays
