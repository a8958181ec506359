"""make_env / make_vec_env: seeding, the in-process VecEnv against SB3's DummyVecEnv,
SubprocVecEnv, automatic vectorisation, env_method."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from trader_env.env import EnvConfig, EnvFactory, IntradayTradingEnv, make_env, make_vec_env
from trader_env.env.factory import resolve_vec_env
from trader_env.env.vec_env import InProcessVecEnv

CONFIG = EnvConfig(episode_length=40, curriculum={"enabled": True})


@pytest.fixture(scope="module")
def markets(make_arrays):
    return [
        make_arrays(n_sessions=4, seed=1, symbol="AAA"),
        make_arrays(n_sessions=4, seed=2, symbol="BBB"),
    ]


def test_make_env_is_reproducible_from_its_seed(markets) -> None:
    first = make_env(CONFIG, markets, seed=7)
    second = make_env(CONFIG, markets, seed=7)
    assert first.config is CONFIG
    for _ in range(5):
        obs_a, info_a = first.reset()
        obs_b, info_b = second.reset()
        np.testing.assert_array_equal(obs_a, obs_b)
        assert info_a["bar_index"] == info_b["bar_index"] and info_a["symbol"] == info_b["symbol"]
    assert first.action_space.sample() == second.action_space.sample()


def test_make_env_accepts_one_array_and_needs_arrays_for_eval(markets) -> None:
    env = make_env(CONFIG, markets[0], mode="eval")
    assert env.symbols == ("AAA",) and env.mode == "eval"
    with pytest.raises(ValueError, match="explicit arrays"):
        make_env(CONFIG, None, mode="eval")


def test_factory_pickles(markets) -> None:
    factory = EnvFactory(CONFIG, tuple(markets), seed=3)
    env = pickle.loads(pickle.dumps(factory))()
    assert isinstance(env, IntradayTradingEnv)
    assert env.config == CONFIG


def _sb3_dummy(markets, n_envs: int, seed: int):
    """SB3's own DummyVecEnv over the same copies (bar infos), the reference contract."""
    vec_env = DummyVecEnv(
        [EnvFactory(CONFIG, tuple(markets), seed=seed + rank) for rank in range(n_envs)]
    )
    vec_env.seed(seed)
    return vec_env


def test_in_process_vec_env_steps_exactly_as_sb3_dummy_vec_env(markets) -> None:
    """Same observations, rewards and dones as SB3's DummyVecEnv on the same copies and
    seeds; infos lean per step and SB3's keys where an episode ends."""
    ours = make_vec_env(CONFIG, markets, n_envs=3, seed=11)
    assert isinstance(ours, InProcessVecEnv)
    reference = _sb3_dummy(markets, 3, 11)
    np.testing.assert_array_equal(ours.reset(), reference.reset())
    actions = np.random.default_rng(0).integers(0, 3, (130, 3))
    ended = 0
    for action in actions:
        obs, rewards, dones, infos = ours.step(action)
        obs_ref, rewards_ref, dones_ref, infos_ref = reference.step(action)
        np.testing.assert_array_equal(obs, obs_ref)
        np.testing.assert_array_equal(rewards, rewards_ref)
        assert rewards.dtype == rewards_ref.dtype == np.float32
        np.testing.assert_array_equal(dones, dones_ref)
        for info, info_ref, done in zip(infos, infos_ref, dones, strict=True):
            if not done:
                assert info == {}
                continue
            ended += 1
            assert info["episode_metrics"] == info_ref["episode_metrics"]
            assert info["TimeLimit.truncated"] == info_ref["TimeLimit.truncated"]
            np.testing.assert_array_equal(
                info["terminal_observation"], info_ref["terminal_observation"]
            )
    assert ended >= 6, "40-step episodes end several times in 130 steps"
    # The copies share one prepared copy of the data (the reference prepared its own).
    assert len({id(env._markets[0]) for env in ours.envs}) == 1
    ours.env_method("set_curriculum_stage", 1)
    ours.reset()
    assert ours.get_attr("curriculum_stage") == [1, 1, 1]
    assert ours.get_attr("turnover_limit") == [0.015, 0.015, 0.015]
    ours.close()


def test_prepared_data_must_be_that_of_the_arrays(markets) -> None:
    prepared = IntradayTradingEnv(markets, CONFIG)._markets
    with pytest.raises(ValueError, match="prepared step data must be that of arrays"):
        IntradayTradingEnv(markets[::-1], CONFIG, prepared=prepared)


def test_observations_of_successive_steps_are_distinct_arrays(markets) -> None:
    """SB3 keeps the previous step's observation (``_last_obs``) while the next is taken."""
    vec_env = make_vec_env(CONFIG, markets, n_envs=2, seed=3)
    first = vec_env.reset()
    kept = first.copy()
    second, *_ = vec_env.step(np.array([2, 0]))
    assert second is not first
    np.testing.assert_array_equal(first, kept)


def test_in_process_vec_env_refuses_other_environments(markets) -> None:
    with pytest.raises(TypeError, match="IntradayTradingEnv"):
        InProcessVecEnv([lambda: gym.wrappers.RecordEpisodeStatistics(make_env(CONFIG, markets))])


def test_subproc_vec_env_steps_and_switches_stage(markets) -> None:
    vec_env = make_vec_env(
        CONFIG, markets, n_envs=2, vec_env_cls="subproc", seed=5, start_method="fork"
    )
    try:
        obs = vec_env.reset()
        assert obs.shape == (2, *IntradayTradingEnv(markets, CONFIG).observation_space.shape)
        _, rewards, _, _ = vec_env.step(np.array([2, 1]))
        assert np.isfinite(rewards).all()
        vec_env.env_method("set_curriculum_stage", 2)
        assert vec_env.get_attr("turnover_limit") == [0.008, 0.008], "applies at the next session"
    finally:
        vec_env.close()


@pytest.mark.parametrize(
    ("choice", "n_envs", "cores", "expected"),
    [
        ("auto", 8, 2, "inprocess"),
        ("auto", 8, 15, "inprocess"),
        ("auto", 8, 16, "subproc"),
        ("inprocess", 8, 64, "inprocess"),
        ("subproc", 8, 2, "subproc"),
    ],
)
def test_auto_vectorisation_needs_two_cores_per_copy(choice, n_envs, cores, expected) -> None:
    assert resolve_vec_env(choice, n_envs, cores) == expected


def test_invalid_vec_env_arguments(markets) -> None:
    with pytest.raises(ValueError, match="n_envs"):
        make_vec_env(CONFIG, markets, n_envs=0)
    with pytest.raises(ValueError, match="vec_env_cls"):
        make_vec_env(CONFIG, markets, n_envs=1, vec_env_cls="ray")  # type: ignore[arg-type]
