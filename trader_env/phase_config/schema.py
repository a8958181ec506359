"""Typed phase configuration: the schema of ``assets_config/phaseN.yaml`` (:class:`PhaseConfig`
and its sections), the phases, and the metric names a gate or a training check may name.

How the files are resolved into a :class:`PhaseConfig` is :mod:`trader_env.phase_config.loader`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trader_env.env import PRESETS, EnvConfig
from trader_env.evaluation.gates import GateCriterion
from trader_env.lineage import config_fingerprint
from trader_env.yaml_config import (
    deep_merge,
)

#: Phases of the plan; ``phase{N}.yaml`` configures phase N.
PHASES: tuple[int, ...] = tuple(range(7))


def evaluation_metric_names() -> frozenset[str]:
    """Every metric an evaluation produces, which a ``gate`` criterion may name.

    The names live next to the code producing them and are gathered in
    :data:`trader_env.workflow.evaluation.GATE_METRIC_KEYS`; imported here when a config is
    validated, because the workflow imports this module.
    """
    from trader_env.workflow.evaluation import GATE_METRIC_KEYS

    return GATE_METRIC_KEYS


#: Every training diagnostic (``trader_env.training.callbacks.DiagnosticsCallback`` finals,
#: plus the curriculum's), which a ``training_checks`` criterion may name. Listed here and not
#: imported from the callbacks, which import torch (~3 s) that validating a config must not
#: pay; tests/training/test_training_callbacks.py asserts the two lists are the same.
TRAINING_CHECK_METRICS: frozenset[str] = frozenset(
    {
        "n_updates",
        "entropy",
        "entropy_loss",
        "value_loss",
        "approx_kl",
        "explained_variance",
        "min_entropy_early",
        "n_episodes",
        "completion_rate",
        "stable_episode_rate",
        "nonfinite_count",
        "reward_reconciliation_error",
        "training_sharpe_30",
        "episode_reward_mean",
        "episode_net_pnl_mean",
        "daily_turnover_mean",
        "episode_max_drawdown_mean",
        "curriculum_final_stage",
        "curriculum_graduated",
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
    significance: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Abstain unless the kept checkpoint is significant on the slice: its "
        "deflated Sharpe ratio there (the probability that its true Sharpe beats the best that "
        "the candidates scored would reach by luck) must reach this level, else the phase's "
        "model never trades (trader_env/training/abstain.py). null: always keep the best.",
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
    vec_env: Literal["auto", "inprocess", "subproc"] = Field(
        default="auto",
        description="How the copies are stepped: inprocess (one process, "
        "trader_env.env.vec_env.InProcessVecEnv), subproc (SB3's SubprocVecEnv, a process per "
        "copy) or auto: subproc when the machine has at least two cores per copy, else "
        "inprocess (trader_env.env.factory.resolve_vec_env).",
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
        "share the cores, more threads collapse 3-30x (docs/architecture.md, 'Measured facts about the stack').",
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
    widen_warm_start: bool = Field(
        default=False,
        description="Also warm-start when the observation only gained columns (same window): "
        "the previous network is widened with zero weights for the new columns, so it starts "
        "out as the previous policy (trader_env/training/widen.py). Off: such a phase starts "
        "fresh.",
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


class RegimePolicyConfig(_Strict):
    """Phase 6's regime-adaptive policy: one specialist per regime behind a smoothed router
    (:mod:`trader_env.training.regime_policy`)."""

    max_correlation_decay: float = Field(
        default=0.95,
        ge=0.0,
        lt=1.0,
        description="The plan's regime-transition smoothing: per bar, smoothed regime "
        "probability = decay x previous + (1 - decay) x the current regime one-hot (0.95: a "
        "half-life of ~14 bars).",
    )
    dominance: float = Field(
        default=0.5,
        ge=0.0,
        lt=1.0,
        description="The router switches to a new regime's specialist only when that regime's "
        "smoothed probability exceeds this.",
    )
    min_sessions: int = Field(
        default=5,
        ge=1,
        description="Training sessions (over all symbols) a regime must dominate to get its own "
        "specialist; rarer regimes are served by the generalist.",
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

    phase: int = Field(ge=PHASES[0], le=PHASES[-1], description="Phase number (0-6).")
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
    regime_policy: RegimePolicyConfig | None = Field(
        default=None,
        description="Train a regime-adaptive policy (phase 6: per-regime specialists and a "
        "router, saved as one 'RegimeRouter' model); null: one SB3 model.",
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
        _check_metric_names("gate", self.gate, evaluation_metric_names())
        _check_metric_names("training_checks", self.training_checks, TRAINING_CHECK_METRICS)
        rollout = self.algorithm.hyperparameters.n_steps * self.training.n_envs
        if self.algorithm.hyperparameters.batch_size > rollout:
            raise ValueError(
                f"algorithm.hyperparameters.batch_size ({self.algorithm.hyperparameters.batch_size})"
                f" exceeds the rollout (n_steps x n_envs = {rollout} transitions)"
            )
        if self.regime_policy is not None and not self.env.include_regime:
            raise ValueError(
                "regime_policy routes on the regime one-hot in the observation: set "
                "env.include_regime (plan.regime_detection) to true"
            )
        selection = self.training.selection
        if selection.significance is not None and (
            not selection.enabled or self.regime_policy is not None
        ):
            raise ValueError(
                "training.selection.significance judges a single model's kept checkpoint: it "
                "needs training.selection.fraction > 0 and no regime_policy"
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
