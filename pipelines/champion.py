"""The ``serving`` group: ``champion_decision``, promoted from the phases that earned it.

It runs as its own job after the phase runs (the ``promote_champion`` job, launched by the main
command and by a run-status sensor) because a failing gate skips everything downstream of it in
the same run, and the champion must still consider the phases that did pass.
No ``from __future__ import annotations``: Dagster reads annotations.
"""

import dagster as dg
import polars as pl

from pipelines.io_manager import LegacyPickleError, ParquetIOManager
from pipelines.metadata import json_safe
from pipelines.phases import phase_config, symbol_costs
from pipelines.settings import PipelineSettings
from trader_env.dataset import Dataset
from trader_env.evaluation.champion import ChampionRegistry, ChampionRegistryError
from trader_env.evaluation.model_integrity import ModelIntegrityError
from trader_env.features import Splits
from trader_env.lineage import frame_fingerprint
from trader_env.phase_config import PHASES, config_hash
from trader_env.workflow import ChampionDecision, decide_champion


class OptionalInputManager(dg.ConfigurableIOManager):
    """Loads a stored asset value, or None when the asset was never materialized or only an
    earlier version's pickle of it is stored (with a warning saying so: a phase behind a failed
    gate is not re-materialized, and must not block the champion's decision forever)."""

    base_dir: str

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        raise NotImplementedError("OptionalInputManager only loads inputs")

    def load_input(self, context: dg.InputContext) -> object:
        try:
            return ParquetIOManager(base_dir=self.base_dir).load_input(context)
        except FileNotFoundError:
            return None
        except LegacyPickleError as exc:
            context.log.warning(f"{exc} Until then it counts as not materialized.")
            return None


class StorageOptionalInputManager(dg.ConfigurableIOManagerFactory):
    """An :class:`OptionalInputManager` under the run's storage root (``settings``)."""

    settings: dg.ResourceDependency[PipelineSettings]

    def create_io_manager(self, context: dg.InitResourceContext) -> OptionalInputManager:
        return OptionalInputManager(base_dir=str(self.settings.assets_dir))


EVALUATION_INS = {
    f"phase{phase}": dg.AssetIn(f"phase{phase}_evaluation", input_manager_key="optional_input")
    for phase in PHASES
}


@dg.asset(
    group_name="serving",
    ins={
        **EVALUATION_INS,
        **{name: dg.AssetIn(name) for name in ("bars", "features", "regimes", "splits")},
    },
    code_version="1",
    description="Decides which model serves: the latest phase whose gate passed under "
    "production costs on the current data and config, if it beats the serving champion "
    "re-measured on the same validation days and costs and its deflated Sharpe ratio (for every "
    "trial the registry counted) is >= 0.95. Demotes a champion that was never gated under "
    "production costs. Test results are recorded, never compared. Keeps the history and "
    "previous champions for rollback (data/champion/registry.json).",
)
def champion_decision(
    context: dg.AssetExecutionContext, settings: PipelineSettings, **inputs
) -> dg.Output[ChampionDecision]:
    bars: pl.DataFrame = inputs["bars"]
    splits: Splits = inputs["splits"]
    market = Dataset(bars, inputs["features"], inputs["regimes"], splits)
    costs = symbol_costs(bars, splits, settings)
    hashes = {phase: config_hash(phase_config(phase, costs, settings)) for phase in PHASES}
    try:
        outcome = decide_champion(
            {phase: inputs[f"phase{phase}"] for phase in PHASES},
            market,
            settings.storage,
            data_version=frame_fingerprint(bars),
            config_hashes=hashes,
            costs=costs,
        )
    except (ChampionRegistryError, ModelIntegrityError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    for line in outcome.demoted:
        context.log.warning(line)
    context.log.info(f"champion: {outcome.reason}")
    serving = outcome.champion
    metadata: dict = {
        "promoted": outcome.promoted,
        "reason": outcome.reason,
        "candidate_phase": outcome.candidate_phase
        if outcome.candidate_phase is not None
        else "none",
        "not_candidates": dg.MetadataValue.json(
            {f"phase{k}": v for k, v in outcome.skipped.items()}
        ),
        "serving": dg.MetadataValue.json(json_safe(serving.model_dump()) if serving else {}),
        "replaced": dg.MetadataValue.json(
            json_safe(outcome.previous.model_dump()) if outcome.previous else {}
        ),
        "demoted": dg.MetadataValue.json(list(outcome.demoted)),
        "champion_remeasured_validation_sharpe": outcome.champion_remeasured_sharpe
        if outcome.champion_remeasured_sharpe is not None
        else "not re-measured",
    }
    metadata["trials_counted"] = len(ChampionRegistry(settings.storage).trials())
    if serving is not None:
        metadata["n_trials"] = serving.n_trials if serving.n_trials is not None else "unrecorded"
        metadata["dsr"] = serving.dsr if serving.dsr is not None else "unrecorded"
        metadata["serving_model_path"] = dg.MetadataValue.path(serving.model_path)
    return dg.Output(outcome, metadata=metadata)
