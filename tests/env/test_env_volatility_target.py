"""Volatility targeting: the position is capped at target_sigma / the market's realised
volatility, the smaller of that and the sizing method's fraction (fixed or Kelly)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader_env.env import EnvConfig, IntradayTradingEnv
from trader_env.env.volatility_target import (
    intraday_log_returns,
    realised_volatility,
    size_caps,
)

SHORT, FLAT, LONG = 0, 1, 2
BARS_PER_YEAR = 98_280.0


def test_realised_volatility_is_the_annualised_std_of_the_last_window_without_gaps() -> None:
    rng = np.random.default_rng(3)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, 40)))
    close[20:] *= 1.05  # a 5 % overnight gap: must not enter the volatility
    open_ = np.concatenate(([100.0], close[:-1]))
    open_[20] = close[19] * 1.05  # the second session opens at the gapped level
    first = np.zeros(40, dtype=bool)
    first[[0, 20]] = True
    returns = intraday_log_returns(open_, close, first)
    assert returns[20] == pytest.approx(math.log(close[20] / open_[20]))
    assert returns[21] == pytest.approx(math.log(close[21] / close[20]))
    vol = realised_volatility(open_, close, first, 10, BARS_PER_YEAR)
    assert np.isnan(vol[:9]).all(), "no volatility before 10 returns"
    for t in (9, 20, 39):
        expected = np.std(returns[t - 9 : t + 1], ddof=1) * math.sqrt(BARS_PER_YEAR)
        assert vol[t] == pytest.approx(expected, rel=1e-12), t
    assert vol[25] < 0.5, "the gap would have made this ~0.05 * sqrt(98,280 / 10) ~ 5"


def test_size_caps_are_target_over_volatility_and_inf_when_undefined() -> None:
    caps = size_caps(np.array([np.nan, 0.0, 0.3, 0.1]), 0.15)
    assert caps.tolist() == [math.inf, math.inf, pytest.approx(0.5), pytest.approx(1.5)]


def market(make_arrays, sigma: float):
    """One session of 60 bars whose one-bar log returns alternate +-sigma (std ~sigma)."""
    returns = np.where(np.arange(60) % 2 == 0, sigma, -sigma)
    close = 100.0 * np.exp(np.cumsum(returns))
    return make_arrays(n_sessions=1, bars_per_session=60, close=close, open_=close)


def config(**sizing: object) -> EnvConfig:
    return EnvConfig(
        window=1,
        flatten_at_session_end=False,
        include_risk_features=False,
        costs={"commission_bps": 0.0, "half_spread_bps": 0.0, "slippage_bps": 0.0},
        turnover_penalty={"curve": "none"},
        drawdown_limits={
            "max_daily_drawdown_pct": None,
            "max_consecutive_drawdown_steps": None,
            "dd_limit": None,
        },
        volatility_penalty={"penalty_lambda": 0.0, "target_sigma": 0.15},
        position_sizing={"volatility_target": True, "volatility_window": 10, **sizing},
    )


def position_after_long(arrays, env_config: EnvConfig, bar: int) -> float:
    """Fraction of equity held after going long at bar ``bar`` (flat until then)."""
    env = IntradayTradingEnv(arrays, env_config, mode="eval")
    env.reset(seed=0)
    for _ in range(bar):
        env.step(FLAT)
    info = env.step(LONG)[4]
    return info["position"] * arrays.close[bar] / 50_000.0


def test_a_volatile_market_shrinks_the_fixed_position_to_the_target(make_arrays) -> None:
    sigma_bar = 0.002  # annualised ~0.002 * sqrt(98,280) ~ 0.63: far above the 0.15 target
    arrays = market(make_arrays, sigma_bar)
    vol = realised_volatility(
        arrays.open, arrays.close, np.eye(1, 60, 0, dtype=bool)[0], 10, BARS_PER_YEAR
    )[20]
    held = position_after_long(arrays, config(), 20)
    assert held == pytest.approx(0.15 / vol, rel=1e-9)
    assert held < 0.3
    off = position_after_long(arrays, config(volatility_target=False), 20)
    assert off == pytest.approx(1.0), "without targeting: the fixed 100 %"


def test_a_quiet_market_never_levers_up_and_warm_up_has_no_cap(make_arrays) -> None:
    quiet = market(make_arrays, 0.00002)  # ~0.6 % annualised: cap ~24x equity
    assert position_after_long(quiet, config(), 20) == pytest.approx(1.0)
    loud = market(make_arrays, 0.002)
    assert position_after_long(loud, config(), 3) == pytest.approx(1.0), "window not yet full"


def test_kelly_and_the_volatility_cap_take_the_smaller(make_arrays) -> None:
    kelly = {"method": "kelly", "warmup_fraction": 0.1}
    loud = market(make_arrays, 0.002)
    loud_cap = position_after_long(loud, config(), 20)
    assert position_after_long(loud, config(**kelly), 20) == pytest.approx(min(0.1, loud_cap))
    assert loud_cap < 0.3
    calmer = market(make_arrays, 0.0008)  # ~25 % annualised: cap ~0.6, above Kelly's 0.1
    assert position_after_long(calmer, config(**kelly), 20) == pytest.approx(0.1)
