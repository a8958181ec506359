"""Detection limit of a Sharpe-based verdict: what a PSR or DSR test on ``n`` returns can see.

A gate "PSR >= 0.95 against 0" on a short record says little: it passes only an observed Sharpe
well above what good strategies earn, and a strategy with a real edge fails it most of the
time. This module states that limit for a record length and a trial count:

* :func:`required_sharpe`: the smallest observed Sharpe that passes (PSR, or the deflated
  Sharpe ratio for several trials);
* :func:`detection_probability`: the chance that a strategy with a given *true* Sharpe passes;
* :func:`detectable_sharpe`: the true Sharpe that passes with a given probability (power);
* :func:`min_track_record_length`: how many periods an observed Sharpe needs to pass
  (Bailey and Lopez de Prado, 2012, "The Sharpe ratio efficient frontier");
* :func:`detection_limit`: all of them for one record, as a :class:`DetectionLimit`.

Units: every Sharpe argument and return value of the functions is **per period** (``mean /
std`` of the per-period returns, as in :mod:`trader_env.evaluation.psr`); periods are daily
returns (sessions) here. Only :class:`DetectionLimit` holds annualised values, a per-period
Sharpe times ``sqrt(periods_per_year)`` (252 by default). ``kurtosis`` is non-excess (3 for
normal returns) throughout.

The sampling distribution of the observed Sharpe is the asymptotic one of Lo (2002) and
Mertens (2002), which the PSR itself rests on: for i.i.d. returns with true Sharpe ``SR``,
skewness ``g3`` and kurtosis ``g4``, the estimate is normal with mean ``SR`` and variance
``(1 - g3 SR + (g4 - 1) / 4 SR^2) / (n - 1)``. It is an approximation: it ignores the
estimator's small upward bias (about ``3 / (4 n)`` relative) and treats the moments as
known, while the PSR is computed from the sample moments; the tests compare it with a Monte
Carlo simulation of the test itself.

With this distribution a true Sharpe equal to the required observed Sharpe passes with
probability exactly 1/2, so "detected with 50 %" equals "observed needed".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from trader_env.evaluation.psr import (
    expected_max_sharpe,
    per_period_sharpe,
    sample_excess_kurtosis,
    sample_skew,
)

#: Trading sessions per year: the default annualisation of daily Sharpe ratios.
PERIODS_PER_YEAR = 252

_NORMAL = NormalDist()


def _moment_term(sharpe: float, skew: float, kurtosis: float) -> float:
    """``1 - g3 SR + (g4 - 1) / 4 SR^2``: ``n - 1`` times the Sharpe's sampling variance."""
    return 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2


def sharpe_sampling_variance(
    sharpe: float, n: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Asymptotic variance of the per-period Sharpe estimated from ``n`` i.i.d. returns.

    ``(1 - skew * SR + (kurtosis - 1) / 4 * SR^2) / (n - 1)`` (Lo 2002, Mertens 2002), the
    variance the PSR's denominator uses. NaN when ``n < 2`` or the moment term is not positive
    (moments no distribution has: ``kurtosis < 1 + skew^2`` and a large Sharpe).
    """
    term = _moment_term(sharpe, skew, kurtosis)
    if n < 2 or not term > 0.0:
        return math.nan
    return term / (n - 1)


def _null_trial_variance(n: int) -> float:
    """Variance of a zero-Sharpe trial's per-period Sharpe estimate over ``n`` periods."""
    return 1.0 / (n - 1)


def verdict_benchmark(
    n: int, *, benchmark: float = 0.0, n_trials: int = 1, trial_variance: float | None = None
) -> float:
    """The per-period Sharpe an observed Sharpe is tested against.

    One trial: ``benchmark``. Several: the expected maximum Sharpe of ``n_trials`` luckless
    (true Sharpe 0) trials, :func:`~trader_env.evaluation.psr.expected_max_sharpe`, as
    :func:`~trader_env.evaluation.psr.deflated_sharpe_ratio` does. ``trial_variance`` is the
    variance of the trials' per-period Sharpe estimates; ``None`` assumes the trials differ
    only by sampling noise, the variance of a zero-Sharpe estimate over ``n`` periods,
    ``1 / (n - 1)`` (a lower bound for trials that really differ; pass the measured
    :func:`~trader_env.evaluation.psr.trial_sharpe_variance` when the trials are known).
    A nonzero ``benchmark`` with several trials is refused: the deflated test has its own.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2 periods, got {n}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if n_trials == 1:
        return benchmark
    if benchmark != 0.0:
        raise ValueError(
            "benchmark and n_trials > 1 exclude each other: the deflated Sharpe ratio tests "
            "against the expected maximum of the trials"
        )
    variance = _null_trial_variance(n) if trial_variance is None else trial_variance
    return expected_max_sharpe(n_trials, variance)


def _smallest_sharpe_reaching(
    z: float, n: int, benchmark: float, skew: float, kurtosis: float
) -> float:
    """Smallest ``SR >= benchmark`` with ``(SR - b) sqrt(n - 1) / sqrt(v(SR)) >= z``, ``z >= 0``.

    ``v(SR) = 1 - g3 SR + k SR^2`` with ``k = (g4 - 1) / 4``. Squaring (both sides are
    non-negative for ``SR >= b``) gives the quadratic ``A SR^2 + B SR + C = 0`` with
    ``A = (n - 1) - z^2 k``, ``B = z^2 g3 - 2 b (n - 1)``, ``C = (n - 1) b^2 - z^2``. At
    ``SR = b`` it equals ``-z^2 v(b) < 0``; so for ``A > 0`` exactly one root lies above ``b``
    (the larger one), and for ``A < 0`` (the ratio tends to ``sqrt((n - 1) / k) < z``: tiny
    ``n``, fat tails) the smaller root if the roots are real, else none (inf).
    """
    m = n - 1.0
    k = (kurtosis - 1.0) / 4.0
    if not _moment_term(benchmark, skew, kurtosis) > 0.0:
        return math.nan
    if z == 0.0:
        return benchmark
    a = m - z * z * k
    b = z * z * skew - 2.0 * benchmark * m
    c = m * benchmark**2 - z * z
    if a == 0.0:  # linear: b * SR + c = 0, b < 0 needed for a root above the benchmark
        return -c / b if b != 0.0 and -c / b >= benchmark else math.inf
    discriminant = b * b - 4.0 * a * c
    if discriminant < 0.0:
        return math.inf
    root = math.sqrt(discriminant)
    # Numerically stable roots: q = -(b + sign(b) sqrt(D)) / 2, roots q / a and c / q.
    q = -0.5 * (b + math.copysign(root, b))
    roots = sorted(r for r in (q / a, c / q if q != 0.0 else math.nan) if math.isfinite(r))
    above = [r for r in roots if r >= benchmark]
    if not above:
        return math.inf
    return above[-1] if a > 0.0 else above[0]


def required_sharpe(
    n: int,
    *,
    confidence: float = 0.95,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    n_trials: int = 1,
    trial_variance: float | None = None,
) -> float:
    """Smallest observed per-period Sharpe over ``n`` periods whose PSR reaches ``confidence``.

    One trial: PSR against ``benchmark`` (per period). ``n_trials > 1``: the deflated Sharpe
    ratio, i.e. PSR against :func:`verdict_benchmark` (the expected maximum of ``n_trials``
    luckless trials with ``trial_variance``; ``None`` = sampling noise only, ``1 / (n - 1)``).
    ``skew`` and (non-excess) ``kurtosis`` are the returns' moments the PSR uses.

    Solved exactly: the PSR condition is a quadratic in the Sharpe because its denominator
    depends on the Sharpe (see :func:`_smallest_sharpe_reaching`). ``inf`` when no Sharpe
    reaches ``confidence`` (possible only for tiny ``n`` with fat tails); NaN when the moments
    make the PSR undefined at the benchmark. ``confidence`` in ``[0.5, 1)``.
    """
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    target = verdict_benchmark(
        n, benchmark=benchmark, n_trials=n_trials, trial_variance=trial_variance
    )
    return _smallest_sharpe_reaching(_NORMAL.inv_cdf(confidence), n, target, skew, kurtosis)


def detection_probability(
    true_sharpe: float,
    n: int,
    *,
    confidence: float = 0.95,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    n_trials: int = 1,
    trial_variance: float | None = None,
) -> float:
    """Probability that a strategy with true per-period Sharpe ``true_sharpe`` passes.

    Passing: its observed Sharpe over ``n`` i.i.d. periods reaches :func:`required_sharpe`
    (same keyword arguments). The observed Sharpe is taken as normal with mean
    ``true_sharpe`` and the variance of :func:`sharpe_sampling_variance` (Lo 2002, Mertens
    2002; the returns' ``skew`` and ``kurtosis`` taken as known). NaN when undefined.
    """
    threshold = required_sharpe(
        n,
        confidence=confidence,
        benchmark=benchmark,
        skew=skew,
        kurtosis=kurtosis,
        n_trials=n_trials,
        trial_variance=trial_variance,
    )
    variance = sharpe_sampling_variance(true_sharpe, n, skew, kurtosis)
    if math.isnan(threshold) or math.isnan(variance) or math.isnan(true_sharpe):
        return math.nan
    if threshold == math.inf:
        return 0.0
    return 1.0 - _NORMAL.cdf((threshold - true_sharpe) / math.sqrt(variance))


def detectable_sharpe(
    n: int,
    power: float,
    *,
    confidence: float = 0.95,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    n_trials: int = 1,
    trial_variance: float | None = None,
) -> float:
    """True per-period Sharpe that passes with probability ``power`` (e.g. 0.5, 0.8).

    Inverts :func:`detection_probability` (same keyword arguments) by bisection on the true
    Sharpe, starting from a bracket around the required Sharpe that is widened until it holds
    the crossing, then halved to machine precision. ``inf`` when no true Sharpe reaches
    ``power`` (the probability is bounded by ``Phi(sqrt((n - 1) / k))``, ``k = (kurtosis -
    1) / 4``, which matters only for tiny ``n``) or nothing passes; NaN when undefined.
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    threshold = required_sharpe(
        n,
        confidence=confidence,
        benchmark=benchmark,
        skew=skew,
        kurtosis=kurtosis,
        n_trials=n_trials,
        trial_variance=trial_variance,
    )
    if not math.isfinite(threshold):
        return threshold

    def shortfall(true_sharpe: float) -> float:
        probability = detection_probability(
            true_sharpe,
            n,
            confidence=confidence,
            benchmark=benchmark,
            skew=skew,
            kurtosis=kurtosis,
            n_trials=n_trials,
            trial_variance=trial_variance,
        )
        return probability - power

    step = math.sqrt(_null_trial_variance(n))
    low, high = threshold - step, threshold + step
    for _ in range(200):
        low_value, high_value = shortfall(low), shortfall(high)
        if math.isnan(low_value) or math.isnan(high_value):
            return math.nan
        if low_value < 0.0 <= high_value:
            break
        if low_value >= 0.0:
            low -= step
        if high_value < 0.0:
            high += step
        step *= 2.0
    else:
        return math.inf if shortfall(high) < 0.0 else -math.inf
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        value = shortfall(middle)
        if math.isnan(value):
            return math.nan
        if value < 0.0:
            low = middle
        else:
            high = middle
    return high


def min_track_record_length(
    observed_sharpe: float,
    *,
    benchmark: float = 0.0,
    confidence: float = 0.95,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """Minimum track record length (periods) for ``observed_sharpe`` to pass PSR >= ``confidence``.

    Bailey and Lopez de Prado (2012): ``MinTRL = 1 + (1 - g3 SR + (g4 - 1) / 4 SR^2)
    (Z_confidence / (SR - SR*))^2`` with per-period ``SR`` (observed) and ``SR*``
    (``benchmark``); PSR computed at ``n = MinTRL`` equals ``confidence``. A real number
    (round up for a count of periods); ``inf`` when ``observed_sharpe <= benchmark``; NaN when
    an input is NaN or the moment term is not positive.
    """
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    if math.isnan(observed_sharpe) or math.isnan(benchmark):
        return math.nan
    term = _moment_term(observed_sharpe, skew, kurtosis)
    if not term > 0.0:
        return math.nan
    if observed_sharpe <= benchmark:
        return math.inf
    z = _NORMAL.inv_cdf(confidence)
    return 1.0 + term * (z / (observed_sharpe - benchmark)) ** 2


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class DetectionLimit:
    """What a Sharpe verdict on one record could detect; Sharpe ratios annualised.

    ``periods``: returns in the record; ``n_trials``: trials the verdict deflates for (1 =
    plain PSR); ``confidence``: the PSR/DSR level to reach. ``required_sharpe_annual``: the
    observed Sharpe needed to pass; ``detects_50_annual`` / ``detects_80_annual``: the true
    Sharpe that passes with 50 % / 80 % probability (``inf`` when unreachable);
    ``min_track_record_periods``: periods the record's observed Sharpe would need to pass
    (``inf`` when it is at or below the benchmark, ``None`` when it is undefined);
    ``observed_sharpe_annual``: the record's Sharpe (``None`` when undefined: zero variance).
    ``skew`` / ``kurtosis`` (non-excess): the moments used; ``periods_per_year``: the
    annualisation (Sharpe x sqrt of it).
    """

    periods: int
    n_trials: int
    confidence: float
    required_sharpe_annual: float
    detects_50_annual: float
    detects_80_annual: float
    min_track_record_periods: float | None
    observed_sharpe_annual: float | None
    skew: float = 0.0
    kurtosis: float = 3.0
    periods_per_year: int = PERIODS_PER_YEAR

    def sentence(self, unit: str = "sessions") -> str:
        """Plain text, e.g. ``needs an observed Sharpe of 1.35 over 375 sessions; detects a true
        Sharpe of 1.35 with 50 % and 2.04 with 80 % probability``."""
        deflated = f" (deflated for {self.n_trials} trials)" if self.n_trials > 1 else ""
        if not math.isfinite(self.required_sharpe_annual):
            return f"no observed Sharpe passes over {self.periods} {unit}{deflated}"
        text = (
            f"needs an observed Sharpe of {self.required_sharpe_annual:.2f} over {self.periods} "
            f"{unit}{deflated}; detects a true Sharpe of {_sharpe_text(self.detects_50_annual)} "
            f"with 50 % and {_sharpe_text(self.detects_80_annual)} with 80 % probability"
        )
        observed, needed = self.observed_sharpe_annual, self.min_track_record_periods
        if observed is not None and needed is not None:
            if math.isfinite(needed):
                text += f"; the observed Sharpe of {observed:.2f} would need {math.ceil(needed)} {unit} to pass"
            else:
                text += f"; the observed Sharpe of {observed:.2f} would pass over no record length"
        return text

    def as_metadata(self) -> dict[str, float | int | None]:
        """Flat fields for Dagster metadata: ints, finite floats, ``None`` for inf/NaN/unknown."""
        return {
            "periods": self.periods,
            "n_trials": self.n_trials,
            "confidence": self.confidence,
            "required_sharpe_annual": _finite_or_none(self.required_sharpe_annual),
            "detects_50_annual": _finite_or_none(self.detects_50_annual),
            "detects_80_annual": _finite_or_none(self.detects_80_annual),
            "min_track_record_periods": _finite_or_none(self.min_track_record_periods),
            "observed_sharpe_annual": _finite_or_none(self.observed_sharpe_annual),
            "skew": _finite_or_none(self.skew),
            "kurtosis": _finite_or_none(self.kurtosis),
            "periods_per_year": self.periods_per_year,
        }


def _sharpe_text(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "none"


def record_moments(values: np.ndarray) -> tuple[float, float]:
    """``(skew, kurtosis)`` (non-excess) of a record for the PSR, normal ``(0, 3)`` fallback.

    Bias-corrected sample moments (:func:`~trader_env.evaluation.psr.sample_skew`,
    :func:`~trader_env.evaluation.psr.sample_excess_kurtosis` + 3). Falls back to the normal
    values when either is undefined (fewer than 4 returns, zero variance) or the pair is one no
    distribution has (``kurtosis < 1 + skew^2``, possible for bias-corrected moments of tiny
    samples), which would make the Sharpe's variance term negative.
    """
    skew = sample_skew(values)
    kurtosis = sample_excess_kurtosis(values) + 3.0
    if not (math.isfinite(skew) and math.isfinite(kurtosis)) or kurtosis < 1.0 + skew**2:
        return 0.0, 3.0
    return skew, kurtosis


def detection_limit(
    daily_returns: np.ndarray,
    *,
    n_trials: int = 1,
    trial_variance: float | None = None,
    confidence: float = 0.95,
    periods_per_year: int = PERIODS_PER_YEAR,
    benchmark_annual: float = 0.0,
) -> DetectionLimit:
    """The detection limit of a PSR (one trial) or DSR (``n_trials``) verdict on a record.

    ``benchmark_annual``: the annual Sharpe a single trial is tested against (0: PSR's
    "better than nothing"). With ``confidence`` 0.5 the verdict is "observed Sharpe above the
    benchmark", a plain Sharpe threshold.

    ``daily_returns``: 1-D finite per-period returns, shape ``(n,)``, ``n >= 2``. Skew and
    kurtosis come from the record (:func:`record_moments`); ``trial_variance`` (per-period
    Sharpe variance across trials) as in :func:`required_sharpe`. The minimum track record
    length is for the record's observed Sharpe against the same benchmark (0, or the deflated
    benchmark of this record length).
    """
    values = np.asarray(daily_returns, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"daily_returns must be 1-D, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("daily_returns contain NaN or infinite values")
    n = len(values)
    if n < 2:
        raise ValueError(f"daily_returns need at least 2 values, got {n}")
    skew, kurtosis = record_moments(values)
    scale = math.sqrt(periods_per_year)
    observed = per_period_sharpe(values)
    benchmark = benchmark_annual / scale
    target = verdict_benchmark(
        n, benchmark=benchmark, n_trials=n_trials, trial_variance=trial_variance
    )
    required = required_sharpe(
        n,
        confidence=confidence,
        benchmark=benchmark,
        skew=skew,
        kurtosis=kurtosis,
        n_trials=n_trials,
        trial_variance=trial_variance,
    )

    def detect(power: float) -> float:
        return detectable_sharpe(
            n,
            power,
            confidence=confidence,
            benchmark=benchmark,
            skew=skew,
            kurtosis=kurtosis,
            n_trials=n_trials,
            trial_variance=trial_variance,
        )

    min_trl: float | None = None
    if math.isfinite(observed):
        min_trl = min_track_record_length(
            observed, benchmark=target, confidence=confidence, skew=skew, kurtosis=kurtosis
        )
        min_trl = None if math.isnan(min_trl) else min_trl
    return DetectionLimit(
        periods=n,
        n_trials=n_trials,
        confidence=confidence,
        required_sharpe_annual=required * scale,
        detects_50_annual=detect(0.5) * scale,
        detects_80_annual=detect(0.8) * scale,
        min_track_record_periods=min_trl,
        observed_sharpe_annual=observed * scale if math.isfinite(observed) else None,
        skew=skew,
        kurtosis=kurtosis,
        periods_per_year=periods_per_year,
    )


__all__ = [
    "PERIODS_PER_YEAR",
    "DetectionLimit",
    "detectable_sharpe",
    "detection_limit",
    "detection_probability",
    "min_track_record_length",
    "record_moments",
    "required_sharpe",
    "sharpe_sampling_variance",
    "verdict_benchmark",
]
