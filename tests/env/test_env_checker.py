"""gymnasium's env checker on the sandbox preset and every phase configuration."""

from __future__ import annotations

import warnings

import pytest
from gymnasium.utils.env_checker import check_env

from trader_env.env import PRESETS, EnvConfig, IntradayTradingEnv
from trader_env.env.trading_env import INFO_LEVELS

PHASES = {
    "sandbox": PRESETS["sandbox"],
    "phase1_realistic": EnvConfig(),
    "risk_features_off": EnvConfig(include_risk_features=False),
    "phase3_risk_on": EnvConfig(
        volatility_penalty={"penalty_lambda": 0.01}, drawdown_limits={"dd_limit": 0.01}
    ),
    "phase4_curriculum": EnvConfig(curriculum={"enabled": True}),
    "phase5_kelly": EnvConfig(position_sizing={"method": "kelly"}, curriculum={"enabled": True}),
    "kelly_no_risk_features": EnvConfig(
        position_sizing={"method": "kelly"}, include_risk_features=False
    ),
    "regime_on": EnvConfig(include_regime=True),
    "close_execution_long_only": EnvConfig(execution="close", long_only=True),
    "small_obs_clip": EnvConfig(obs_clip=0.5, costs={"slippage_vol_scaling": True}),
}


@pytest.mark.parametrize("info", INFO_LEVELS)
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", sorted(PHASES))
def test_check_env_passes_without_warnings(make_arrays, name: str, mode: str, info) -> None:
    arrays = [make_arrays(seed=1), make_arrays(seed=2, symbol="OTHER")]
    config = PHASES[name].with_overrides({"episode_length": 30})
    env = IntradayTradingEnv(arrays, config, mode=mode, info=info)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
