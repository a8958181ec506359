"""Naive baselines, played through the same environment and costs as the agent.

A policy has to beat doing nothing and the simplest rules before it is worth anything; each
baseline is an :class:`~trader_env.evaluation.backtest.ActionSchedule` (the action decided at
every bar) run by :func:`~trader_env.evaluation.backtest.run_backtest`, so it pays exactly what
the agent would pay for the same trades.

- ``flat``: never trades.
- ``intraday_long``: long from the first decision bar of every session, flat at its close.
- ``buy_and_hold``: long from the first decision bar, held overnight to the end of the split
  (the environment's end-of-session flattening is switched off for it, and only for it).
- ``intraday_momentum``: Gao, Han, Li and Zhou (2018), "Market intraday momentum", Journal of
  Financial Economics 129(2): the return from the previous session's close to the end of the
  session's first half hour predicts the return of its last half hour; the rule holds the sign
  of the first over the last half hour and is flat otherwise. Times are taken from each
  session's own bars (first bar + 30 minutes, last bar - 30 minutes), so the rule adapts to
  any session length; on a 24/7 market a "session" is a calendar day in the session timezone
  and "the previous close" the last bar of the day before. A session without a previous one in
  the bars, or without a bar at its half-hour mark, stays flat.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from trader_env.contracts import MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.evaluation.backtest import ActionSchedule, BacktestResult, run_backtest
from trader_env.sessions import session_date_expr

BASELINES: tuple[str, ...] = ("flat", "intraday_long", "buy_and_hold", "intraday_momentum")
#: The rules a trained intraday agent is compared with (buy-and-hold carries overnight risk).
INTRADAY_BASELINES: tuple[str, ...] = ("flat", "intraday_long", "intraday_momentum")
SHORT, FLAT, LONG = 0, 1, 2
HALF_HOUR = dt.timedelta(minutes=30)


def _session_last(arrays: MarketArrays) -> np.ndarray:
    return np.append(np.diff(arrays.session_id) != 0, True)


def _momentum_exposure(arrays: MarketArrays, bars: pl.DataFrame, timezone: str) -> np.ndarray:
    """Desired exposure (-1, 0, 1) over each bar of ``arrays`` under the intraday momentum rule.

    ``bars``: the symbol's validated bars (all of them, so the session's first half hour and
    the previous close are known even where features dropped warm-up bars).
    """
    sessions = (
        bars.select("ts", "close")
        .sort("ts")
        .with_columns(session_date_expr(timezone))
        .group_by("session", maintain_order=True)
        .agg(
            open_ts=pl.col("ts").first(),
            last_ts=pl.col("ts").last(),
            last_close=pl.col("close").last(),
            early_close=pl.col("close")
            .filter(pl.col("ts") < pl.col("ts").first() + HALF_HOUR)
            .last(),
        )
        .with_columns(prev_close=pl.col("last_close").shift(1))
        .with_columns(
            signal=pl.when(pl.col("prev_close").is_not_null() & pl.col("early_close").is_not_null())
            .then((pl.col("early_close") / pl.col("prev_close")).log().sign())
            .otherwise(0.0),
            # The last half hour: bars starting at or after (last bar + one bar) - 30 minutes.
            window_start=pl.col("last_ts") - HALF_HOUR,
        )
    )
    frame = (
        pl.DataFrame({"ts": pl.Series(arrays.ts).cast(pl.Datetime("us", "UTC"))})
        .with_columns(session_date_expr(timezone))
        .join(sessions.select("session", "signal", "window_start"), on="session", how="left")
    )
    in_window = (frame["ts"] > frame["window_start"]).fill_null(False).to_numpy()
    signal = frame["signal"].fill_null(0.0).to_numpy()
    return np.where(in_window, signal, 0.0)


def baseline_schedule(
    name: str,
    arrays: Sequence[MarketArrays],
    bars: pl.DataFrame | None = None,
    session_timezone: str = "America/New_York",
) -> ActionSchedule:
    """The actions of baseline ``name`` (one of :data:`BASELINES`) over each symbol's split.

    ``bars`` (validated bars of every symbol) is needed by ``intraday_momentum`` only. The
    action decided at bar ``t`` sets the exposure over bar ``t + 1``.
    """
    schedules = []
    for a in arrays:
        n = len(a)
        if name == "flat":
            actions = np.full(n, FLAT, dtype=np.int8)
        elif name == "buy_and_hold":
            actions = np.full(n, LONG, dtype=np.int8)
        elif name == "intraday_long":
            actions = np.where(_session_last(a), FLAT, LONG).astype(np.int8)
        elif name == "intraday_momentum":
            if bars is None:
                raise ValueError("the intraday_momentum baseline needs the bars")
            exposure = _momentum_exposure(
                a, bars.filter(pl.col("symbol") == a.symbol), session_timezone
            )
            actions = np.full(n, FLAT, dtype=np.int8)
            actions[:-1] = (np.sign(exposure[1:]) + 1).astype(np.int8)
            actions[_session_last(a)] = FLAT
        else:
            raise ValueError(f"unknown baseline {name!r}; known: {list(BASELINES)}")
        schedules.append(actions)
    return ActionSchedule(tuple(schedules))


def baseline_env(name: str, env_config: EnvConfig) -> EnvConfig:
    """The environment a baseline runs in: the agent's, with flattening at each session's end
    switched off for ``buy_and_hold`` (held overnight by definition) and on for the intraday
    rules (flat at the close by definition)."""
    return env_config.model_copy(update={"flatten_at_session_end": name != "buy_and_hold"})


def run_baselines(
    arrays: Sequence[MarketArrays],
    env_config: EnvConfig,
    bars: pl.DataFrame,
    session_timezone: str = "America/New_York",
    names: Sequence[str] = BASELINES,
) -> dict[str, BacktestResult]:
    """Backtest every baseline in ``names`` over ``arrays`` in ``env_config`` (with its costs)."""
    return {
        name: run_backtest(
            baseline_schedule(name, arrays, bars, session_timezone),
            arrays,
            baseline_env(name, env_config),
            session_timezone=session_timezone,
        )
        for name in names
    }
