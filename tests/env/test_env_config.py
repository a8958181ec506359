"""EnvConfig: schema, defaults, documentation, YAML loading and presets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from trader_env.env import PRESETS, EnvConfig
from trader_env.yaml_config import ConfigError, load_model

TOP_LEVEL = {
    "initial_capital",
    "reward_scaling",
    "window",
    "include_risk_features",
    "include_regime",
    "long_only",
    "episode_length",
    "execution",
    "flatten_at_session_end",
    "bars_per_year",
    "obs_clip",
    "costs",
    "symbol_costs",
    "turnover_penalty",
    "drawdown_limits",
    "volatility_penalty",
    "position_sizing",
    "curriculum",
}


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _models(annotation)
    return found


def test_top_level_field_names_are_the_agreed_ones() -> None:
    assert set(EnvConfig.model_fields) == TOP_LEVEL


def test_every_field_of_every_model_is_documented() -> None:
    for model in _models(EnvConfig):
        assert model.model_config.get("extra") == "forbid", model.__name__
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_defaults_from_the_plan() -> None:
    config = EnvConfig()
    assert config.initial_capital == 50_000.0
    assert config.reward_scaling == 0.01
    assert config.window == 5
    assert config.bars_per_year is None  # the market's (MarketArrays.bars_per_year)
    assert config.execution == "next_open"
    tp = config.turnover_penalty
    assert (tp.limit, tp.weight, tp.curve, tp.huber_delta, tp.linear_factor) == (
        0.02,
        0.00005,
        "smart_huber",
        0.02,
        50.0,
    )
    rm = config.drawdown_limits
    assert (rm.max_daily_drawdown_pct, rm.max_consecutive_drawdown_steps) == (0.05, 100)
    assert (config.volatility_penalty.penalty_lambda, config.volatility_penalty.target_sigma) == (
        0.001,
        0.15,
    )
    assert config.position_sizing.max_kelly_fraction == 0.25
    assert config.curriculum.sharpe_window == 5
    assert (
        config.costs.commission_bps,
        config.costs.half_spread_bps,
        config.costs.slippage_bps,
    ) == (
        0.5,
        0.5,
        0.5,
    )


def test_unknown_keys_are_refused_at_every_level() -> None:
    with pytest.raises(ValidationError, match="reward_scale"):
        EnvConfig(reward_scale=1.0)
    with pytest.raises(ValidationError, match="comission_bps"):
        EnvConfig(costs={"comission_bps": 1.0})


@pytest.mark.parametrize(
    "bad",
    [
        {"initial_capital": 0},
        {"reward_scaling": -0.1},
        {"execution": "vwap"},
        {"turnover_penalty": {"curve": "cubic"}},
        {"drawdown_limits": {"max_daily_drawdown_pct": 1.5}},
        {"curriculum": {"stages": []}},
    ],
)
def test_out_of_range_values_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        EnvConfig(**bad)


def test_yaml_with_the_agreed_names_loads(tmp_path: Path) -> None:
    path = tmp_path / "phase4.yaml"
    path.write_text(
        "reward_scaling: 0.02\n"
        "include_risk_features: true\n"
        "costs: {commission_bps: 1.0, slippage_vol_scaling: true}\n"
        "position_sizing: {method: kelly, min_trades: 5}\n"
        "curriculum:\n"
        "  enabled: true\n"
        "  stages:\n"
        "    - {target_turnover: 0.5, min_episodes: 2, sharpe_threshold: 0.1}\n"
        "    - {target_turnover: 1.0, min_episodes: 3, sharpe_threshold: 0.2}\n"
    )
    config = load_model(EnvConfig, path)
    assert config.reward_scaling == 0.02
    assert config.position_sizing.method == "kelly"
    assert [s.target_turnover for s in config.curriculum.stages] == [0.5, 1.0]
    path.write_text("volatility_penalty: {penalty_lamda: 0.1}\n")
    with pytest.raises(ConfigError, match="volatility_penalty.penalty_lamda"):
        load_model(EnvConfig, path)


def test_sandbox_preset_is_the_free_money_baseline() -> None:
    sandbox = PRESETS["sandbox"]
    assert sandbox.reward_scaling == 1.0
    assert not sandbox.include_risk_features
    costs = sandbox.costs
    assert costs.commission_bps == costs.half_spread_bps == costs.slippage_bps == 0.0
    assert sandbox.turnover_penalty.curve == "none"
    assert sandbox.volatility_penalty.penalty_lambda == 0.0
    assert sandbox.drawdown_limits.dd_limit is None
    assert sandbox.drawdown_limits.max_daily_drawdown_pct is None
    assert PRESETS["realistic"] == EnvConfig()


def test_configs_are_frozen() -> None:
    with pytest.raises(ValidationError):
        EnvConfig().window = 10  # type: ignore[misc]


def test_with_overrides_merges_nested_sections_and_validates() -> None:
    config = EnvConfig().with_overrides({"costs": {"slippage_bps": 2.0}, "window": 8})
    assert config.costs.slippage_bps == 2.0
    assert config.costs.commission_bps == 0.5, "untouched keys of a section are kept"
    assert config.window == 8
    with pytest.raises(ValidationError, match="slippage_bps"):
        EnvConfig().with_overrides({"costs": {"slippage_bps": -1.0}})
