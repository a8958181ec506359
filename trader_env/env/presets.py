"""Named environment configurations.

- ``sandbox``: the plan's broken phase-0 baseline, a "free money sandbox": no costs, no
  penalties, no risk limits, no risk features, reward_scaling 1, fills at the observed close,
  positions carried overnight. The reward is still the money made (this environment has no
  other reward), it is simply money made where trading is free.
- ``realistic``: :class:`EnvConfig` defaults (costs, penalties, risk limits, risk features).
"""

from __future__ import annotations

from trader_env.env.config import (
    DrawdownLimitsConfig,
    EnvConfig,
    TurnoverPenaltyConfig,
    VolatilityPenaltyConfig,
)
from trader_env.env.cost_config import CostConfig


def sandbox_config() -> EnvConfig:
    """The phase-0 baseline: trading is free and nothing is penalised or limited."""
    return EnvConfig(
        reward_scaling=1.0,
        include_risk_features=False,
        execution="close",
        flatten_at_session_end=False,
        costs=CostConfig(commission_bps=0.0, half_spread_bps=0.0, slippage_bps=0.0),
        turnover_penalty=TurnoverPenaltyConfig(curve="none", weight=0.0),
        drawdown_limits=DrawdownLimitsConfig(
            max_daily_drawdown_pct=None,
            max_consecutive_drawdown_steps=None,
            halt_on_breach=False,
            dd_limit=None,
        ),
        volatility_penalty=VolatilityPenaltyConfig(penalty_lambda=0.0),
    )


def realistic_config() -> EnvConfig:
    """The realistic environment: every default of :class:`EnvConfig`."""
    return EnvConfig()


#: Frozen configs by name; derive variants with ``PRESETS[name].model_copy(update=...)``.
PRESETS: dict[str, EnvConfig] = {
    "sandbox": sandbox_config(),
    "realistic": realistic_config(),
}
