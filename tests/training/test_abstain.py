"""Significance of the kept checkpoint, and the policy of a phase that abstains."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from tests.training.conftest import momentum_market
from trader_env.env.trading_env import FLAT
from trader_env.evaluation.backtest import run_backtest
from trader_env.evaluation.psr import probabilistic_sharpe_ratio
from trader_env.training import SelectionSlice, carve_selection_slice, train_phase
from trader_env.training.abstain import ABSTAIN, AbstainingPolicy, is_abstain_file
from trader_env.training.factory import load_warm_start, make_training_env
from trader_env.training.selection import deflated_selection_sharpe, selection_scores
from trader_env.workflow import load_policy

TZ = "America/New_York"


def _scores(daily: np.ndarray) -> dict[str, float]:
    """A :func:`selection_scores` record of a book whose daily returns are ``daily``."""
    from scipy import stats

    std = daily.std(ddof=1)
    return {
        "sharpe_per_day": float(daily.mean() / std) if std > 0 else 0.0,
        "days": float(len(daily)),
        "skew": float(stats.skew(daily, bias=False)) if std > 0 else math.nan,
        "kurtosis": float(stats.kurtosis(daily, bias=False)) + 3.0 if std > 0 else math.nan,
    }


def test_one_candidate_is_judged_by_its_probabilistic_sharpe_ratio():
    daily = np.random.default_rng(0).normal(0.001, 0.01, 60)
    kept = _scores(daily)
    assert deflated_selection_sharpe(kept, [kept]) == pytest.approx(
        probabilistic_sharpe_ratio(daily), rel=1e-12
    )


def test_more_and_more_scattered_candidates_demand_more_of_the_kept_one():
    rng = np.random.default_rng(1)
    kept = _scores(rng.normal(0.002, 0.01, 60))
    alike = [kept, *(_scores(rng.normal(0.0018, 0.01, 60)) for _ in range(2))]
    scattered = [kept, *(_scores(rng.normal(m, 0.01, 60)) for m in (-0.003, 0.0, 0.001))]
    many = scattered + [_scores(rng.normal(m, 0.01, 60)) for m in (-0.002, 0.0005, -0.001)]
    single = deflated_selection_sharpe(kept, [kept])
    assert single > deflated_selection_sharpe(kept, alike)
    assert deflated_selection_sharpe(kept, alike) > deflated_selection_sharpe(kept, scattered)
    assert deflated_selection_sharpe(kept, scattered) > deflated_selection_sharpe(kept, many)


def test_a_policy_that_never_trades_has_nothing_to_be_significant_about():
    flat = _scores(np.zeros(40))
    assert math.isnan(deflated_selection_sharpe(flat, [flat, _scores(np.ones(40))]))


def _train(phase_config, output_dir, name: str, significance: float):
    config = phase_config(
        1,
        {
            "training": {
                "selection": {"fraction": 0.25, "checkpoints": 4, "significance": significance}
            }
        },
    )
    fit, held_out, info = carve_selection_slice([momentum_market(n_sessions=32)], 0.25, 1)
    selection = SelectionSlice(held_out, info, TZ)
    return config, held_out, train_phase(config, fit, output_dir / name, selection=selection)


def test_a_kept_checkpoint_below_the_significance_is_declined(phase_config, output_dir):
    """Same seed, same run: only the significance differs. At a level no slice of eight
    sessions can reach, the phase abstains: its file never trades but holds the weights that
    scored best; at a level below the run's own deflated Sharpe ratio it keeps them."""
    config, held_out, strict = _train(phase_config, output_dir, "strict.zip", 1 - 1e-12)
    record = strict.selection
    assert record is not None and record["abstain"] is True
    assert record["candidates"] == len(record["scores"]) == 4
    deflated = record["deflated_sharpe"]
    assert "abstains: it never trades" in record["reason"]
    assert strict.algorithm == ABSTAIN and is_abstain_file(strict.model_path)

    policy = load_policy(ABSTAIN, strict.model_path)
    assert isinstance(policy, AbstainingPolicy) and policy.reason == record["reason"]
    flat = run_backtest(policy, held_out, config.env, session_timezone=TZ)
    assert flat.bars["position"].abs().max() == 0 and flat.bars["net_pnl"].sum() == 0
    declined = run_backtest(policy.declined, held_out, config.env, session_timezone=TZ)
    assert selection_scores(declined)["sharpe"] == pytest.approx(record["kept_score"], abs=1e-12)

    assert 0 < deflated < 1, "the kept checkpoint should trade on the slice and vary"
    _, _, lenient = _train(phase_config, output_dir, "lenient.zip", deflated / 2)
    assert lenient.selection is not None and lenient.selection["abstain"] is False
    assert lenient.selection["deflated_sharpe"] == pytest.approx(deflated, rel=1e-12)
    assert lenient.algorithm == "PPO" and not is_abstain_file(lenient.model_path)
    assert "the phase trades" in lenient.selection["reason"]


def test_predict_is_flat_for_one_observation_or_a_batch(phase_config, output_dir):
    config = phase_config(1)
    env = make_training_env(config, [momentum_market()])
    try:
        from trader_env.training.factory import build_model

        policy = AbstainingPolicy(build_model(config, env), "PPO", "test")
        one = env.observation_space.sample()
        actions, state = policy.predict(one, state="s")
        assert actions.tolist() == [FLAT] and state == "s"
        batch = np.stack([one] * 5)
        assert policy.predict(batch, deterministic=True)[0].tolist() == [FLAT] * 5
    finally:
        env.close()


def test_the_next_phase_warm_starts_from_the_declined_weights(phase_config, output_dir):
    config, _, strict = _train(phase_config, output_dir, "strict.zip", 1 - 1e-12)
    declined = AbstainingPolicy.load_declined(strict.model_path)
    env = make_training_env(config, [momentum_market()])
    try:
        model, note = load_warm_start(strict.model_path, env, config, device="cpu")
    finally:
        env.close()
    assert model is not None and note.startswith("warm-started")
    assert "declined to trade" in note
    for name, tensor in declined.policy.state_dict().items():
        assert torch.equal(tensor, model.policy.state_dict()[name]), name

    market = momentum_market()
    wider = dataclasses.replace(
        market,
        features=np.concatenate([market.features, market.features[:, :1]], axis=1),
        feature_names=(*market.feature_names, "extra"),
    )
    env = make_training_env(config, [wider])
    try:
        model, note = load_warm_start(strict.model_path, env, config, device="cpu")
    finally:
        env.close()
    assert model is None and note.startswith("started fresh: observation space changed")
    assert note.endswith(f"(the declined weights of the abstaining {strict.model_path.name})")


def test_significance_needs_a_selection_slice(phase_config):
    with pytest.raises(ValueError, match=r"significance .* needs training\.selection\.fraction"):
        phase_config(1, {"training": {"selection": {"significance": 0.95}}})


def test_a_recurrent_declined_model_round_trips(phase_config, output_dir):
    """The `full` profile trains RecurrentPPO: its abstaining file holds and reloads one."""
    from trader_env.training.factory import build_model

    recurrent = {"algorithm": {"name": "RecurrentPPO", "policy": "MlpLstmPolicy"}}
    config = phase_config(1, recurrent)
    env = make_training_env(config, [momentum_market()])
    try:
        declined = build_model(config, env)
    finally:
        env.close()
    path = AbstainingPolicy(declined, "RecurrentPPO", "not significant").save(
        output_dir / "recurrent.zip"
    )
    loaded = load_policy(ABSTAIN, path)
    assert type(loaded.declined).__name__ == "RecurrentPPO" and loaded.reason == "not significant"
    for name, tensor in declined.policy.state_dict().items():
        assert torch.equal(tensor.cpu(), loaded.declined.policy.state_dict()[name]), name
    observation = np.zeros(loaded.observation_shape, dtype=np.float32)
    assert loaded.predict(observation, state=None, episode_start=np.ones(1))[0].tolist() == [FLAT]
