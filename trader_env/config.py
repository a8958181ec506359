"""Typed phase configuration: ``assets_config/phaseN.yaml`` -> :class:`PhaseConfig`.

A phase file states only what changes from the phase it ``inherits`` (``phase{N-1}``), so the
six files read as the plan's progression. :func:`load_phase_config` resolves a phase in this
order, later layers winning (mappings merge key by key, lists and scalars replace):

1. the base sections of the inheritance chain, oldest first (``phase0.yaml`` ... ``phaseN``);
2. the ``profiles.<profile>`` sections of the chain, oldest first (``dev``, ``full``, ``test``:
   budgets and network sizes, which therefore win over the base sections);
3. ``overrides`` given by the caller;
4. the ``plan`` section, translated onto the fields that implement it (:class:`PlanExtras`);
5. the ``env`` section laid over the EnvConfig of ``env_preset`` (explicit keys win).

Plan names that are not fields of their own (no key exists twice):

==========================  ================================================================
``plan.kelly_criterion``    ``env.position_sizing.method``: ``kelly`` if true, ``fixed`` if
                            false (the cap is ``env.position_sizing.max_kelly_fraction``)
``plan.regime_detection``   ``env.include_regime`` (regime one-hot in the observation)
``plan.target_information_  the gate criterion ``information_ratio_annual > value``
ratio``
``plan.volatility_regimes`` not a phase setting: regimes are computed once, upstream of every
                            phase, from ``features.yaml`` ``regime.vol_thresholds``
==========================  ================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trader_env import paths
from trader_env.env import PRESETS, EnvConfig
from trader_env.evaluation.gates import GateCriterion
from trader_env.evaluation.metrics import METRIC_KEYS
from trader_env.lineage import config_fingerprint
from trader_env.yaml_config import (
    ConfigError,
    active_profile,
    deep_merge,
    read_yaml,
    resolve_profile,
    validate_model,
)

#: Phases of the plan; ``phase{N}.yaml`` configures phase N.
PHASES: tuple[int, ...] = tuple(range(6))

#: Metric keys the evaluation produces (DESIGN section 8) that a ``gate`` criterion may name.
EVALUATION_METRICS: frozenset[str] = frozenset(METRIC_KEYS) | {
    # trader_env.evaluation.backtest.BacktestResult.metrics
    "win_rate",
    "daily_turnover",
    "share_days_within_drawdown",
    "regime_degradation",
    # trader_env.workflow.evaluate_phase_model
    "mean_episode_reward",
    "seed_sharpe_mean",
    "seed_sharpe_std",
    "seed_sharpe_variation",
}

#: Training diagnostics (``trader_env.training.callbacks.DiagnosticsCallback`` finals, plus the
#: curriculum's final stage) that a ``training_checks`` criterion may name.
TRAINING_CHECK_METRICS: frozenset[str] = frozenset(
    {
        "completion_rate",
        "nonfinite_count",
        "min_entropy_early",
        "entropy",
        "explained_variance",
        "reward_reconciliation_error",
        "training_sharpe_30",
        "episode_reward_mean",
        "n_episodes",
        "curriculum_final_stage",
    }
)

_POLICY_OF: dict[str, str] = {"PPO": "MlpPolicy", "RecurrentPPO": "MlpLstmPolicy"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hyperparameters(_Strict):
    """PPO / RecurrentPPO hyperparameters (Stable-Baselines3 names and meanings)."""

    learning_rate: float = Field(
        default=3e-4, gt=0.0, le=1.0, description="Adam step size (per gradient step)."
    )
    n_steps: int = Field(
        default=2048,
        ge=2,
        description="Steps per environment copy in each rollout; a rollout holds "
        "n_steps x n_envs transitions.",
    )
    batch_size: int = Field(
        default=64,
        ge=2,
        description="Transitions per minibatch (RecurrentPPO: steps of whole sequences).",
    )
    n_epochs: int = Field(default=10, ge=1, description="Passes over each rollout per update.")
    gamma: float = Field(
        default=0.99, gt=0.0, le=1.0, description="Discount factor per step (bar)."
    )
    gae_lambda: float = Field(
        default=0.95, ge=0.0, le=1.0, description="GAE bias/variance trade-off (ratio)."
    )
    ent_coef: float = Field(
        default=0.0, ge=0.0, description="Weight of the entropy bonus in the loss (per nat)."
    )
    clip_range: float = Field(
        default=0.2, gt=0.0, le=1.0, description="PPO ratio clipping (fraction)."
    )
    vf_coef: float = Field(
        default=0.5, ge=0.0, description="Weight of the value loss in the total loss."
    )
    max_grad_norm: float = Field(
        default=0.5, gt=0.0, description="Global gradient-norm clipping (L2 norm)."
    )
    net_arch: list[int] = Field(
        default=[64, 64],
        description="Hidden layer widths (units) of the policy and of the value MLP "
        "(same shape, separate weights).",
    )
    lstm_hidden_size: int | None = Field(
        default=None,
        ge=1,
        description="LSTM units (RecurrentPPO only; null means SB3's default, 256).",
    )

    @model_validator(mode="after")
    def _positive_widths(self) -> Self:
        if any(width < 1 for width in self.net_arch):
            raise ValueError(f"net_arch widths must be >= 1 unit, got {self.net_arch}")
        return self


class AlgorithmConfig(_Strict):
    """Which SB3 algorithm and policy to train, with its hyperparameters."""

    name: Literal["PPO", "RecurrentPPO"] = Field(
        description="PPO (stable-baselines3) or RecurrentPPO (sb3-contrib, LSTM policy)."
    )
    policy: Literal["MlpPolicy", "MlpLstmPolicy"] = Field(
        description="SB3 policy name: MlpPolicy for PPO, MlpLstmPolicy for RecurrentPPO."
    )
    hyperparameters: Hyperparameters = Field(
        default_factory=Hyperparameters, description="Optimisation hyperparameters."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        expected = _POLICY_OF[self.name]
        if self.policy != expected:
            raise ValueError(f"{self.name} trains a {expected}, got policy {self.policy}")
        if self.name == "PPO" and self.hyperparameters.lstm_hidden_size is not None:
            raise ValueError(
                "hyperparameters.lstm_hidden_size is only used by RecurrentPPO; set it to null "
                "for PPO"
            )
        return self


class SelectionConfig(_Strict):
    """Checkpoint selection on a slice carved from the end of the training split.

    The last ``fraction`` of the training sessions (after an embargo of the splits'
    ``embargo_sessions``) is held out of training; the model is scored there ``checkpoints``
    times, evenly over training, and at the end, and the best-scoring weights are kept. Neither
    the validation split (the gate) nor the test split (reported) takes part in the choice.
    """

    fraction: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="Share of the training sessions (from the end) held out as the selection "
        "slice; 0: no selection, the final model is kept and training uses the whole split.",
    )
    checkpoints: int = Field(
        default=6,
        ge=1,
        le=100,
        description="Periodic scorings on the selection slice, evenly spaced over "
        "total_timesteps (the final model is scored as well).",
    )
    metric: Literal["sharpe", "net_pnl"] = Field(
        default="sharpe",
        description="Score on the selection slice: annualised Sharpe of daily returns (0 for "
        "a policy that never trades) or net P&L (money, after costs).",
    )

    @property
    def enabled(self) -> bool:
        return self.fraction > 0.0


class TrainingConfig(_Strict):
    """Budget and execution of one training run."""

    total_timesteps: int = Field(
        ge=1, description="Environment steps (transitions, all copies together) to train for."
    )
    n_envs: int = Field(default=4, ge=1, le=256, description="Environment copies stepped together.")
    vec_env: Literal["dummy", "subproc"] = Field(
        default="dummy",
        description="SB3 DummyVecEnv (one process) or SubprocVecEnv (one process per copy); "
        "dummy is faster on 2 cores (DESIGN section 11).",
    )
    seed: int = Field(
        default=0,
        ge=0,
        description="Seed of torch, numpy, the action space and env copy i (seed + i).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Torch device; auto picks cuda when available."
    )
    torch_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="torch.set_num_threads for training: 1 stays fast when other processes "
        "share the cores, more threads collapse 3-30x (DESIGN section 11).",
    )
    checkpoint_every: int = Field(
        default=0,
        ge=0,
        description="Save an intermediate model every this many timesteps (0: no checkpoints).",
    )
    warm_start: bool = Field(
        default=True,
        description="Start from the previous phase's model when observation and action "
        "spaces and the algorithm match.",
    )
    selection: SelectionConfig = Field(
        default_factory=SelectionConfig,
        description="Keep the best of the periodic checkpoints by a slice held out of training.",
    )


class EvaluationConfig(_Strict):
    """Settings of the evaluation that the gate criteria are measured on."""

    drawdown_limit: float = Field(
        default=0.04,
        gt=0.0,
        le=1.0,
        description="Intraday drawdown limit (fraction of the day's peak equity) of the "
        "share_days_within_drawdown metric.",
    )
    seeds: list[int] | None = Field(
        default=None,
        description="Extra training seeds: the phase is trained once more per seed (same "
        "config and budget) and each model is evaluated on the validation split, reporting the "
        "spread of Sharpe across seeds (the plan's '< 10 % evaluation variation'); null: the "
        "phase's own model only.",
    )


class PlanExtras(_Strict):
    """Plan settings named in the plan's own words; each is translated onto the field that
    implements it (see the module docstring) and is not kept in :class:`PhaseConfig`."""

    kelly_criterion: bool | None = Field(
        default=None, description="Kelly position sizing (-> env.position_sizing.method)."
    )
    regime_detection: bool | None = Field(
        default=None, description="Regime one-hot in the observation (-> env.include_regime)."
    )
    target_information_ratio: float | None = Field(
        default=None,
        description="Information ratio vs buy-and-hold the model must beat (annualised, "
        "-> gate criterion information_ratio_annual > value).",
    )


class PhaseConfig(_Strict):
    """Everything that defines one phase: environment, algorithm, budget and gates."""

    phase: int = Field(ge=PHASES[0], le=PHASES[-1], description="Phase number (0-5).")
    name: str = Field(min_length=1, description="Short name of the phase.")
    description: str = Field(description="What the phase adds and why.")
    profile: str = Field(
        min_length=1, description="Profile the config was resolved with (dev, full, test)."
    )
    env_preset: str | None = Field(
        default=None,
        description="Named EnvConfig (trader_env.env.PRESETS) under the env keys; null: the "
        "EnvConfig defaults.",
    )
    env: EnvConfig = Field(description="The trading environment (preset + explicit keys).")
    costs: Literal["none", "production"] = Field(
        default="production",
        description="Costs the phase trains and is gated with: 'production' replaces env.costs "
        "by every symbol's production cost model (assets_config/costs.yaml) once the symbols "
        "are known (trader_env.costs.with_production_costs); 'none' keeps env.costs (the "
        "costless phases 0-1, which are also reported under production costs).",
    )
    algorithm: AlgorithmConfig = Field(description="SB3 algorithm and hyperparameters.")
    training: TrainingConfig = Field(description="Budget and execution of training.")
    gate: list[GateCriterion] = Field(
        default_factory=list,
        description="Evaluation criteria that must all hold to pass the phase gate.",
    )
    training_checks: list[GateCriterion] = Field(
        default_factory=list,
        description="Criteria on training diagnostics that must hold as well.",
    )
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig, description="Settings of the gate's evaluation."
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_env_preset(cls, data: Any) -> Any:
        # Applying the preset here (not in the loader) keeps a PhaseConfig built in code
        # consistent with its env_preset; merging an already resolved env is a no-op.
        if isinstance(data, Mapping) and isinstance(data.get("env_preset"), str):
            preset = PRESETS.get(data["env_preset"])
            env = data.get("env", {})
            if preset is not None and isinstance(env, Mapping):
                return {**data, "env": deep_merge(preset.model_dump(), dict(env))}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.env_preset is not None and self.env_preset not in PRESETS:
            raise ValueError(f"env_preset {self.env_preset!r} is unknown; known: {sorted(PRESETS)}")
        _check_metric_names("gate", self.gate, EVALUATION_METRICS)
        _check_metric_names("training_checks", self.training_checks, TRAINING_CHECK_METRICS)
        rollout = self.algorithm.hyperparameters.n_steps * self.training.n_envs
        if self.algorithm.hyperparameters.batch_size > rollout:
            raise ValueError(
                f"algorithm.hyperparameters.batch_size ({self.algorithm.hyperparameters.batch_size})"
                f" exceeds the rollout (n_steps x n_envs = {rollout} transitions)"
            )
        last_stage = len(self.env.curriculum.stages) - 1
        for check in self.training_checks:
            if check.metric != "curriculum_final_stage":
                continue
            if not self.env.curriculum.enabled:
                raise ValueError(
                    "training_checks name curriculum_final_stage, but "
                    "env.curriculum.enabled is false"
                )
            if check.threshold > last_stage:
                raise ValueError(
                    f"training_checks: curriculum_final_stage threshold {check.threshold:g} is "
                    f"beyond the last stage index ({last_stage})"
                )
        return self


def _check_metric_names(
    field: str, criteria: Sequence[GateCriterion], known: frozenset[str]
) -> None:
    for index, criterion in enumerate(criteria):
        if criterion.metric not in known:
            raise ValueError(
                f"{field}[{index}].metric {criterion.metric!r} is not a metric this pipeline "
                f"produces; known: {sorted(known)}"
            )


def config_hash(config: PhaseConfig) -> str:
    """Fingerprint (SHA-256 of the canonical JSON, 16 hex characters) of a resolved config."""
    return config_fingerprint(config)


# ----------------------------------------------------------------------------- loading
_Layer = tuple[str, dict[str, Any]]  # (where the keys come from, the keys)
_LOADER_KEYS = ("inherits", "profiles")


def _inheritance_chain(folder: Path, name: str) -> list[tuple[Path, dict[str, Any]]]:
    """``[(path, mapping), ...]`` from the root ancestor to ``name``."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        path = folder / f"{current}.yaml"
        if current in seen:
            cycle = " -> ".join([*seen, current])
            raise ConfigError(f"{path}: key 'inherits': inheritance cycle {cycle}")
        seen.append(current)
        data = read_yaml(path)
        chain.append((path, data))
        parent = data.get("inherits")
        if parent is not None and not isinstance(parent, str):
            raise ConfigError(
                f"{path}: key 'inherits': expected the name of a config (e.g. 'phase0'), got "
                f"{parent!r}"
            )
        current = parent
    return chain[::-1]


def _has_path(data: Any, path: Sequence[str | int]) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _origin(layers: Sequence[_Layer], loc: Sequence[str | int]) -> str:
    """The layer that set the longest prefix of ``loc`` (the last such layer wins)."""
    for length in range(len(loc), 0, -1):
        for label, data in reversed(layers):
            if _has_path(data, loc[:length]):
                return label
    return layers[-1][0]


def _apply_plan(data: dict[str, Any], layers: Sequence[_Layer]) -> dict[str, Any]:
    """Translate the ``plan`` section onto the fields that implement it."""
    plan = data.pop("plan", None)
    if plan is None:
        return data
    source = _origin(layers, ("plan",))
    if isinstance(plan, Mapping) and "volatility_regimes" in plan:
        raise ConfigError(
            f"{_origin(layers, ('plan', 'volatility_regimes'))}: key 'plan.volatility_regimes': "
            "regimes are computed once for every phase: set regime.vol_thresholds in "
            "features.yaml instead"
        )
    if not isinstance(plan, dict):
        raise ConfigError(f"{source}: key 'plan': expected a mapping, got {plan!r}")
    extras = validate_model(PlanExtras, plan, f"{source} (section 'plan')")

    def refuse_duplicate(plan_key: str, field_path: tuple[str, ...]) -> None:
        if _has_path(data, field_path):
            raise ConfigError(
                f"{source}: key 'plan.{plan_key}' sets {'.'.join(field_path)}, which "
                f"{_origin(layers, field_path)} sets as well: state it once"
            )

    env = data.get("env") or {}
    if not isinstance(env, dict):
        raise ConfigError(
            f"{_origin(layers, ('env',))}: key 'env': expected a mapping, got {env!r}"
        )
    if extras.kelly_criterion is not None:
        refuse_duplicate("kelly_criterion", ("env", "position_sizing", "method"))
        method = "kelly" if extras.kelly_criterion else "fixed"
        env = deep_merge(env, {"position_sizing": {"method": method}})
    if extras.regime_detection is not None:
        refuse_duplicate("regime_detection", ("env", "include_regime"))
        env = {**env, "include_regime": extras.regime_detection}
    data = {**data, "env": env}
    if extras.target_information_ratio is not None:
        gate = list(data.get("gate") or [])
        if any(
            isinstance(c, Mapping) and c.get("metric") == "information_ratio_annual" for c in gate
        ):
            raise ConfigError(
                f"{source}: key 'plan.target_information_ratio' adds the gate criterion "
                f"information_ratio_annual, which {_origin(layers, ('gate',))} states as well: state "
                "it once"
            )
        gate.append(
            {
                "metric": "information_ratio_annual",
                "op": ">",
                "threshold": extras.target_information_ratio,
                "description": "plan.target_information_ratio: beat buy-and-hold per unit of "
                "tracking error",
            }
        )
        data["gate"] = gate
    return data


def load_phase_config(
    phase: int,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_dir: Path | None = None,
) -> PhaseConfig:
    """Resolve ``phase{phase}.yaml`` with its ancestors, a profile and overrides.

    ``profile`` defaults to ``$TRADER_PROFILE`` (``dev`` when unset) and must be defined by a
    file of the chain. ``overrides`` is a nested mapping applied after the profiles (e.g.
    ``{"training": {"total_timesteps": 1000}}``). ``config_dir`` defaults to
    :func:`trader_env.paths.config_dir`. Errors (:class:`ConfigError`) name the file, the key
    and the reason.
    """
    if phase not in PHASES:
        raise ConfigError(f"phase must be one of {list(PHASES)}, got {phase!r}")
    folder = Path(config_dir) if config_dir is not None else paths.config_dir()
    chain = _inheritance_chain(folder, f"phase{phase}")
    leaf = str(chain[-1][0])
    profile = profile or active_profile()

    known_profiles: set[str] = set()
    for path, data in chain:
        profiles = data.get("profiles") or {}
        if not isinstance(profiles, Mapping):
            raise ConfigError(f"{path}: key 'profiles' must map profile names to overrides")
        known_profiles.update(profiles)
    if profile not in known_profiles:
        raise ConfigError(
            f"{leaf}: profile {profile!r} is not defined; the phase files define "
            f"{sorted(known_profiles)}"
        )

    layers: list[_Layer] = []
    for path, data in chain:
        if "profile" in data:
            raise ConfigError(f"{path}: key 'profile' is set by the loader; use 'profiles'")
        layers.append((str(path), {k: v for k, v in data.items() if k not in _LOADER_KEYS}))
    for path, data in chain:
        section = resolve_profile({"profiles": data.get("profiles") or {}}, profile, str(path))
        layers.append((f"{path} (profiles.{profile})", section))
    if overrides:
        layers.append(("overrides", dict(overrides)))

    merged = reduce(deep_merge, (data for _, data in layers), {})
    if merged.get("phase") != phase:
        raise ConfigError(
            f"{_origin(layers, ('phase',))}: key 'phase': {leaf} must configure phase {phase}, "
            f"got {merged.get('phase')!r}"
        )
    merged["profile"] = profile
    merged = _apply_plan(merged, layers)
    try:
        return PhaseConfig.model_validate(merged)
    except ValidationError as exc:
        sources = dict.fromkeys(_origin(layers, error["loc"]) for error in exc.errors())
    # validate_model refuses the same data again, with the file(s) that set the bad keys.
    return validate_model(PhaseConfig, merged, ", ".join(sources))
