"""Cost sensitivity: what the same trades earn at 0x, 1x, 2x and 3x the production costs.

The agent's recorded actions are replayed (an :class:`ActionSchedule`, no network) in the same
environment with every cost scaled: the replay at 1x reproduces the agent's own backtest
exactly, and the other factors show what those very trades would have earned had they cost
more or less. A policy re-run at other costs could choose differently (its observation carries
its own unrealised P&L and turnover, which costs move), so this measures the fragility of the
strategy it actually chose, which is what a user deploying it needs.

The break-even cost per side is the average cost per unit of traded notional at which the
trades' gross P&L would be used up: ``(net P&L + costs paid) / traded notional``, in bps; 0
when the trades lose money even for free. Compare it with ``cost_per_side_bps``, what they
actually paid per unit of notional.
"""

from __future__ import annotations

from collections.abc import Sequence

from trader_env.contracts import MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.evaluation.backtest import ActionSchedule, BacktestResult, run_backtest
from trader_env.evaluation.metrics import compute_metrics

COST_FACTORS: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
BPS = 1e-4


def factor_label(factor: float) -> str:
    """``0x``, ``1x``, ``1.5x``: how metric names spell a cost factor."""
    return f"{factor:g}x"


#: Every key of :func:`cost_sensitivity` at the default factors.
COST_SENSITIVITY_KEYS: tuple[str, ...] = (
    *(
        f"{name}_cost_{factor_label(factor)}"
        for factor in COST_FACTORS
        for name in ("sharpe", "annual_return", "net_pnl")
    ),
    "breakeven_cost_bps",
    "cost_per_side_bps",
)


def breakeven_cost_bps(result: BacktestResult) -> float:
    """Cost per side (bps of traded notional) at which ``result``'s trades break even; NaN
    without trades, 0 when they lose before costs."""
    notional = float(result.bars["traded_notional"].sum())
    if notional <= 0.0:
        return float("nan")
    gross = float(result.bars["net_pnl"].sum()) + float(result.bars["cost"].sum())
    return max(0.0, gross / notional / BPS)


def paid_cost_bps(result: BacktestResult) -> float:
    """Costs paid per unit of traded notional, bps; NaN without trades."""
    notional = float(result.bars["traded_notional"].sum())
    if notional <= 0.0:
        return float("nan")
    return float(result.bars["cost"].sum()) / notional / BPS


def cost_sensitivity(
    result: BacktestResult,
    arrays: Sequence[MarketArrays],
    env_config: EnvConfig,
    session_timezone: str,
    factors: Sequence[float] = COST_FACTORS,
) -> dict[str, float]:
    """Sharpe, annual return and net P&L of ``result``'s actions at each cost factor.

    ``result`` must be the backtest of ``arrays`` under ``env_config`` (the 1x costs). Keys:
    ``sharpe_cost_<f>``, ``annual_return_cost_<f>``, ``net_pnl_cost_<f>`` for each factor,
    ``breakeven_cost_bps`` and ``cost_per_side_bps``.
    """
    schedule = ActionSchedule.replay(result, arrays)
    out: dict[str, float] = {}
    for factor in factors:
        # At 1x the replay is the backtest itself (a test proves they are identical).
        replay = (
            result
            if factor == 1.0
            else run_backtest(
                schedule,
                arrays,
                env_config.scaled_costs(factor),
                session_timezone=session_timezone,
            )
        )
        metrics = compute_metrics(replay.daily_returns)
        label = factor_label(factor)
        out[f"sharpe_cost_{label}"] = metrics["sharpe"]
        out[f"annual_return_cost_{label}"] = metrics["annual_return"]
        out[f"net_pnl_cost_{label}"] = float(replay.bars["net_pnl"].sum())
    out["breakeven_cost_bps"] = breakeven_cost_bps(result)
    out["cost_per_side_bps"] = paid_cost_bps(result)
    return out
