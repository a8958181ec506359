"""Daily metrics against quantstats 0.0.86, edge cases, and the trade- and day-based metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from trader_env.evaluation.metrics import (
    METRIC_KEYS,
    compute_metrics,
    daily_turnover,
    intraday_max_drawdowns,
    share_of_days_within_drawdown,
    win_rate,
)


def _series(values: np.ndarray, start: str = "2024-01-02") -> pd.Series:
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), name="r")


def _fixed_series() -> list[tuple[pd.Series, pd.Series]]:
    rng = np.random.default_rng(11)
    gaussian = _series(rng.normal(0.0006, 0.011, 250))
    bench = _series(0.6 * gaussian.to_numpy() + rng.normal(0.0002, 0.008, 250))
    # Fat left tail and a loss on the very first day (drawdown from the starting equity).
    skewed_values = rng.standard_t(3, 120) * 0.004 + 0.001
    skewed_values[0] = -0.03
    skewed = _series(skewed_values)
    skewed_bench = _series(rng.normal(0.0, 0.01, 120))
    return [(gaussian, bench), (skewed, skewed_bench)]


@pytest.mark.parametrize("case", [0, 1])
def test_metrics_agree_with_quantstats(case: int) -> None:
    returns, bench = _fixed_series()[case]
    metrics = compute_metrics(returns, bench)
    reference = {
        "sharpe": qs.stats.sharpe(returns),
        "sortino": qs.stats.sortino(returns),
        "max_drawdown": qs.stats.max_drawdown(returns),
        "calmar": qs.stats.calmar(returns),
        "annual_return": qs.stats.cagr(returns),
        "annual_volatility": qs.stats.volatility(returns),
        "information_ratio": qs.stats.information_ratio(returns, bench),
        "psr": qs.stats.probabilistic_sharpe_ratio(returns),
        "skew": qs.stats.skew(returns),
        "kurtosis": qs.stats.kurtosis(returns),
        "correlation": returns.corr(bench),
    }
    for key, expected in reference.items():
        assert metrics[key] == pytest.approx(float(expected), abs=1e-6), key
    assert metrics["information_ratio_annual"] == pytest.approx(
        metrics["information_ratio"] * math.sqrt(252), rel=1e-12
    )
    assert metrics["n_days"] == len(returns)
    assert set(metrics) == set(METRIC_KEYS)


def test_periods_per_year_scales_like_quantstats() -> None:
    returns, _ = _fixed_series()[0]
    metrics = compute_metrics(returns, periods_per_year=365)
    assert metrics["sharpe"] == pytest.approx(qs.stats.sharpe(returns, periods=365), abs=1e-9)
    assert metrics["annual_return"] == pytest.approx(qs.stats.cagr(returns, periods=365), abs=1e-9)
    assert metrics["calmar"] == pytest.approx(qs.stats.calmar(returns, periods=365), abs=1e-9)


def test_first_day_loss_counts_in_max_drawdown() -> None:
    metrics = compute_metrics(_series(np.array([-0.10, 0.05, 0.02])))
    assert metrics["max_drawdown"] == pytest.approx(-0.10)


def test_empty_series_gives_nan_not_an_exception() -> None:
    metrics = compute_metrics(_series(np.array([], dtype=float)))
    assert metrics["n_days"] == 0
    assert all(math.isnan(metrics[key]) for key in METRIC_KEYS if key != "n_days")


def test_zero_variance_ratios_are_nan() -> None:
    flat = _series(np.zeros(30))
    metrics = compute_metrics(flat, flat)
    for key in ("sharpe", "sortino", "calmar", "psr", "information_ratio", "correlation"):
        assert math.isnan(metrics[key]), key
    assert metrics["max_drawdown"] == 0.0
    assert metrics["annual_return"] == 0.0
    assert metrics["annual_volatility"] == 0.0
    # Identical positive returns: the float sum leaves a std of ~1e-19, still treated as zero.
    constant = compute_metrics(_series(np.full(7, 0.001)))
    assert math.isnan(constant["sharpe"])
    assert math.isnan(constant["sortino"])  # no losing day


def test_nan_returns_are_refused_with_the_date() -> None:
    values = np.array([0.01, np.nan, 0.02])
    with pytest.raises(ValueError, match="2024-01-03"):
        compute_metrics(_series(values))


def test_return_below_minus_one_and_misaligned_benchmark_are_refused() -> None:
    with pytest.raises(ValueError, match="below -100"):
        compute_metrics(_series(np.array([0.01, -1.5])))
    returns = _series(np.array([0.01, 0.02, -0.01]))
    shifted = _series(np.array([0.01, 0.02, -0.01]), start="2024-02-01")
    with pytest.raises(ValueError, match="exactly the dates"):
        compute_metrics(returns, shifted)
    with pytest.raises(TypeError, match="pandas Series"):
        compute_metrics(np.array([0.01, 0.02]))  # type: ignore[arg-type]


def test_win_rate_counts_strictly_positive_trades() -> None:
    assert win_rate([10.0, -5.0, 0.0, 2.5]) == pytest.approx(0.5)
    assert math.isnan(win_rate([]))
    with pytest.raises(ValueError, match="NaN"):
        win_rate([1.0, float("nan")])


def test_daily_turnover_is_mean_notional_over_capital() -> None:
    assert daily_turnover(np.array([50_000.0, 150_000.0, 0.0]), 50_000.0) == pytest.approx(4 / 3)
    assert math.isnan(daily_turnover([], 1.0))
    with pytest.raises(ValueError, match="capital"):
        daily_turnover([1.0], 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        daily_turnover([-1.0], 1.0)


def test_intraday_drawdown_starts_from_the_days_opening_equity() -> None:
    equity = np.array([100.0, 101.0, 99.0, 102.0, 102.0, 98.0, 103.0, 104.0])
    days = np.array([1, 1, 1, 1, 2, 2, 2, 3])
    worst = intraday_max_drawdowns(equity, days, initial_equity=100.0)
    # Day 1 peaks at 101 then 99; day 2 opens at day 1's close 102, falls to 98; day 3 gains.
    np.testing.assert_allclose(worst, [99 / 101 - 1, 98 / 102 - 1, 0.0])
    assert share_of_days_within_drawdown(equity, days, limit=0.03, initial_equity=100.0) == (
        pytest.approx(2 / 3)
    )
    assert share_of_days_within_drawdown(equity, days, limit=0.05, initial_equity=100.0) == 1.0
    # A loss in the first bar of the first day counts against the initial equity.
    first_bar_loss = intraday_max_drawdowns(np.array([95.0, 96.0]), np.array([0, 0]), 100.0)
    np.testing.assert_allclose(first_bar_loss, [-0.05])


def test_intraday_drawdown_refuses_interleaved_days() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        intraday_max_drawdowns(np.array([1.0, 1.0, 1.0]), np.array([1, 2, 1]))
    assert math.isnan(share_of_days_within_drawdown(np.array([]), np.array([]), 0.04))
