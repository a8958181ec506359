"""The synthetic market's oracle: the Sharpe a policy that knows the true drift would reach."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl

from trader_env.costs import cost_per_side_bps
from trader_env.dataset import Dataset
from trader_env.env.config import EnvConfig
from trader_env.evaluation.metrics import compute_metrics
from trader_env.features import select_split
from trader_env.features.splits import PartName
from trader_env.scalars import as_float
from trader_env.sessions import session_date_expr

#: Keys :func:`oracle_comparison` adds to the test metrics (synthetic market only).
ORACLE_KEYS: tuple[str, ...] = ("oracle_sharpe", "oracle_fraction")


def oracle_comparison(agent_daily: pd.Series, oracle_daily: pd.Series) -> dict[str, float]:
    """The oracle's Sharpe over the agent's days and the agent's Sharpe as a fraction of it."""
    aligned = oracle_daily.reindex(agent_daily.index).fillna(0.0)
    oracle_sharpe = compute_metrics(aligned)["sharpe"]
    agent_sharpe = compute_metrics(agent_daily)["sharpe"]
    fraction = agent_sharpe / oracle_sharpe if oracle_sharpe > 0 else math.nan
    return {"oracle_sharpe": oracle_sharpe, "oracle_fraction": fraction}


def env_cost_per_side_bps(env: EnvConfig, bars: pl.DataFrame) -> float:
    """Mean cost per side, bps of notional, of one ``initial_capital`` order at each symbol's
    median price under ``env`` (slippage at its unscaled level)."""
    values = []
    for symbol in bars["symbol"].unique().sort().to_list():
        price = as_float(
            bars.filter(pl.col("symbol") == symbol)["close"].median(), f"{symbol} median close"
        )
        values.append(cost_per_side_bps(env.costs_for(symbol), price, env.initial_capital))
    return float(np.mean(values))


def oracle_daily_returns(
    oracle: pl.DataFrame, market: Dataset, cost_bps: float, part: PartName = "test"
) -> pd.Series:
    """Daily returns of the synthetic market's oracle over ``part``, equally weighted by symbol,
    after paying ``cost_bps`` (basis points of notional) on every change of position.

    ``oracle`` is :attr:`trader_env.data.SyntheticMarket.oracle`; its gross per-bar ``pnl`` is
    charged the agent's own cost per side so that "a fraction of the oracle" compares like with
    like (the generator's ``net_pnl`` uses the synthetic config's cost instead).
    """
    session = session_date_expr(market.splits.session_timezone)
    change = (pl.col("position") - pl.col("position").shift(1, fill_value=0)).abs().over("symbol")
    rows = select_split(
        oracle.sort("symbol", "ts").with_columns(net=pl.col("pnl") - cost_bps * 1e-4 * change),
        market.splits,
        part,
    )
    daily = (
        rows.with_columns(session=session)
        .group_by("symbol", "session")
        .agg(ret=(pl.col("net") + 1.0).product() - 1.0)
        .group_by("session")
        .agg(pl.col("ret").mean())
        .sort("session")
    )
    index = pd.DatetimeIndex(daily["session"].to_list())
    return pd.Series(daily["ret"].to_numpy(), index=index, name="oracle")
