"""What :class:`~trader_env.env.IntradayTradingEnv` reports: the fills one bar booked, the
bar's ``info`` dict, and the ``info`` of ``reset``.

Kept out of the environment's step so that the step reads as the timeline it implements;
these are plain functions of values the step has already computed (no state of their own).
"""

from __future__ import annotations

from typing import Any

from trader_env.env.accounting import Portfolio
from trader_env.env.step_data import StepData


class StepFills:
    """What the fills of one bar traded (money): notional, cost, turnover penalty, and the
    net P&L of each trade they closed, in order."""

    __slots__ = ("notional", "cost", "turnover_penalty", "closed")

    def __init__(self) -> None:
        self.notional = 0.0
        self.cost = 0.0
        self.turnover_penalty = 0.0
        self.closed: tuple[float, ...] = ()


def bar_info(
    market: StepData,
    u: int,
    portfolio: Portfolio,
    equity: float,
    net_pnl: float,
    fills: StepFills,
    drawdown_penalty: float,
    volatility_penalty: float,
    turnover_today: float,
    drawdown: float,
    nonfinite_rewards: int,
    event: str | None,
) -> dict[str, Any]:
    """The per-bar ``info`` of bar ``u``, the bar a one-bar step ends on.

    Money unless stated: ``net_pnl`` (equity change, after costs), ``cost``,
    ``turnover_penalty``, ``risk_penalty`` (= ``drawdown_penalty`` + ``volatility_penalty``),
    ``equity``, ``cash``, ``position`` (signed shares), ``price`` (close of bar ``u``),
    ``traded_notional``, ``turnover_today`` (fraction of capital), ``drawdown`` (session,
    fraction), ``closed_trade_pnl`` (tuple: net P&L of each trade closed at the bar),
    ``reward_nonfinite`` (count in the episode), ``risk_event`` (None, ``"daily_drawdown"``,
    ``"consecutive_drawdown"`` or ``"non_finite_equity"``), ``ts`` (epoch us), ``bar_index``,
    ``regime`` (code), ``symbol``. The environment adds ``episode_metrics`` to the last step
    of an episode (see :class:`~trader_env.env.episode_stats.EpisodeStats` plus
    ``nonfinite_rewards``, ``completed``, ``halt_reason``, ``symbol``, ``start_ts``,
    ``end_ts``, ``curriculum_stage``). A position still open at truncation stays marked to
    market and is not counted as a closed trade.
    """
    return {
        "net_pnl": net_pnl,
        "cost": fills.cost,
        "turnover_penalty": fills.turnover_penalty,
        "risk_penalty": drawdown_penalty + volatility_penalty,
        "drawdown_penalty": drawdown_penalty,
        "volatility_penalty": volatility_penalty,
        "equity": equity,
        "cash": portfolio.cash,
        "position": portfolio.shares,
        "price": market.close[u],
        "traded_notional": fills.notional,
        "turnover_today": turnover_today,
        "drawdown": drawdown,
        "closed_trade_pnl": fills.closed,
        "reward_nonfinite": nonfinite_rewards,
        "risk_event": event,
        "ts": market.ts[u],
        "bar_index": u,
        "regime": market.regime[u],
        "symbol": market.symbol,
    }


def reset_info(market: StepData, start: int, capital: float, stage: int) -> dict[str, Any]:
    """The ``info`` of ``reset``: a flat account of ``capital`` at the first decision bar
    ``start``, and the curriculum ``stage`` in force."""
    return {
        "equity": capital,
        "cash": capital,
        "position": 0.0,
        "price": market.close[start],
        "ts": market.ts[start],
        "bar_index": start,
        "regime": market.regime[start],
        "symbol": market.symbol,
        "curriculum_stage": stage,
    }
