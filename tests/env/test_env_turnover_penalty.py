"""Turnover penalty: smart Huber curve, edge cases, and per-step increments over a day."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader_env.env.config import TurnoverPenaltyConfig
from trader_env.env.turnover_penalty import DailyTurnoverPenalty, excess_turnover, penalty_curve

DELTA = 0.02
K = 50.0


def huber(x: float) -> float:
    return penalty_curve(x, "smart_huber", DELTA, K)


def test_zero_excess_costs_nothing() -> None:
    assert excess_turnover(0.01, 0.02) == 0.0
    assert huber(0.0) == 0.0


def test_exactly_at_the_limit_there_is_no_excess() -> None:
    assert excess_turnover(0.02, 0.02) == 0.0
    tracker = DailyTurnoverPenalty(TurnoverPenaltyConfig(limit=0.02), capital=50_000.0)
    tracker.start_session(50_000.0)
    assert tracker.add(0.02 * 50_000.0) == 0.0
    assert tracker.turnover_ratio == pytest.approx(0.02)


def test_quadratic_below_and_linear_above_the_kink() -> None:
    assert huber(0.01) == pytest.approx(K * 0.01**2 / (2 * DELTA))
    assert huber(0.1) == pytest.approx(K * (0.1 - DELTA / 2))
    assert huber(0.3) - huber(0.2) == pytest.approx(K * 0.1), "slope 50 above the kink"


def test_continuous_in_value_and_slope_at_the_kink() -> None:
    eps = 1e-9
    at = huber(DELTA)
    assert at == pytest.approx(K * DELTA / 2)
    assert huber(DELTA - eps) == pytest.approx(at, abs=1e-7)
    assert huber(DELTA + eps) == pytest.approx(at, abs=1e-7)
    slope_below = (huber(DELTA) - huber(DELTA - 1e-6)) / 1e-6
    slope_above = (huber(DELTA + 1e-6) - huber(DELTA)) / 1e-6
    assert slope_below == pytest.approx(K, rel=1e-3)
    assert slope_above == pytest.approx(K, rel=1e-3)


def test_very_large_excess_stays_linear_and_finite() -> None:
    assert huber(1e6) == pytest.approx(K * (1e6 - DELTA / 2))
    assert math.isfinite(huber(1e300))
    assert huber(math.inf) == math.inf


@pytest.mark.parametrize("bad", [-1e-12, -1.0, math.nan])
def test_invalid_input_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="excess turnover must be a number >= 0"):
        huber(bad)
    with pytest.raises(ValueError, match="turnover ratio must be a number >= 0"):
        excess_turnover(bad, 0.02)
    tracker = DailyTurnoverPenalty(TurnoverPenaltyConfig(), capital=50_000.0)
    tracker.start_session(50_000.0)
    with pytest.raises(ValueError, match="traded notional must be a number >= 0"):
        tracker.add(bad)


def test_invalid_limit_capital_and_curve_are_refused() -> None:
    with pytest.raises(ValueError, match="turnover limit"):
        excess_turnover(0.1, -0.1)
    with pytest.raises(ValueError, match="capital must be > 0"):
        DailyTurnoverPenalty(TurnoverPenaltyConfig(), capital=0.0)
    with pytest.raises(ValueError, match="unknown turnover penalty curve"):
        penalty_curve(0.1, "cubic", DELTA, K)  # type: ignore[arg-type]


def test_linear_and_none_curves() -> None:
    assert penalty_curve(0.3, "linear", DELTA, K) == pytest.approx(15.0)
    assert penalty_curve(0.3, "none", DELTA, K) == 0.0


def test_increments_over_a_day_add_up_to_the_penalty_of_the_days_total_excess() -> None:
    config = TurnoverPenaltyConfig(limit=0.02, weight=0.00005)
    tracker = DailyTurnoverPenalty(config, capital=50_000.0)
    tracker.start_session(48_000.0)
    fills = np.random.default_rng(7).uniform(0.0, 20_000.0, 40)
    increments = [tracker.add(float(notional)) for notional in fills]
    ratio = fills.sum() / 50_000.0
    expected = config.weight * 48_000.0 * huber(ratio - 0.02)
    assert sum(increments) == pytest.approx(expected, rel=1e-12)
    assert tracker.charged_today == pytest.approx(expected, rel=1e-12)
    assert all(increment >= 0.0 for increment in increments)


def test_a_new_session_starts_from_zero() -> None:
    tracker = DailyTurnoverPenalty(TurnoverPenaltyConfig(), capital=50_000.0)
    tracker.start_session(50_000.0)
    first_day = tracker.add(100_000.0)
    assert first_day > 0.0
    tracker.start_session(50_000.0)
    assert tracker.traded_today == 0.0 and tracker.charged_today == 0.0
    assert tracker.add(100_000.0) == pytest.approx(first_day)


def test_disabled_curve_still_tracks_turnover() -> None:
    tracker = DailyTurnoverPenalty(TurnoverPenaltyConfig(curve="none"), capital=50_000.0)
    tracker.start_session(50_000.0)
    assert tracker.add(500_000.0) == 0.0
    assert tracker.turnover_ratio == pytest.approx(10.0)
