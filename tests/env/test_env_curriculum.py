"""Curriculum: advancement rule, exposed state, and the environment's stage switch."""

from __future__ import annotations

import math

import pytest

from trader_env.env.config import CurriculumConfig, CurriculumStage
from trader_env.env.curriculum import Curriculum


def small() -> Curriculum:
    stages = (
        CurriculumStage(target_turnover=0.008, min_episodes=6, sharpe_threshold=0.5),
        CurriculumStage(target_turnover=0.015, min_episodes=5, sharpe_threshold=1.0),
    )
    return Curriculum(CurriculumConfig(enabled=True, stages=stages, sharpe_window=5))


def test_default_stages_are_the_plans() -> None:
    curriculum = Curriculum(CurriculumConfig())
    assert [s.target_turnover for s in curriculum.stages] == [0.008, 0.015, 0.02]
    assert [s.min_episodes for s in curriculum.stages] == [20, 30, 50]
    assert [s.sharpe_threshold for s in curriculum.stages] == [0.5, 1.0, 1.5]
    assert curriculum.sharpe_window == 5


def test_does_not_advance_before_min_episodes_even_with_high_sharpe() -> None:
    curriculum = small()
    assert [curriculum.record_episode(3.0) for _ in range(5)] == [False] * 5
    assert curriculum.record_episode(3.0) is True, "6th episode: minimum met, mean 3 > 0.5"
    assert curriculum.stage == 1


def test_needs_the_mean_of_the_last_five_to_exceed_the_threshold() -> None:
    curriculum = small()
    for sharpe in (0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5):
        assert not curriculum.record_episode(sharpe), "equal to the threshold is not above it"
    assert not curriculum.record_episode(0.3), "mean of the last five is 0.46"
    assert curriculum.mean_recent_sharpe() == pytest.approx(0.46)
    assert curriculum.record_episode(0.9), "mean of the last five is 0.54"
    assert curriculum.stage == 1


def test_state_history_and_per_stage_counts() -> None:
    curriculum = small()
    for _ in range(6):
        curriculum.record_episode(1.0)
    for _ in range(4):
        assert not curriculum.record_episode(2.0), "new stage: its own Sharpe window restarts"
    assert curriculum.record_episode(2.0) is False, "last stage cannot advance"
    assert curriculum.graduated
    state = curriculum.state()
    assert state["stage"] == 1 and state["episodes"] == 11
    assert state["episodes_per_stage"] == [6, 5]
    assert state["history"] == [{"episode": 6, "from_stage": 0, "to_stage": 1, "mean_sharpe": 1.0}]
    assert state["target_turnover"] == 0.015
    assert curriculum.at_last_stage


def test_non_finite_sharpe_counts_as_zero() -> None:
    curriculum = small()
    for _ in range(6):
        curriculum.record_episode(math.nan)
    assert curriculum.stage == 0
    assert curriculum.mean_recent_sharpe() == 0.0
