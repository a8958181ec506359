"""Widened warm start: a phase whose observation gains columns continues from the previous
policy, which it starts out computing exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO

from trader_env.contracts import REGIMES
from trader_env.training.factory import (
    build_model,
    configure_torch,
    load_warm_start,
    make_training_env,
)
from trader_env.training.train import save_model_atomically
from trader_env.training.widen import (
    COLUMNS_ATTRIBUTE,
    observation_columns,
    widen_state_dict,
    widening_problem,
)

WIDEN = {"env": {"include_regime": True}, "training": {"widen_warm_start": True}}
RECURRENT = {
    "algorithm": {
        "name": "RecurrentPPO",
        "policy": "MlpLstmPolicy",
        "hyperparameters": {"lstm_hidden_size": 8},
    }
}
REGIME_COLUMNS = [f"regime_{name}" for name in REGIMES]


def test_widen_state_dict_moves_each_column_and_zeroes_the_new_ones() -> None:
    old_columns, new_columns = ["a", "b"], ["a", "x", "b"]
    window = 2
    # Flattened (window x columns) input: old index w * 2 + c, new index w * 3 + c'.
    first = torch.arange(8, dtype=torch.float32).reshape(2, 4) + 1
    old = {"first.weight": first, "first.bias": torch.ones(2), "head.weight": torch.ones(1, 2)}
    new = {
        "first.weight": torch.full((2, 6), 9.0),
        "first.bias": torch.zeros(2),
        "head.weight": torch.zeros(1, 2),
    }
    widened = widen_state_dict(old, new, old_columns, new_columns, window)
    expected = torch.tensor([[1.0, 0.0, 2.0, 3.0, 0.0, 4.0], [5.0, 0.0, 6.0, 7.0, 0.0, 8.0]])
    assert torch.equal(widened["first.weight"], expected)
    assert torch.equal(widened["first.bias"], torch.ones(2))
    assert torch.equal(widened["head.weight"], torch.ones(1, 2))
    # The widened layer maps an observation exactly as the old one mapped it without "x".
    observation = torch.tensor([[0.5, -1.0, 2.0], [1.5, 3.0, -0.5]])
    narrow = observation[:, [0, 2]]
    assert torch.allclose(
        widened["first.weight"] @ observation.reshape(-1), first @ narrow.reshape(-1)
    )


def test_widen_state_dict_refuses_what_it_cannot_widen() -> None:
    old = {"w": torch.zeros(3, 4)}
    with pytest.raises(ValueError, match=r"w: shape \(3, 4\) does not widen to \(2, 6\)"):
        widen_state_dict(old, {"w": torch.zeros(2, 6)}, ["a", "b"], ["a", "b", "c"], 2)
    with pytest.raises(ValueError, match="different parameters"):
        widen_state_dict(old, {"v": torch.zeros(3, 4)}, ["a", "b"], ["a", "b"], 2)


def test_widening_problem() -> None:
    assert widening_problem(["a"], ["a", "b"]) is None
    assert "does not record" in str(widening_problem(None, ["a"]))
    assert "drops column(s) ['c']" in str(widening_problem(["a", "c"], ["a", "b"]))


def _train(config, market, path):
    configure_torch(config.training)
    vec_env = make_training_env(config, [market])
    try:
        model = build_model(config, vec_env)
        model.learn(128)
        return save_model_atomically(model, path)
    finally:
        vec_env.close()


@pytest.mark.parametrize(("overrides", "cls"), [({}, PPO), (RECURRENT, RecurrentPPO)])
def test_widened_warm_start_starts_as_the_previous_policy(
    phase_config, market, tmp_path, overrides, cls
):
    previous = _train(phase_config(1, overrides), market, tmp_path / "phase4.zip")
    saved = cls.load(previous, device="cpu")
    old_columns = observation_columns(saved)
    assert old_columns is not None and not set(REGIME_COLUMNS) & set(old_columns)

    config = phase_config(1, {**overrides, **WIDEN})
    vec_env = make_training_env(config, [market])
    try:
        model, note = load_warm_start(previous, vec_env, config)
        assert model is not None, note
        assert note.startswith("warm-started from phase4.zip, widened to the new observation")
        assert str(REGIME_COLUMNS) in note
        new_columns = observation_columns(model)
        assert new_columns is not None and set(REGIME_COLUMNS) <= set(new_columns)
        keep = [new_columns.index(name) for name in old_columns]
        observations = np.stack([vec_env.reset()[0] for _ in range(3)])
        observations[:, :, [new_columns.index(c) for c in REGIME_COLUMNS]] = 1.0
        wide = _outputs(model, observations)
        narrow = _outputs(saved, observations[:, :, keep])
        for got, want in zip(wide, narrow, strict=True):
            assert torch.allclose(got, want, atol=1e-6)
        model.learn(64)  # and it trains
    finally:
        vec_env.close()


def _outputs(model, observations: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Action logits and values ``(n, ...)`` of ``model`` for ``observations`` at an episode
    start (a recurrent policy from its zero state)."""
    policy = model.policy
    with torch.no_grad():
        obs = torch.as_tensor(observations)
        if isinstance(model, RecurrentPPO):
            n = obs.shape[0]
            starts = torch.ones(n)
            zeros = torch.zeros(policy.lstm_actor.num_layers, n, policy.lstm_actor.hidden_size)
            states = (zeros, zeros)
            distribution, _ = policy.get_distribution(obs, states, starts)
            values = policy.predict_values(obs, states, starts)
        else:
            distribution = policy.get_distribution(obs)
            values = policy.predict_values(obs)
    return distribution.distribution.logits, values


def test_without_the_flag_or_the_columns_the_phase_starts_fresh(phase_config, market, tmp_path):
    previous = _train(phase_config(1), market, tmp_path / "phase4.zip")
    config = phase_config(1, {"env": {"include_regime": True}})
    vec_env = make_training_env(config, [market])
    try:
        model, note = load_warm_start(previous, vec_env, config)
        assert model is None
        assert "training.widen_warm_start is off" in note
        # A model saved before it recorded its columns cannot be widened: no guessing.
        untagged = PPO.load(previous, device="cpu")
        delattr(untagged, COLUMNS_ATTRIBUTE)
        untagged.save(tmp_path / "old.zip")
        widen = phase_config(1, WIDEN)
        model, note = load_warm_start(tmp_path / "old.zip", vec_env, widen)
        assert model is None
        assert "does not record its observation's columns" in note
    finally:
        vec_env.close()
