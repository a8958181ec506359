"""Phase configuration: the schema (:mod:`~trader_env.phase_config.schema`) and how the YAML files
resolve into it (:mod:`~trader_env.phase_config.loader`)."""

from trader_env.phase_config.loader import load_phase_config
from trader_env.phase_config.schema import (
    PHASES,
    TRAINING_CHECK_METRICS,
    AlgorithmConfig,
    EvaluationConfig,
    Hyperparameters,
    PhaseConfig,
    PlanExtras,
    RegimePolicyConfig,
    SelectionConfig,
    TrainingConfig,
    config_hash,
    evaluation_metric_names,
)

__all__ = [
    "PHASES",
    "TRAINING_CHECK_METRICS",
    "AlgorithmConfig",
    "EvaluationConfig",
    "Hyperparameters",
    "PhaseConfig",
    "PlanExtras",
    "RegimePolicyConfig",
    "SelectionConfig",
    "TrainingConfig",
    "config_hash",
    "evaluation_metric_names",
    "load_phase_config",
]
