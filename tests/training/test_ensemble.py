"""Seed ensembles: members trained as single runs with spread seeds, a soft vote that matches
the members' own probabilities, one file that loads like any model, warm starts from member 0."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from trader_env.evaluation.backtest import run_backtest
from trader_env.training import algorithm_class, load_warm_start, make_training_env, train_phase
from trader_env.training.ensemble import (
    SEED_ENSEMBLE,
    SEED_STRIDE,
    SeedEnsemblePolicy,
    is_ensemble_file,
    member_seeds,
)
from trader_env.training.regime_policy import is_router_file, warm_start_files
from trader_env.workflow import load_policy
from trader_env.yaml_config import ConfigError


@pytest.fixture(scope="module")
def trained_ensemble(tmp_path_factory, market):
    from tests.training.conftest import _phase_config

    folder = tmp_path_factory.mktemp("ensemble")
    config = _phase_config(2, {"training": {"ensemble": 3, "seed": 5}})
    result = train_phase(config, [market], folder / "phase2.zip")
    single = _phase_config(2, {"training": {"seed": 5}})
    alone = train_phase(single, [market], folder / "single.zip")
    return config, result, alone


def _observations(policy: SeedEnsemblePolicy, n: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(0.0, 2.0, (n, *policy.observation_shape)).astype(np.float32)


def test_members_are_seeded_one_stride_apart_and_member_0_is_the_single_run(
    trained_ensemble, weights_digest, tmp_path
) -> None:
    config, result, alone = trained_ensemble
    assert member_seeds(5, 3) == [5, 5 + SEED_STRIDE, 5 + 2 * SEED_STRIDE]
    assert result.algorithm == SEED_ENSEMBLE and result.seed == 5
    assert is_ensemble_file(result.model_path) and not is_ensemble_file(alone.model_path)
    with zipfile.ZipFile(result.model_path) as archive:
        assert sorted(archive.namelist()) == [
            "manifest.json",
            "member0.zip",
            "member1.zip",
            "member2.zip",
        ]
        (tmp_path / "member0.zip").write_bytes(archive.read("member0.zip"))
        (tmp_path / "member1.zip").write_bytes(archive.read("member1.zip"))
    assert weights_digest(tmp_path / "member0.zip") == weights_digest(alone.model_path)
    assert weights_digest(tmp_path / "member1.zip") != weights_digest(alone.model_path)
    assert result.timesteps == 3 * alone.timesteps
    assert [m["seed"] for m in result.diagnostics["members"]] == member_seeds(5, 3)
    assert "3 members (seeds [5, 1005, 2005])" in result.warm_start_note


def test_the_vote_is_the_argmax_of_the_members_mean_probabilities(trained_ensemble) -> None:
    _, result, _ = trained_ensemble
    policy = load_policy(result.algorithm, result.model_path)
    assert isinstance(policy, SeedEnsemblePolicy)
    assert algorithm_class("SeedEnsemble") is SeedEnsemblePolicy
    obs = _observations(policy)
    with torch.no_grad():
        torch_probs = [
            m.policy.get_distribution(torch.as_tensor(obs)).distribution.probs.numpy()
            for m in policy.models
        ]
    expected = np.mean(torch_probs, axis=0)
    np.testing.assert_allclose(policy.probabilities(obs), expected, atol=1e-6)
    actions, state = policy.predict(obs, state="kept", deterministic=True)
    assert state == "kept" and actions.dtype == np.int64
    assert actions.tolist() == expected.argmax(axis=1).tolist()
    member_actions = np.array([m.predict(obs, deterministic=True)[0] for m in policy.models])
    assert (member_actions != actions).any(), "the members disagree somewhere: a real vote"


def test_sampling_follows_the_mean_distribution_and_its_seed(trained_ensemble) -> None:
    _, result, _ = trained_ensemble
    first = load_policy(result.algorithm, result.model_path)
    again = load_policy(result.algorithm, result.model_path)
    obs = np.repeat(_observations(first, 1), 4000, axis=0)
    drawn, _ = first.predict(obs)
    assert drawn.tolist() == again.predict(obs)[0].tolist(), "same sampling seed, same draws"
    frequencies = np.bincount(drawn, minlength=3) / len(drawn)
    np.testing.assert_allclose(frequencies, first.probabilities(obs[:1])[0], atol=0.03)


def test_the_ensemble_backtests_like_any_model_deterministically(trained_ensemble, market):
    config, result, _ = trained_ensemble
    first = run_backtest(load_policy(result.algorithm, result.model_path), [market], config.env)
    again = run_backtest(load_policy(result.algorithm, result.model_path), [market], config.env)
    assert first.bars["action"].to_list() == again.bars["action"].to_list()
    assert first.metrics()["n_days"] > 0


def test_the_next_phase_warm_starts_from_member_0(trained_ensemble, market, tmp_path) -> None:

    config, result, alone = trained_ensemble
    vec_env = make_training_env(config, [market])
    try:
        model, note = load_warm_start(result.model_path, vec_env, config, device="cpu")
    finally:
        vec_env.close()
    assert model is not None, note
    assert note.startswith("warm-started") and "member 0 of the seed ensemble" in note
    single = load_policy("PPO", alone.model_path)
    for name, tensor in single.policy.state_dict().items():
        assert torch.equal(tensor, model.policy.state_dict()[name]), name


def test_a_failed_member_writes_no_ensemble(phase_config, market, tmp_path) -> None:
    from stable_baselines3.common.callbacks import BaseCallback

    class FailOnSecondMember(BaseCallback):
        def _on_step(self) -> bool:
            if self.model.seed == 5 + SEED_STRIDE:
                raise RuntimeError("member 1 crashed")
            return True

    target = tmp_path / "phase2.zip"
    target.write_bytes(b"the last good model")
    config = phase_config(2, {"training": {"ensemble": 2, "seed": 5}})
    with pytest.raises(RuntimeError, match="member 1 crashed"):
        train_phase(config, [market], target, extra_callbacks=[FailOnSecondMember()])
    assert target.read_bytes() == b"the last good model"


def test_only_ppo_mlp_members_are_accepted(phase_config) -> None:
    recurrent = {"name": "RecurrentPPO", "policy": "MlpLstmPolicy"}
    with pytest.raises(ConfigError, match="PPO MlpPolicy members only; this phase trains Recurr"):
        phase_config(2, {"algorithm": recurrent, "training": {"ensemble": 2}})
    with pytest.raises(ValueError, match="at least 2 members"):
        SeedEnsemblePolicy([object()], [0])  # type: ignore[list-item]


def test_a_file_that_is_not_an_ensemble_is_named(tmp_path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", "{}")
    with pytest.raises(
        ValueError, match=r"other\.zip is not a SeedEnsemble file: it has no manifest"
    ):
        SeedEnsemblePolicy.load(path)


def test_an_ensemble_is_not_taken_for_a_regime_router(trained_ensemble, tmp_path) -> None:
    """Both are zips with a manifest: phase 6 warm-starting from an ensemble phase 5 must treat
    it as one model (member 0, via load_warm_start), not read it as a router's specialists."""
    _, result, _ = trained_ensemble
    assert not is_router_file(result.model_path)
    files = warm_start_files(result.model_path, tmp_path)
    assert set(files.values()) == {result.model_path}
