"""The phase workflow as plain functions the Dagster assets call (no Dagster import here):

- :mod:`~trader_env.workflow.records`: the values the assets carry;
- :mod:`~trader_env.workflow.training`: train a phase, its seed spread, load a policy;
- :mod:`~trader_env.workflow.evaluation`: backtests, production costs, baselines, gate;
- :mod:`~trader_env.workflow.oracle`: the synthetic market's oracle;
- :mod:`~trader_env.workflow.champion`: what is promoted;
- :mod:`~trader_env.workflow.serving`: what serves: the champion whose model file verifies,
  loaded from the checked bytes.
"""

from trader_env.workflow.champion import (
    DSR_THRESHOLD,
    candidate_record,
    decide_champion,
    pick_candidate,
    remeasure_champion,
)
from trader_env.workflow.evaluation import evaluate_phase_model
from trader_env.workflow.oracle import (
    env_cost_per_side_bps,
    oracle_comparison,
    oracle_daily_returns,
)
from trader_env.workflow.records import (
    EVALUATION_PARTS,
    GATE_PART,
    REPORT_PART,
    ChampionDecision,
    PhaseEvaluation,
    PhaseModel,
)
from trader_env.workflow.serving import (
    Serving,
    load_champion_policy,
    refused_all,
    serving_champion,
    verified_champion,
)
from trader_env.workflow.training import load_policy, seed_spread, train_phase_model

__all__ = [
    "DSR_THRESHOLD",
    "EVALUATION_PARTS",
    "GATE_PART",
    "REPORT_PART",
    "ChampionDecision",
    "PhaseEvaluation",
    "PhaseModel",
    "Serving",
    "candidate_record",
    "env_cost_per_side_bps",
    "evaluate_phase_model",
    "load_champion_policy",
    "load_policy",
    "oracle_comparison",
    "oracle_daily_returns",
    "pick_candidate",
    "decide_champion",
    "refused_all",
    "remeasure_champion",
    "seed_spread",
    "serving_champion",
    "train_phase_model",
    "verified_champion",
]
