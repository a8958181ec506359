"""The phase workflow (trader_env.workflow): train, evaluate with production costs, baselines and
cost sensitivity, seed spread, pick and promote a champion; plus the gate mode of the Dagster
phase checks (pipelines.phases), which reads the same configs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pipelines.summary import PhaseStatus, render_summary
from trader_env.costs import production_costs
from trader_env.dataset import default_market_data
from trader_env.evaluation.baselines import BASELINES
from trader_env.evaluation.gates import evaluate_gate
from trader_env.lineage import frame_fingerprint
from trader_env.phase_config import load_phase_config
from trader_env.workflow import (
    evaluate_phase_model,
    pick_candidate,
    train_phase_model,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    storage = tmp_path_factory.mktemp("storage")
    market = default_market_data(profile="test")
    config = load_phase_config(0, profile="test")
    model = train_phase_model(config, market, storage, frame_fingerprint(market.bars))
    return storage, market, model


def _production(model, market):
    symbols = market.bars["symbol"].unique().sort().to_list()
    return model.config.env.with_costs(production_costs(symbols, "us_equity", profile="test"))


@pytest.fixture(scope="module")
def evaluated(trained):
    storage, market, model = trained
    return evaluate_phase_model(model, market, storage, _production(model, market))


def test_a_costless_phase_is_also_reported_under_production_costs(trained, evaluated) -> None:
    assert evaluated.gate_costs == "none"
    for part in ("validation", "test"):
        free, paid = evaluated.metrics[part], evaluated.production_metrics[part]
        assert free["total_cost"] == 0.0
        if free["daily_turnover"] > 0:
            assert paid["total_cost"] > 0.0 and paid["net_pnl"] < free["net_pnl"]
        # Cost sensitivity: at 0x the trades are free, and costs only ever take money away.
        assert paid["net_pnl_cost_1x"] == pytest.approx(paid["net_pnl"], abs=1e-6)
        pnls = [paid[f"net_pnl_cost_{f}x"] for f in (0, 1, 2, 3)]
        assert pnls == sorted(pnls, reverse=True)
        assert paid["breakeven_cost_bps"] >= 0.0


def test_every_metric_an_evaluation_produces_can_be_named_in_a_gate(evaluated) -> None:
    from trader_env.workflow.evaluation import GATE_METRIC_KEYS

    for part in ("validation", "test"):
        produced = set(evaluated.metrics[part])
        assert produced <= GATE_METRIC_KEYS, produced - GATE_METRIC_KEYS
    validation = evaluated.metrics["validation"]
    for name in (
        "n_trades",
        "net_pnl",
        "worst_intraday_drawdown",
        "annual_volatility",
        "best_intraday_baseline_sharpe",
        "breakeven_cost_bps",
        "training_stability",
    ):
        assert name in validation, name
    assert (
        validation["best_intraday_baseline_sharpe"]
        == (evaluated.production_metrics["validation"]["best_intraday_baseline_sharpe"])
    )
    gate = [{"metric": name, "op": ">=", "threshold": -1e9} for name in sorted(GATE_METRIC_KEYS)]
    config = evaluated_config(gate)
    assert len(config.gate) == len(GATE_METRIC_KEYS), "every produced metric is a valid gate key"


def evaluated_config(gate: list[dict]):
    from trader_env.phase_config import PhaseConfig

    base = load_phase_config(0, profile="test")
    return PhaseConfig.model_validate({**base.model_dump(), "gate": gate})


def test_every_evaluation_shows_the_four_baselines(evaluated) -> None:
    for part in ("validation", "test"):
        baselines = evaluated.baselines[part]
        assert set(baselines) == set(BASELINES)
        flat = baselines["flat"]
        assert flat["net_pnl"] == 0.0 and flat["daily_turnover"] == 0.0
        assert baselines["intraday_long"]["daily_turnover"] > 0.0
        assert baselines["buy_and_hold"]["total_cost"] > 0.0
        best = evaluated.production_metrics[part]["best_intraday_baseline_sharpe"]
        assert best >= max(0.0, baselines["intraday_long"]["sharpe"])


def test_seed_spread_trains_each_extra_seed_and_reports_variation(trained) -> None:
    storage, market, model = trained
    evaluation_cfg = model.config.evaluation.model_copy(update={"seeds": [7]})
    config = model.config.model_copy(update={"evaluation": evaluation_cfg})
    evaluation = evaluate_phase_model(
        dataclasses.replace(model, config=config), market, storage, _production(model, market)
    )
    validation = evaluation.metrics["validation"]
    assert validation["n_seeds"] == 2
    assert validation["seed_sharpe_std"] >= 0
    assert validation["n_crashed_runs"] == 0
    assert 0.0 <= validation["training_stability"] <= 1.0
    assert len(list((storage / "seed_runs" / "models" / "phase0").glob("*.zip"))) == 1


def test_only_current_passing_evaluations_are_candidates(trained, evaluated) -> None:
    storage, market, model = trained
    # Judged as if it were gated under production costs (phase 0's own gate is costless).
    evaluation = dataclasses.replace(evaluated, gate_costs="production")
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
    picked, skipped = pick_candidate({0: evaluated}, data_version, hashes)
    assert picked is None and "without production costs" in skipped[0]
    current_splits = evaluation.lineage["splits_version"]
    picked, _ = pick_candidate({0: evaluation}, data_version, hashes, current_splits)
    assert picked is evaluation
    _, skipped = pick_candidate({0: evaluation}, data_version, hashes, "other-split-dates")
    assert "other split dates" in skipped[0]


def test_model_files_are_versioned_not_overwritten(trained) -> None:
    storage, market, model = trained
    again = train_phase_model(model.config, market, storage, model.lineage["data_version"])
    assert again.model_path != model.model_path
    assert model.model_path.is_file() and again.model_path.is_file()
    assert isinstance(again.model_path, Path)


def _as_candidate(evaluated, model_path: Path, validation: float, test: float):
    """``evaluated`` (phase 0, trained on the test market) posing as a phase 2 candidate gated
    under production costs, with the given validation / test Sharpe and strong evidence."""
    metrics = {
        "validation": {
            **evaluated.metrics["validation"],
            "sharpe": validation,
            "sharpe_per_period": 0.5,
            "n_days": 250.0,
            "skew": 0.0,
            "kurtosis": 0.0,
        },
        "test": {**evaluated.metrics["test"], "sharpe": test},
    }
    return dataclasses.replace(
        evaluated, phase=2, model_path=model_path, metrics=metrics, gate_costs="production"
    )


def test_promotion_reads_validation_never_test(trained, evaluated, tmp_path: Path) -> None:
    import shutil

    from trader_env.workflow import decide_champion, remeasure_champion

    storage, market, model = trained
    symbols = market.bars["symbol"].unique().sort().to_list()
    costs = production_costs(symbols, "us_equity", profile="test")
    data_version = model.lineage["data_version"]
    hashes = {2: evaluated.lineage["config_hash"]}
    copies = []
    for name in ("a", "b", "c"):
        copies.append(tmp_path / f"{name}.zip")
        shutil.copyfile(model.model_path, copies[-1])
    registry_root = tmp_path / "registry"

    first = decide_champion(
        {2: _as_candidate(evaluated, copies[0], 0.0, 0.0)},
        market,
        registry_root,
        data_version,
        hashes,
        costs,
    )
    assert first.promoted and first.champion.gate_costs == "production"
    remeasured = remeasure_champion(first.champion, market, costs)
    assert remeasured is not None and np.isfinite(remeasured)
    # Better on validation than the champion re-measured on the same days, worse on test.
    better = decide_champion(
        {2: _as_candidate(evaluated, copies[1], remeasured + 1.0, -9.0)},
        market,
        registry_root,
        data_version,
        hashes,
        costs,
    )
    assert better.promoted, better.reason
    assert better.champion_remeasured_sharpe == pytest.approx(remeasured)
    # Worse on validation, far better on test: refused.
    worse = decide_champion(
        {2: _as_candidate(evaluated, copies[2], remeasured - 1.0, 9.0)},
        market,
        registry_root,
        data_version,
        hashes,
        costs,
    )
    assert not worse.promoted and "does not beat champion" in worse.reason
    # The champion is re-measured with today's costs: tripled costs change its Sharpe.
    tripled = {s: c.scaled(3.0) for s, c in costs.items()}
    if evaluated.production_metrics["validation"]["daily_turnover"] > 0:
        assert remeasure_champion(better.champion, market, tripled) != pytest.approx(
            remeasure_champion(better.champion, market, costs)
        )


def test_a_phase_without_a_significant_checkpoint_abstains_and_says_so(tmp_path: Path) -> None:
    """``training.selection.significance``: when the kept checkpoint's deflated Sharpe ratio
    on the slice falls short, the phase's model never trades. It evaluates like any model (no
    trades, no costs: the gate fails on turnover) and the next phase still warm-starts from
    the weights it declined."""
    market = default_market_data(profile="test")
    selection = {"fraction": 0.2, "checkpoints": 2, "significance": 1 - 1e-12}
    config = load_phase_config(2, profile="test", overrides={"training": {"selection": selection}})
    version = frame_fingerprint(market.bars)
    model = train_phase_model(config, market, tmp_path, version)
    assert model.algorithm == "Abstain" and model.selection is not None
    assert model.selection["abstain"] is True
    assert "abstains: it never trades" in model.selection["reason"]
    assert model.abstention == model.selection["reason"]
    evaluation = evaluate_phase_model(model, market, tmp_path, model.config.env)
    validation = evaluation.metrics["validation"]
    assert validation["daily_turnover"] == 0 and validation["net_pnl"] == 0
    assert not evaluation.gate.passed
    assert "daily_turnover" in {c.metric for c in evaluation.gate.failures}
    summary = render_summary([PhaseStatus(2, model, evaluation)], None)
    assert "phase 2: FAILED gate" in summary and "ABSTAINED (never trades)" in summary

    follower = load_phase_config(3, profile="test")
    successor = train_phase_model(follower, market, tmp_path, version, previous=model)
    assert successor.warm_start_note.startswith("warm-started")
    assert "declined to trade" in successor.warm_start_note
