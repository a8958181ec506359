"""Costs: commission (per share / percentage, minimum, cap), fees, half spread (fixed or
tick-based) and slippage (optionally volatility-scaled)."""

from __future__ import annotations

import numpy as np
import pytest

from trader_env.env.cost_config import CostConfig
from trader_env.env.costs import (
    BPS,
    Commission,
    cost_rates,
    half_spread_bps,
    rolling_log_return_std,
    slippage_multiplier,
)


def _prices(n: int = 200, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))


def test_rate_is_fees_plus_half_spread_plus_slippage_in_bps() -> None:
    config = CostConfig(commission_bps=0.5, fees_bps=0.1, half_spread_bps=0.25, slippage_bps=1.0)
    rates = cost_rates(_prices(), config)
    # The commission is charged per order by Commission, not in the rate.
    assert rates == pytest.approx(np.full(200, 1.35 * BPS), rel=1e-12)


def test_percentage_commission_without_minimum_is_linear_in_notional() -> None:
    commission = Commission.of(CostConfig(commission_bps=0.5))
    assert commission(100.0, 50_000.0) == pytest.approx(2.5)
    assert commission(0.0, 0.0) == 0.0


def test_per_share_commission_has_a_minimum_and_a_cap() -> None:
    # Interactive Brokers' tiered US schedule: $0.0035 a share, $0.35 minimum, 1 % cap.
    commission = Commission.of(
        CostConfig(
            commission_bps=0.0,
            commission_per_share=0.0035,
            commission_min=0.35,
            commission_max_pct=0.01,
        )
    )
    assert commission(1_000.0, 280_000.0) == pytest.approx(3.5)  # per share
    assert commission(10.0, 2_800.0) == pytest.approx(0.35)  # minimum
    assert commission(100.0, 10.0) == pytest.approx(0.10)  # penny stock: 1 % cap
    assert commission(0.0, 0.0) == 0.0  # no order, no minimum


def test_tick_based_half_spread_follows_the_price() -> None:
    close = np.array([100.0, 200.0, 400.0])
    config = CostConfig(tick_size=0.01, spread_ticks=2.0, half_spread_bps=99.0)
    # 2 ticks of $0.01 wide: half a spread is $0.01, i.e. 1 bps at $100, 0.5 bps at $200.
    assert half_spread_bps(close, config) == pytest.approx([1.0, 0.5, 0.25])


def test_scaled_costs_multiply_every_charge() -> None:
    config = CostConfig(
        commission_bps=0.2,
        commission_per_share=0.0035,
        commission_min=0.35,
        fees_bps=0.1,
        tick_size=0.01,
        slippage_bps=0.3,
    )
    close = _prices()
    for factor in (0.0, 1.0, 2.0, 3.0):
        scaled = config.scaled(factor)
        assert cost_rates(close, scaled) == pytest.approx(factor * cost_rates(close, config))
        for shares, notional in ((1.0, 100.0), (500.0, 50_000.0)):
            assert Commission.of(scaled)(shares, notional) == pytest.approx(
                factor * Commission.of(config)(shares, notional)
            )
    with pytest.raises(ValueError, match="cost factor"):
        config.scaled(-1.0)


def test_free_trading_costs_nothing() -> None:
    config = CostConfig(commission_bps=0.0, half_spread_bps=0.0, slippage_bps=0.0)
    assert not cost_rates(_prices(), config).any()


def test_rolling_std_matches_numpy_and_is_nan_before_the_window() -> None:
    close = _prices()
    window = 10
    sigma = rolling_log_return_std(close, window)
    assert np.isnan(sigma[:window]).all()
    log_ret = np.diff(np.log(close))
    for t in (window, 57, 199):
        assert sigma[t] == pytest.approx(np.std(log_ret[t - window : t], ddof=1), rel=1e-9)


def test_rolling_std_is_causal() -> None:
    close = _prices()
    changed = close.copy()
    changed[120:] *= np.linspace(1.0, 3.0, 80)
    before = rolling_log_return_std(close, 10)
    after = rolling_log_return_std(changed, 10)
    np.testing.assert_array_equal(before[:120], after[:120])
    assert not np.allclose(before[121:], after[121:])


def test_rolling_std_refuses_a_window_below_two() -> None:
    with pytest.raises(ValueError, match="window must be >= 2"):
        rolling_log_return_std(_prices(), 1)


def test_slippage_scales_with_volatility_and_is_capped() -> None:
    rng = np.random.default_rng(0)
    calm = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, 100)))
    wild = calm[-1] * np.exp(np.cumsum(rng.normal(0.0, 0.02, 100)))
    close = np.concatenate((calm, wild))
    config = CostConfig(
        commission_bps=0.0,
        half_spread_bps=0.0,
        slippage_bps=2.0,
        slippage_vol_scaling=True,
        slippage_vol_window=20,
        slippage_vol_reference=0.0005,
        slippage_max_multiplier=5.0,
    )
    multiplier = slippage_multiplier(close, config)
    assert (multiplier[:20] == 1.0).all(), "bars without enough history use the plain slippage"
    assert 0.5 < np.median(multiplier[40:100]) < 1.5
    assert (multiplier[150:] == 5.0).all(), "volatility 40x the reference is capped at 5x"
    rates = cost_rates(close, config)
    assert rates == pytest.approx(2.0 * multiplier * BPS, rel=1e-12)


def test_slippage_without_scaling_is_flat() -> None:
    assert (slippage_multiplier(_prices(), CostConfig()) == 1.0).all()
