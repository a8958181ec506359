"""Detection limit of Sharpe verdicts: issue 27's table, round trips, and a Monte Carlo check.

Conventions as in the module: Sharpe ratios per day unless named ``*_annual``; annual = per day
x sqrt(252); kurtosis non-excess.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from trader_env.evaluation.detection import (
    DetectionLimit,
    detectable_sharpe,
    detection_limit,
    detection_probability,
    min_track_record_length,
    record_moments,
    required_sharpe,
    verdict_benchmark,
)
from trader_env.evaluation.psr import (
    deflated_sharpe_ratio,
    per_period_sharpe,
    probabilistic_sharpe_ratio,
    psr_from_statistics,
)

ANNUAL = math.sqrt(252)


# --- issue 27's table (i.i.d., zero skew, kurtosis 3, PSR >= 0.95 against 0) ---------------


@pytest.mark.parametrize(
    ("sessions", "needed", "detects_50", "detects_80"),
    [(123, 2.38, 2.38, 3.60), (375, 1.35, 1.35, 2.05), (750, 0.95, 0.95, 1.44)],
)
def test_reference_table(
    sessions: int, needed: float, detects_50: float, detects_80: float
) -> None:
    assert round(required_sharpe(sessions) * ANNUAL, 2) == needed
    assert round(detectable_sharpe(sessions, 0.5) * ANNUAL, 2) == detects_50
    assert round(detectable_sharpe(sessions, 0.8) * ANNUAL, 2) == detects_80


@pytest.mark.parametrize(
    ("sessions", "issue_50", "issue_80"), [(123, 2.36, 3.59), (375, 1.35, 2.04), (750, 0.95, 1.44)]
)
def test_issue_27_figures_within_a_hundredth_or_two(
    sessions: int, issue_50: float, issue_80: float
) -> None:
    """The issue's 50 % / 80 % columns differ from the module's in three places by <= 0.02.

    The module's distribution is normal with mean = the true Sharpe, so 50 % detection equals
    the observed Sharpe needed (2.38 at 123 sessions, not the issue's 2.36), and its variance
    is Lo/Mertens' at the *true* Sharpe, ``(1 + SR^2 / 2) / (n - 1)``, which gives 3.60 and
    2.05 at 80 %. The issue's 3.59 / 2.04 are what the null variance ``1 / (n - 1)`` gives
    (and, within 0.01, the exact noncentral-t distribution: 3.58 / 2.04); the Monte Carlo
    tests below show either is within half a percentage point of simulated pass rates.
    """
    assert detectable_sharpe(sessions, 0.5) * ANNUAL == pytest.approx(issue_50, abs=0.02)
    assert detectable_sharpe(sessions, 0.8) * ANNUAL == pytest.approx(issue_80, abs=0.02)


def test_issue_27_pass_rates_at_123_sessions() -> None:
    """'A strategy whose true Sharpe is 1.0 passes 17 % of the time, 2.0 passes 40 %.'"""
    assert round(detection_probability(1.0 / ANNUAL, 123), 2) == 0.17
    assert round(detection_probability(2.0 / ANNUAL, 123), 2) == 0.40


def test_deflated_for_ten_trials_at_375_sessions() -> None:
    """Issue 27: 'at 375 sessions DSR >= 0.95 needs ~2.6 for N = 10'.

    The issue does not say which trial variance. Our default (``trial_variance=None``) assumes
    luckless trials that differ only by sampling noise, the variance of a zero-Sharpe estimate
    over n days, 1 / (n - 1): that gives 2.65. Exactly 2.60 would need 0.92 / (n - 1), so the
    issue's figure is this assumption rounded down; we do not force it.
    """
    n = 375
    deflated = required_sharpe(n, n_trials=10) * ANNUAL
    assert deflated == pytest.approx(2.65, abs=0.005)
    assert deflated == pytest.approx(2.6, abs=0.1)
    explicit = required_sharpe(n, n_trials=10, trial_variance=1.0 / (n - 1)) * ANNUAL
    assert explicit == deflated
    assert required_sharpe(n, n_trials=10, trial_variance=0.92 / (n - 1)) * ANNUAL == (
        pytest.approx(2.60, abs=0.005)
    )
    # One trial is the plain PSR whatever the trial variance.
    assert required_sharpe(n, n_trials=1, trial_variance=0.5) == required_sharpe(n)


# --- round trips -------------------------------------------------------------------------

CASES = [
    # n, confidence, benchmark (per day), skew, kurtosis
    (123, 0.95, 0.0, 0.0, 3.0),
    (375, 0.95, 0.0, -1.0, 6.0),
    (375, 0.99, 0.02, 0.5, 4.0),
    (750, 0.90, -0.01, -0.3, 9.0),
    (30, 0.975, 0.05, -2.0, 12.0),
    (10, 0.5, 0.1, 0.0, 3.0),
]


@pytest.mark.parametrize(("n", "confidence", "benchmark", "skew", "kurtosis"), CASES)
def test_psr_at_required_sharpe_is_confidence(
    n: int, confidence: float, benchmark: float, skew: float, kurtosis: float
) -> None:
    sharpe = required_sharpe(
        n, confidence=confidence, benchmark=benchmark, skew=skew, kurtosis=kurtosis
    )
    assert sharpe >= benchmark
    assert psr_from_statistics(sharpe, n, skew, kurtosis, benchmark) == pytest.approx(
        confidence, abs=1e-12
    )
    # It is the smallest: a little less does not pass.
    below = sharpe - 1e-6
    assert psr_from_statistics(below, n, skew, kurtosis, benchmark) < confidence


@pytest.mark.parametrize("n_trials", [2, 10, 100])
def test_dsr_at_required_sharpe_is_confidence(n_trials: int) -> None:
    n, variance = 375, 0.004
    sharpe = required_sharpe(n, n_trials=n_trials, trial_variance=variance, skew=-0.5, kurtosis=5)
    dsr = deflated_sharpe_ratio(sharpe, n, -0.5, 5.0, n_trials, variance)
    assert dsr == pytest.approx(0.95, abs=1e-12)


@pytest.mark.parametrize(("n", "confidence", "benchmark", "skew", "kurtosis"), CASES)
@pytest.mark.parametrize("power", [0.2, 0.5, 0.8, 0.95])
def test_detectable_sharpe_inverts_detection_probability(
    n: int, confidence: float, benchmark: float, skew: float, kurtosis: float, power: float
) -> None:
    options = {"confidence": confidence, "benchmark": benchmark, "skew": skew, "kurtosis": kurtosis}
    true_sharpe = detectable_sharpe(n, power, **options)
    probability = detection_probability(true_sharpe, n, **options)
    assert probability == pytest.approx(power, abs=1e-9)
    if power >= 0.5:
        # Closed form: the same quadratic, with the threshold as benchmark and power as level.
        threshold = required_sharpe(n, **options)
        closed = required_sharpe(
            n, confidence=power, benchmark=threshold, skew=skew, kurtosis=kurtosis
        )
        assert true_sharpe == pytest.approx(closed, rel=1e-9, abs=1e-12)


def test_detection_at_the_threshold_is_one_half() -> None:
    for n in (50, 123, 375):
        assert detection_probability(required_sharpe(n), n) == pytest.approx(0.5, abs=1e-12)


# --- monotonicity ------------------------------------------------------------------------


def test_monotonicity() -> None:
    lengths = [20, 60, 123, 250, 375, 750, 2000]
    needed = [required_sharpe(n) for n in lengths]
    assert all(a > b for a, b in zip(needed, needed[1:], strict=False))
    levels = [0.5, 0.8, 0.9, 0.95, 0.99, 0.999]
    assert all(
        a < b
        for a, b in zip(
            [required_sharpe(375, confidence=c) for c in levels],
            [required_sharpe(375, confidence=c) for c in levels[1:]],
            strict=False,
        )
    )
    trials = [required_sharpe(375, n_trials=k) for k in (1, 2, 5, 10, 100, 1000)]
    assert all(a < b for a, b in zip(trials, trials[1:], strict=False))
    sharpe_grid = np.linspace(-0.2, 0.5, 50)
    rates = [detection_probability(float(s), 123) for s in sharpe_grid]
    assert all(a < b for a, b in zip(rates, rates[1:], strict=False))
    by_length = [detection_probability(0.08, n) for n in lengths]
    assert all(a < b for a, b in zip(by_length, by_length[1:], strict=False))
    powers = [detectable_sharpe(375, p) for p in (0.1, 0.3, 0.5, 0.8, 0.95)]
    assert all(a < b for a, b in zip(powers, powers[1:], strict=False))


def test_edges() -> None:
    assert required_sharpe(375, confidence=0.5) == 0.0
    assert detection_probability(0.0, 375) == pytest.approx(0.05, abs=1e-3)
    # Tiny n with fat tails: PSR cannot reach 0.999 at any Sharpe ((n - 1) / k < z^2).
    assert required_sharpe(3, confidence=0.999, kurtosis=30.0) == math.inf
    assert detection_probability(0.5, 3, confidence=0.999, kurtosis=30.0) == 0.0
    assert detectable_sharpe(3, 0.8, confidence=0.999, kurtosis=30.0) == math.inf
    assert math.isnan(detection_probability(math.nan, 375))
    with pytest.raises(ValueError, match="confidence"):
        required_sharpe(375, confidence=0.3)
    with pytest.raises(ValueError, match="power"):
        detectable_sharpe(375, 1.0)
    with pytest.raises(ValueError, match="n must be"):
        required_sharpe(1)
    with pytest.raises(ValueError, match="exclude each other"):
        verdict_benchmark(375, benchmark=0.01, n_trials=3)


# --- minimum track record length ----------------------------------------------------------


@pytest.mark.parametrize(("n", "confidence", "benchmark", "skew", "kurtosis"), CASES[:5])
def test_min_track_record_length(
    n: int, confidence: float, benchmark: float, skew: float, kurtosis: float
) -> None:
    observed = benchmark + 0.07
    periods = min_track_record_length(
        observed, benchmark=benchmark, confidence=confidence, skew=skew, kurtosis=kurtosis
    )
    # PSR at n = MinTRL (a real number) is the confidence; at whole numbers it brackets it.
    z = (observed - benchmark) * math.sqrt(periods - 1)
    z /= math.sqrt(1 - skew * observed + (kurtosis - 1) / 4 * observed**2)
    assert stats.norm.cdf(z) == pytest.approx(confidence, abs=1e-12)
    assert psr_from_statistics(observed, math.ceil(periods), skew, kurtosis, benchmark) >= (
        confidence
    )
    assert psr_from_statistics(observed, math.floor(periods), skew, kurtosis, benchmark) < (
        confidence
    )
    # MinTRL of the Sharpe an n-period record needs is n.
    needed = required_sharpe(
        n, confidence=confidence, benchmark=benchmark, skew=skew, kurtosis=kurtosis
    )
    assert min_track_record_length(
        needed, benchmark=benchmark, confidence=confidence, skew=skew, kurtosis=kurtosis
    ) == pytest.approx(n, rel=1e-9)


def test_min_track_record_length_without_an_edge_is_infinite() -> None:
    assert min_track_record_length(0.0) == math.inf
    assert min_track_record_length(-0.05) == math.inf
    assert min_track_record_length(0.05, benchmark=0.06) == math.inf
    assert math.isnan(min_track_record_length(math.nan))
    # 1.0 annual over 2.38 years' worth: the classic "years to prove a Sharpe of 1".
    assert min_track_record_length(1.0 / ANNUAL) / 252 == pytest.approx(2.7, abs=0.05)


# --- the record-level summary --------------------------------------------------------------


def test_detection_limit_of_a_normal_record() -> None:
    rng = np.random.default_rng(7)
    returns = 0.01 * (rng.standard_normal(375) + 1.0 / ANNUAL)
    limit = detection_limit(returns)
    skew, kurtosis = record_moments(returns)
    assert limit.periods == 375
    assert limit.n_trials == 1
    assert (limit.skew, limit.kurtosis) == (skew, kurtosis)
    assert limit.required_sharpe_annual == pytest.approx(
        required_sharpe(375, skew=skew, kurtosis=kurtosis) * ANNUAL, rel=1e-12
    )
    assert limit.required_sharpe_annual == pytest.approx(1.35, abs=0.05)
    assert limit.detects_50_annual == pytest.approx(limit.required_sharpe_annual, rel=1e-9)
    assert limit.detects_80_annual == pytest.approx(2.04, abs=0.05)
    assert limit.observed_sharpe_annual == pytest.approx(per_period_sharpe(returns) * ANNUAL)
    assert limit.min_track_record_periods is not None
    sentence = limit.sentence()
    assert re.fullmatch(
        r"needs an observed Sharpe of 1\.3\d over 375 sessions; detects a true Sharpe of "
        r"1\.3\d with 50 % and 2\.0\d with 80 % probability; the observed Sharpe of -?\d+\.\d\d "
        r"would (need \d+ sessions to pass|pass over no record length)",
        sentence,
    ), sentence
    metadata = limit.as_metadata()
    assert metadata["periods"] == 375 and metadata["n_trials"] == 1
    for key, value in metadata.items():
        assert value is None or (isinstance(value, int | float) and math.isfinite(value)), key


def test_detection_limit_sentence_of_the_reference_row() -> None:
    limit = DetectionLimit(
        periods=375,
        n_trials=1,
        confidence=0.95,
        required_sharpe_annual=required_sharpe(375) * ANNUAL,
        detects_50_annual=detectable_sharpe(375, 0.5) * ANNUAL,
        detects_80_annual=detectable_sharpe(375, 0.8) * ANNUAL,
        min_track_record_periods=None,
        observed_sharpe_annual=None,
    )
    assert limit.sentence() == (
        "needs an observed Sharpe of 1.35 over 375 sessions; detects a true Sharpe of 1.35 "
        "with 50 % and 2.05 with 80 % probability"
    )


def test_detection_limit_deflated_and_degenerate_records() -> None:
    rng = np.random.default_rng(8)
    losing = 0.01 * (rng.standard_normal(375) - 0.1)
    deflated = detection_limit(losing, n_trials=10)
    assert deflated.required_sharpe_annual > detection_limit(losing).required_sharpe_annual
    assert "(deflated for 10 trials)" in deflated.sentence()
    assert deflated.min_track_record_periods == math.inf
    assert "would pass over no record length" in deflated.sentence()
    assert deflated.as_metadata()["min_track_record_periods"] is None
    # Zero variance: no observed Sharpe, normal moments, still a limit.
    flat = detection_limit(np.zeros(123))
    assert flat.observed_sharpe_annual is None and flat.min_track_record_periods is None
    assert (flat.skew, flat.kurtosis) == (0.0, 3.0)
    assert flat.required_sharpe_annual == pytest.approx(2.38, abs=0.005)
    assert flat.as_metadata()["observed_sharpe_annual"] is None
    # Three returns: kurtosis undefined -> normal moments.
    assert detection_limit(np.array([0.01, -0.02, 0.005])).kurtosis == 3.0
    with pytest.raises(ValueError, match="NaN"):
        detection_limit(np.array([0.01, math.nan, 0.0]))
    with pytest.raises(ValueError, match="at least 2"):
        detection_limit(np.array([0.01]))


# --- Monte Carlo: the asymptotic pass rate against the simulated test ---------------------

PATHS = 20_000


def _simulated_pass_rate(noise: np.ndarray, true_sharpe: float) -> float:
    """Share of paths ``0.01 * (noise + true_sharpe)`` (unit-variance noise) with PSR >= 0.95.

    PSR as :func:`probabilistic_sharpe_ratio` computes it, sample skew and kurtosis included,
    vectorised over paths (20 000 calls take ~17 s); the first paths are checked against the
    function itself.
    """
    returns = 0.01 * (noise + true_sharpe)
    n = returns.shape[1]
    sharpe = returns.mean(axis=1) / returns.std(axis=1, ddof=1)
    skew = stats.skew(returns, axis=1, bias=False)
    kurtosis = stats.kurtosis(returns, axis=1, bias=False) + 3.0
    z = (
        sharpe
        * math.sqrt(n - 1)
        / np.sqrt(1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2)
    )
    psr = stats.norm.cdf(z)
    for path in range(50):
        assert per_period_sharpe(returns[path]) == pytest.approx(sharpe[path], rel=1e-12)
        assert probabilistic_sharpe_ratio(returns[path]) == pytest.approx(psr[path], abs=1e-12)
    return float((psr >= 0.95).mean())


@pytest.mark.parametrize(
    ("sessions", "true_annual"), [(123, 1.0), (123, 2.0), (123, 3.59), (375, 1.35), (375, 2.04)]
)
def test_monte_carlo_normal_returns(sessions: int, true_annual: float) -> None:
    """i.i.d. normal returns: asymptotic pass rate within 2 percentage points of the simulation.

    (Observed: within 0.5 pp, simulation slightly higher: the Sharpe estimator's upward bias.)
    """
    noise = np.random.default_rng(sessions).standard_normal((PATHS, sessions))
    simulated = _simulated_pass_rate(noise, true_annual / ANNUAL)
    predicted = detection_probability(true_annual / ANNUAL, sessions)
    assert simulated == pytest.approx(predicted, abs=0.02)


def test_monte_carlo_fat_tails_and_skew() -> None:
    """Student-t (5 dof, kurtosis 9) and negatively skewed (minus a lognormal, skew -1.75,
    kurtosis 11.9) returns: the asymptotic formula with the population moments is an
    approximation here (sample kurtosis of fat tails is mostly below the population's, so the
    simulated PSR passes more often); within 4 percentage points (observed: 2.5 and 1.3 pp),
    and far closer than the normal formula for the skewed case.
    """
    rng = np.random.default_rng(2027)
    student = rng.standard_t(5, (PATHS, 123)) / math.sqrt(5 / 3)
    true_sharpe = 2.0 / ANNUAL
    simulated = _simulated_pass_rate(student, true_sharpe)
    predicted = detection_probability(true_sharpe, 123, kurtosis=9.0)
    assert simulated == pytest.approx(predicted, abs=0.04)

    sigma2 = 0.25  # lognormal sigma 0.5, standardised and negated
    mean, std = math.exp(sigma2 / 2), math.sqrt((math.exp(sigma2) - 1) * math.exp(sigma2))
    skewed = -(rng.lognormal(0.0, math.sqrt(sigma2), (PATHS, 375)) - mean) / std
    skew = -(math.exp(sigma2) + 2) * math.sqrt(math.exp(sigma2) - 1)
    kurtosis = math.exp(4 * sigma2) + 2 * math.exp(3 * sigma2) + 3 * math.exp(2 * sigma2) - 3
    true_sharpe = 2.04 / ANNUAL
    simulated = _simulated_pass_rate(skewed, true_sharpe)
    predicted = detection_probability(true_sharpe, 375, skew=skew, kurtosis=kurtosis)
    naive = detection_probability(true_sharpe, 375)
    assert simulated == pytest.approx(predicted, abs=0.04)
    assert abs(simulated - predicted) < abs(simulated - naive)
