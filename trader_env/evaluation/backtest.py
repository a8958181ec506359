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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from trader_env.contracts import REGIMES, VOL_BUCKET_EXTRA, VOL_BUCKETS, MarketArrays
from trader_env.env.episode_record import RECORD_COLUMNS, EpisodeRecord
from trader_env.evaluation.backtest_result import (
    BACKTEST_METRIC_KEYS,
    BENCHMARK_KEYS,
    ActionSchedule,
    BacktestResult,
    Policy,
)
from trader_env.evaluation.inference import StackedMlpPolicies, fast_policy
from trader_env.sessions import DEFAULT_SESSION_TIMEZONE, session_date_expr

__all__ = [
    "BACKTEST_METRIC_KEYS",
    "BENCHMARK_KEYS",
    "ActionSchedule",
    "BacktestResult",
    "BacktestSpec",
    "Policy",
    "run_backtest",
    "run_backtests",
]

if TYPE_CHECKING:
    from trader_env.env import EnvConfig, IntradayTradingEnv

#: Money columns of a backtest's bars taken from the environment's record (``position`` in
#: units).
_RECORDED_FLOATS: tuple[str, ...] = (
    "equity",
    "position",
    "cost",
    "turnover_penalty",
    "risk_penalty",
    "net_pnl",
    "traded_notional",
)
REGIME_DTYPE = pl.Enum(list(REGIMES))
VOL_BUCKET_DTYPE = pl.Enum(list(VOL_BUCKETS))


@dataclass(frozen=True)
class _FlatSpan:
    """Bars ``first .. last`` of the split spent flat after a halt, at ``equity``."""

    first: int
    last: int
    equity: float
    position: float


class _SymbolRun:
    """One symbol's environment(s) and what they recorded.

    The environment reports each episode's bars at its end (``info="record"``); an
    environment started after a halt covers a slice of the split, and ``offset`` maps its bar
    indices back to the split's.
    """

    def __init__(self, arrays: MarketArrays, config: EnvConfig, resume_after_halt: bool) -> None:
        self.arrays = arrays
        self.config = config
        self.resume_after_halt = resume_after_halt
        #: In bar order: (offset, record) of each episode, or the flat span after a halt.
        self.segments: list[tuple[int, EpisodeRecord] | _FlatSpan] = []
        self.halts: list[tuple[int, str]] = []
        self.offset = 0
        self.env = self._make_env(arrays, config)

    @staticmethod
    def _make_env(arrays: MarketArrays, config: EnvConfig) -> IntradayTradingEnv:
        from trader_env.env import make_env

        return make_env(config, arrays=[arrays], mode="eval", info="record")

    def reset(self) -> np.ndarray:
        return self.env.reset()[0]

    @property
    def bar(self) -> int:
        """The split bar the next action is decided at."""
        return self.offset + self.env.current_bar

    def end_episode(self, info: dict[str, Any], terminated: bool) -> np.ndarray | None:
        """Book the episode that just ended; after a halt (``terminated``) stay flat to the
        next session and resume there (or to the end).

        Returns the first observation of the resumed environment, or None when the symbol is
        done. The resumed environment starts flat with the equity the halt left, at the next
        session's first bar, with ``window - 1`` bars of history before it.
        """
        record: EpisodeRecord = info["episode_record"]
        self.segments.append((self.offset, record))
        if not terminated:
            return None
        last = record.values[-1]
        bar = self.offset + int(last[RECORD_COLUMNS.index("bar")])
        equity = float(last[RECORD_COLUMNS.index("equity")])
        arrays = self.arrays
        event = record.risk_events[-1][1] if record.risk_events else "unknown"
        ts = int(arrays.ts[bar])
        if not math.isfinite(equity):
            raise ValueError(
                f"{arrays.symbol}: the environment reported non-finite equity at "
                f"ts={ts} ({event}); the backtest cannot continue"
            )
        self.halts.append((ts, event))
        n = len(arrays)
        later = np.flatnonzero(arrays.session_id[bar + 1 :] != arrays.session_id[bar])
        # A wiped-out account (equity <= 0) has nothing left to trade with.
        can_resume = self.resume_after_halt and equity > 0.0 and later.size > 0
        resume_at = min(bar + 1 + int(later[0]), n - 1) if can_resume else n - 1
        position = float(last[RECORD_COLUMNS.index("position")])
        if resume_at > bar:
            self.segments.append(_FlatSpan(bar + 1, resume_at, equity, position))
        if resume_at >= n - 1:
            return None
        first = resume_at - (self.config.window - 1)
        self.offset = first
        config = self.config.model_copy(update={"initial_capital": equity})
        self.env = self._make_env(arrays.tail(first), config)
        return self.reset()

    def _columns(self) -> tuple[dict[str, np.ndarray], list[tuple[int, str]], np.ndarray]:
        """Per-bar columns in split order (``bar``, ``action``, ``reward``, ``halted`` and
        :data:`_RECORDED_FLOATS`), the risk events ``(split bar, event)`` and the closed
        trades ``(n, 2)``: split bar, net P&L."""
        parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("bar", "action", "reward", "halted", *_RECORDED_FLOATS)
        }
        events: list[tuple[int, str]] = []
        closed: list[tuple[int, float]] = []
        for segment in self.segments:
            if isinstance(segment, _FlatSpan):
                n = segment.last - segment.first + 1
                parts["bar"].append(np.arange(segment.first, segment.last + 1))
                parts["action"].append(np.ones(n))
                parts["halted"].append(np.ones(n, dtype=bool))
                parts["equity"].append(np.full(n, segment.equity))
                parts["position"].append(np.full(n, segment.position))
                for name in ("reward", "cost", "turnover_penalty", "risk_penalty", "net_pnl"):
                    parts[name].append(np.zeros(n))
                parts["traded_notional"].append(np.zeros(n))
                continue
            offset, record = segment
            parts["bar"].append(offset + record.column("bar"))
            parts["halted"].append(np.zeros(len(record.values), dtype=bool))
            for name in ("action", "reward", *_RECORDED_FLOATS):
                parts[name].append(record.column(name))
            events.extend((offset + bar, event) for bar, event in record.risk_events)
            closed.extend((offset + bar, pnl) for bar, pnl in record.closed_trades)
        columns = {name: np.concatenate(values) for name, values in parts.items()}
        columns["bar"] = columns["bar"].astype(np.int64)
        trades = np.array(closed, dtype=np.float64).reshape(-1, 2)
        return columns, events, trades

    def frames(
        self, start: int, capital: float, entry_cost: float, timezone: str
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The symbol's per-bar frame, bars ``start + 1 .. n - 1`` (see :class:`BacktestResult`),
        and its closed trades (``symbol``, ``ts``, ``net_pnl``)."""
        arrays = self.arrays
        columns, events, trades = self._columns()
        index = columns["bar"]
        if not np.array_equal(index, np.arange(start + 1, len(arrays))):
            raise RuntimeError(f"{arrays.symbol}: backtest rows do not cover the split in order")
        risk_event: list[str | None] = [None] * len(index)
        for bar, event in events:
            risk_event[bar - start - 1] = event
        close = arrays.close
        equity = columns["equity"]
        previous = np.concatenate(([capital], equity[:-1]))
        closed_trades = pl.DataFrame(
            {
                "symbol": pl.Series([arrays.symbol] * len(trades), dtype=pl.String),
                "ts": pl.Series(arrays.ts[trades[:, 0].astype(np.int64)], dtype=pl.Int64).cast(
                    pl.Datetime("us", "UTC")
                ),
                "net_pnl": pl.Series(trades[:, 1], dtype=pl.Float64),
            }
        )
        bars = pl.DataFrame(
            {
                "symbol": pl.Series([arrays.symbol] * len(index), dtype=pl.String),
                "ts": pl.Series(arrays.ts[index]).cast(pl.Datetime("us", "UTC")),
                "action": columns["action"].astype(np.int8),
                "price": close[index].astype(np.float64),
                "equity": equity,
                "benchmark_equity": capital * close[index] / close[start] - entry_cost,
                **{name: columns[name] for name in _RECORDED_FLOATS if name != "equity"},
                "reward": columns["reward"],
                "regime": pl.Series(np.asarray(REGIMES)[arrays.regime[index]]).cast(REGIME_DTYPE),
                "vol_bucket": _vol_buckets(arrays, index),
                "bar_return": equity / previous - 1.0,
                "risk_event": pl.Series(risk_event, dtype=pl.String),
                "halted": columns["halted"],
            }
        ).with_columns(session_date_expr(timezone))
        return bars, closed_trades


def _vol_buckets(arrays: MarketArrays, index: np.ndarray) -> pl.Series:
    """The volatility bucket of bars ``index`` (Enum of VOL_BUCKETS; null without buckets)."""
    codes = arrays.extras.get(VOL_BUCKET_EXTRA)
    if codes is None:
        return pl.Series([None] * len(index), dtype=VOL_BUCKET_DTYPE)
    return pl.Series(np.asarray(VOL_BUCKETS)[codes[index]]).cast(VOL_BUCKET_DTYPE)


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


@dataclass(frozen=True)
class BacktestSpec:
    """One backtest of :func:`run_backtests`: ``policy`` over ``arrays`` in ``env_config``
    (the arguments of :func:`run_backtest`)."""

    policy: Policy | ActionSchedule
    arrays: Sequence[MarketArrays]
    env_config: EnvConfig
    deterministic: bool = True
    session_timezone: str = DEFAULT_SESSION_TIMEZONE
    resume_after_halt: bool = True


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
    An SB3 PPO / RecurrentPPO policy is played through :func:`~.inference.fast_policy`
    (the same deterministic actions, without SB3's per-call overhead).
    """
    spec = BacktestSpec(
        policy, arrays, env_config, deterministic, session_timezone, resume_after_halt
    )
    return run_backtests([spec])[0]


def run_backtests(specs: Sequence[BacktestSpec]) -> list[BacktestResult]:
    """Play several backtests side by side, bar by bar; the result of each, in order.

    Each is exactly the :func:`run_backtest` of its spec (its own environments, accounts and
    policy state). Played together, deterministic PPO ``MlpPolicy`` policies of one
    architecture (checkpoints on one slice, fold models on their folds) decide each bar of
    every backtest in one stacked call (:class:`~.inference.StackedMlpPolicies`), which costs
    little more than deciding one.
    """
    lanes = [_Lane(spec) for spec in specs]
    stacked = None
    if len({len(lane.runs) for lane in lanes}) == 1 and all(s.deterministic for s in specs):
        stacked = StackedMlpPolicies.of([lane.policy for lane in lanes])  # type: ignore[misc]
    live = [lane for lane in lanes if lane.live]
    while live:
        if stacked is not None:
            observations = np.stack([lane.observations for lane in lanes])
            chosen = stacked.predict_lanes(observations, [lane.live for lane in lanes])
            for index, lane in enumerate(lanes):
                if lane.live:
                    lane.step(chosen[index].tolist())
        else:
            for lane in live:
                lane.step(lane.decide())
        live = [lane for lane in lanes if lane.live]
    return [lane.collect() for lane in lanes]


class _Lane:
    """One backtest being played: its symbols' runs, its policy and the policy's state."""

    def __init__(self, spec: BacktestSpec) -> None:
        arrays = list(spec.arrays)
        if not arrays:
            raise ValueError("run_backtest needs at least one MarketArrays")
        symbols = [a.symbol for a in arrays]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols must be unique, got {symbols}")
        self.spec = spec
        self.arrays = arrays
        self.runs = [_SymbolRun(a, spec.env_config, spec.resume_after_halt) for a in arrays]
        self.policy: Policy | None = None
        self.scripted: list[list[int]] = []
        if isinstance(spec.policy, ActionSchedule):
            self.scripted = [a.tolist() for a in spec.policy.actions]
        else:
            self.policy = fast_policy(spec.policy)
        self.observations = np.stack([run.reset() for run in self.runs])
        self.episode_start = np.ones(len(self.runs), dtype=bool)
        self.state: Any = None
        self.alive = list(range(len(self.runs)))

    @property
    def live(self) -> bool:
        return bool(self.alive)

    def decide(self) -> list[int]:
        """The action of every symbol at its current bar (one batched ``predict``)."""
        if self.policy is None:
            return [actions[run.bar] for actions, run in zip(self.scripted, self.runs, strict=True)]
        actions, self.state = self.policy.predict(
            self.observations,
            state=self.state,
            episode_start=self.episode_start,
            deterministic=self.spec.deterministic,
        )
        decided: list[int] = _single_action(actions, len(self.runs)).tolist()
        return decided

    def step(self, chosen: list[int]) -> None:
        """Step every live symbol's environment with its action ``chosen[i]``."""
        self.episode_start = np.zeros(len(self.runs), dtype=bool)
        for i in tuple(self.alive):
            run = self.runs[i]
            obs, _, terminated, truncated, info = run.env.step(chosen[i])
            if terminated or truncated:
                resumed = run.end_episode(info, terminated)
                if resumed is None:
                    self.alive.remove(i)
                else:
                    self.observations[i] = resumed
                    self.episode_start[i] = True  # a new episode: recurrent state starts afresh
            else:
                self.observations[i] = obs

    def collect(self) -> BacktestResult:
        spec = self.spec
        return _collect(self.runs, self.arrays, spec.env_config, spec.session_timezone)


def _collect(
    runs: list[_SymbolRun],
    arrays: list[MarketArrays],
    env_config: EnvConfig,
    session_timezone: str,
) -> BacktestResult:
    """The :class:`BacktestResult` of finished runs."""
    capital = float(env_config.initial_capital)
    start = env_config.window - 1
    frames = [
        run.frames(start, capital, _entry_cost(run.arrays, env_config, start), session_timezone)
        for run in runs
    ]
    bars = pl.concat([frame for frame, _ in frames])
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
        closed_trades=pl.concat([trades for _, trades in frames]),
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
        bars_per_year=env_config.annualisation(arrays),
    )
