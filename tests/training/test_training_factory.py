"""Model factory: PPO and RecurrentPPO on the real environment, warm starts, no temp folders."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO

from trader_env.training.factory import (
    build_model,
    configure_torch,
    load_warm_start,
    make_training_env,
    resolve_device,
)
from trader_env.training.train import save_model_atomically

RECURRENT = {
    "algorithm": {
        "name": "RecurrentPPO",
        "policy": "MlpLstmPolicy",
        "hyperparameters": {"lstm_hidden_size": 8},
    }
}


def train_and_save(config, market, path: Path, steps: int = 256) -> Path:
    configure_torch(config.training)
    vec_env = make_training_env(config, [market])
    try:
        model = build_model(config, vec_env)
        model.learn(steps)
        return save_model_atomically(model, path)
    finally:
        vec_env.close()


@pytest.mark.parametrize(("overrides", "cls"), [({}, PPO), (RECURRENT, RecurrentPPO)])
def test_factory_trains_on_the_real_env(phase_config, market, tmp_path, overrides, cls):
    config = phase_config(2, overrides)
    assert configure_torch(config.training) == "cpu"
    assert torch.get_num_threads() == 1
    vec_env = make_training_env(config, [market])
    try:
        model = build_model(config, vec_env)
        assert isinstance(model, cls)
        assert model.n_steps == 64 and model.batch_size == 64 and model.gamma == 0.99
        model.learn(300)
        assert model.num_timesteps >= 300
        path = save_model_atomically(model, tmp_path / "model.zip")
    finally:
        vec_env.close()
    loaded = cls.load(path, device="cpu")
    obs = np.zeros(loaded.observation_space.shape, dtype=np.float32)
    action, _ = loaded.predict(obs, deterministic=True)
    assert int(action) in (0, 1, 2)
    if cls is RecurrentPPO:
        assert loaded.policy.lstm_actor.hidden_size == 8


def test_learn_creates_no_sb3_temp_folder(phase_config, market, tmp_path, monkeypatch):
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    train_and_save(phase_config(1), market, tmp_path / "model.zip", steps=128)
    assert not list(tmp_path.glob("SB3-*"))


def test_resolve_device() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_warm_start_continues_from_matching_spaces(phase_config, market, tmp_path):
    previous = train_and_save(phase_config(1), market, tmp_path / "phase1.zip")
    config = phase_config(2, {"algorithm": {"hyperparameters": {"learning_rate": 0.001}}})
    vec_env = make_training_env(config, [market])
    try:
        model, note = load_warm_start(previous, vec_env, config)
        assert model is not None, note
        assert note.startswith("warm-started from phase1.zip")
        saved = PPO.load(previous, device="cpu").policy.state_dict()
        for name, tensor in model.policy.state_dict().items():
            assert torch.equal(tensor, saved[name]), name
        assert model.learning_rate == 0.001  # hyperparameters come from the new config
        model.learn(128)
    finally:
        vec_env.close()


def test_fresh_start_when_the_observation_changes(phase_config, market, tmp_path):
    previous = train_and_save(phase_config(0), market, tmp_path / "phase0.zip")
    config = phase_config(1)  # adds the five risk feature columns
    vec_env = make_training_env(config, [market])
    try:
        model, note = load_warm_start(previous, vec_env, config)
    finally:
        vec_env.close()
    assert model is None
    assert "observation space changed from Box(-10.0, 10.0, (5, 3)" in note
    assert "(5, 8)" in note


def test_fresh_start_when_the_algorithm_or_network_changes(phase_config, market, tmp_path):
    previous = train_and_save(phase_config(1), market, tmp_path / "phase1.zip")
    for overrides, expected in [
        (RECURRENT, "holds a ActorCriticPolicy policy, this phase trains RecurrentPPO"),
        ({"algorithm": {"hyperparameters": {"net_arch": [32]}}}, "network changed"),
    ]:
        config = phase_config(2, overrides)
        vec_env = make_training_env(config, [market])
        try:
            model, note = load_warm_start(previous, vec_env, config)
        finally:
            vec_env.close()
        assert model is None
        assert expected in note


def test_fresh_start_when_there_is_no_previous_model(phase_config, market, tmp_path):
    config = phase_config(1)
    vec_env = make_training_env(config, [market])
    try:
        model, note = load_warm_start(tmp_path / "missing.zip", vec_env, config)
    finally:
        vec_env.close()
    assert model is None and "no previous model" in note


def test_a_load_only_algorithm_cannot_be_trained() -> None:
    from trader_env.training.factory import trainable_class

    assert issubclass(trainable_class("PPO"), PPO)
    with pytest.raises(ValueError, match="'RegimeRouter' only loads saved policies"):
        trainable_class("RegimeRouter")


def test_the_optimizer_is_sb3s_adam_fused(phase_config, market) -> None:
    """SB3 sets Adam's eps to 1e-5 unless optimizer arguments are given: ours restate it."""
    config = phase_config(2)
    configure_torch(config.training)
    vec_env = make_training_env(config, [market])
    try:
        model = build_model(config, vec_env, device="cpu")
    finally:
        vec_env.close()
    reference = PPO("MlpPolicy", vec_env, device="cpu").policy.optimizer
    group = model.policy.optimizer.param_groups[0]
    assert type(model.policy.optimizer) is type(reference)
    assert group["eps"] == reference.param_groups[0]["eps"] == 1e-5
    assert group["fused"] is True
