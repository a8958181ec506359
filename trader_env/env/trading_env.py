"""``IntradayTradingEnv``: one gymnasium environment for training and evaluation.

Timeline of a step. The agent has observed bars ``<= t`` and chooses a target direction
(0 short, 1 flat, 2 long). Then:

1. ``execution="next_open"``: if bar ``t + 1`` starts a new session, the session resets
   (drawdown peak, turnover); the order fills at ``open[t + 1]``.
   ``execution="close"``: the order fills at ``close[t]`` (already observed), then the
   session resets if ``t + 1`` starts a new one.
2. The position is marked to market at ``close[t + 1]``.
3. If ``t + 1`` is its session's last bar and ``flatten_at_session_end``, the position is
   closed at ``close[t + 1]`` (with costs). The decision taken at a session's last bar is then
   forced flat, so the next session starts flat and no order ever fills across the overnight
   gap. With flattening off, an order decided at a session's last bar fills at the next
   session's open (``next_open``): the gap is real risk the agent chose to carry.
4. Risk limits are checked on the resulting equity; a breach flattens at ``close[t + 1]``.
5. reward = reward_scaling x (equity change - turnover penalty - risk penalty).

Orders are sized with the equity and price known at ``t`` (``close[t]``), costs use the cost
rate of bar ``t``; nothing in a step reads a bar after ``t + 1``, and the reward of the step
deciding at ``t`` depends on bars ``<= t + 1`` only.

What a step reports (``info``): ``"bar"`` (default) the bar's whole accounting
(:func:`~trader_env.env.step_info.bar_info`); ``"episode"`` nothing but the episode's summary
at its last step, which is all training reads (vectorised training copies step with it:
building and copying a dict of twenty values per bar was a quarter of training's time);
``"record"`` that summary and the per-bar :class:`~trader_env.env.episode_record.EpisodeRecord`,
which is what a backtest reads. The accounting is the same in every level.

Episodes: ``mode="train"`` plays ``episode_length`` steps from a random start in a random
symbol (seeded by ``reset(seed=...)``); ``mode="eval"`` plays each symbol's whole split, one
symbol per episode in order (``reset(seed=...)`` restarts at the first). Running out of data
truncates; a risk halt terminates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from trader_env.contracts import MarketArrays
from trader_env.env.accounting import Fill, Portfolio
from trader_env.env.config import EnvConfig
from trader_env.env.episode_record import EpisodeRecorder
from trader_env.env.episode_stats import EpisodeStats
from trader_env.env.observation import ObservationRows
from trader_env.env.position_sizing import make_sizer
from trader_env.env.reward import RewardComposer
from trader_env.env.risk_manager import RiskManager
from trader_env.env.step_data import StepData, observation_feature_names, prepare_step_data
from trader_env.env.step_info import StepFills, bar_info, reset_info
from trader_env.env.turnover_penalty import DailyTurnoverPenalty
from trader_env.env.volatility_penalty import VolatilityPenalty

Mode = Literal["train", "eval"]
InfoLevel = Literal["bar", "episode", "record"]
INFO_LEVELS: tuple[InfoLevel, ...] = ("bar", "episode", "record")
NON_FINITE_EQUITY = "non_finite_equity"
SHORT, FLAT, LONG = 0, 1, 2


class IntradayTradingEnv(gym.Env[np.ndarray, np.int64]):
    """Single-asset intraday trading with costs, penalties and risk limits; reward = money.

    Observation: float32 ``(window, n_columns)``; rows are the last ``window`` bars (oldest
    first), columns are the market features, then the regime one-hot (``include_regime``),
    then the risk features (``include_risk_features``), see :attr:`feature_names`.
    Action: ``Discrete(3)``: 0 short, 1 flat, 2 long (short means flat when ``long_only``;
    the space stays the same so that models warm-start across phases).

    Per-step ``info`` by ``info`` level (see the module docstring): ``"bar"`` gives
    :func:`~trader_env.env.step_info.bar_info`, ``"episode"`` and ``"record"`` an empty dict;
    the last step of an episode adds ``episode_metrics`` in every level and
    ``episode_record`` in ``"record"``.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        arrays: Sequence[MarketArrays] | MarketArrays,
        config: EnvConfig | None = None,
        *,
        mode: Mode = "train",
        info: InfoLevel = "bar",
        prepared: Sequence[StepData] | None = None,
    ):
        super().__init__()
        if isinstance(arrays, MarketArrays):
            arrays = [arrays]
        arrays = list(arrays)
        if not arrays:
            raise ValueError("IntradayTradingEnv needs at least one MarketArrays")
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if info not in INFO_LEVELS:
            raise ValueError(f"info must be one of {INFO_LEVELS}, got {info!r}")
        for other in arrays[1:]:
            if other.feature_names != arrays[0].feature_names:
                raise ValueError(
                    f"MarketArrays[{other.symbol}] has features {other.feature_names}, but "
                    f"MarketArrays[{arrays[0].symbol}] has {arrays[0].feature_names}: every "
                    "symbol must share one observation layout"
                )
        self.config = config = config or EnvConfig()
        self.mode: Mode = mode
        if prepared is None:
            prepared = [prepare_step_data(a, config) for a in arrays]
        elif [p.symbol for p in prepared] != [a.symbol for a in arrays]:
            raise ValueError("prepared step data must be that of arrays, in the same order")
        # Read-only after preparation: the copies of one vectorised environment share it.
        self._markets: tuple[StepData, ...] = tuple(prepared)
        self.feature_names: tuple[str, ...] = observation_feature_names(arrays[0], config)
        clip = float(config.obs_clip)
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(
            low=-clip,
            high=clip,
            shape=(config.window, len(self.feature_names)),
            dtype=np.float32,
        )

        self._capital = config.initial_capital
        self._window = config.window
        self._next_open = config.execution == "next_open"
        self._flatten = config.flatten_at_session_end
        self._bar_info = info == "bar"
        self._recorder = EpisodeRecorder() if info == "record" else None
        self._long_only = config.long_only
        self._risk_features = config.include_risk_features

        self._stages = config.curriculum.stages if config.curriculum.enabled else ()
        self._stage = 0
        self._pending_stage = 0
        limit = self._stages[0].target_turnover if self._stages else None
        self._turnover = DailyTurnoverPenalty(config.turnover_penalty, self._capital, limit)
        self._sizer = make_sizer(config.position_sizing)
        self._risk = RiskManager(config.drawdown_limits)
        #: Annualisation base (bars per year): the config's, else the market's.
        self.bars_per_year = config.annualisation(arrays)
        self._vol = VolatilityPenalty(config.volatility_penalty, self.bars_per_year)
        self._vol_active = self._vol.active
        self._reward = RewardComposer(config.reward_scaling)
        self._eval_cursor = 0

        self._market = self._markets[0]
        self._portfolio = Portfolio(self._capital, self._market.commission)
        self._stats = EpisodeStats(self._capital)
        self._equity = self._capital
        self._t = -1
        self._start = -1
        self._end = -1
        self._done = True
        self._halt_reason: str | None = None
        self._rows = ObservationRows(
            config.window, len(self.feature_names), clip, config.include_risk_features
        )
        self._fills = StepFills()

    # ----------------------------------------------------------------- public state
    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols in the order eval mode plays them."""
        return tuple(m.symbol for m in self._markets)

    @property
    def current_bar(self) -> int:
        """Index (into the symbol's arrays) of the bar the next action is decided at."""
        return self._t

    @property
    def curriculum_stage(self) -> int:
        """Index of the curriculum stage in force (0 when the curriculum is disabled)."""
        return self._stage

    @property
    def turnover_limit(self) -> float:
        """Daily turnover limit in force, fraction of capital."""
        return self._turnover.limit

    def set_curriculum_stage(self, stage: int) -> None:
        """Switch to curriculum ``stage``; it takes effect at the next session start or reset.

        Deferring to a session boundary keeps every session's turnover penalty under one
        limit, so the day's charges still add up to the penalty of its total excess. Meant to
        be called through ``VecEnv.env_method("set_curriculum_stage", i)``.
        """
        if not self._stages:
            raise RuntimeError("curriculum is disabled in this environment's config")
        stage = int(stage)
        if not 0 <= stage < len(self._stages):
            raise ValueError(
                f"curriculum stage must be in [0, {len(self._stages) - 1}], got {stage}"
            )
        self._pending_stage = stage
        if self._done:
            self._apply_pending_stage()

    def _apply_pending_stage(self) -> None:
        if self._stages and self._pending_stage != self._stage:
            self._stage = self._pending_stage
            self._turnover.limit = self._stages[self._stage].target_turnover

    # ----------------------------------------------------------------- episode control
    def _pick_market(self, seed: int | None, options: dict[str, Any] | None) -> int:
        n = len(self._markets)
        if options and "market_index" in options:
            index = int(options["market_index"])
            if not 0 <= index < n:
                raise ValueError(f"options['market_index'] must be in [0, {n - 1}], got {index}")
            return index
        if self.mode == "train":
            return int(self.np_random.integers(n))
        if seed is not None:
            self._eval_cursor = 0
        index = self._eval_cursor % n
        self._eval_cursor += 1
        return index

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. ``options={"market_index": i}`` picks the symbol explicitly."""
        super().reset(seed=seed)
        self._apply_pending_stage()
        market = self._markets[self._pick_market(seed, options)]
        config = self.config
        first = self._window - 1
        if self.mode == "train":
            last_start = market.n - 1 - config.episode_length
            start = (
                first
                if last_start <= first
                else int(self.np_random.integers(first, last_start + 1))
            )
            end = min(start + config.episode_length, market.n - 1)
        else:
            start, end = first, market.n - 1
        self._market = market
        self._t = self._start = start
        self._end = end
        self._done = False
        self._halt_reason = None
        capital = self._capital
        self._portfolio = Portfolio(capital, market.commission)
        self._equity = capital
        self._stats = EpisodeStats(capital)
        self._sizer.reset()
        self._risk.start_session(capital)
        self._turnover.start_session(capital)
        self._vol.reset()
        self._reward.start_episode(f"{market.symbol}[{start}:{end}]")
        self._rows.start(market, start, end)
        if self._recorder is not None:
            self._recorder.start()
        return self._rows.at(start), reset_info(market, start, capital, self._stage)

    def _start_session(self, equity: float) -> None:
        self._stats.session_turnovers.append(self._turnover.turnover_ratio)
        self._apply_pending_stage()
        self._turnover.start_session(equity)
        self._risk.start_session(equity)

    def _execute(self, target: float, price: float, rate: float, fills: StepFills) -> Fill:
        """Fill to ``target`` shares at ``price`` (cost rate ``rate``), book it in the step's
        ``fills`` (its turnover penalty charged now, in the session it traded in) and return
        it; a fill that closes a trade is recorded in the episode's stats and the sizer."""
        fill = self._portfolio.trade_to(target, price, rate)
        notional = fill.notional
        if notional != 0.0:
            fills.notional += notional
            fills.cost += fill.cost
            fills.turnover_penalty += self._turnover.add(notional)
            self._stats.n_fills += 1
            closed = fill.closed_pnl
            if closed is not None:
                fills.closed += (closed,)
                self._stats.record_trade(closed)
                self._sizer.record_trade(fill.closed_return)
        return fill

    def _order(self, direction: int, t: int, price: float, fills: StepFills) -> None:
        """Fill the decided ``direction`` at ``price`` (holding it never trades); a direction
        sized 0 (Kelly sees no edge) becomes the sizer's paper trade."""
        shares = self._portfolio.shares
        held = (shares > 0.0) - (shares < 0.0) or self._sizer.paper_direction
        if direction == held:
            return
        rate = self._market.cost_rate[t]
        self._sizer.close_paper(price, rate)
        equity = self._equity
        if direction == 0 or not equity > 0.0:
            target = 0.0
        else:
            fraction = self._sizer.fraction()
            caps = self._market.size_cap
            if caps is not None and caps[t] < fraction:
                fraction = caps[t]
            target = direction * fraction * equity / self._market.close[t]
            if target == 0.0:
                self._sizer.open_paper(direction, price, rate)
        self._execute(target, price, rate, fills)

    # ----------------------------------------------------------------- the step
    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode is over: call reset() before step()")
        choice = int(action)
        if not SHORT <= choice <= LONG:
            raise ValueError(f"action must be 0 (short), 1 (flat) or 2 (long), got {action!r}")
        reward, terminated, truncated, info = self._advance(choice)
        return self._rows.at(self._t), reward, terminated, truncated, info

    def _advance(self, choice: int) -> tuple[float, bool, bool, dict[str, Any]]:
        """Play one bar: the order of action ``choice`` (0, 1, 2) decided at the current bar
        ``t``, then bar ``t + 1``. Returns (reward, terminated, truncated, the step's info)."""
        t = self._t
        u = t + 1
        equity_before = self._equity
        fills = self._fills
        fills.notional = fills.cost = fills.turnover_penalty = 0.0
        fills.closed = ()
        self._execution(choice - 1, t, u, equity_before, fills)
        equity, event, terminated = self._risk_limits(u, fills)

        # Reward: money change net of this bar's penalties (money, scaled).
        drawdown_penalty = self._risk.drawdown_penalty()
        step_return = (equity - equity_before) / equity_before if equity_before > 0.0 else 0.0
        volatility_penalty = self._vol.update(step_return, equity) if self._vol_active else 0.0
        risk_penalty = drawdown_penalty + volatility_penalty
        reward = self._reward.compose(
            equity - equity_before, fills.turnover_penalty, risk_penalty, self._market.ts[u]
        )
        self._stats.record_step(
            step_return,
            equity,
            reward,
            fills.cost,
            fills.turnover_penalty,
            drawdown_penalty,
            volatility_penalty,
        )

        self._equity = equity
        self._t = u
        truncated = u >= self._end and not terminated
        turnover_today = self._turnover.turnover_ratio
        if self._risk_features:
            close = self._market.close[u]
            shares = self._portfolio.shares
            self._rows.write_risk(
                u,
                shares * close / equity if equity > 0.0 else 0.0,
                self._portfolio.unrealised_pnl(close) / self._capital,
                self._risk.drawdown,
                turnover_today,
            )
        info: dict[str, Any] = {}
        if self._bar_info:
            info = bar_info(
                self._market,
                u,
                self._portfolio,
                equity,
                equity - equity_before,
                fills,
                drawdown_penalty,
                volatility_penalty,
                turnover_today,
                self._risk.drawdown,
                self._reward.nonfinite_count,
                event,
            )
        recorder = self._recorder
        if recorder is not None:
            row = (
                u,
                choice,
                reward,
                equity,
                self._portfolio.shares,
                fills.cost,
                fills.turnover_penalty,
                risk_penalty,
                equity - equity_before,
                fills.notional,
            )
            recorder.append(row, event, fills.closed)
        if terminated or truncated:
            self._done = True
            info["episode_metrics"] = self._episode_metrics(completed=not terminated)
            if recorder is not None:
                info["episode_record"] = recorder.finish()
        return reward, terminated, truncated, info

    def _execution(
        self, direction: int, t: int, u: int, equity_before: float, fills: StepFills
    ) -> None:
        """Step 1: the order of ``direction`` (-1, 0, 1) decided at ``t`` fills (at ``open[u]``
        or ``close[t]``), the session starts over when ``u`` opens one, and the position is
        closed at ``close[u]`` when ``u`` ends its session (``flatten_at_session_end``)."""
        market = self._market
        portfolio = self._portfolio
        if (self._flatten and market.session_last[t]) or (direction < 0 and self._long_only):
            direction = 0
        if self._next_open:
            # A new session resets the risk limits before the order fills at its open.
            if market.session_first[u]:
                self._start_session(equity_before)
            self._order(0 if self._risk.locked else direction, t, market.open[u], fills)
        else:
            self._order(0 if self._risk.locked else direction, t, market.close[t], fills)
            if market.session_first[u]:
                self._start_session(portfolio.cash + portfolio.shares * market.close[t])
        if self._flatten and market.session_last[u]:
            self._sizer.close_paper(market.close[u], market.cost_rate[u])
            self._execute(0.0, market.close[u], market.cost_rate[u], fills)

    def _risk_limits(self, u: int, fills: StepFills) -> tuple[float, str | None, bool]:
        """Step 2: mark to ``close[u]`` and check the drawdown limits; a breach flattens at
        ``close[u]``. Returns ``(equity, risk event or None, terminated)``."""
        market = self._market
        portfolio = self._portfolio
        risk = self._risk
        close = market.close[u]
        equity = portfolio.cash + portfolio.shares * close
        terminated = False
        event = risk.assess(equity)
        if event is not None:
            self._sizer.close_paper(close, market.cost_rate[u])
            if portfolio.shares != 0.0:
                self._execute(0.0, close, market.cost_rate[u], fills)
                equity = portfolio.cash + portfolio.shares * close
                risk.remark(equity)
            terminated = risk.is_halt(event)
        if not math.isfinite(equity):
            event = NON_FINITE_EQUITY
            terminated = True
        if terminated:
            self._halt_reason = event
        return equity, event, terminated

    def _episode_metrics(self, *, completed: bool) -> dict[str, Any]:
        stats = self._stats
        stats.session_turnovers.append(self._turnover.turnover_ratio)
        metrics: dict[str, Any] = stats.metrics(self._equity, self.bars_per_year)
        market = self._market
        metrics.update(
            nonfinite_rewards=self._reward.nonfinite_count,
            completed=completed,
            halt_reason=self._halt_reason,
            symbol=market.symbol,
            start_ts=market.ts[self._start],
            end_ts=market.ts[self._t],
            curriculum_stage=self._stage,
        )
        return metrics
