"""The trading environment and its components (costs, turnover penalty, risk manager,
position sizing, curriculum, reward)."""

from trader_env.env.config import (
    CurriculumConfig,
    CurriculumStage,
    DrawdownLimitsConfig,
    EnvConfig,
    PositionSizingConfig,
    TurnoverPenaltyConfig,
    VolatilityPenaltyConfig,
)
from trader_env.env.cost_config import CostConfig
from trader_env.env.curriculum import Curriculum
from trader_env.env.factory import EnvFactory, make_env, make_vec_env
from trader_env.env.presets import PRESETS, realistic_config, sandbox_config
from trader_env.env.step_data import RISK_FEATURES
from trader_env.env.trading_env import IntradayTradingEnv

__all__ = [
    "PRESETS",
    "RISK_FEATURES",
    "CostConfig",
    "Curriculum",
    "CurriculumConfig",
    "CurriculumStage",
    "EnvConfig",
    "EnvFactory",
    "IntradayTradingEnv",
    "PositionSizingConfig",
    "VolatilityPenaltyConfig",
    "DrawdownLimitsConfig",
    "TurnoverPenaltyConfig",
    "make_env",
    "make_vec_env",
    "realistic_config",
    "sandbox_config",
]
