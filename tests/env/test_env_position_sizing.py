"""Position sizing: fixed fraction, and capped Kelly from closed trades with a warm-up."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from trader_env.env.config import PositionSizingConfig
from trader_env.env.position_sizing import FixedSizer, KellySizer, kelly_fraction, make_sizer


def kelly(**overrides: object) -> KellySizer:
    return KellySizer(PositionSizingConfig(method="kelly", **overrides))


def test_kelly_formula() -> None:
    assert kelly_fraction(0.6, 1.0) == pytest.approx(0.2)
    assert kelly_fraction(0.5, 2.0) == pytest.approx(0.25)
    assert kelly_fraction(0.4, 1.0) == pytest.approx(-0.2), "no edge: negative"
    assert kelly_fraction(0.7, math.inf) == pytest.approx(0.7)


@pytest.mark.parametrize(("p", "b"), [(-0.1, 1.0), (1.1, 1.0), (math.nan, 1.0), (0.5, 0.0)])
def test_kelly_formula_refuses_invalid_input(p: float, b: float) -> None:
    with pytest.raises(ValueError):
        kelly_fraction(p, b)


def test_warm_up_fraction_until_min_trades() -> None:
    sizer = kelly(min_trades=4, warmup_fraction=0.05)
    for _ in range(3):
        sizer.record_trade(0.01)
        assert sizer.fraction() == 0.05
    sizer.record_trade(0.01)
    assert sizer.fraction() == 0.25, "all wins: f = p = 1, capped at 0.25"


def test_kelly_from_wins_and_losses_below_the_cap() -> None:
    sizer = kelly(min_trades=5)
    for r in (0.02, 0.02, 0.02, -0.02, -0.02, -0.02, 0.02, 0.02, -0.01, -0.01):
        sizer.record_trade(r)
    p = 5 / 10
    b = 0.02 / (0.08 / 5)
    assert sizer.fraction() == pytest.approx(p - (1 - p) / b)
    assert 0.0 < sizer.fraction() < 0.25


def test_no_edge_gives_zero() -> None:
    sizer = kelly(min_trades=4)
    for r in (0.01, -0.02, -0.02, -0.02):
        sizer.record_trade(r)
    assert sizer.fraction() == 0.0
    losses_only = kelly(min_trades=2)
    losses_only.record_trade(-0.01)
    losses_only.record_trade(-0.01)
    assert losses_only.fraction() == 0.0


def test_lookback_forgets_old_trades() -> None:
    sizer = kelly(min_trades=3, kelly_lookback_trades=3)
    for r in (-0.05, -0.05, -0.05):
        sizer.record_trade(r)
    assert sizer.fraction() == 0.0
    for r in (0.01, 0.01, 0.01):
        sizer.record_trade(r)
    assert sizer.n_trades == 3
    assert sizer.fraction() == 0.25, "only the last three (all wins) count"


def test_non_finite_trades_are_not_recorded_and_reset_forgets() -> None:
    sizer = kelly(min_trades=2)
    sizer.record_trade(math.nan)
    sizer.record_trade(math.inf)
    assert sizer.n_trades == 0
    sizer.record_trade(0.01)
    sizer.record_trade(0.01)
    sizer.reset()
    assert sizer.n_trades == 0 and sizer.fraction() == 0.1


def test_fixed_sizer_and_factory() -> None:
    assert make_sizer(PositionSizingConfig(fixed_fraction=0.5)).fraction() == 0.5
    assert isinstance(make_sizer(PositionSizingConfig(method="kelly")), KellySizer)
    with pytest.raises(ValueError):
        FixedSizer(0.0)


def test_inconsistent_sizing_config_is_refused() -> None:
    with pytest.raises(ValidationError, match="min_trades"):
        PositionSizingConfig(min_trades=20, kelly_lookback_trades=10)
    with pytest.raises(ValidationError, match="warmup_fraction"):
        PositionSizingConfig(warmup_fraction=0.5, max_kelly_fraction=0.25)


def test_a_paper_trade_feeds_the_estimate_while_kelly_is_zero() -> None:
    sizer = kelly(min_trades=2)
    sizer.record_trade(-0.01)
    sizer.record_trade(-0.01)
    assert sizer.fraction() == 0.0 and sizer.paper_direction == 0
    sizer.open_paper(1, 100.0, 1e-4)
    assert sizer.paper_direction == 1 and sizer.n_trades == 2
    sizer.close_paper(110.0, 1e-4)
    assert sizer.paper_direction == 0 and sizer.n_trades == 3
    gain = 110.0 / 100.0 - 1.0 - 1e-4 - 1e-4 * 1.1  # closed_pnl / entry notional
    assert sizer.fraction() == pytest.approx(min(1 / 3 - (2 / 3) / (gain / 0.01), 0.25))
    sizer.close_paper(120.0, 0.0)  # nothing open: nothing recorded
    assert sizer.n_trades == 3
    sizer.open_paper(-1, 100.0, 0.0)
    sizer.reset()
    assert sizer.paper_direction == 0, "a new episode forgets the paper trade"


def test_a_short_paper_trade_gains_when_the_price_falls() -> None:
    sizer = kelly(min_trades=2)
    for _ in range(2):
        sizer.open_paper(-1, 100.0, 0.0)
        sizer.close_paper(90.0, 0.0)
    assert sizer.fraction() == 0.25, "two wins: f = p = 1, capped"
    fixed = FixedSizer(0.5)
    fixed.open_paper(1, 100.0, 0.0)
    fixed.close_paper(90.0, 0.0)
    assert fixed.paper_direction == 0 and fixed.fraction() == 0.5
