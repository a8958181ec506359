"""The `tune_phase` job: a hyperparameter search for one phase, written as a proposal file.

Not part of the main command nor of `full_pipeline`: a person launches it (UI Launchpad or
`dagster job execute -j tune_phase -c run_config.yaml`) with the phase and a trial budget, and
adopts the proposal or not. Its trial count goes to the champion registry so that the deflated
Sharpe ratio of every later promotion accounts for the search.
"""

import dagster as dg

from pipelines.metadata import plain_metadata
from pipelines.phases import MARKET_INS, phase_config, symbol_costs
from pipelines.settings import PipelineSettings
from trader_env.dataset import Dataset
from trader_env.evaluation.champion import ChampionRegistry
from trader_env.lineage import frame_fingerprint
from trader_env.phase_config import PHASES
from trader_env.tuning import tune_phase, write_proposal


class TuneConfig(dg.Config):
    """Run config of `tune_phase`."""

    phase: int = 2
    n_trials: int = 10
    seed: int = 0


MODEL_INS = {
    f"phase{phase}_model": dg.AssetIn(f"phase{phase}_model", input_manager_key="optional_input")
    for phase in PHASES
}


@dg.asset(
    group_name="tuning",
    ins={**MARKET_INS, **MODEL_INS},
    code_version="1",
    description="Hyperparameter search (Optuna TPE) of one phase on its selection slice (the "
    "end of the training split, never validation or test); writes the best configuration as a "
    "proposal YAML under <storage>/proposals/ and reports its trial count to the champion "
    "registry. Run config: phase, n_trials, seed.",
)
def tuning_proposal(
    context: dg.AssetExecutionContext, config: TuneConfig, settings: PipelineSettings, **inputs
) -> dict:
    if config.phase not in PHASES:
        raise dg.Failure(f"tune_phase: phase must be one of {list(PHASES)}, got {config.phase}")
    if config.n_trials < 1:
        raise dg.Failure(f"tune_phase: n_trials must be >= 1, got {config.n_trials}")
    bars = inputs["bars"]
    phase = phase_config(config.phase, symbol_costs(bars, inputs["splits"], settings), settings)
    previous = inputs.get(f"phase{config.phase - 1}_model") if config.phase > 0 else None
    if phase.training.warm_start and config.phase > 0 and previous is None:
        context.log.warning(
            f"phase{config.phase - 1}_model was never materialized: every trial starts fresh"
        )
    market = Dataset(bars, inputs["features"], inputs["regimes"], inputs["splits"])
    root = settings.storage
    result = tune_phase(
        phase,
        market,
        root,
        frame_fingerprint(bars),
        config.n_trials,
        previous=previous,
        seed=config.seed,
        logger=context.log,
    )
    path = write_proposal(result, root, phase)
    total = ChampionRegistry(root).record_external_trials(
        f"tune_phase/phase{config.phase}/{path.stem}", f"phase{config.phase}", result.n_trials
    )
    value = {
        "phase": result.phase,
        "proposal_path": str(path),
        "n_trials": result.n_trials,
        "metric": result.metric,
        "best_trial": result.best_trial,
        "best_score": result.best_score,
        "committed_score": result.committed_score,
        "edge_significance": result.edge_significance,
        "best_overrides": result.best_overrides,
        "registry_trial_count": total,
        "trials": result.trials,
    }
    metadata = plain_metadata({k: v for k, v in value.items() if k != "proposal_path"})
    metadata["proposal_path"] = dg.MetadataValue.path(str(path))
    context.add_output_metadata(metadata)
    return value


tune_phase_job = dg.define_asset_job(
    "tune_phase",
    selection=dg.AssetSelection.assets("tuning_proposal"),
    description="Search one phase's hyperparameters on its selection slice and write a proposal "
    "(run config ops.tuning_proposal.config: phase, n_trials, seed). Not part of the main "
    "command; its trials count in the champion's deflated Sharpe ratio.",
)
