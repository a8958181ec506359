"""The whole graph on the tiny synthetic market (``test`` profile) in a real Dagster instance:
a passing gate lets the next phase run, a failing gate blocks every asset downstream of it,
and the champion step considers only the latest phase that passed under production costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.definitions import defs
from pipelines.partitions import all_symbols_tags
from trader_env.phase_config import PHASES

from .run_resources import run_resources

pytestmark = pytest.mark.slow


@pytest.fixture
def gated_config(config_dir_factory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = config_dir_factory(failing_phase=3)
    monkeypatch.setenv("TRADER_CONFIG_DIR", str(folder))
    return folder


def test_failing_gate_blocks_downstream_and_champion_promotes_last_pass(
    gated_config, storage, resources, instance
) -> None:
    job = defs.resolve_job_def("full_pipeline")
    result = job.execute_in_process(
        instance=instance, resources=resources, raise_on_error=False, tags=all_symbols_tags()
    )

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    checks = {name: e.passed for name, e in evaluations.items()}
    assert checks["phase0_gate"] and checks["phase1_gate"] and checks["phase2_gate"]
    # A gate with a Sharpe criterion says what it could detect on its record.
    sessions = result.output_for_node("splits").parts["validation"].sessions
    detection = evaluations["phase3_gate"].metadata["detection_limit"].value
    assert f"over {sessions} sessions the gate needs an observed Sharpe of 1000000000.00" in (
        detection
    )
    assert "detection_limit" not in evaluations["phase2_gate"].metadata  # no Sharpe criterion
    assert checks["phase3_gate"] is False, "the unreachable gate fails"
    for node in ("phase0_model", "phase1_model", "phase2_model", "phase3_evaluation"):
        assert result.is_node_success(node), f"{node} runs: every gate before it passed"
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    for phase in PHASES[4:]:
        for kind in ("model", "evaluation"):
            assert f"phase{phase}_{kind}" not in materialized, "blocked by the phase 3 gate"
    assert not result.success, "a failed blocking check fails the run"

    promoted = defs.resolve_job_def("promote_champion").execute_in_process(
        instance=instance, resources=resources
    )
    outcome = promoted.output_for_node("champion_decision")
    # Phase 2 is the latest gate passed under production costs; phases 0-1 trained for free.
    assert outcome.candidate_phase == 2
    assert "gate failed" in outcome.skipped[3] and outcome.skipped[PHASES[-1]] == "never evaluated"
    assert 1 not in outcome.skipped and 0 not in outcome.skipped  # phase 2 was found first
    evaluation2 = result.output_for_node("phase2_evaluation")
    assert evaluation2.gate_costs == "production"
    # Promotion also needs a deflated Sharpe >= 0.95: a tiny budget on 60 short sessions rarely
    # earns it. Either way no costless model serves, and the reason says why.
    if outcome.promoted:
        assert outcome.champion.gate_costs == "production" and outcome.champion.dsr >= 0.95
        assert Path(outcome.champion.model_path).is_file()
    else:
        assert outcome.champion is None and outcome.reason.startswith("no champion")
        assert "DSR" in outcome.reason
    metadata = promoted.asset_materializations_for_node("champion_decision")[0].metadata
    assert metadata["trials_counted"].value == 1
    model = result.output_for_node("phase1_model")
    assert model.lineage["data_version"] and model.lineage["config_hash"]

    # Phase 2 adds costs, not observation columns: it continues from phase 1's weights.
    phase2 = result.output_for_node("phase2_model")
    assert phase2.warm_start_note.startswith("warm-started"), phase2.warm_start_note
    assert phase2.lineage["warm_start_source"] == str(model.model_path)
    assert phase2.model_path.is_file() and phase2.model_path != model.model_path
    evaluation = result.output_for_node("phase2_evaluation")
    for report in ("tearsheet", "plot", "metrics_json"):
        assert evaluation.reports[report].stat().st_size > 1000, report
    assert 0.0 <= evaluation.metrics["test"]["psr"] <= 1.0
    assert "oracle_fraction" in evaluation.metrics["test"], "synthetic market: oracle reported"
    # Phase 2 trains and is gated under each symbol's production costs (costs.yaml).
    assert set(phase2.config.env.symbol_costs) == {"SYNA", "SYNB"}
    assert phase2.config.env.symbol_costs["SYNA"].commission_per_share == 0.0035
    evaluation1 = result.output_for_node("phase1_evaluation")
    assert evaluation1.gate_costs == "none" and evaluation1.metrics["test"]["total_cost"] == 0
    eval_metadata = result.asset_materializations_for_node("phase1_evaluation")[0].metadata
    table = eval_metadata["agent_vs_baselines"].value
    for name in ("intraday_momentum", "buy_and_hold", "| production |", "| own env |"):
        assert name in table, name
    assert "break-even" in eval_metadata["cost_sensitivity"].value
    metadata = result.asset_materializations_for_node("phase2_model")[0].metadata
    for key in ("data_version", "config_hash", "code_version", "seed", "device", "fps"):
        assert key in metadata, key
    # Lineage: the model names the content of every bars partition it trained on.
    partitions = {
        event.partition: event.metadata["content_hash"].value
        for event in result.asset_materializations_for_node("bars")
    }
    assert set(partitions) == {"SYNA", "SYNB"}
    assert metadata["bars_content_hashes"].value == partitions


def test_recurrent_ppo_phases_train_and_block(config_dir_factory, monkeypatch, storage, instance):
    lstm = {"name": "RecurrentPPO", "policy": "MlpLstmPolicy"}
    folder = config_dir_factory(failing_phase=1, algorithm=lstm)
    monkeypatch.setenv("TRADER_CONFIG_DIR", str(folder))
    result = defs.resolve_job_def("full_pipeline").execute_in_process(
        instance=instance, resources=run_resources(), raise_on_error=False, tags=all_symbols_tags()
    )
    for phase in (0, 1):
        model = result.output_for_node(f"phase{phase}_model")
        assert model.algorithm == "RecurrentPPO" and model.model_path.is_file()
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["phase0_gate"] and checks["phase1_gate"] is False
    assert not result.is_node_success("phase2_model")
    evaluation = result.output_for_node("phase1_evaluation")
    assert evaluation.production_metrics["validation"]["n_days"] >= 1
