"""A small market and small real policies for the backtest tests (no mocks of the env)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from trader_env.contracts import REGIMES, MarketArrays
from trader_env.env import EnvConfig, sandbox_config
from trader_env.env.cost_config import CostConfig

SESSION_OPEN_US = (14 * 60 + 30) * 60 * 1_000_000  # 09:30 New York in winter
DAY_US = 86_400 * 1_000_000
MINUTE_US = 60 * 1_000_000
BARS_PER_SESSION = 30


def build_market(
    symbol: str = "AAA",
    seed: int = 1,
    n_sessions: int = 4,
    drift: float = 0.0,
    first_day: int = 20_000,
) -> MarketArrays:
    """``n_sessions`` sessions of 30 one-minute bars; feature = last log return x 1000."""
    rng = np.random.default_rng(seed)
    n = n_sessions * BARS_PER_SESSION
    log_ret = rng.normal(drift, 0.002, n)
    close = 100.0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.0002, n))
    high = np.maximum(open_, close) * 1.0005
    low = np.minimum(open_, close) * 0.9995
    session = np.repeat(np.arange(n_sessions, dtype=np.int64), BARS_PER_SESSION)
    minute = np.tile(np.arange(BARS_PER_SESSION, dtype=np.int64), n_sessions)
    ts = (first_day + session) * DAY_US + SESSION_OPEN_US + minute * MINUTE_US
    return MarketArrays(
        symbol=symbol,
        ts=ts,
        open=open_,
        high=high,
        low=low,
        close=close,
        features=(log_ret[:, None] * 1000.0).astype(np.float32),
        feature_names=("ret_1",),
        regime=(np.arange(n) // 20 % len(REGIMES)).astype(np.int8),
        session_id=session,
    )


def build_entry_cost_only_config(commission_bps: float = 2.0) -> EnvConfig:
    """No penalties or limits, fills at the observed close, positions kept overnight: an
    always-long policy pays exactly one entry cost."""
    return sandbox_config().model_copy(
        update={"costs": CostConfig(commission_bps=commission_bps, half_spread_bps=0.5)}
    )


class ConstantPolicy:
    """Always the same action (0 short, 1 flat, 2 long) for every environment."""

    def __init__(self, action: int):
        self.action = action

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        return np.full(observation.shape[0], self.action), state


class MomentumPolicy:
    """Long after an up bar, short after a down bar (feature column 0 of the newest row).

    Carries a recurrent-style state (steps seen per environment) and records every
    ``episode_start`` it receives, to check the runner's handling of both.
    """

    def __init__(self) -> None:
        self.episode_starts: list[np.ndarray] = []

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        assert episode_start is not None
        self.episode_starts.append(episode_start.copy())
        steps = np.zeros(observation.shape[0]) if state is None else state[0]
        steps = np.where(episode_start, 0.0, steps) + 1.0
        last = observation[:, -1, 0]
        actions = np.where(last > 0.0, 2, 0)
        return actions, (steps,)


@pytest.fixture(scope="session")
def market() -> MarketArrays:
    """One symbol, 4 sessions of 30 bars."""
    return build_market()


@pytest.fixture(scope="session")
def make_market() -> Callable[..., MarketArrays]:
    """:func:`build_market`, for tests that need several or special markets."""
    return build_market


@pytest.fixture()
def entry_cost_config() -> EnvConfig:
    """:func:`build_entry_cost_only_config` with its defaults."""
    return build_entry_cost_only_config()


@pytest.fixture(scope="session")
def constant_policy() -> type[ConstantPolicy]:
    return ConstantPolicy


@pytest.fixture()
def momentum_policy() -> MomentumPolicy:
    return MomentumPolicy()
