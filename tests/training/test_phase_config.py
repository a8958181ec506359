"""Phase configs: inheritance, profiles, the plan mapping, refusals and the progression."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from trader_env.env import PRESETS
from trader_env.evaluation.gates import GateCriterion
from trader_env.paths import PROJECT_ROOT
from trader_env.phase_config import (
    PHASES,
    PhaseConfig,
    config_hash,
    load_phase_config,
)
from trader_env.yaml_config import ConfigError

CONFIG_DIR = PROJECT_ROOT / "assets_config"

#: plan key -> the value it stands for in a resolved config.
PLAN_TARGETS = {
    "kelly_criterion": lambda c: c.env.position_sizing.method == "kelly",
    "regime_detection": lambda c: c.env.include_regime,
    "target_information_ratio": lambda c: next(
        (g.threshold for g in c.gate if g.metric == "information_ratio_annual"), None
    ),
}


@pytest.fixture()
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of the phase files."""
    for phase in PHASES:
        shutil.copy(CONFIG_DIR / f"phase{phase}.yaml", tmp_path / f"phase{phase}.yaml")
    return tmp_path


def edit(folder: Path, phase: int, change: dict[str, Any]) -> Path:
    """Deep-merge ``change`` into ``phase{phase}.yaml`` of ``folder``."""
    from trader_env.yaml_config import deep_merge

    path = folder / f"phase{phase}.yaml"
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(deep_merge(data, change)))
    return path


def get(data: Any, path: tuple[Any, ...]) -> Any:
    """The value at ``path``; None under a section that is null (e.g. phase 5's regime_policy)."""
    for part in path:
        if data is None:
            return None
        data = data[part]
    return data


def leaves(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of the scalar and list values of a nested mapping."""
    paths: list[tuple[str, ...]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            paths.extend(leaves(value, (*prefix, key)))
        else:
            paths.append((*prefix, key))
    return paths


@pytest.mark.parametrize("profile", ["dev", "full", "test"])
@pytest.mark.parametrize("phase", PHASES)
def test_every_phase_resolves_in_every_profile(phase: int, profile: str) -> None:
    config = load_phase_config(phase, profile, config_dir=CONFIG_DIR)
    assert config.phase == phase
    assert config.profile == profile
    expected = "RecurrentPPO" if profile == "full" else "PPO"
    assert config.algorithm.name == expected


def test_phases_add_reality_in_the_plans_order() -> None:
    configs = [load_phase_config(phase, "dev", config_dir=CONFIG_DIR) for phase in PHASES]
    sandbox = configs[0].env
    assert configs[0].env_preset == "sandbox"
    assert sandbox.reward_scaling == 1.0 and not sandbox.include_risk_features
    assert sandbox.costs.commission_bps == 0.0 and sandbox.turnover_penalty.weight == 0.0
    grounded = configs[1].env
    assert grounded.reward_scaling == 0.01 and grounded.include_risk_features
    assert grounded.costs.commission_bps == 0.0  # costs arrive in phase 2
    assert [c.costs for c in configs] == ["none", "none"] + ["production"] * (len(PHASES) - 2)
    assert configs[2].env.turnover_penalty.curve == "smart_huber"
    assert configs[2].env.drawdown_limits.max_daily_drawdown_pct is None  # phase 3
    assert configs[3].env.drawdown_limits.max_daily_drawdown_pct == 0.05
    assert configs[3].env.volatility_penalty.penalty_lambda == 0.001
    assert [c.env.position_sizing.volatility_target for c in configs] == [False] * 3 + [True] * (
        len(PHASES) - 3
    ), "volatility targeting from phase 3 on"
    assert not configs[3].env.curriculum.enabled and configs[4].env.curriculum.enabled
    production = configs[5].env
    assert production.position_sizing.method == "kelly" and production.include_regime
    assert not production.curriculum.enabled
    information = [c for c in configs[5].gate if c.metric == "information_ratio_annual"]
    assert [(c.op, c.threshold) for c in information] == [(">", 1.5)]
    assert configs[5].evaluation.drawdown_limit == 0.03


@pytest.mark.parametrize("profile", ["dev", "full"])
def test_cost_bearing_single_model_phases_trade_only_on_significant_evidence(profile: str) -> None:
    """Phases 2-5 keep a checkpoint only when it is significant on the selection slice, and
    every such phase's gate demands turnover, so an abstaining phase can never serve."""
    configs = [load_phase_config(phase, profile, config_dir=CONFIG_DIR) for phase in PHASES]
    assert [c.training.selection.significance for c in configs] == [None, None] + [0.95] * 4 + [
        None
    ]
    for config in configs[2:6]:
        assert config.training.selection.fraction == 0.15
        assert turnover_band(config)[0] > 0, (
            f"phase {config.phase} accepts a policy that never trades"
        )
    assert configs[6].regime_policy is not None and not configs[6].training.selection.enabled
    tests = [load_phase_config(phase, "test", config_dir=CONFIG_DIR) for phase in PHASES]
    assert not any(c.training.selection.enabled for c in tests)


def turnover_band(config: PhaseConfig) -> tuple[float, float]:
    """The daily turnover band (x capital) a phase's gate accepts."""
    low = [c.threshold for c in config.gate if c.metric == "daily_turnover" and c.op == ">="]
    high = [c.threshold for c in config.gate if c.metric == "daily_turnover" and c.op == "<="]
    assert len(low) == 1 and len(high) == 1, f"phase {config.phase}: one lower, one upper bound"
    return low[0], high[0]


@pytest.mark.parametrize("profile", ["dev", "full"])
def test_turnover_penalty_shapes_inside_the_gates_band_and_steers_to_the_plans(
    profile: str,
) -> None:
    """Every gate from phase 2 on bounds daily turnover; the free turnover (and every curriculum
    stage) lies inside the accepted band, so the penalty bites on policies the gate accepts; the
    bands narrow to the plan's 0.3x-1.5x, which the penalty's free turnover tops."""
    configs = {p: load_phase_config(p, profile, config_dir=CONFIG_DIR) for p in PHASES[2:]}
    bands = {p: turnover_band(c) for p, c in configs.items()}
    assert bands[2] == (0.5, 3.0), "the plan's phase-2 gate"
    assert bands[max(bands)] == (0.3, 1.5), "the plan's final target band"
    for phase in list(bands)[1:]:
        low, high = bands[phase]
        assert low <= bands[phase - 1][0] and high <= bands[phase - 1][1], "bands only narrow"
    for phase, config in configs.items():
        low, high = bands[phase]
        limits = [config.env.turnover_penalty.limit]
        if config.env.curriculum.enabled:
            limits += [stage.target_turnover for stage in config.env.curriculum.stages]
        assert all(low <= limit <= high for limit in limits), (phase, limits, bands[phase])
        assert config.env.turnover_penalty.limit == 1.5
    stages = [s.target_turnover for s in configs[4].env.curriculum.stages]
    assert stages == sorted(stages) and stages[-1] == 1.5
    plan = [0.008, 0.015, 0.02]
    assert [round(s / stages[-1], 3) for s in stages] == [round(x / plan[-1], 3) for x in plan]


def test_sandbox_settings_are_all_replaced_by_phase_3() -> None:
    sandbox = PRESETS["sandbox"].model_dump()
    realistic = PRESETS["realistic"].model_dump()
    config = load_phase_config(3, "dev", config_dir=CONFIG_DIR)
    phase3 = config.env.model_dump()
    differing = [p for p in leaves(sandbox) if get(sandbox, p) != get(realistic, p)]
    assert differing, "the presets should differ"
    # The sandbox's free trading is replaced by each symbol's production costs (costs.yaml),
    # applied once the symbols are known, not by the generic costs of the realistic preset.
    assert config.costs == "production"
    for path in differing:
        if path[0] != "costs":
            assert get(phase3, path) == get(realistic, path), path


def test_each_phase_file_states_only_what_changes() -> None:
    for phase in PHASES[1:]:
        raw = yaml.safe_load((CONFIG_DIR / f"phase{phase}.yaml").read_text())
        assert raw["inherits"] == f"phase{phase - 1}"
        previous = load_phase_config(phase - 1, "dev", config_dir=CONFIG_DIR)
        current = load_phase_config(phase, "dev", config_dir=CONFIG_DIR)
        before = previous.model_dump()
        base = {k: v for k, v in raw.items() if k not in ("inherits", "profiles", "plan")}
        for path in leaves(base):
            value = get(base, path)
            if path[0] in ("gate", "training_checks"):
                value = [GateCriterion.model_validate(c).model_dump() for c in value]
            assert value != get(before, path), f"phase{phase}.yaml restates {'.'.join(path)}"
        for key, value in raw.get("plan", {}).items():
            assert PLAN_TARGETS[key](previous) != PLAN_TARGETS[key](current), key
            assert PLAN_TARGETS[key](current) == value, key


def test_profile_defaults_to_trader_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADER_PROFILE", raising=False)
    assert load_phase_config(1, config_dir=CONFIG_DIR).profile == "dev"
    monkeypatch.setenv("TRADER_PROFILE", "test")
    config = load_phase_config(1, config_dir=CONFIG_DIR)
    assert config.profile == "test"
    assert config.training.total_timesteps == 512


def test_profile_sections_win_over_base_sections_and_overrides_win_over_both() -> None:
    base_stages = load_phase_config(4, "test", config_dir=CONFIG_DIR).env.curriculum.stages
    dev_stages = load_phase_config(4, "dev", config_dir=CONFIG_DIR).env.curriculum.stages
    assert [s.min_episodes for s in base_stages] == [20, 30, 50]
    assert [s.min_episodes for s in dev_stages] == [10, 15, 20]
    overridden = load_phase_config(
        4, "dev", overrides={"training": {"total_timesteps": 777}}, config_dir=CONFIG_DIR
    )
    assert overridden.training.total_timesteps == 777


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"phase2\.yaml: profile 'prod' is not defined"):
        load_phase_config(2, "prod", config_dir=CONFIG_DIR)


def test_unknown_key_is_refused_naming_file_and_key(config_copy: Path) -> None:
    edit(config_copy, 2, {"env": {"costs": {"comission_bps": 1.0}}})
    with pytest.raises(ConfigError) as error:
        load_phase_config(3, "dev", config_dir=config_copy)
    message = str(error.value)
    assert "phase2.yaml" in message and "phase3.yaml" not in message.split(":")[0]
    assert "key 'env.costs.comission_bps'" in message and "Extra inputs" in message


def test_unknown_top_level_key_is_refused(config_copy: Path) -> None:
    edit(config_copy, 1, {"trainig": {"seed": 1}})
    with pytest.raises(ConfigError, match=r"phase1\.yaml.*key 'trainig'"):
        load_phase_config(1, "dev", config_dir=config_copy)


def test_out_of_range_value_is_refused_with_reason(config_copy: Path) -> None:
    edit(config_copy, 3, {"env": {"drawdown_limits": {"max_daily_drawdown_pct": 1.5}}})
    with pytest.raises(ConfigError) as error:
        load_phase_config(5, "dev", config_dir=config_copy)
    message = str(error.value)
    assert message.startswith(str(config_copy / "phase3.yaml"))
    assert "env.drawdown_limits.max_daily_drawdown_pct" in message
    assert "less than or equal to 1" in message and "1.5" in message


def test_value_set_by_a_profile_section_is_attributed_to_it(config_copy: Path) -> None:
    edit(config_copy, 0, {"profiles": {"dev": {"training": {"total_timesteps": 0}}}})
    with pytest.raises(
        ConfigError, match=r"phase0\.yaml \(profiles\.dev\).*training\.total_timesteps"
    ):
        load_phase_config(2, "dev", config_dir=config_copy)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gate": [{"metric": "sharp", "op": ">", "threshold": 0}]}, "'sharp' is not a metric"),
        (
            {"training_checks": [{"metric": "entropy", "op": "=>", "threshold": 0}]},
            "training_checks.0.op",
        ),
        ({"algorithm": {"hyperparameters": {"lstm_hidden_size": 8}}}, "only used by RecurrentPPO"),
        ({"algorithm": {"policy": "MlpLstmPolicy"}}, "PPO trains a MlpPolicy"),
        ({"algorithm": {"hyperparameters": {"batch_size": 16384}}}, "exceeds the rollout"),
        ({"env_preset": "casino"}, "env_preset 'casino' is unknown"),
        ({"env": {"curriculum": {"enabled": False}}}, "env.curriculum.enabled is false"),
        ({"phase": 3}, "must configure phase 4"),
    ],
)
def test_inconsistent_values_are_refused(
    config_copy: Path, change: dict[str, Any], reason: str
) -> None:
    edit(config_copy, 4, change)
    with pytest.raises(ConfigError, match="phase4.yaml") as error:
        load_phase_config(4, "dev", config_dir=config_copy)
    assert reason in str(error.value)


def test_plan_keys_are_translated_not_duplicated(config_copy: Path) -> None:
    edit(config_copy, 5, {"env": {"position_sizing": {"method": "fixed"}}})
    with pytest.raises(ConfigError, match=r"plan\.kelly_criterion.*state it once"):
        load_phase_config(5, "dev", config_dir=config_copy)


def test_plan_volatility_regimes_points_to_the_features_config(config_copy: Path) -> None:
    edit(config_copy, 5, {"plan": {"volatility_regimes": [0.1, 0.2, 0.4]}})
    with pytest.raises(ConfigError, match=r"regime\.vol_thresholds in features\.yaml"):
        load_phase_config(5, "dev", config_dir=config_copy)


def test_plan_section_refuses_unknown_keys(config_copy: Path) -> None:
    edit(config_copy, 5, {"plan": {"kelly": True}})
    with pytest.raises(ConfigError, match=r"phase5\.yaml \(section 'plan'\).*key 'kelly'"):
        load_phase_config(5, "dev", config_dir=config_copy)


def test_inheritance_cycle_is_refused(config_copy: Path) -> None:
    edit(config_copy, 0, {"inherits": "phase2"})
    with pytest.raises(ConfigError, match="inheritance cycle phase2 -> phase1 -> phase0 -> phase2"):
        load_phase_config(2, "dev", config_dir=config_copy)


def test_preset_is_applied_under_explicit_env_keys_when_built_in_code() -> None:
    config = load_phase_config(0, "test", config_dir=CONFIG_DIR)
    data = config.model_dump()
    data["env"] = {"window": 7}
    rebuilt = PhaseConfig.model_validate(data)
    assert rebuilt.env.window == 7
    assert rebuilt.env.reward_scaling == 1.0  # from the sandbox preset
    assert PhaseConfig.model_validate(config.model_dump()) == config


def test_config_hash_is_stable_and_sensitive() -> None:
    first = load_phase_config(2, "dev", config_dir=CONFIG_DIR)
    again = load_phase_config(2, "dev", config_dir=CONFIG_DIR)
    other = load_phase_config(2, "dev", overrides={"training": {"seed": 1}}, config_dir=CONFIG_DIR)
    assert config_hash(first) == config_hash(again)
    assert config_hash(first) != config_hash(other)
    assert len(config_hash(first)) == 16


def test_phase_6_gate_is_the_plans_final_system() -> None:
    """Every final-system target of the plan is a criterion of phase 6's gate."""
    config = load_phase_config(6, "dev", config_dir=CONFIG_DIR)
    criteria = {(c.metric, c.op, c.threshold) for c in config.gate}
    assert criteria == {
        ("sharpe", ">", 2.0),
        ("max_drawdown", ">", -0.03),
        ("share_days_within_drawdown", ">=", 0.95),
        ("win_rate", ">=", 0.55),
        ("win_rate", "<=", 0.65),
        ("information_ratio_annual", ">", 1.5),
        ("calmar", ">", 3.0),
        ("daily_turnover", ">=", 0.3),
        ("daily_turnover", "<=", 1.5),
        ("annual_volatility", ">=", 0.15),
        ("annual_volatility", "<=", 0.20),
        ("correlation", "<", 0.6),
        ("training_stability", ">", 0.99),
        ("seed_sharpe_variation", "<", 0.10),
        ("regime_degradation", "<", 0.05),
        ("psr", ">=", 0.95),
    }
    assert config.evaluation.drawdown_limit == 0.03
    seeds = {config.training.seed, *(config.evaluation.seeds or [])}
    assert len(seeds) >= 3, "evaluation consistency needs at least three seeds"
    assert config.regime_policy is not None
    assert config.regime_policy.max_correlation_decay == 0.95
    assert config.env.include_regime and config.env.position_sizing.method == "kelly"
