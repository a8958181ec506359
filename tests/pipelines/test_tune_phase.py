"""The tune_phase job on the tiny synthetic market: a proposal file from two real trials on
the selection slice, and its trial count in the champion registry."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from pipelines import features, market_data
from pipelines.definitions import defs
from pipelines.partitions import all_symbols_tags
from trader_env.evaluation.champion import ChampionRegistry
from trader_env.phase_config import load_phase_config


def test_tune_phase_writes_a_proposal_and_counts_its_trials(storage, resources, instance) -> None:
    market = dg.materialize(
        dg.load_assets_from_modules([market_data, features]),
        instance=instance,
        resources=resources,
        tags=all_symbols_tags(),
    )
    assert market.success
    run_config = {"ops": {"tuning_proposal": {"config": {"phase": 2, "n_trials": 2}}}}
    result = defs.resolve_job_def("tune_phase").execute_in_process(
        instance=instance, resources=resources, run_config=run_config
    )
    assert result.success
    value = result.output_for_node("tuning_proposal")
    assert value["n_trials"] == 2 and len(value["trials"]) == 2
    # Trial 0 is the committed configuration; both are scored on the selection slice.
    committed = load_phase_config(2, "test").algorithm.hyperparameters
    first = value["trials"][0]["params"]
    assert (first["learning_rate"], first["ent_coef"]) == (
        committed.learning_rate,
        committed.ent_coef,
    )
    assert all(trial["score"] is not None for trial in value["trials"])
    assert value["best_score"] == max(trial["score"] for trial in value["trials"])

    path = Path(value["proposal_path"])
    assert path.is_file() and path.parent == storage / "proposals" / "phase2"
    text = path.read_text()
    assert "2 trial(s)" in text and "Validation and test took no part" in text
    proposed = yaml.safe_load(text) or {}
    assert proposed == value["best_overrides"]
    if value["best_trial"] == 0:
        assert proposed == {} and value["edge_significance"] is None
    else:
        assert 0 <= value["edge_significance"] <= 1
        assert "deflated Sharpe ratio of the difference" in text
        # The proposal is a valid phase override: it loads and changes what it says.
        adopted = load_phase_config(2, "test", overrides=proposed)
        assert adopted != load_phase_config(2, "test")

    registry = ChampionRegistry(storage)
    assert value["registry_trial_count"] == registry.trial_count() == 2
    assert registry.external_trials()[0].source.startswith("tune_phase/phase2/")
    # Not part of the training jobs: full_pipeline never runs a search.
    keys = defs.resolve_job_def("full_pipeline").asset_layer.executable_asset_keys
    assert dg.AssetKey("tuning_proposal") not in keys and dg.AssetKey("phase2_model") in keys
