"""Probabilistic Sharpe ratio against a value computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from scipy import stats
from scipy.stats import norm

from trader_env.evaluation.psr import probabilistic_sharpe_ratio, psr_from_statistics

RETURNS = [0.012, -0.004, 0.007, 0.015, -0.011, 0.003, 0.009, -0.002, 0.006, 0.001]


def _by_hand(returns: list[float], benchmark_sharpe: float) -> float:
    """Bailey & Lopez de Prado (2012), every step written out with ``math``."""
    n = len(returns)
    mean = sum(returns) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    sharpe = mean / std
    m2 = sum((r - mean) ** 2 for r in returns) / n
    m3 = sum((r - mean) ** 3 for r in returns) / n
    m4 = sum((r - mean) ** 4 for r in returns) / n
    # Bias-corrected sample skewness G1 and excess kurtosis G2 (as pandas computes them).
    skew = math.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
    excess = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (m4 / m2**2 - 3) + 6)
    kurtosis = excess + 3  # non-excess
    z = (sharpe - benchmark_sharpe) * math.sqrt(n - 1)
    z /= math.sqrt(1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2)
    return norm.cdf(z)


def test_psr_matches_hand_computation() -> None:
    assert probabilistic_sharpe_ratio(np.array(RETURNS)) == pytest.approx(
        _by_hand(RETURNS, 0.0), abs=1e-12
    )
    assert probabilistic_sharpe_ratio(np.array(RETURNS), benchmark_sharpe=0.1) == pytest.approx(
        _by_hand(RETURNS, 0.1), abs=1e-12
    )
    # The same numbers through scipy's standard estimators.
    values = np.array(RETURNS)
    sharpe = values.mean() / values.std(ddof=1)
    from_scipy = psr_from_statistics(
        sharpe,
        len(values),
        float(stats.skew(values, bias=False)),
        float(stats.kurtosis(values, fisher=False, bias=False)),
    )
    assert from_scipy == pytest.approx(_by_hand(RETURNS, 0.0), abs=1e-12)


def test_psr_over_zero_equals_quantstats() -> None:
    series = pd.Series(RETURNS, index=pd.bdate_range("2024-01-02", periods=len(RETURNS)))
    assert probabilistic_sharpe_ratio(np.array(RETURNS)) == pytest.approx(
        qs.stats.probabilistic_sharpe_ratio(series), abs=1e-9
    )


def test_psr_falls_with_a_higher_bar_and_rises_with_more_data() -> None:
    values = np.array(RETURNS)
    assert probabilistic_sharpe_ratio(values, 0.2) < probabilistic_sharpe_ratio(values, 0.0)
    # Same per-period Sharpe and moments, three times the sample: more confidence.
    assert probabilistic_sharpe_ratio(np.tile(values, 3)) > probabilistic_sharpe_ratio(values)


def test_psr_undefined_cases_are_nan() -> None:
    assert math.isnan(probabilistic_sharpe_ratio(np.array([0.01, 0.02, -0.01])))  # n < 4
    assert math.isnan(probabilistic_sharpe_ratio(np.zeros(20)))
    assert math.isnan(psr_from_statistics(0.1, 1, 0.0, 3.0))
    with pytest.raises(ValueError, match="NaN"):
        probabilistic_sharpe_ratio(np.array([0.01, np.nan, 0.0, 0.02]))


def test_deflated_sharpe_matches_the_papers_worked_example() -> None:
    # Bailey and Lopez de Prado (2014), "The Deflated Sharpe Ratio", section 5: 100 trials
    # whose annualised Sharpe estimates have variance 1/2; the best one has an annualised
    # Sharpe of 2.5 over 1,250 daily returns (250 a year) with skew -3 and kurtosis 10.
    # The paper finds SR0 = 0.1132 per day (1.7894 annualised) and DSR = 0.9004.
    from trader_env.evaluation.psr import deflated_sharpe_ratio, expected_max_sharpe

    per_day = math.sqrt(250.0)
    sr0 = expected_max_sharpe(100, 0.5) / per_day
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(
        sharpe=2.5 / per_day,
        n=1250,
        skew=-3.0,
        kurtosis=10.0,
        n_trials=100,
        trial_variance=0.5 / 250.0,
    )
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_deflated_sharpe_falls_with_more_trials_and_equals_psr_for_one() -> None:
    from trader_env.evaluation.psr import deflated_sharpe_ratio, psr_from_statistics

    args = {"sharpe": 0.15, "n": 250, "skew": 0.0, "kurtosis": 3.0}
    one = deflated_sharpe_ratio(**args, n_trials=1, trial_variance=0.01)
    assert one == pytest.approx(psr_from_statistics(**args))
    values = [
        deflated_sharpe_ratio(**args, n_trials=n, trial_variance=0.004) for n in (1, 2, 7, 50)
    ]
    assert values == sorted(values, reverse=True) and values[-1] < values[0]
