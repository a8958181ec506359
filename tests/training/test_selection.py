"""Checkpoint selection on a slice held out of the training split."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.training.conftest import momentum_market
from trader_env.evaluation.backtest import run_backtest
from trader_env.training import SelectionSlice, carve_selection_slice, train_phase
from trader_env.training.selection import selection_scores
from trader_env.workflow import load_policy

TZ = "America/New_York"
SELECTION = {"training": {"selection": {"fraction": 0.25, "checkpoints": 4}}}


def test_carve_keeps_the_end_for_selection_after_an_embargo():
    market = momentum_market(n_sessions=12)
    other = momentum_market(seed=3, n_sessions=12)
    other = dataclasses.replace(other, symbol="OTHER")
    fit, selection, info = carve_selection_slice([market, other], 0.25, embargo_sessions=1)
    assert [a.symbol for a in fit] == [a.symbol for a in selection] == ["TEST", "OTHER"]
    for part in (fit, selection):
        assert len({tuple(np.unique(a.session_id)) for a in part}) == 1
    assert np.unique(fit[0].session_id).tolist() == list(range(8))
    assert np.unique(selection[0].session_id).tolist() == [9, 10, 11]
    np.testing.assert_array_equal(selection[0].close, market.close[9 * 390 :])
    np.testing.assert_array_equal(fit[0].features, market.features[: 8 * 390])
    assert (info["fit_sessions"], info["selection_sessions"], info["embargo_sessions"]) == (8, 3, 1)
    assert info["selection_first_session"] == "1970-01-10"


def test_carve_refuses_a_slice_that_leaves_nothing_to_train_on():
    with pytest.raises(ValueError, match=r"training\.selection\.fraction: 0.5 of 2"):
        carve_selection_slice([momentum_market(n_sessions=2)], 0.5, embargo_sessions=1)


def test_the_best_scoring_checkpoint_is_saved_and_recorded(phase_config, output_dir):
    config = phase_config(1, SELECTION)
    fit, held_out, info = carve_selection_slice([momentum_market(n_sessions=12)], 0.25, 1)
    selection = SelectionSlice(held_out, info, TZ)
    result = train_phase(config, fit, output_dir / "selected.zip", selection=selection)
    record = result.selection
    assert record is not None and record["metric"] == "sharpe"
    # Four periodic scorings over 512 timesteps (every 128) plus none extra at the end: the
    # last periodic one is the final model.
    assert [s["timesteps"] for s in record["scores"]] == [128.0, 256.0, 384.0, 512.0]
    best = max(s["sharpe"] for s in record["scores"])
    assert record["kept_score"] == best
    kept = next(s for s in reversed(record["scores"]) if s["sharpe"] == best)
    assert record["kept_timesteps"] == kept["timesteps"]
    assert record["kept_final"] == (kept["timesteps"] == 512.0)
    assert str(record["kept_timesteps"]) in record["reason"].replace(",", "")
    # The saved weights are the kept checkpoint's: replaying them scores the same.
    replay = run_backtest(
        load_policy("PPO", result.model_path), held_out, config.env, session_timezone=TZ
    )
    assert selection_scores(replay)["sharpe"] == pytest.approx(best, rel=1e-9, abs=1e-12)

    # Scoring draws no random numbers: without selection the run ends with the same model
    # as the final one scored above.
    plain = train_phase(config, fit, output_dir / "plain.zip")
    assert plain.selection is None
    replay = run_backtest(
        load_policy("PPO", plain.model_path), held_out, config.env, session_timezone=TZ
    )
    assert selection_scores(replay) == pytest.approx(
        {k: v for k, v in record["scores"][-1].items() if k != "timesteps"}, nan_ok=True
    )


def test_candidates_scored_by_the_worker_score_as_alone(phase_config, market):
    from trader_env.training.factory import build_model, configure_torch, make_training_env
    from trader_env.training.selection import CheckpointSelectionCallback

    config = phase_config(1, SELECTION)
    fit, held_out, info = carve_selection_slice([market], 0.25, 1)
    selection = SelectionSlice(held_out, info, TZ)
    configure_torch(config.training)
    model = build_model(config, make_training_env(config, fit), device="cpu")
    callback = CheckpointSelectionCallback(selection, config.env, config.training.selection, 512)
    model.learn(512, callback=callback)
    policies = [copy.build() for _, copy in callback.checkpoints] + [model.policy]
    assert len(policies) == len(callback.scores) == 4
    for policy, deferred in zip(policies, callback.scores, strict=True):
        alone = selection.score(policy, config.env)
        assert {k: v for k, v in deferred.items() if k != "timesteps"} == pytest.approx(
            alone, rel=0, abs=0, nan_ok=True
        )
    # The checkpoints are copies: they differ from the final weights and from each other.
    assert len({s["net_pnl"] for s in callback.scores}) > 1


def test_a_dead_scoring_worker_costs_time_not_the_choice(phase_config, market, monkeypatch):
    """Scores the worker could not return are computed in the training process instead."""
    from concurrent.futures import Future, ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from trader_env.training import selection as module
    from trader_env.training.factory import build_model, configure_torch, make_training_env

    class DeadWorker(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            future: Future = Future()
            future.set_exception(BrokenProcessPool("the worker was killed"))
            return future

    config = phase_config(1, SELECTION)
    fit, held_out, info = carve_selection_slice([market], 0.25, 1)
    selection = SelectionSlice(held_out, info, TZ)
    records = []
    for worker in (module._scoring_worker, DeadWorker):
        monkeypatch.setattr(module, "_scoring_worker", worker)
        configure_torch(config.training)
        model = build_model(config, make_training_env(config, fit), device="cpu")
        callback = module.CheckpointSelectionCallback(
            selection, config.env, config.training.selection, 512
        )
        model.learn(512, callback=callback)
        records.append(callback.scores)
    for ours, fallback in zip(*records, strict=True):
        assert fallback == pytest.approx(ours, rel=0, abs=0, nan_ok=True)
