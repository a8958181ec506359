"""Probabilistic Sharpe ratio (Bailey and Lopez de Prado, 2012).

The probability that the true per-period Sharpe ratio exceeds a benchmark ``SR*``, given the
measured Sharpe ``SR`` of ``n`` returns with skewness ``g3`` and (non-excess) kurtosis ``g4``::

    PSR = Phi( (SR - SR*) * sqrt(n - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

Everything is per period (not annualised): ``SR = mean / std`` of the returns themselves. The
estimators are those of :mod:`trader_env.evaluation.metrics` (and of quantstats 0.0.86): sample
standard deviation with ``ddof=1`` and the bias-corrected sample skewness and kurtosis that
pandas computes, so ``PSR(SR* = 0)`` equals ``quantstats.stats.probabilistic_sharpe_ratio``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

#: A standard deviation at or below this share of the mean's magnitude is treated as zero:
#: floating-point noise in the sum of identical values must not become a Sharpe of 1e15.
ZERO_STD_RELATIVE = 1e-12


def sample_skew(values: np.ndarray) -> float:
    """Bias-corrected sample skewness (adjusted Fisher-Pearson, as ``pandas.Series.skew``).

    NaN for fewer than 3 values or zero variance.
    """
    if len(values) < 3 or not np.var(values) > 0.0:
        return math.nan
    from scipy import stats

    return float(stats.skew(values, bias=False))


def sample_excess_kurtosis(values: np.ndarray) -> float:
    """Bias-corrected sample excess kurtosis (as ``pandas.Series.kurtosis``; normal -> 0).

    NaN for fewer than 4 values or zero variance.
    """
    if len(values) < 4 or not np.var(values) > 0.0:
        return math.nan
    from scipy import stats

    return float(stats.kurtosis(values, fisher=True, bias=False))


def per_period_sharpe(values: np.ndarray, scale: float = 0.0) -> float:
    """``mean / std(ddof=1)`` of per-period returns; NaN for fewer than 2 values or zero std.

    A std at or below ``ZERO_STD_RELATIVE * max(|mean|, scale)`` counts as zero; ``scale``
    lets a difference of two series (active returns) be judged against their own size.
    """
    if len(values) < 2:
        return math.nan
    mean = float(values.mean())
    std = float(values.std(ddof=1))
    if std <= ZERO_STD_RELATIVE * max(abs(mean), scale):
        return math.nan
    return mean / std


def psr_from_statistics(
    sharpe: float, n: int, skew: float, kurtosis: float, benchmark_sharpe: float = 0.0
) -> float:
    """PSR from a per-period Sharpe, the sample size and the (non-excess) ``kurtosis``.

    NaN when any input is NaN, ``n < 2``, or the variance term ``1 - g3 SR + (g4 - 1)/4 SR^2``
    is not positive (possible only with bias-corrected moments of tiny samples).
    """
    values = (sharpe, skew, kurtosis, benchmark_sharpe)
    if n < 2 or not all(math.isfinite(value) for value in values):
        return math.nan
    variance_term = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if variance_term <= 0.0:
        return math.nan
    z = (sharpe - benchmark_sharpe) * math.sqrt(n - 1) / math.sqrt(variance_term)
    return NormalDist().cdf(z)


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float:
    """Probability that the true per-period Sharpe of ``returns`` exceeds ``benchmark_sharpe``.

    ``returns``: 1-D finite simple returns per period, shape ``(n,)``. ``benchmark_sharpe`` is
    per period too (an annual target ``S`` at 252 periods a year is ``S / sqrt(252)``). NaN
    for fewer than 4 returns (kurtosis is undefined) or zero variance.
    """
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"returns must be 1-D, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("returns contain NaN or infinite values; PSR needs finite returns")
    return psr_from_statistics(
        sharpe=per_period_sharpe(values),
        n=len(values),
        skew=sample_skew(values),
        kurtosis=sample_excess_kurtosis(values) + 3.0,
        benchmark_sharpe=benchmark_sharpe,
    )


#: The Euler-Mascheroni constant (in the expected maximum of Gaussian Sharpe ratios).
EULER_GAMMA = 0.5772156649015329


def expected_max_sharpe(n_trials: int, trial_variance: float) -> float:
    """Expected maximum of ``n_trials`` estimated Sharpe ratios whose true value is 0.

    Bailey and Lopez de Prado (2014), "The Deflated Sharpe Ratio", eq. 2 (False Strategy
    Theorem): ``sqrt(V) ((1 - g) Z(1 - 1/N) + g Z(1 - 1/(N e)))`` with ``Z`` the standard
    normal quantile and ``g`` the Euler-Mascheroni constant. 0 for a single trial.
    ``trial_variance``: variance of the Sharpe estimates across trials, in the Sharpe's unit
    (per period here).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not trial_variance >= 0.0:
        raise ValueError(f"trial_variance must be >= 0, got {trial_variance}")
    if n_trials == 1:
        return 0.0
    z = NormalDist().inv_cdf
    return math.sqrt(trial_variance) * (
        (1.0 - EULER_GAMMA) * z(1.0 - 1.0 / n_trials)
        + EULER_GAMMA * z(1.0 - 1.0 / (n_trials * math.e))
    )


def trial_sharpe_variance(sharpes: Sequence[float]) -> float:
    """Sample variance (``ddof=1``) of the trials' per-period Sharpe estimates: the spread
    :func:`deflated_sharpe_ratio` takes as ``trial_variance``. 0 for fewer than two trials."""
    return float(statistics.variance(sharpes)) if len(sharpes) >= 2 else 0.0


def deflated_sharpe_ratio(
    sharpe: float, n: int, skew: float, kurtosis: float, n_trials: int, trial_variance: float
) -> float:
    """Deflated Sharpe ratio: PSR against the Sharpe the best of ``n_trials`` luckless trials
    would reach (Bailey and Lopez de Prado, 2014).

    Per-period ``sharpe`` of ``n`` returns with ``skew`` and (non-excess) ``kurtosis``;
    ``trial_variance`` is the variance of the per-period Sharpe estimates across the trials.
    With one trial it equals the PSR against 0.
    """
    benchmark = expected_max_sharpe(n_trials, trial_variance)
    return psr_from_statistics(sharpe, n, skew, kurtosis, benchmark)
