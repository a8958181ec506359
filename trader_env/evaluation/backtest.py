"""Backtest runner: a policy played over whole evaluation splits in the training environment.

Each symbol's split is played from its first observable bar to its last, in the SAME
:class:`~trader_env.env.IntradayTradingEnv` class, config and costs as training
(``make_env(config, arrays=[a], mode="eval")``). Symbols run in lockstep so that one batched
``policy.predict`` call serves all of them per bar; a recurrent policy's state is carried and
``episode_start`` is True on the first call (and for a symbol resumed after a halt).

Accounting conventions:

- Per-bar rows: one per bar after the first decision bar. An environment step deciding at
  ``t`` gives the row of bar ``u = t + 1`` (equity marked at ``close[u]``, the step's cost,
  penalties, reward, and the regime label of bar ``u``, the bar over which the return was
  earned). The starting bar (equity = initial capital) has no row.
- Each symbol trades its own account of ``initial_capital``; portfolio equity is their sum
  (a symbol without bars on a date keeps its last equity).
- Buy and hold: ``initial_capital / close[s]`` shares bought at the close of the first
  decision bar ``s = window - 1`` paying the environment's cost of that order (rate of that
  bar and per-share commission), then held:
  ``B_u = capital * close[u] / close[s] - entry cost``. That is exactly what the
  environment books for "long from the first bar" with ``execution="close"``.
- Daily returns: per session date (``America/New_York`` by default), last portfolio equity
  of the day over the last of the previous day, minus 1; the first day against the initial
  capital.
- A risk halt (``terminated``) ends the environment's episode. The account is then flat
  (rows with ``halted`` True: constant equity, zero return) until the next session, where a
  fresh environment of the same config resumes with the equity the halt left (a new episode:
  ``episode_start`` is True for that symbol). Every day of the split is evaluated, so a halt
  costs what it really costs and cannot hide the days after it; ``halts`` lists them.
  ``resume_after_halt=False`` keeps the account flat to the end of the split instead.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import polars as pl

from trader_env.contracts import REGIMES, VOL_BUCKET_EXTRA, VOL_BUCKETS, MarketArrays
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
from trader_env.sessions import DEFAULT_SESSION_TIMEZONE, session_date_expr

if TYPE_CHECKING:
    from trader_env.env import EnvConfig, IntradayTradingEnv

#: Float columns recorded from the step's ``info`` (money; ``position`` in units).
_INFO_FLOATS: tuple[str, ...] = (
    "price",
    "equity",
    "position",
    "cost",
    "turnover_penalty",
    "risk_penalty",
    "net_pnl",
    "traded_notional",
)
REGIME_DTYPE = pl.Enum(list(REGIMES))
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
VOL_BUCKET_DTYPE = pl.Enum(list(VOL_BUCKETS))


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

        Row ``u`` of ``result.bars`` holds the action decided at bar ``u - 1``; bars where
        nothing was decided (the warm-up window, the last bar) are flat.
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


class _SymbolRun:
    """One symbol's environment(s) and recorded rows.

    Rows are indexed by bar of the whole split; an environment started after a halt covers a
    slice of the split, and ``offset`` maps its bar indices back.
    """

    def __init__(self, arrays: MarketArrays, config: EnvConfig, resume_after_halt: bool) -> None:
        self.arrays = arrays
        self.config = config
        self.resume_after_halt = resume_after_halt
        self.columns: dict[str, list[Any]] = {
            name: [] for name in ("bar", "action", "reward", "risk_event", "halted", *_INFO_FLOATS)
        }
        self.closed_ts: list[int] = []
        self.closed_pnl: list[float] = []
        self.halts: list[tuple[int, str]] = []
        self.offset = 0
        self.env = self._make_env(arrays, config)

    @staticmethod
    def _make_env(arrays: MarketArrays, config: EnvConfig) -> IntradayTradingEnv:
        from trader_env.env import make_env

        return make_env(config, arrays=[arrays], mode="eval")

    def reset(self) -> np.ndarray:
        return self.env.reset()[0]

    @property
    def bar(self) -> int:
        """The split bar the next action is decided at."""
        return self.offset + self.env.current_bar

    def record(self, action: int, reward: float, info: dict[str, Any]) -> None:
        columns = self.columns
        columns["bar"].append(self.offset + info["bar_index"])
        columns["action"].append(action)
        columns["reward"].append(reward)
        columns["risk_event"].append(info["risk_event"])
        columns["halted"].append(False)
        for name in _INFO_FLOATS:
            columns[name].append(info[name])
        for pnl in info["closed_trade_pnl"]:
            self.closed_ts.append(info["ts"])
            self.closed_pnl.append(pnl)

    def halt(self, info: dict[str, Any]) -> np.ndarray | None:
        """Book a halt; stay flat to the next session and resume there (or to the end).

        Returns the first observation of the resumed environment, or None when the account
        stays flat to the end of the split. The resumed environment starts flat with the
        equity the halt left, at the next session's first bar, with ``window - 1`` bars of
        history before it.
        """
        equity = float(info["equity"])
        if not math.isfinite(equity):
            raise ValueError(
                f"{self.arrays.symbol}: the environment reported non-finite equity at "
                f"ts={info['ts']} ({info['risk_event']}); the backtest cannot continue"
            )
        self.halts.append((info["ts"], str(info["risk_event"])))
        arrays = self.arrays
        n = len(arrays)
        bar = self.offset + info["bar_index"]
        later = np.flatnonzero(arrays.session_id[bar + 1 :] != arrays.session_id[bar])
        # A wiped-out account (equity <= 0) has nothing left to trade with.
        can_resume = self.resume_after_halt and equity > 0.0 and later.size > 0
        resume_at = min(bar + 1 + int(later[0]), n - 1) if can_resume else n - 1
        flat = range(bar + 1, resume_at + 1)
        columns = self.columns
        columns["bar"].extend(flat)
        for name, value in (
            ("action", 1),
            ("reward", 0.0),
            ("risk_event", None),
            ("halted", True),
            ("equity", equity),
            ("position", float(info["position"])),
        ):
            columns[name].extend([value] * len(flat))
        for name in ("cost", "turnover_penalty", "risk_penalty", "net_pnl", "traded_notional"):
            columns[name].extend([0.0] * len(flat))
        columns["price"].extend(arrays.close[flat.start : flat.stop].tolist())
        if resume_at >= n - 1:
            return None
        first = resume_at - (self.config.window - 1)
        self.offset = first
        config = self.config.model_copy(update={"initial_capital": equity})
        self.env = self._make_env(_tail(arrays, first), config)
        return self.reset()

    def frame(self, start: int, capital: float, entry_cost: float, timezone: str) -> pl.DataFrame:
        """The symbol's per-bar frame, bars ``start + 1 .. n - 1`` (see :class:`BacktestResult`)."""
        arrays = self.arrays
        index = np.asarray(self.columns["bar"], dtype=np.int64)
        if not np.array_equal(index, np.arange(start + 1, len(arrays))):
            raise RuntimeError(f"{arrays.symbol}: backtest rows do not cover the split in order")
        close = arrays.close
        equity = np.asarray(self.columns["equity"], dtype=np.float64)
        previous = np.concatenate(([capital], equity[:-1]))
        floats = {name: np.asarray(self.columns[name], dtype=np.float64) for name in _INFO_FLOATS}
        return pl.DataFrame(
            {
                "symbol": pl.Series([arrays.symbol] * len(index), dtype=pl.String),
                "ts": pl.Series(arrays.ts[index]).cast(pl.Datetime("us", "UTC")),
                "action": np.asarray(self.columns["action"], dtype=np.int8),
                "price": floats["price"],
                "equity": equity,
                "benchmark_equity": capital * close[index] / close[start] - entry_cost,
                **{name: floats[name] for name in _INFO_FLOATS if name not in ("price", "equity")},
                "reward": np.asarray(self.columns["reward"], dtype=np.float64),
                "regime": pl.Series(np.asarray(REGIMES)[arrays.regime[index]]).cast(REGIME_DTYPE),
                "vol_bucket": _vol_buckets(arrays, index),
                "bar_return": equity / previous - 1.0,
                "risk_event": pl.Series(self.columns["risk_event"], dtype=pl.String),
                "halted": np.asarray(self.columns["halted"], dtype=bool),
            }
        ).with_columns(session_date_expr(timezone))

    def trades(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "symbol": pl.Series([self.arrays.symbol] * len(self.closed_pnl), dtype=pl.String),
                "ts": pl.Series(self.closed_ts, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
                "net_pnl": pl.Series(self.closed_pnl, dtype=pl.Float64),
            }
        )


def _vol_buckets(arrays: MarketArrays, index: np.ndarray) -> pl.Series:
    """The volatility bucket of bars ``index`` (Enum of VOL_BUCKETS; null without buckets)."""
    codes = arrays.extras.get(VOL_BUCKET_EXTRA)
    if codes is None:
        return pl.Series([None] * len(index), dtype=VOL_BUCKET_DTYPE)
    return pl.Series(np.asarray(VOL_BUCKETS)[codes[index]]).cast(VOL_BUCKET_DTYPE)


def _tail(arrays: MarketArrays, first: int) -> MarketArrays:
    """``arrays`` from bar ``first`` on."""
    return dataclasses.replace(
        arrays,
        ts=arrays.ts[first:],
        open=arrays.open[first:],
        high=arrays.high[first:],
        low=arrays.low[first:],
        close=arrays.close[first:],
        features=arrays.features[first:],
        regime=arrays.regime[first:],
        session_id=arrays.session_id[first:],
        extras={name: values[first:] for name, values in arrays.extras.items()},
    )


def _entry_cost(arrays: MarketArrays, config: EnvConfig, start: int) -> float:
    """What buying ``initial_capital`` of the symbol at bar ``start``'s close costs, money."""
    from trader_env.env.costs import Commission, cost_rates

    costs = config.costs_for(arrays.symbol)
    capital = float(config.initial_capital)
    rate = float(cost_rates(arrays.close, costs)[start])
    return capital * rate + Commission.of(costs)(capital / float(arrays.close[start]), capital)


def _single_action(actions: np.ndarray, n_envs: int) -> np.ndarray:
    flat = np.asarray(actions).reshape(-1)
    if flat.shape[0] != n_envs:
        raise ValueError(
            f"policy.predict returned {flat.shape[0]} action(s) for {n_envs} observation(s)"
        )
    return flat.astype(np.int64)


def _portfolio_daily(per_day: pl.DataFrame, column: str, capital: float) -> pd.Series:
    """Daily simple returns of the summed equity of all symbols (see module docstring)."""
    wide = (
        per_day.pivot(on="symbol", index="session", values=column)
        .sort("session")
        .fill_null(strategy="forward")
        .fill_null(capital)
    )
    symbols = [name for name in wide.columns if name != "session"]
    equity = wide.select(pl.sum_horizontal(symbols)).to_series().to_numpy()
    previous = np.concatenate(([capital * len(symbols)], equity[:-1]))
    index = pd.DatetimeIndex(wide["session"].to_numpy(), name="session")
    return pd.Series(equity / previous - 1.0, index=index, name=column)


def run_backtest(
    policy: Policy | ActionSchedule,
    arrays: Sequence[MarketArrays],
    env_config: EnvConfig,
    deterministic: bool = True,
    session_timezone: str = DEFAULT_SESSION_TIMEZONE,
    resume_after_halt: bool = True,
) -> BacktestResult:
    """Play ``policy`` over every symbol's whole split and collect the results.

    ``policy``: a model with ``predict`` (SB3), or an :class:`ActionSchedule` of scripted
    actions per symbol (in the order of ``arrays``).
    ``arrays``: one :class:`MarketArrays` per symbol (unique symbols), the evaluation split.
    ``env_config``: the :class:`~trader_env.env.EnvConfig` the policy was trained with.
    ``deterministic`` is passed to ``predict``; with False, reproducibility needs the caller
    to seed torch. ``session_timezone`` defines the session date of a bar.
    ``resume_after_halt``: after a risk halt, stay flat for the rest of that session and
    resume at the next session (True), or stay flat to the end of the split (False).
    """
    arrays = list(arrays)
    if not arrays:
        raise ValueError("run_backtest needs at least one MarketArrays")
    symbols = [a.symbol for a in arrays]
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"symbols must be unique, got {symbols}")
    runs = [_SymbolRun(a, env_config, resume_after_halt) for a in arrays]
    n_envs = len(runs)
    observations = np.stack([run.reset() for run in runs])
    episode_start = np.ones(n_envs, dtype=bool)
    live = list(range(n_envs))
    state: Any = None
    while live:
        if isinstance(policy, ActionSchedule):
            chosen = policy.at([run.bar for run in runs])
        else:
            actions, state = policy.predict(
                observations, state=state, episode_start=episode_start, deterministic=deterministic
            )
            chosen = _single_action(actions, n_envs).tolist()
        episode_start = np.zeros(n_envs, dtype=bool)
        for i in tuple(live):
            run = runs[i]
            obs, reward, terminated, truncated, info = run.env.step(chosen[i])
            run.record(chosen[i], float(reward), info)
            if terminated:
                resumed = run.halt(info)
                if resumed is None:
                    live.remove(i)
                else:
                    observations[i] = resumed
                    episode_start[i] = True  # a new episode: recurrent state starts afresh
            elif truncated:
                live.remove(i)
            else:
                observations[i] = obs

    capital = float(env_config.initial_capital)
    start = env_config.window - 1
    frames = [
        run.frame(start, capital, _entry_cost(run.arrays, env_config, start), session_timezone)
        for run in runs
    ]
    bars = pl.concat(frames)
    per_day = bars.group_by("symbol", "session", maintain_order=True).agg(
        pl.col("equity").last(),
        pl.col("benchmark_equity").last(),
        pl.col("traded_notional").sum(),
    )
    notional = per_day.group_by("session").agg(pl.col("traded_notional").sum()).sort("session")
    halts = [(run.arrays.symbol, ts, reason) for run in runs for ts, reason in run.halts]
    return BacktestResult(
        bars=bars,
        daily_returns=_portfolio_daily(per_day, "equity", capital).rename("strategy"),
        benchmark_daily_returns=_portfolio_daily(per_day, "benchmark_equity", capital).rename(
            "buy_and_hold"
        ),
        closed_trades=pl.concat([run.trades() for run in runs]),
        traded_notional_per_day=pd.Series(
            notional["traded_notional"].to_numpy(),
            index=pd.DatetimeIndex(notional["session"].to_numpy(), name="session"),
            name="traded_notional",
        ),
        halts=pl.DataFrame(
            halts,
            schema={"symbol": pl.String, "ts": pl.Int64, "reason": pl.String},
            orient="row",
        ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))),
        initial_capital=capital,
        bars_per_year=float(env_config.bars_per_year),
    )
