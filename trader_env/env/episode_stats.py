"""Running statistics of one episode, reported in ``info["episode_metrics"]`` at its end."""

from __future__ import annotations

import math


class EpisodeStats:
    """O(1)-per-step accumulators: Welford mean/variance of step returns, drawdown, totals."""

    __slots__ = (
        "initial_equity",
        "n_steps",
        "_mean",
        "_m2",
        "_peak",
        "max_drawdown",
        "session_turnovers",
        "costs",
        "turnover_penalty",
        "drawdown_penalty",
        "volatility_penalty",
        "reward",
        "n_trades",
        "n_wins",
        "n_fills",
    )

    def __init__(self, initial_equity: float):
        self.initial_equity = initial_equity
        self.n_steps = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._peak = initial_equity
        self.max_drawdown = 0.0
        self.session_turnovers: list[float] = []
        self.costs = 0.0
        self.turnover_penalty = 0.0
        self.drawdown_penalty = 0.0
        self.volatility_penalty = 0.0
        self.reward = 0.0
        self.n_trades = 0
        self.n_wins = 0
        self.n_fills = 0

    def record_step(
        self,
        step_return: float,
        equity: float,
        reward: float,
        cost: float,
        turnover_penalty: float,
        drawdown_penalty: float,
        volatility_penalty: float,
    ) -> None:
        """One step: its return (fraction), the equity after it, its scaled reward, and its
        unscaled cost and penalties (money)."""
        self.n_steps += 1
        self.costs += cost
        self.turnover_penalty += turnover_penalty
        self.drawdown_penalty += drawdown_penalty
        self.volatility_penalty += volatility_penalty
        delta = step_return - self._mean
        self._mean += delta / self.n_steps
        self._m2 += delta * (step_return - self._mean)
        if equity > self._peak:
            self._peak = equity
        elif self._peak > 0.0:
            drawdown = (self._peak - equity) / self._peak
            if drawdown > self.max_drawdown:
                self.max_drawdown = drawdown
        self.reward += reward

    def record_trade(self, pnl: float) -> None:
        """A closed trade's net P&L, money."""
        self.n_trades += 1
        if pnl > 0.0:
            self.n_wins += 1

    def sharpe(self, bars_per_year: float) -> float:
        """Annualised Sharpe of per-step returns (ddof=1); 0.0 without variance."""
        if self.n_steps < 2:
            return 0.0
        std = math.sqrt(self._m2 / (self.n_steps - 1))
        if not std > 0.0:
            return 0.0
        return self._mean / std * math.sqrt(bars_per_year)

    def metrics(self, final_equity: float, bars_per_year: float) -> dict[str, float | int]:
        """Numeric episode metrics (money, fractions, counts)."""
        turnovers = self.session_turnovers
        net_pnl = final_equity - self.initial_equity
        return {
            "net_pnl": net_pnl,
            "return": net_pnl / self.initial_equity,
            "final_equity": final_equity,
            "sharpe": self.sharpe(bars_per_year),
            "max_drawdown": self.max_drawdown,
            "daily_turnover_mean": sum(turnovers) / len(turnovers) if turnovers else 0.0,
            "n_sessions": len(turnovers),
            "n_trades": self.n_trades,
            "win_rate": self.n_wins / self.n_trades if self.n_trades else 0.0,
            "n_fills": self.n_fills,
            "n_steps": self.n_steps,
            "costs_total": self.costs,
            "turnover_penalty_total": self.turnover_penalty,
            "risk_penalty_total": self.drawdown_penalty + self.volatility_penalty,
            "drawdown_penalty_total": self.drawdown_penalty,
            "volatility_penalty_total": self.volatility_penalty,
            "reward_total": self.reward,
        }
