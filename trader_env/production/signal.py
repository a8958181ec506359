"""The serving champion's target position for the next bar of each symbol.

The champion plays the latest stored session from its first bar, in its own environment
config (costs, risk limits, sizing), exactly as the backtests do: the risk features of the
observation (position, unrealised P&L, drawdown, turnover) then describe the account the
champion would hold now. Its action on the observation of the latest bar is the signal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from trader_env.contracts import MarketArrays
from trader_env.dataset import Dataset
from trader_env.env import EnvConfig, make_env
from trader_env.evaluation.backtest import Policy
from trader_env.production.sessions import arrays_for_sessions, stored_sessions
from trader_env.scalars import as_date

#: Direction of the target position per action (0 short, 1 flat, 2 long).
DIRECTIONS = {0: "short", 1: "flat", 2: "long"}


@dataclass(frozen=True)
class Signal:
    """One symbol's next-bar target from the champion.

    ``action``: the policy's action (0 short, 1 flat, 2 long) on ``observation``
    (float32 ``(window, n_columns)``, the latest bar last). ``direction``: -1, 0 or +1 after
    the environment's rules (short means flat when long-only; flat after a risk halt today);
    the size follows the config's position sizing (fraction of equity). ``bar_ts``: start of
    the latest bar (UTC), ``session``: its session date. ``halted``: the risk limit that
    halted today's trading, if any. ``equity``: the account the champion would hold now,
    money (starting the session at the env's ``initial_capital``).
    """

    symbol: str
    bar_ts: dt.datetime
    session: dt.date
    action: int
    direction: int
    equity: float
    halted: str | None
    observation: np.ndarray

    @property
    def position(self) -> str:
        """'long', 'flat' or 'short'."""
        return DIRECTIONS[self.direction + 1]


def _play_session(
    policy: Policy, arrays: MarketArrays, config: EnvConfig
) -> tuple[np.ndarray, Any, float, str | None]:
    """Play one symbol's arrays to their last bar; return (observation, state, equity, halt)."""
    env = make_env(config, arrays=[arrays], mode="eval")
    observation, _ = env.reset()
    state: Any = None  # the policy's recurrent state (None for feed-forward policies)
    start = np.ones(1, dtype=bool)
    equity = float(config.initial_capital)
    while True:
        actions, state = policy.predict(
            observation[None], state=state, episode_start=start, deterministic=True
        )
        start = np.zeros(1, dtype=bool)
        observation, _, terminated, truncated, info = env.step(int(np.asarray(actions).ravel()[0]))
        equity = float(info["equity"])
        if terminated:
            return observation, state, equity, str(info["risk_event"])
        if truncated:
            return observation, state, equity, None


def compute_signals(
    policy: Policy,
    market: Dataset,
    env_config: EnvConfig,
    symbols: list[str] | None = None,
) -> list[Signal]:
    """The champion's next-bar target for every symbol (or ``symbols``), in symbol order.

    Each symbol's latest stored session is played from its first bar with ``window - 1``
    warm-up bars before it. Deterministic actions, as in every evaluation.
    """
    last = stored_sessions(market)[-1]
    signals = []
    known = sorted(market.features["symbol"].unique().to_list())
    wanted = known if symbols is None else symbols
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"no stored features for symbol(s) {unknown}; stored: {known}")
    for symbol in wanted:
        session = as_date(
            market.features.filter(pl.col("symbol") == symbol)["session"].max(),
            f"{symbol} latest stored session",
        )
        arrays = arrays_for_sessions(market, session, last, env_config.window - 1, [symbol])
        if not arrays:
            raise ValueError(f"{symbol}: no bar with features and a regime in session {session}")
        observation, state, equity, halted = _play_session(policy, arrays[0], env_config)
        if halted is None:
            actions, _ = policy.predict(
                observation[None],
                state=state,
                episode_start=np.zeros(1, dtype=bool),
                deterministic=True,
            )
            action = int(np.asarray(actions).ravel()[0])
        else:
            action = 1  # halted: the risk manager keeps the account flat to the session end
        direction = action - 1
        if direction < 0 and env_config.long_only:
            direction = 0
        signals.append(
            Signal(
                symbol=symbol,
                bar_ts=dt.datetime.fromtimestamp(arrays[0].ts[-1] / 1e6, tz=dt.UTC),
                session=session,
                action=action,
                direction=direction,
                equity=equity,
                halted=halted,
                observation=observation,
            )
        )
    return signals
