"""gymnasium's env checker on the sandbox preset and every phase configuration."""

from __future__ import annotations

import warnings

import pytest
from gymnasium.utils.env_checker import check_env

from trader_env.env import PRESETS, EnvConfig, IntradayTradingEnv

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
    "decision_interval_5": EnvConfig(decision_interval=5),
    "decision_interval_7_close_risk_on": EnvConfig(
        decision_interval=7, execution="close", drawdown_limits={"dd_limit": 0.01}
    ),
}


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", sorted(PHASES))
def test_check_env_passes_without_warnings(make_arrays, name: str, mode: str) -> None:
    arrays = [make_arrays(seed=1), make_arrays(seed=2, symbol="OTHER")]
    env = IntradayTradingEnv(arrays, PHASES[name].with_overrides({"episode_length": 30}), mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
