"""Performance metrics of a daily return series, defined exactly as quantstats 0.0.86 does.

Returns are simple daily returns (``0.01`` = +1 %) in a pandas Series indexed by session date.
All ratios use ``rf = 0``. The definitions (``r`` the ``n`` returns, ``P`` periods per year):

- ``sharpe`` = ``mean(r) / std(r, ddof=1) * sqrt(P)``
- ``sortino`` = ``mean(r) / sqrt(sum(r[r < 0]^2) / n) * sqrt(P)``
- ``annual_volatility`` = ``std(r, ddof=1) * sqrt(P)``
- ``annual_return`` (CAGR) = ``prod(1 + r) ** (P / n) - 1``; quantstats 0.0.86 counts years as
  ``n / P`` trading periods, not calendar time from the index.
- ``max_drawdown`` = ``min(E / cummax(E)) - 1`` of the compounded equity ``E = cumprod(1 + r)``
  with a starting equity of 1 before the first return (so a first-day loss counts); <= 0.
- ``calmar`` = ``annual_return / |max_drawdown|``
- ``information_ratio`` = ``mean(r - b) / std(r - b, ddof=1)``: per period, NOT annualised, as
  quantstats reports it; ``information_ratio_annual`` multiplies it by ``sqrt(P)``.
- ``correlation``: Pearson correlation of ``r`` and ``b``.
- ``psr``: probabilistic Sharpe ratio over 0 (:mod:`trader_env.evaluation.psr`).
- ``skew`` / ``kurtosis``: bias-corrected sample skewness and EXCESS kurtosis (pandas).

Undefined values are NaN, never an exception and never 0: a ratio whose denominator is zero
(zero variance, no losing day, no drawdown, zero tracking error), any statistic of an empty
series, and benchmark-relative values without a benchmark. Gates treat NaN as a failure, so a
strategy that never trades cannot pass on an undefined Sharpe. (quantstats itself returns 0
for a zero tracking error and inf or NaN elsewhere.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import polars as pl

from trader_env.evaluation.psr import (
    ZERO_STD_RELATIVE,
    per_period_sharpe,
    probabilistic_sharpe_ratio,
    sample_excess_kurtosis,
    sample_skew,
)

METRIC_KEYS: tuple[str, ...] = (
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "annual_return",
    "annual_volatility",
    "total_return",
    "information_ratio",
    "information_ratio_annual",
    "correlation",
    "psr",
    "skew",
    "kurtosis",
    "n_days",
)


def validate_returns(returns: pd.Series, name: str = "daily_returns") -> np.ndarray:
    """Check a return series and return its values as float64, shape ``(n,)``.

    Refuses (``ValueError`` naming ``name`` and the offending index labels): a non-Series,
    NaN or infinite values, returns below -1 (equity below zero), and an index that is not
    unique and increasing.
    """
    if not isinstance(returns, pd.Series):
        raise TypeError(f"{name}: expected a pandas Series indexed by date, got {type(returns)}")
    try:
        values = returns.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: values are not numeric ({returns.dtype})") from exc
    bad = ~np.isfinite(values)
    if bad.any():
        labels = list(returns.index[bad][:5])
        raise ValueError(
            f"{name}: {int(bad.sum())} NaN or infinite return(s), first at {labels}; "
            "a missing day must be filled explicitly (0.0 if flat) before computing metrics"
        )
    below = values < -1.0
    if below.any():
        labels = list(returns.index[below][:5])
        raise ValueError(
            f"{name}: {int(below.sum())} return(s) below -100 % (equity below zero), "
            f"first at {labels}"
        )
    if not returns.index.is_unique or not returns.index.is_monotonic_increasing:
        raise ValueError(f"{name}: the index must be unique dates in increasing order")
    return values


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0.0 else math.nan


def annual_volatility(values: np.ndarray, periods_per_year: int = 252) -> float:
    """``std(ddof=1) * sqrt(periods_per_year)``; NaN for fewer than 2 returns."""
    if len(values) < 2:
        return math.nan
    return float(values.std(ddof=1)) * math.sqrt(periods_per_year)


def sharpe_ratio(values: np.ndarray, periods_per_year: int = 252) -> float:
    """Annualised Sharpe ratio with ``rf = 0``; NaN for fewer than 2 returns or zero variance."""
    return per_period_sharpe(values) * math.sqrt(periods_per_year)


def sortino_ratio(values: np.ndarray, periods_per_year: int = 252) -> float:
    """Annualised Sortino ratio, downside deviation ``sqrt(sum(r[r<0]^2) / n)``; NaN if none."""
    if len(values) == 0:
        return math.nan
    downside = math.sqrt(float(np.sum(np.square(values[values < 0.0]))) / len(values))
    return _ratio(float(values.mean()), downside) * math.sqrt(periods_per_year)


def max_drawdown(values: np.ndarray) -> float:
    """Largest peak-to-trough loss of compounded equity as a negative fraction (0 if none).

    The equity starts at 1 before the first return. NaN for an empty series.
    """
    if len(values) == 0:
        return math.nan
    equity = np.concatenate(([1.0], np.cumprod(1.0 + values)))
    return float(np.min(equity / np.maximum.accumulate(equity)) - 1.0)


def cagr(values: np.ndarray, periods_per_year: int = 252) -> float:
    """Compound annual growth rate with ``len(values) / periods_per_year`` years; NaN if empty."""
    if len(values) == 0:
        return math.nan
    wealth = float(np.prod(1.0 + values))
    # typeshed types float ** float as Any (a negative base gives a complex number).
    growth: float = wealth ** (periods_per_year / len(values))
    return growth - 1.0


def compute_metrics(
    daily_returns: pd.Series,
    benchmark_returns: pd.Series | None = None,
    periods_per_year: int = 252,
) -> dict[str, float]:
    """All daily-return metrics of :data:`METRIC_KEYS` (see the module docstring).

    ``daily_returns`` and ``benchmark_returns``: simple returns per period, pandas Series on
    the same date index. ``periods_per_year``: 252 for exchange sessions, 365 for 24/7 markets.
    """
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
    values = validate_returns(daily_returns, "daily_returns")
    drawdown = max_drawdown(values)
    annual_return = cagr(values, periods_per_year)
    metrics: dict[str, float] = {
        "sharpe": sharpe_ratio(values, periods_per_year),
        "sortino": sortino_ratio(values, periods_per_year),
        "max_drawdown": drawdown,
        "calmar": _ratio(annual_return, abs(drawdown)) if len(values) else math.nan,
        "annual_return": annual_return,
        "annual_volatility": annual_volatility(values, periods_per_year),
        "total_return": float(np.prod(1.0 + values) - 1.0) if len(values) else math.nan,
        "information_ratio": math.nan,
        "information_ratio_annual": math.nan,
        "correlation": math.nan,
        "psr": probabilistic_sharpe_ratio(values),
        "skew": sample_skew(values),
        "kurtosis": sample_excess_kurtosis(values),
        "n_days": float(len(values)),
    }
    if benchmark_returns is not None:
        bench = validate_returns(benchmark_returns, "benchmark_returns")
        if not daily_returns.index.equals(benchmark_returns.index):
            raise ValueError(
                "benchmark_returns must have exactly the dates of daily_returns "
                f"({len(benchmark_returns)} vs {len(daily_returns)} dates, or different dates)"
            )
        # Tracking error at float-noise level (policy == benchmark) is zero, not a ratio.
        scale = max(float(values.std(ddof=1)), float(bench.std(ddof=1))) if len(values) > 1 else 0.0
        ir = per_period_sharpe(values - bench, scale)
        metrics["information_ratio"] = ir
        metrics["information_ratio_annual"] = ir * math.sqrt(periods_per_year)
        metrics["correlation"] = correlation(values, bench)
    return metrics


def correlation(values: np.ndarray, benchmark: np.ndarray) -> float:
    """Pearson correlation; NaN for fewer than 2 points or a zero-variance side."""
    if len(values) < 2:
        return math.nan
    a = values - values.mean()
    b = benchmark - benchmark.mean()
    denominator = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if denominator <= ZERO_STD_RELATIVE * max(abs(values.mean()), abs(benchmark.mean())):
        return math.nan
    return float(np.dot(a, b)) / denominator


def win_rate(closed_trade_pnls: Sequence[float] | np.ndarray) -> float:
    """Share of closed trades whose net P&L (after costs) is strictly positive; NaN if none."""
    pnls = np.asarray(closed_trade_pnls, dtype=np.float64)
    if pnls.ndim != 1:
        raise ValueError(f"closed_trade_pnls must be 1-D, got shape {pnls.shape}")
    if not np.isfinite(pnls).all():
        raise ValueError("closed_trade_pnls contain NaN or infinite values")
    if len(pnls) == 0:
        return math.nan
    return float(np.mean(pnls > 0.0))


def daily_turnover(
    traded_notional_per_day: Sequence[float] | np.ndarray | pd.Series, capital: float
) -> float:
    """Mean over days of traded notional / ``capital`` (1.0 = one capital traded per day).

    ``traded_notional_per_day``: absolute notional traded each session, currency units, one
    value per session (sessions without trades included as 0). NaN when there are no days.
    """
    if not capital > 0.0:
        raise ValueError(f"capital must be positive, got {capital}")
    notional = np.asarray(traded_notional_per_day, dtype=np.float64)
    if notional.ndim != 1:
        raise ValueError(f"traded_notional_per_day must be 1-D, got shape {notional.shape}")
    if not np.isfinite(notional).all() or (notional < 0.0).any():
        raise ValueError("traded_notional_per_day must be finite and non-negative")
    if len(notional) == 0:
        return math.nan
    return float(notional.mean() / capital)


def intraday_max_drawdowns(
    intraday_equity: np.ndarray, day_ids: np.ndarray, initial_equity: float | None = None
) -> np.ndarray:
    """Worst drawdown of each day from that day's running peak, as negative fractions.

    ``intraday_equity``: equity after each bar, shape ``(n,)``, currency units. ``day_ids``:
    shape ``(n,)``, the session of each bar, contiguous (bars of one day are adjacent, days in
    order). A day's peak starts at the equity it opened with (the previous day's last equity,
    or ``initial_equity`` for the first day; the first bar's equity when None), so a loss in a
    day's first bar counts. Returns one value per day in order of appearance, shape ``(n_days,)``.
    """
    equity = np.asarray(intraday_equity, dtype=np.float64)
    days = np.asarray(day_ids)
    if equity.ndim != 1 or days.shape != equity.shape:
        raise ValueError(
            f"intraday_equity and day_ids must be 1-D of equal length, got {equity.shape} "
            f"and {days.shape}"
        )
    if len(equity) == 0:
        return np.empty(0, dtype=np.float64)
    if not np.isfinite(equity).all() or (equity <= 0.0).any():
        raise ValueError("intraday_equity must be finite and positive")
    n_runs = 1 + int(np.count_nonzero(days[1:] != days[:-1]))
    if n_runs != len(np.unique(days)):
        raise ValueError("day_ids are not contiguous: the bars of each day must be adjacent")
    start = equity[0] if initial_equity is None else float(initial_equity)
    previous = np.concatenate(([start], equity[:-1]))
    worst = (
        pl.DataFrame({"day": days, "equity": equity, "previous": previous})
        .with_columns(
            pl.col("previous").first().over("day").alias("opening"),
            pl.col("equity").cum_max().over("day").alias("running_max"),
        )
        .with_columns(
            (pl.col("equity") / pl.max_horizontal("opening", "running_max") - 1.0).alias("dd")
        )
        .group_by("day", maintain_order=True)
        .agg(pl.col("dd").min())
    )
    return worst["dd"].to_numpy()


def share_of_days_within_drawdown(
    intraday_equity: np.ndarray,
    day_ids: np.ndarray,
    limit: float,
    initial_equity: float | None = None,
) -> float:
    """Share of days whose intraday drawdown stays strictly under ``limit`` (0.04 = 4 %).

    Drawdowns as in :func:`intraday_max_drawdowns`. NaN when there are no bars.
    """
    if not limit > 0.0:
        raise ValueError(f"limit must be a positive fraction, got {limit}")
    worst = intraday_max_drawdowns(intraday_equity, day_ids, initial_equity)
    if len(worst) == 0:
        return math.nan
    return float(np.mean(-worst < limit))
