"""Callbacks fed with constructed episodes and updates: curriculum, diagnostics, progress."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader_env.phase_config import TRAINING_CHECK_METRICS
from trader_env.training.callbacks import (
    CurriculumCallback,
    DiagnosticsCallback,
    ProgressCallback,
)
from trader_env.training.factory import build_model, make_training_env

CURRICULUM = {
    "env": {
        "curriculum": {
            "sharpe_window": 2,
            "stages": [
                {"target_turnover": 0.008, "min_episodes": 3, "sharpe_threshold": 0.5},
                {"target_turnover": 0.015, "min_episodes": 2, "sharpe_threshold": 1.0},
                {"target_turnover": 0.02, "min_episodes": 2, "sharpe_threshold": 1.5},
            ],
        }
    }
}


def episode(sharpe: float = 0.0, **overrides: float) -> dict:
    metrics = {
        "sharpe": sharpe,
        "net_pnl": 100.0,
        "turnover_penalty_total": 10.0,
        "risk_penalty_total": 5.0,
        "daily_turnover_mean": 1.5,
        "max_drawdown": 0.01,
        "n_trades": 4,
        "completed": True,
        "nonfinite_rewards": 0,
        "halt_reason": None,
    }
    metrics.update(overrides)
    return {"episode_metrics": metrics}


@pytest.fixture()
def model_and_env(phase_config, market):
    config = phase_config(4, CURRICULUM)
    vec_env = make_training_env(config, [market])
    model = build_model(config, vec_env)
    yield config, model, vec_env
    vec_env.close()


def feed(callback, model, sharpes, n_envs=2):
    """One step per Sharpe: env 0 ends an episode, env 1 keeps playing."""
    for sharpe in sharpes:
        model.num_timesteps += n_envs
        callback.update_locals(
            {
                "rewards": np.zeros(n_envs, dtype=np.float32),
                "dones": np.array([True] + [False] * (n_envs - 1)),
                "infos": [episode(sharpe)] + [{}] * (n_envs - 1),
            }
        )
        assert callback.on_step()


def test_curriculum_callback_advances_on_earned_sharpe(model_and_env):
    config, model, vec_env = model_and_env
    callback = CurriculumCallback(config.env.curriculum)
    callback.init_callback(model)
    feed(callback, model, [2.0, 2.0])  # stage 0 needs 3 episodes
    assert callback.curriculum.stage == 0
    feed(callback, model, [2.0])
    assert callback.curriculum.stage == 1
    assert vec_env.get_attr("curriculum_stage") == [1, 1]
    feed(callback, model, [0.2, 0.4, 0.9])  # mean of the last two < 1.0
    assert callback.curriculum.stage == 1
    feed(callback, model, [1.2])  # (0.9 + 1.2) / 2 > 1.0
    assert callback.curriculum.stage == 2
    assert vec_env.get_attr("turnover_limit") == [0.02, 0.02]
    assert [(h["from_stage"], h["to_stage"], h["episode"]) for h in callback.history] == [
        (0.0, 1.0, 3.0),
        (1.0, 2.0, 7.0),
    ]
    assert callback.history[0]["timesteps"] == 6.0
    assert callback.finals() == {"curriculum_final_stage": 2.0, "curriculum_graduated": 0.0}


def test_diagnostics_reconciliation_entropy_and_recent_episodes(model_and_env):
    config, model, _ = model_and_env
    scaling, capital = config.env.reward_scaling, config.env.initial_capital
    callback = DiagnosticsCallback(scaling, capital)
    callback.init_callback(model)
    model._total_timesteps = 200
    callback.on_training_start({}, {})
    assert callback.early_timesteps == 100

    # Episode on env 0: rewards sum to scaling x (net 100 - penalties 15) = 0.85 exactly.
    for reward, done in [(0.5, False), (0.35, True)]:
        model.num_timesteps += 2
        callback.update_locals(
            {
                "rewards": np.array([reward, 0.0]),
                "dones": np.array([done, False]),
                "infos": [episode(1.0) if done else {}, {}],
            }
        )
        callback.on_step()
    # Env 1: rewards worth 3 money less than reported, and one replaced non-finite reward.
    model.num_timesteps += 2
    callback.update_locals(
        {
            "rewards": np.array([0.0, 0.82]),
            "dones": np.array([False, True]),
            "infos": [{}, episode(-1.0, completed=False, nonfinite_rewards=1)],
        }
    )
    callback.on_step()

    logged = model.logger.name_to_value
    for timesteps, entropy_loss in [(64, -1.0), (128, -0.4), (192, -0.2)]:
        model.num_timesteps = timesteps
        model._n_updates += 2
        logged["train/entropy_loss"] = entropy_loss
        logged["train/explained_variance"] = 0.5
        callback.on_rollout_start()
    callback.on_training_end()  # no new update: nothing recorded twice

    finals = callback.diagnostics()["finals"]
    assert finals["n_episodes"] == 2 and finals["completion_rate"] == 0.5
    assert finals["stable_episode_rate"] == 0.5, "the episode with a non-finite reward"
    curriculum = CurriculumCallback(config.env.curriculum)
    assert set(finals) | set(curriculum.finals()) == TRAINING_CHECK_METRICS, (
        "every training diagnostic can be named in training_checks, and only those"
    )
    assert finals["reward_reconciliation_error"] == pytest.approx(3.0 / capital, rel=1e-5)
    assert finals["nonfinite_count"] == 1
    assert finals["training_sharpe_30"] == 0.0
    assert finals["n_updates"] == 3 and finals["entropy"] == 0.2
    assert finals["min_entropy_early"] == 1.0  # only the update at 64 <= 100 timesteps
    assert finals["explained_variance"] == 0.5
    assert math.isnan(finals["value_loss"])  # never logged


def test_missing_episode_metrics_is_a_clear_error(model_and_env):
    config, model, _ = model_and_env
    callback = CurriculumCallback(config.env.curriculum)
    callback.init_callback(model)
    callback.update_locals({"dones": np.array([True, False]), "infos": [{}, {}]})
    with pytest.raises(KeyError, match="without info\\['episode_metrics'\\]"):
        callback.on_step()


def test_progress_callback_reports_on_its_interval(model_and_env, monkeypatch):
    _, model, _ = model_and_env
    messages: list[str] = []

    class Collect:
        def info(self, msg: str) -> None:
            messages.append(msg)

    clock = iter([100.0, 105.0, 131.0, 140.0])
    monkeypatch.setattr("trader_env.training.callbacks.time.monotonic", lambda: next(clock))
    callback = ProgressCallback(interval_s=30.0, log=Collect(), label="phase 4")
    callback.init_callback(model)
    model._total_timesteps = 1000
    callback.on_training_start({}, {})  # t = 100
    model.num_timesteps = 100
    callback.on_step()  # t = 105: too early
    assert messages == []
    model.num_timesteps = 310
    callback.on_step()  # t = 131
    assert messages == ["phase 4: 310/1,000 timesteps (31.0 %), 10 fps, elapsed 31 s, ETA 69 s"]
    model.num_timesteps = 1000
    callback.on_training_end()  # t = 140
    assert messages[-1].startswith("phase 4: 1,000/1,000 timesteps (100.0 %), 25 fps")


def test_a_risk_halt_is_stable_a_non_finite_equity_is_not(model_and_env):
    config, model, _ = model_and_env
    callback = DiagnosticsCallback(config.env.reward_scaling, config.env.initial_capital)
    callback.init_callback(model)
    model._total_timesteps = 200
    callback.on_training_start({}, {})
    for halt in ("consecutive_drawdown", "daily_drawdown", "non_finite_equity", None):
        model.num_timesteps += 2
        callback.update_locals(
            {
                "rewards": np.zeros(2),
                "dones": np.array([True, False]),
                "infos": [episode(0.0, completed=halt is None, halt_reason=halt), {}],
            }
        )
        callback.on_step()
    finals = callback.diagnostics()["finals"]
    assert finals["completion_rate"] == 0.25
    assert finals["stable_episode_rate"] == 0.75
