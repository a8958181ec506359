"""What a backtest plays and what it produces: the policy protocol, scripted action schedules
and :class:`BacktestResult` with its metrics (see :mod:`~trader_env.evaluation.backtest` for
the accounting conventions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import polars as pl

from trader_env.contracts import REGIMES, VOL_BUCKETS, MarketArrays
from trader_env.evaluation.metrics import (
    METRIC_KEYS,
    compute_metrics,
    daily_turnover,
    intraday_max_drawdowns,
    win_rate,
)
from trader_env.evaluation.per_regime import (
    DEFAULT_MIN_BARS,
    per_vol_bucket_metrics,
    regime_summary,
)

#: Buy-and-hold metrics reported as ``benchmark_<key>``.
BENCHMARK_KEYS: tuple[str, ...] = (
    "sharpe",
    "sortino",
    "max_drawdown",
    "annual_return",
    "annual_volatility",
)
#: Every key of :meth:`BacktestResult.metrics` (a gate may name any of them).
BACKTEST_METRIC_KEYS: tuple[str, ...] = (
    *METRIC_KEYS,
    *(f"benchmark_{key}" for key in BENCHMARK_KEYS),
    "win_rate",
    "n_trades",
    "daily_turnover",
    "share_days_within_drawdown",
    "drawdown_limit",
    "worst_intraday_drawdown",
    "bar_sharpe",
    "regime_degradation",
    *(f"sharpe_{regime}" for regime in REGIMES),
    *(f"bars_{regime}" for regime in REGIMES),
    *(f"sharpe_vol_{bucket}" for bucket in VOL_BUCKETS),
    *(f"bars_vol_{bucket}" for bucket in VOL_BUCKETS),
    "net_pnl",
    "total_cost",
    "n_halts",
)


class Policy(Protocol):
    """What SB3 models (PPO, RecurrentPPO, ...) offer: batched ``predict``.

    ``observation``: ``(n_envs, *observation_shape)``; returns actions ``(n_envs,)`` and the
    next recurrent state (None for feed-forward policies).
    """

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]: ...


@dataclass(frozen=True)
class ActionSchedule:
    """A scripted policy: the action decided at every bar of every symbol's split.

    ``actions[i][t]`` is the action (0 short, 1 flat, 2 long) decided at bar ``t`` of the
    ``i``-th symbol passed to :func:`run_backtest`, int8 ``(n_bars,)``. Baseline rules and
    replays of recorded actions (cost sensitivity) use it: no network is evaluated.
    """

    actions: tuple[np.ndarray, ...]

    def at(self, bars: Sequence[int]) -> list[int]:
        """The action of each symbol at its current decision bar ``bars[i]``."""
        return [int(actions[bar]) for actions, bar in zip(self.actions, bars, strict=True)]

    @classmethod
    def replay(cls, result: BacktestResult, arrays: Sequence[MarketArrays]) -> ActionSchedule:
        """The actions ``result`` recorded, as a schedule over ``arrays`` (the same splits).

        Row ``u`` of ``result.bars`` holds the action in force over bar ``u``, decided at
        bar ``u - 1``; bars where nothing was decided (the warm-up window, the last bar) are
        flat.
        """
        schedules = []
        for a in arrays:
            rows = result.bars.filter(pl.col("symbol") == a.symbol)
            actions = np.ones(len(a), dtype=np.int8)
            first = len(a) - rows.height - 1
            actions[first : first + rows.height] = rows["action"].to_numpy()
            schedules.append(actions)
        return cls(tuple(schedules))


@dataclass(frozen=True)
class BacktestResult:
    """Everything a backtest produced; :meth:`metrics` turns it into gate-ready numbers.

    - ``bars``: polars, one row per symbol and bar, columns ``symbol``, ``ts`` (UTC),
      ``session`` (date), ``action`` (0 short, 1 flat, 2 long), ``price`` (close),
      ``equity``, ``benchmark_equity``, ``position`` (signed units), ``cost``,
      ``turnover_penalty``, ``risk_penalty``, ``net_pnl``, ``traded_notional`` (money),
      ``reward`` (scaled, as training sees it), ``regime`` (Enum of REGIMES), ``vol_bucket``
      (Enum of VOL_BUCKETS, null when the arrays carry no bucket), ``bar_return``
      (equity change / previous equity), ``risk_event`` (str or null), ``halted`` (bool).
    - ``daily_returns`` / ``benchmark_daily_returns``: pandas Series of simple returns indexed
      by session date (naive ``DatetimeIndex``), portfolio of all symbols.
    - ``closed_trades``: polars ``symbol``, ``ts`` (bar where it closed), ``net_pnl`` (money,
      after entry and exit costs).
    - ``traded_notional_per_day``: pandas Series of traded notional (money) per session.
    - ``halts``: polars ``symbol``, ``ts``, ``reason``: every risk halt (each ended an
      environment episode; see the module docstring for what follows it).
    - ``initial_capital``: per symbol, money; ``bars_per_year``: from the env config.
    """

    bars: pl.DataFrame
    daily_returns: pd.Series
    benchmark_daily_returns: pd.Series
    closed_trades: pl.DataFrame
    traded_notional_per_day: pd.Series
    halts: pl.DataFrame
    initial_capital: float
    bars_per_year: float

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols in the order they were played."""
        return tuple(self.bars["symbol"].unique(maintain_order=True).to_list())

    def intraday_drawdowns(self) -> np.ndarray:
        """Worst intraday drawdown of every (symbol, session), negative fractions."""
        worst = []
        for (_,), group in self.bars.group_by("symbol", maintain_order=True):
            days = group["session"].to_physical().to_numpy()
            equity = group["equity"].to_numpy()
            worst.append(intraday_max_drawdowns(equity, days, self.initial_capital))
        return np.concatenate(worst) if worst else np.empty(0)

    def regime_table(self, min_bars: int = DEFAULT_MIN_BARS) -> pl.DataFrame:
        """Per-regime metrics of the per-bar returns (see :mod:`~.per_regime`)."""
        return regime_summary(self.bars, self.bars_per_year, min_bars)[0]

    def vol_bucket_table(self, min_bars: int = DEFAULT_MIN_BARS) -> pl.DataFrame:
        """Per-volatility-bucket metrics of the per-bar returns (see :mod:`~.per_regime`)."""
        return per_vol_bucket_metrics(self.bars, self.bars_per_year, min_bars)

    def metrics(
        self,
        periods_per_year: int = 252,
        drawdown_limit: float = 0.04,
        min_regime_bars: int = DEFAULT_MIN_BARS,
    ) -> dict[str, float]:
        """Flat ``{name: float}`` of every evaluation metric (NaN where undefined).

        Daily metrics of :func:`compute_metrics` vs buy and hold; ``benchmark_*`` the same
        for buy and hold; ``win_rate`` and ``n_trades``; ``daily_turnover`` (mean traded
        notional / total capital per session); ``share_days_within_drawdown`` (share of
        symbol-sessions whose intraday drawdown stays under ``drawdown_limit``) and
        ``worst_intraday_drawdown``; ``bar_sharpe`` (per-bar, annualised with
        ``bars_per_year``), ``sharpe_<regime>`` and ``bars_<regime>`` per regime and
        ``regime_degradation`` (regimes with at least ``min_regime_bars`` bars);
        ``sharpe_vol_<bucket>`` and ``bars_vol_<bucket>`` per volatility bucket;
        ``net_pnl``, ``total_cost`` (money), ``n_halts``.
        """
        if not drawdown_limit > 0.0:
            raise ValueError(f"drawdown_limit must be a positive fraction, got {drawdown_limit}")
        metrics = compute_metrics(
            self.daily_returns, self.benchmark_daily_returns, periods_per_year
        )
        benchmark = compute_metrics(self.benchmark_daily_returns, None, periods_per_year)
        for key in BENCHMARK_KEYS:
            metrics[f"benchmark_{key}"] = benchmark[key]
        pnls = self.closed_trades["net_pnl"].to_numpy()
        metrics["win_rate"] = win_rate(pnls)
        metrics["n_trades"] = float(len(pnls))
        capital = self.initial_capital * len(self.symbols)
        metrics["daily_turnover"] = daily_turnover(self.traded_notional_per_day, capital)
        worst = self.intraday_drawdowns()
        metrics["share_days_within_drawdown"] = (
            float(np.mean(-worst < drawdown_limit)) if len(worst) else math.nan
        )
        metrics["drawdown_limit"] = float(drawdown_limit)
        metrics["worst_intraday_drawdown"] = float(worst.min()) if len(worst) else math.nan
        table, overall, degradation = regime_summary(self.bars, self.bars_per_year, min_regime_bars)
        metrics["bar_sharpe"] = overall
        metrics["regime_degradation"] = degradation
        for row in table.iter_rows(named=True):
            metrics[f"sharpe_{row['regime']}"] = row["sharpe"]
            metrics[f"bars_{row['regime']}"] = float(row["n_bars"])
        for row in self.vol_bucket_table(min_regime_bars).iter_rows(named=True):
            metrics[f"sharpe_vol_{row['vol_bucket']}"] = row["sharpe"]
            metrics[f"bars_vol_{row['vol_bucket']}"] = float(row["n_bars"])
        metrics["net_pnl"] = float(self.bars["net_pnl"].sum())
        metrics["total_cost"] = float(self.bars["cost"].sum())
        metrics["n_halts"] = float(self.halts.height)
        return metrics
