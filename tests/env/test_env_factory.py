"""make_env / make_vec_env: seeding, Monitor, DummyVecEnv and SubprocVecEnv, env_method."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from trader_env.env import EnvConfig, EnvFactory, IntradayTradingEnv, make_env, make_vec_env

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
    factory = EnvFactory(CONFIG, tuple(markets), seed=3, monitor=False)
    env = pickle.loads(pickle.dumps(factory))()
    assert isinstance(env, IntradayTradingEnv)
    assert env.config == CONFIG


def test_dummy_vec_env_seeds_each_copy_and_reports_monitor_episodes(markets) -> None:
    vec_env = make_vec_env(CONFIG, markets, n_envs=2, vec_env_cls="dummy", seed=11)
    obs = vec_env.reset()
    for rank in range(2):
        expected, _ = IntradayTradingEnv(markets, CONFIG).reset(seed=11 + rank)
        np.testing.assert_array_equal(obs[rank], expected)
    episodes = []
    for _ in range(45):
        _, _, dones, infos = vec_env.step(np.array([2, 0]))
        episodes += [info for info, done in zip(infos, dones, strict=True) if done]
    assert episodes, "40-step episodes end within 45 steps"
    assert "episode" in episodes[0] and "episode_metrics" in episodes[0]
    assert episodes[0]["episode"]["l"] == episodes[0]["episode_metrics"]["n_steps"]
    vec_env.env_method("set_curriculum_stage", 1)
    vec_env.reset()
    assert vec_env.get_attr("curriculum_stage") == [1, 1]
    assert vec_env.get_attr("turnover_limit") == [0.015, 0.015]
    vec_env.close()


def test_subproc_vec_env_steps_and_switches_stage(markets) -> None:
    vec_env = make_vec_env(
        CONFIG, markets, n_envs=2, vec_env_cls="subproc", seed=5, monitor=True, start_method="fork"
    )
    try:
        obs = vec_env.reset()
        assert obs.shape == (2, *IntradayTradingEnv(markets, CONFIG).observation_space.shape)
        _, rewards, _, infos = vec_env.step(np.array([2, 1]))
        assert np.isfinite(rewards).all() and "net_pnl" in infos[0]
        vec_env.env_method("set_curriculum_stage", 2)
        assert vec_env.get_attr("turnover_limit") == [0.008, 0.008], "applies at the next session"
    finally:
        vec_env.close()


def test_invalid_vec_env_arguments(markets) -> None:
    with pytest.raises(ValueError, match="n_envs"):
        make_vec_env(CONFIG, markets, n_envs=0)
    with pytest.raises(ValueError, match="vec_env_cls"):
        make_vec_env(CONFIG, markets, n_envs=1, vec_env_cls="ray")  # type: ignore[arg-type]
