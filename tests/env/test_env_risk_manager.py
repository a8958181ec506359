"""Risk manager: drawdown limits, consecutive-drawdown halt, drawdown and volatility penalties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader_env.env.config import RiskConfig, RiskManagementConfig
from trader_env.env.risk_manager import (
    CONSECUTIVE_DRAWDOWN,
    DAILY_DRAWDOWN,
    RiskManager,
    VolatilityPenalty,
)


def manager(**overrides: object) -> RiskManager:
    risk = RiskManager(RiskManagementConfig(**overrides))
    risk.start_session(100.0)
    return risk


@pytest.mark.parametrize("n", [1, 3, 100])
def test_halts_after_exactly_n_consecutive_drawdown_steps(n: int) -> None:
    risk = manager(max_consecutive_drawdown_steps=n, max_daily_drawdown_pct=None)
    for _ in range(n - 1):
        assert risk.assess(99.9) is None
    assert risk.steps_in_drawdown == n - 1
    assert risk.assess(99.9) == CONSECUTIVE_DRAWDOWN
    assert risk.is_halt(CONSECUTIVE_DRAWDOWN)


def test_a_step_at_the_peak_resets_the_count() -> None:
    risk = manager(max_consecutive_drawdown_steps=3, max_daily_drawdown_pct=None)
    assert risk.assess(99.0) is None
    assert risk.assess(99.0) is None
    assert risk.assess(100.0) is None, "back at the peak: not in drawdown"
    assert risk.steps_in_drawdown == 0
    assert risk.assess(99.0) is None
    assert risk.assess(101.0) is None, "a new high resets too"
    assert risk.peak == 101.0


def test_session_start_resets_peak_count_and_lock() -> None:
    risk = manager(
        max_consecutive_drawdown_steps=3, max_daily_drawdown_pct=0.01, halt_on_breach=False
    )
    assert risk.assess(98.0) == DAILY_DRAWDOWN
    assert risk.locked
    risk.start_session(98.0)
    assert not risk.locked and risk.steps_in_drawdown == 0 and risk.drawdown == 0.0
    assert risk.peak == 98.0


def test_daily_drawdown_breach_at_the_limit_from_the_sessions_peak() -> None:
    risk = manager(max_daily_drawdown_pct=0.05, max_consecutive_drawdown_steps=None)
    assert risk.assess(110.0) is None
    assert risk.assess(104.6) is None, "4.9 % below the 110 peak"
    assert risk.drawdown == pytest.approx(5.4 / 110.0)
    assert risk.assess(104.5) == DAILY_DRAWDOWN, "exactly 5 % below the peak"
    assert risk.is_halt(DAILY_DRAWDOWN)


def test_breach_without_halt_locks_and_reports_once() -> None:
    risk = manager(
        max_daily_drawdown_pct=0.05, halt_on_breach=False, max_consecutive_drawdown_steps=None
    )
    assert risk.assess(90.0) == DAILY_DRAWDOWN
    assert not risk.is_halt(DAILY_DRAWDOWN)
    assert risk.locked
    assert risk.assess(89.0) is None, "already locked: not reported again"


def test_disabled_limits_never_fire() -> None:
    risk = manager(max_daily_drawdown_pct=None, max_consecutive_drawdown_steps=None)
    assert all(risk.assess(50.0) is None for _ in range(1_000))


def test_drawdown_penalty_is_a_share_of_the_money_below_the_dd_limit_line() -> None:
    risk = manager(dd_limit=0.02, dd_penalty_weight=0.1, max_daily_drawdown_pct=None)
    risk.assess(99.0)
    assert risk.drawdown_penalty() == 0.0, "1 % drawdown is within the 2 % allowance"
    risk.assess(95.0)
    assert risk.drawdown_penalty() == pytest.approx(0.1 * (0.05 - 0.02) * 100.0)
    assert manager(dd_limit=None).drawdown_penalty() == 0.0


def test_remark_updates_drawdown_without_counting_a_step() -> None:
    risk = manager(max_consecutive_drawdown_steps=5)
    risk.assess(99.0)
    risk.remark(98.0)
    assert risk.steps_in_drawdown == 1
    assert risk.drawdown == pytest.approx(0.02)


def test_realised_vol_matches_numpy_over_the_last_window() -> None:
    window = 20
    vol = VolatilityPenalty(RiskConfig(vol_window=window), bars_per_year=98_280)
    returns = np.random.default_rng(1).normal(0.0, 0.001, 137)
    for i, r in enumerate(returns):
        vol.update(float(r), 50_000.0)
        if i < window - 1:
            assert math.isnan(vol.realised_vol())
    expected = np.std(returns[-window:], ddof=1) * math.sqrt(98_280)
    assert vol.realised_vol() == pytest.approx(expected, rel=1e-9)


def test_volatility_penalty_is_lambda_equity_squared_excess() -> None:
    config = RiskConfig(penalty_lambda=0.002, target_sigma=0.15, vol_window=10)
    vol = VolatilityPenalty(config, bars_per_year=98_280)
    returns = [0.003 if i % 2 else -0.003 for i in range(10)]
    assert [vol.update(r, 50_000.0) for r in returns[:-1]] == [0.0] * 9, "window not full"
    penalty = vol.update(returns[-1], 50_000.0)
    sigma = np.std(returns, ddof=1) * math.sqrt(98_280)
    assert penalty == pytest.approx(0.002 * 50_000.0 * (sigma - 0.15) ** 2, rel=1e-9)


def test_volatility_below_target_costs_nothing_and_lambda_zero_is_inactive() -> None:
    vol = VolatilityPenalty(RiskConfig(vol_window=5, target_sigma=0.15), bars_per_year=98_280)
    assert [vol.update(1e-6, 50_000.0) for _ in range(5)] == [0.0] * 5
    assert not VolatilityPenalty(RiskConfig(penalty_lambda=0.0), 98_280).active


def test_flat_steps_end_a_drawdown_streak() -> None:
    risk = RiskManager(RiskManagementConfig(max_consecutive_drawdown_steps=3))
    risk.start_session(100.0)
    assert risk.assess(99.0) is None
    assert risk.assess(99.0) is None
    assert risk.assess(99.0, exposed=False) is None, "flat: the streak ends"
    assert risk.steps_in_drawdown == 0
    assert risk.assess(99.0) is None
    assert risk.assess(99.0) is None
    assert risk.assess(99.0) == CONSECUTIVE_DRAWDOWN
