"""Risk manager: drawdown limits, consecutive-drawdown halt, drawdown penalty."""

from __future__ import annotations

import pytest

from trader_env.env.config import DrawdownLimitsConfig
from trader_env.env.risk_manager import CONSECUTIVE_DRAWDOWN, DAILY_DRAWDOWN, RiskManager


def manager(**overrides: object) -> RiskManager:
    risk = RiskManager(DrawdownLimitsConfig(**overrides))
    risk.start_session(100.0)
    return risk


@pytest.mark.parametrize("n", [1, 3, 100])
def test_halts_when_the_count_beyond_dd_limit_exceeds_n(n: int) -> None:
    risk = manager(max_consecutive_drawdown_steps=n, max_daily_drawdown_pct=None, dd_limit=0.02)
    for _ in range(n):
        assert risk.assess(97.0) is None, "3 % below the peak: beyond dd_limit, not yet halted"
    assert risk.steps_beyond_limit == n
    assert risk.assess(97.0) == CONSECUTIVE_DRAWDOWN, f"step {n + 1} beyond the limit halts"
    assert risk.is_halt(CONSECUTIVE_DRAWDOWN)


def test_the_plans_100_steps_halt_at_step_101_of_a_scripted_path() -> None:
    """Equity path: 20 steps within 2 %, then 3 % below the peak until the halt."""
    risk = manager(max_consecutive_drawdown_steps=100, max_daily_drawdown_pct=None, dd_limit=0.02)
    path = [99.0] * 20 + [97.0] * 200
    events = [risk.assess(equity) for equity in path]
    first = next(i for i, event in enumerate(events) if event is not None)
    assert events[first] == CONSECUTIVE_DRAWDOWN
    assert first - 20 + 1 == 101, "halts exactly at the 101st step beyond the limit"


def test_drawdown_within_dd_limit_never_counts() -> None:
    risk = manager(max_consecutive_drawdown_steps=3, max_daily_drawdown_pct=None, dd_limit=0.02)
    assert all(risk.assess(98.5) is None for _ in range(1_000)), "1.5 % below: within 2 %"
    assert risk.steps_beyond_limit == 0
    assert risk.assess(98.0) is None and risk.steps_beyond_limit == 0, "exactly 2 %: not beyond"


def test_a_step_back_within_the_limit_resets_the_count() -> None:
    risk = manager(max_consecutive_drawdown_steps=3, max_daily_drawdown_pct=None, dd_limit=0.02)
    for _ in range(3):
        assert risk.assess(97.0) is None
    assert risk.assess(98.5) is None, "back within 2 % of the peak (still below it)"
    assert risk.steps_beyond_limit == 0
    for _ in range(3):
        assert risk.assess(97.0) is None
    assert risk.assess(97.0) == CONSECUTIVE_DRAWDOWN
    risk = manager(max_consecutive_drawdown_steps=3, max_daily_drawdown_pct=None, dd_limit=0.02)
    risk.assess(97.0)
    assert risk.assess(101.0) is None and risk.steps_beyond_limit == 0, "a new high resets too"
    assert risk.peak == 101.0


def test_without_dd_limit_any_drawdown_counts() -> None:
    risk = manager(max_consecutive_drawdown_steps=2, max_daily_drawdown_pct=None, dd_limit=None)
    assert risk.assess(99.99) is None
    assert risk.assess(99.99) is None
    assert risk.assess(99.99) == CONSECUTIVE_DRAWDOWN
    risk = manager(max_consecutive_drawdown_steps=2, max_daily_drawdown_pct=None, dd_limit=None)
    assert [risk.assess(e) for e in (99.0, 100.0, 99.0, 99.0)] == [None] * 4, "the peak resets"


def test_session_start_resets_peak_count_and_lock() -> None:
    risk = manager(
        max_consecutive_drawdown_steps=3, max_daily_drawdown_pct=0.01, halt_on_breach=False
    )
    assert risk.assess(98.0) == DAILY_DRAWDOWN
    assert risk.locked
    risk.start_session(98.0)
    assert not risk.locked and risk.steps_beyond_limit == 0 and risk.drawdown == 0.0
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
    risk = manager(max_consecutive_drawdown_steps=5, dd_limit=0.02)
    risk.assess(97.0)
    risk.remark(96.0)
    assert risk.steps_beyond_limit == 1
    assert risk.drawdown == pytest.approx(0.04)
