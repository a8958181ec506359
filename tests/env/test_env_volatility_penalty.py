"""Volatility penalty: rolling realised volatility of strategy returns and its penalty."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader_env.env.config import VolatilityPenaltyConfig
from trader_env.env.volatility_penalty import VolatilityPenalty


def test_realised_vol_matches_numpy_over_the_last_window() -> None:
    window = 20
    vol = VolatilityPenalty(VolatilityPenaltyConfig(vol_window=window), bars_per_year=98_280)
    returns = np.random.default_rng(1).normal(0.0, 0.001, 137)
    for i, r in enumerate(returns):
        vol.update(float(r), 50_000.0)
        if i < window - 1:
            assert math.isnan(vol.realised_vol())
    expected = np.std(returns[-window:], ddof=1) * math.sqrt(98_280)
    assert vol.realised_vol() == pytest.approx(expected, rel=1e-9)


def test_volatility_penalty_is_lambda_equity_squared_excess() -> None:
    config = VolatilityPenaltyConfig(penalty_lambda=0.002, target_sigma=0.15, vol_window=10)
    vol = VolatilityPenalty(config, bars_per_year=98_280)
    returns = [0.003 if i % 2 else -0.003 for i in range(10)]
    assert [vol.update(r, 50_000.0) for r in returns[:-1]] == [0.0] * 9, "window not full"
    penalty = vol.update(returns[-1], 50_000.0)
    sigma = np.std(returns, ddof=1) * math.sqrt(98_280)
    assert penalty == pytest.approx(0.002 * 50_000.0 * (sigma - 0.15) ** 2, rel=1e-9)


def test_volatility_below_target_costs_nothing_and_lambda_zero_is_inactive() -> None:
    vol = VolatilityPenalty(
        VolatilityPenaltyConfig(vol_window=5, target_sigma=0.15), bars_per_year=98_280
    )
    assert [vol.update(1e-6, 50_000.0) for _ in range(5)] == [0.0] * 5
    assert not VolatilityPenalty(VolatilityPenaltyConfig(penalty_lambda=0.0), 98_280).active
