"""The phase workflow without Dagster: train, evaluate (with seed spread), pick a champion."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trader_env.config import load_phase_config
from trader_env.dataset import default_market_data
from trader_env.evaluation.gates import evaluate_gate
from trader_env.lineage import frame_fingerprint
from trader_env.workflow import evaluate_phase_model, pick_candidate, train_phase_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    storage = tmp_path_factory.mktemp("storage")
    market = default_market_data(profile="test")
    config = load_phase_config(0, profile="test")
    model = train_phase_model(config, market, storage, frame_fingerprint(market.bars))
    return storage, market, model


def test_seed_spread_trains_each_extra_seed_and_reports_variation(trained) -> None:
    storage, market, model = trained
    evaluation_cfg = model.config.evaluation.model_copy(update={"seeds": [7]})
    config = model.config.model_copy(update={"evaluation": evaluation_cfg})
    evaluation = evaluate_phase_model(dataclasses.replace(model, config=config), market, storage)
    validation = evaluation.metrics["validation"]
    assert validation["n_seeds"] == 2
    assert validation["seed_sharpe_std"] >= 0
    assert len(list((storage / "seed_runs" / "models" / "phase0").glob("*.zip"))) == 1


def test_only_current_passing_evaluations_are_candidates(trained) -> None:
    storage, market, model = trained
    evaluation = evaluate_phase_model(model, market, storage)
    data_version = model.lineage["data_version"]
    hashes = {0: model.lineage["config_hash"], 1: "other"}
    picked, skipped = pick_candidate({0: evaluation, 1: None}, data_version, hashes)
    assert picked is evaluation and skipped == {1: "never evaluated"}

    _, skipped = pick_candidate({0: evaluation}, "new-data", hashes)
    assert "stale" in skipped[0]
    _, skipped = pick_candidate({0: evaluation}, data_version, {0: "changed-config"})
    assert "another config" in skipped[0]
    impossible = [c.model_copy(update={"threshold": 1e9}) for c in model.config.gate]
    failed = dataclasses.replace(
        evaluation, gate=evaluate_gate(evaluation.gate_metrics, impossible)
    )
    picked, skipped = pick_candidate({0: failed}, data_version, hashes)
    assert picked is None and skipped[0].startswith("gate failed")


def test_model_files_are_versioned_not_overwritten(trained) -> None:
    storage, market, model = trained
    again = train_phase_model(model.config, market, storage, model.lineage["data_version"])
    assert again.model_path != model.model_path
    assert model.model_path.is_file() and again.model_path.is_file()
    assert isinstance(again.model_path, Path)
