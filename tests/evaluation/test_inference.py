"""Fast inference (trader_env.evaluation.inference) against SB3's own ``predict``.

Real SB3 models (tiny, trained for a few hundred steps or untrained), real observations of the
environment on the synthetic market of this folder's conftest, and the real backtest runner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
from polars.testing import assert_frame_equal
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy

from trader_env.contracts import MarketArrays
from trader_env.env import EnvConfig, make_env, make_vec_env
from trader_env.evaluation.backtest import BacktestSpec, run_backtest, run_backtests
from trader_env.evaluation.inference import (
    FastLstmPolicy,
    FastMlpPolicy,
    StackedMlpPolicies,
    fast_policy,
)
from trader_env.training.factory import make_sb3_logger

MarketFactory = Callable[..., MarketArrays]
N_ENVS = 4
SESSIONS = 40  # 40 x 30 bars: ~1,200 steps per symbol, ~4,800 observations per batch run
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")


@pytest.fixture(scope="module")
def markets(make_market: MarketFactory) -> list[MarketArrays]:
    return [
        make_market(symbol, seed=i + 1, n_sessions=SESSIONS, drift=0.0002 * (i - 1.5))
        for i, symbol in enumerate(SYMBOLS)
    ]


@pytest.fixture(scope="module")
def config() -> EnvConfig:
    """The realistic environment (costs, risk features, risk halts)."""
    return EnvConfig()


@pytest.fixture(scope="module")
def observations(markets: list[MarketArrays], config: EnvConfig) -> tuple[np.ndarray, np.ndarray]:
    """Real observations ``(T, N_ENVS, window, columns)`` and ``episode_start`` ``(T, N_ENVS)``.

    One evaluation environment per symbol driven by seeded random actions; an environment
    whose episode ends (halt or end of split) is reset, and its next row starts an episode.
    Every environment also restarts every 250 steps (staggered), as the backtest runner
    signals after a halt, so that recurrent states are reset mid-run in some rows only.
    """
    rng = np.random.default_rng(3)
    envs = [make_env(config, arrays=[m], mode="eval") for m in markets]
    current = [env.reset()[0] for env in envs]
    steps = len(markets[0]) - config.window
    obs = np.empty((steps, N_ENVS, *current[0].shape), dtype=np.float32)
    starts = np.zeros((steps, N_ENVS), dtype=bool)
    starts[0] = True
    for t in range(steps):
        obs[t] = np.stack(current)
        for i, env in enumerate(envs):
            nxt, _, terminated, truncated, _ = env.step(int(rng.integers(3)))
            if terminated or truncated:
                nxt = env.reset()[0]
                if t + 1 < steps:
                    starts[t + 1, i] = True
            current[i] = nxt
    for i in range(N_ENVS):
        starts[37 * (i + 1) :: 250, i] = True
    return obs, starts


def _train_env(markets: list[MarketArrays], config: EnvConfig) -> Any:
    return make_vec_env(config, markets, 2, seed=0)


@pytest.fixture(scope="module")
def trained_ppo(markets: list[MarketArrays], config: EnvConfig) -> PPO:
    torch.set_num_threads(1)
    model = PPO(
        "MlpPolicy",
        _train_env(markets, config),
        n_steps=256,
        batch_size=128,
        n_epochs=4,
        learning_rate=3e-3,
        seed=0,
        device="cpu",
    )
    model.set_logger(make_sb3_logger())  # SB3's default logger leaves a folder in /tmp
    return model.learn(2048)


@pytest.fixture(scope="module")
def trained_recurrent(markets: list[MarketArrays], config: EnvConfig) -> RecurrentPPO:
    torch.set_num_threads(1)
    model = RecurrentPPO(
        "MlpLstmPolicy",
        _train_env(markets, config),
        n_steps=128,
        batch_size=128,
        n_epochs=2,
        learning_rate=3e-3,
        policy_kwargs={"lstm_hidden_size": 32, "net_arch": [32, 32]},
        seed=0,
        device="cpu",
    )
    model.set_logger(make_sb3_logger())
    return model.learn(512)


def _assert_same_actions(
    model: Any,
    fast: Any,
    observations: tuple[np.ndarray, np.ndarray],
    n_envs: int = N_ENVS,
) -> None:
    """Both play the same observations with their own state; actions must be identical."""
    obs, starts = observations
    state_ref: Any = None
    state_fast: Any = None
    for t in range(obs.shape[0]):
        batch, start = obs[t, :n_envs], starts[t, :n_envs]
        ref, state_ref = model.predict(
            batch, state=state_ref, episode_start=start, deterministic=True
        )
        got, state_fast = fast.predict(
            batch, state=state_fast, episode_start=start, deterministic=True
        )
        assert got.dtype == ref.dtype and got.shape == ref.shape
        assert np.array_equal(got, ref), f"step {t}: fast {got} vs predict {ref}"
        if state_ref is not None:
            for mine, theirs in zip(state_fast, state_ref, strict=True):
                assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
                np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-5)


def _action_counts(model: Any, obs: np.ndarray) -> np.ndarray:
    actions, _ = model.predict(obs.reshape(-1, *obs.shape[2:]), deterministic=True)
    return np.bincount(actions, minlength=3)


def test_trained_ppo_same_actions_as_predict(
    trained_ppo: PPO, observations: tuple[np.ndarray, np.ndarray]
) -> None:
    fast = fast_policy(trained_ppo)
    assert isinstance(fast, FastMlpPolicy)
    assert (_action_counts(trained_ppo, observations[0]) > 0).sum() >= 2  # not a constant
    _assert_same_actions(trained_ppo, fast, observations)
    _assert_same_actions(trained_ppo, fast, observations, n_envs=1)
    # Near-ties answered by the torch layers are rare for a trained model.
    assert fast.torch_calls < 0.05 * 2 * observations[0].shape[0]
    assert fast.fallback_calls == 0


def test_untrained_ppo_near_ties_give_predicts_actions(
    markets: list[MarketArrays], config: EnvConfig, observations: tuple[np.ndarray, np.ndarray]
) -> None:
    """A fresh network's logits are close together: many batches are near-ties, answered by
    the torch layers called directly, and every action is still predict's."""
    model = PPO(
        "MlpPolicy", make_env(config, arrays=markets[:1], mode="eval"), seed=3, device="cpu"
    )
    fast = fast_policy(model)
    assert isinstance(fast, FastMlpPolicy)
    _assert_same_actions(model, fast, observations, n_envs=1)
    _assert_same_actions(model, fast, observations)
    assert fast.torch_calls > 0 and fast.fallback_calls == 0


def test_trained_recurrent_same_actions_and_state_as_predict(
    trained_recurrent: RecurrentPPO, observations: tuple[np.ndarray, np.ndarray]
) -> None:
    fast = fast_policy(trained_recurrent)
    assert isinstance(fast, FastLstmPolicy)
    obs, starts = observations
    assert starts[1:].any()  # episodes restart inside the run, not only at step 0
    assert (_action_counts(trained_recurrent, obs) > 0).sum() >= 2
    _assert_same_actions(trained_recurrent, fast, observations)
    _assert_same_actions(trained_recurrent, fast, observations, n_envs=1)
    assert fast.fallback_calls == 0


def test_recurrent_state_is_reset_by_episode_start(
    trained_recurrent: RecurrentPPO, observations: tuple[np.ndarray, np.ndarray]
) -> None:
    fast = fast_policy(trained_recurrent)
    obs = observations[0][:50]
    state: Any = None
    for t in range(obs.shape[0]):
        _, state = fast.predict(obs[t], state=state, deterministic=True)
    assert np.abs(state[0]).max() > 1e-3  # a state was built up
    restart = np.array([True, False, True, False])
    _, after = fast.predict(obs[0], state=state, episode_start=restart, deterministic=True)
    _, fresh = fast.predict(obs[0], state=None, deterministic=True)
    _, ref = trained_recurrent.predict(
        obs[0], state=state, episode_start=restart, deterministic=True
    )
    for k in range(2):
        np.testing.assert_array_equal(after[k][:, restart], fresh[k][:, restart])
        assert not np.allclose(after[k][:, ~restart], fresh[k][:, ~restart])
        np.testing.assert_allclose(after[k], ref[k], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("algorithm", "policy_kwargs"),
    [
        ("PPO", {}),  # default: separate pi/vf MLPs of 64 x 64, Tanh, shared extractor
        ("PPO", {"net_arch": {"pi": [32, 16], "vf": [8]}, "share_features_extractor": False}),
        ("PPO", {"net_arch": [16], "activation_fn": torch.nn.ReLU}),
        ("PPO", {"net_arch": []}),
        ("RecurrentPPO", {"lstm_hidden_size": 24, "n_lstm_layers": 2}),
        (
            "RecurrentPPO",
            {"lstm_hidden_size": 16, "shared_lstm": True, "enable_critic_lstm": False},
        ),
        ("RecurrentPPO", {"lstm_hidden_size": 16, "enable_critic_lstm": False}),
    ],
)
def test_untrained_variants_same_actions_as_predict(
    algorithm: str,
    policy_kwargs: dict[str, Any],
    markets: list[MarketArrays],
    config: EnvConfig,
    observations: tuple[np.ndarray, np.ndarray],
) -> None:
    env = make_env(config, arrays=markets[:1], mode="eval")
    if algorithm == "PPO":
        model: Any = PPO("MlpPolicy", env, policy_kwargs=policy_kwargs, seed=1, device="cpu")
    else:
        model = RecurrentPPO(
            "MlpLstmPolicy", env, policy_kwargs=policy_kwargs, seed=1, device="cpu"
        )
    fast = fast_policy(model)
    assert isinstance(fast, FastMlpPolicy if algorithm == "PPO" else FastLstmPolicy)
    obs, starts = observations
    _assert_same_actions(model, fast, (obs[:600], starts[:600]))


def test_saved_and_loaded_models_same_actions(
    trained_ppo: PPO,
    trained_recurrent: RecurrentPPO,
    observations: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    obs, starts = observations
    for model, cls, fast_cls in (
        (trained_ppo, PPO, FastMlpPolicy),
        (trained_recurrent, RecurrentPPO, FastLstmPolicy),
    ):
        path = tmp_path / f"{cls.__name__}.zip"
        model.save(path)
        loaded = cls.load(path, device="cpu")
        fast = fast_policy(loaded)
        assert isinstance(fast, fast_cls)
        _assert_same_actions(loaded, fast, observations)
        # ... and the same as the model before it was saved.
        _assert_same_actions(model, fast, (obs[:300], starts[:300]))


def test_error_bound_holds_for_torch_logits(
    trained_ppo: PPO, observations: tuple[np.ndarray, np.ndarray]
) -> None:
    """The bound behind the feed-forward exactness holds for torch's float32 logits."""
    fast = fast_policy(trained_ppo)
    obs = observations[0].reshape(-1, *observations[0].shape[2:])
    x = obs.reshape(obs.shape[0], -1)
    exact = fast.logits(x)
    policy = trained_ppo.policy
    with torch.no_grad():
        features = policy.extract_features(torch.as_tensor(obs), policy.pi_features_extractor)
        logits = policy.action_net(policy.mlp_extractor.forward_actor(features)).numpy()
    error = np.abs(logits - exact).max(axis=1)
    bound = np.array([fast.bound(float(np.abs(row).max())) for row in x])
    assert error.max() > 0.0  # torch's float32 logits do differ from the float64 ones
    assert (error <= bound).all()


def test_exact_ties_are_answered_by_the_torch_layers(
    markets: list[MarketArrays], config: EnvConfig, observations: tuple[np.ndarray, np.ndarray]
) -> None:
    """Equal logits everywhere: every call is a tie, answered as predict does (argmax 0)."""
    model = PPO("MlpPolicy", make_env(config, arrays=markets[:1], mode="eval"), device="cpu")
    with torch.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.fill_(0.25)
    fast = fast_policy(model)
    obs = observations[0][:20]
    for t in range(obs.shape[0]):
        actions, _ = fast.predict(obs[t], deterministic=True)
        assert np.array_equal(actions, model.predict(obs[t], deterministic=True)[0])
    assert fast.torch_calls == obs.shape[0] and fast.fallback_calls == 0


class _SubclassedPolicy(ActorCriticPolicy):
    """A policy class the fast path does not know (it could override the forward pass)."""


class _Delegate:
    """Hides an SB3 model behind a plain ``predict``: the raw path, never recognised."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, Any]:
        return self.model.predict(*args, **kwargs)


def test_unsupported_policies_fall_back_to_the_model(
    markets: list[MarketArrays], config: EnvConfig, observations: tuple[np.ndarray, np.ndarray]
) -> None:
    env = make_env(config, arrays=markets[:1], mode="eval")
    elu = PPO("MlpPolicy", env, policy_kwargs={"activation_fn": torch.nn.ELU}, device="cpu")
    subclassed = PPO(_SubclassedPolicy, env, device="cpu")
    delegate = _Delegate(elu)
    for model in (elu, subclassed, delegate):
        assert fast_policy(model) is model
    # Per call: stochastic actions, an unbatched observation.
    ppo = PPO("MlpPolicy", env, seed=0, device="cpu")
    fast = fast_policy(ppo)
    single = observations[0][0, 0]
    assert np.array_equal(
        fast.predict(single, deterministic=True)[0], ppo.predict(single, deterministic=True)[0]
    )
    torch.manual_seed(5)
    sampled = fast.predict(observations[0][0], deterministic=False)[0]
    torch.manual_seed(5)
    assert np.array_equal(sampled, ppo.predict(observations[0][0], deterministic=False)[0])
    assert fast.fallback_calls == 2


@pytest.mark.parametrize("which", ["ppo", "recurrent"])
def test_backtest_identical_with_fast_and_predict_paths(
    which: str,
    trained_ppo: PPO,
    trained_recurrent: RecurrentPPO,
    markets: list[MarketArrays],
    config: EnvConfig,
) -> None:
    model = trained_ppo if which == "ppo" else trained_recurrent
    assert not isinstance(fast_policy(model), type(model))  # run_backtest takes the fast path
    fast = run_backtest(model, markets[:2], config)
    raw = run_backtest(_Delegate(model), markets[:2], config)
    assert fast.bars["action"].n_unique() >= 2
    assert_frame_equal(fast.bars, raw.bars)
    assert_frame_equal(fast.halts, raw.halts)
    assert_frame_equal(fast.closed_trades, raw.closed_trades)
    fast_metrics, raw_metrics = fast.metrics(), raw.metrics()
    assert fast_metrics.keys() == raw_metrics.keys()
    for key, value in fast_metrics.items():
        assert value == raw_metrics[key] or (np.isnan(value) and np.isnan(raw_metrics[key])), key
    assert pl.Series(fast.daily_returns.to_numpy()).equals(pl.Series(raw.daily_returns.to_numpy()))


def _assert_same_backtest(got: Any, want: Any) -> None:
    assert_frame_equal(got.bars, want.bars)
    assert_frame_equal(got.halts, want.halts)
    assert_frame_equal(got.closed_trades, want.closed_trades)


def test_backtests_in_lockstep_lanes_equal_each_alone(
    trained_ppo: PPO, markets: list[MarketArrays], config: EnvConfig
) -> None:
    """Checkpoints played side by side (one stacked forward per bar, near-ties per lane) give
    each exactly what SB3's own predict gives it alone, however the lanes' episodes end."""
    env = make_env(config, arrays=markets[:1], mode="eval")
    untrained = [PPO("MlpPolicy", env, seed=seed, device="cpu") for seed in (3, 5)]
    policies = [trained_ppo, *untrained]
    stacked = StackedMlpPolicies.of([fast_policy(p) for p in policies])
    assert stacked is not None  # the side-by-side path is the one under test
    lanes = run_backtests([BacktestSpec(p, markets[:2], config) for p in policies])
    for policy, lane in zip(policies, lanes, strict=True):
        _assert_same_backtest(lane, run_backtest(_Delegate(policy), markets[:2], config))
    assert len({lane.bars["action"].to_numpy().tobytes() for lane in lanes}) == 3


def test_stacked_lanes_decide_as_each_policy_predicts(
    trained_ppo: PPO,
    markets: list[MarketArrays],
    config: EnvConfig,
    observations: tuple[np.ndarray, np.ndarray],
) -> None:
    env = make_env(config, arrays=markets[:1], mode="eval")
    policies = [trained_ppo, *(PPO("MlpPolicy", env, seed=s, device="cpu") for s in (3, 5))]
    stacked = StackedMlpPolicies.of([fast_policy(p) for p in policies])
    assert stacked is not None
    obs, _ = observations
    live = [True, True, False]
    for t in range(obs.shape[0]):
        chosen = stacked.predict_lanes(np.stack([obs[t]] * len(policies)), live)
        for lane in (0, 1):
            want = policies[lane].predict(obs[t], deterministic=True)[0]
            assert np.array_equal(chosen[lane], want), f"step {t}, lane {lane}"
    # The untrained lane's near-ties were answered by its own torch layers, lane by lane.
    assert stacked.members[1].torch_calls > 0 and stacked.members[2].torch_calls == 0


def test_mixed_lanes_each_play_their_own_policy(
    trained_ppo: PPO,
    markets: list[MarketArrays],
    config: EnvConfig,
    constant_policy: Any,
) -> None:
    """Lanes that cannot be stacked (a rule, another symbol count) are played one by one."""
    specs = [
        BacktestSpec(trained_ppo, markets[:2], config),
        BacktestSpec(constant_policy(2), markets[:2], config),
        BacktestSpec(trained_ppo, markets[:1], config),
    ]
    for spec, lane in zip(specs, run_backtests(specs), strict=True):
        alone = run_backtest(spec.policy, spec.arrays, spec.env_config)
        _assert_same_backtest(lane, alone)
