"""Reward composition and its non-finite guard."""

from __future__ import annotations

import logging
import math

import pytest

from trader_env.env.reward import RewardComposer


def test_reward_is_scaled_net_pnl_minus_penalties() -> None:
    composer = RewardComposer(0.01)
    assert composer.compose(120.0, 15.0, 5.0, where=0) == pytest.approx(1.0)


def test_non_finite_rewards_become_zero_are_counted_and_logged_once_per_episode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    composer = RewardComposer(1.0)
    composer.start_episode("SPY[0:10]")
    with caplog.at_level(logging.WARNING, logger="trader_env.env.reward"):
        assert composer.compose(math.inf, 0.0, 0.0, where=1) == 0.0
        assert composer.compose(math.nan, 0.0, 0.0, where=2) == 0.0
        assert composer.compose(1.0, math.inf, 0.0, where=3) == 0.0
        assert composer.compose(1.0, 0.0, 0.0, where=4) == 1.0
    assert composer.nonfinite_count == 3
    assert len(caplog.records) == 1
    assert "SPY[0:10]" in caplog.records[0].getMessage()
    caplog.clear()
    composer.start_episode("SPY[10:20]")
    assert composer.nonfinite_count == 0
    with caplog.at_level(logging.WARNING, logger="trader_env.env.reward"):
        composer.compose(0.0, 0.0, math.nan, where=11)
    assert len(caplog.records) == 1, "a new episode logs again"


@pytest.mark.parametrize("scaling", [0.0, -1.0, math.inf, math.nan])
def test_invalid_scaling_is_refused(scaling: float) -> None:
    with pytest.raises(ValueError, match="reward scaling"):
        RewardComposer(scaling)
