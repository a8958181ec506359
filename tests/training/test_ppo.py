"""NumpyRolloutPPO: rollouts collected in numpy hold what SB3's torch rollouts would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import obs_as_tensor

from trader_env.training.factory import build_model, configure_torch, make_training_env
from trader_env.training.ppo import NumpyRolloutPolicy, NumpyRolloutPPO


def _model(config, market) -> NumpyRolloutPPO:
    configure_torch(config.training)
    model = build_model(config, make_training_env(config, [market]), device="cpu")
    assert isinstance(model, NumpyRolloutPPO)
    return model


class _Continue(BaseCallback):
    def _on_step(self) -> bool:
        return True


def _collect(model, algorithm=None) -> None:
    """One rollout into ``model.rollout_buffer`` with ``algorithm``'s collect_rollouts."""
    _, callback = model._setup_learn(model.n_steps * model.n_envs, _Continue())
    callback.init_callback(model)
    collect = (algorithm or type(model)).collect_rollouts
    assert collect(model, model.env, callback, model.rollout_buffer, model.n_steps)


def test_the_buffer_holds_torch_log_probabilities_and_values(phase_config, market) -> None:
    model = _model(phase_config(2), market)
    _collect(model)
    buffer = model.rollout_buffer
    observations = obs_as_tensor(buffer.observations.reshape(-1, *buffer.obs_shape), "cpu")
    actions = torch.as_tensor(buffer.actions.reshape(-1))
    with torch.no_grad():
        values, log_prob, _ = model.policy.evaluate_actions(observations, actions)
    np.testing.assert_allclose(buffer.log_probs.reshape(-1), log_prob.numpy(), atol=2e-5)
    np.testing.assert_allclose(buffer.values.reshape(-1), values.numpy().ravel(), atol=2e-5)


def test_a_certain_policy_fills_the_same_buffer_as_sb3(phase_config, market) -> None:
    """With one action all but certain both loops take the same actions, so rewards (with the
    truncated episodes' bootstrapped values), returns and advantages must agree."""
    buffers = []
    for algorithm in (NumpyRolloutPPO, PPO):
        model = _model(phase_config(2), market)
        with torch.no_grad():
            model.policy.action_net.bias.copy_(torch.tensor([0.0, 60.0, 0.0]))
        _collect(model, algorithm)
        buffers.append(model.rollout_buffer)
    ours, theirs = buffers
    assert ours.episode_starts.sum() > 1  # episodes ended inside the rollout
    np.testing.assert_array_equal(ours.actions, theirs.actions)
    for name in ("rewards", "values", "returns", "advantages"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), atol=1e-4)


def test_samples_follow_the_softmax_of_the_logits() -> None:
    rng = np.random.default_rng(0)
    bias = np.log(np.array([0.2, 0.5, 0.3], dtype=np.float32))
    sampler = NumpyRolloutPolicy(
        actor=[(np.zeros((4, 3), np.float32), bias, None)],
        critic=[(np.zeros((4, 1), np.float32), np.zeros(1, np.float32), None)],
        rng=rng,
    )
    actions, log_probs, _ = sampler.act(np.zeros((60_000, 4), np.float32))
    shares = np.bincount(actions, minlength=3) / actions.size
    np.testing.assert_allclose(shares, [0.2, 0.5, 0.3], atol=0.01)  # ~5 standard errors
    np.testing.assert_allclose(log_probs, bias[actions], atol=1e-6)


def test_diverged_weights_stop_the_rollout() -> None:
    sampler = NumpyRolloutPolicy(
        actor=[(np.full((2, 3), np.nan, np.float32), np.zeros(3, np.float32), None)],
        critic=[(np.zeros((2, 1), np.float32), np.zeros(1, np.float32), None)],
        rng=np.random.default_rng(0),
    )
    with pytest.raises(FloatingPointError, match="not finite"):
        sampler.act(np.ones((1, 2), np.float32))


def test_same_seed_same_weights_and_files_load_as_sb3_ppo(
    phase_config, market, tmp_path: Path
) -> None:
    states = []
    for run in range(2):
        model = _model(phase_config(2), market)
        model.learn(512)
        model.save(tmp_path / f"run{run}.zip")
        states.append(model.policy.state_dict())
    for name, tensor in states[0].items():
        assert torch.equal(tensor, states[1][name]), name
    loaded = PPO.load(tmp_path / "run0.zip", device="cpu")
    observation = np.asarray(model.env.reset())
    np.testing.assert_array_equal(
        loaded.predict(observation, deterministic=True)[0],
        model.predict(observation, deterministic=True)[0],
    )
