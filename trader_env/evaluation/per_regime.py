"""Metrics per market regime and the degradation of the worst regime against the whole.

Regimes change within a session, so a regime's days are not a clean sample. Per-regime metrics
are therefore computed on PER-BAR returns (the change of account equity over one bar, grouped
by the regime label of that bar) and annualised with ``bars_per_year`` (bars per session x
sessions per year). The overall Sharpe that the degradation compares against is computed the
same way on all bars, so both sides of the comparison use one estimator and one scale; it is
not the daily Sharpe of :func:`trader_env.evaluation.metrics.compute_metrics`.

The same table is made per volatility bucket (low / medium / high / extreme: how many of the
plan's volatility thresholds 0.10 / 0.20 / 0.40 the bar's realised volatility reached), so all
three thresholds show in the report, not only the 0.20 that splits the regime labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import polars as pl

from trader_env.contracts import REGIMES, VOL_BUCKETS
from trader_env.evaluation.psr import per_period_sharpe

#: Regimes with fewer bars are reported but ignored by :func:`regime_degradation`.
DEFAULT_MIN_BARS = 30


def bar_sharpe(bar_returns: np.ndarray, bars_per_year: float) -> float:
    """Sharpe of per-bar returns, ``mean / std(ddof=1) * sqrt(bars_per_year)``; NaN if undefined."""
    return per_period_sharpe(np.asarray(bar_returns, dtype=np.float64)) * math.sqrt(bars_per_year)


def estimate_bars_per_year(sessions: pl.Series, periods_per_year: int = 252) -> float:
    """Mean bars per session times ``periods_per_year`` (sessions a year)."""
    if sessions.len() == 0:
        raise ValueError("cannot estimate bars per year from an empty frame")
    return sessions.len() / sessions.n_unique() * periods_per_year


def _labels(values: pl.Series, names: tuple[str, ...], column: str) -> pl.Series:
    if values.dtype.is_integer():
        codes = values.to_numpy()
        if codes.min() < 0 or codes.max() >= len(names):
            raise ValueError(f"{column} codes must lie in 0..{len(names) - 1}")
        return pl.Series(column, np.asarray(names, dtype=object)[codes], dtype=pl.String)
    return values.cast(pl.String)


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if flags.size else math.nan


def _group_metrics(
    bars: pl.DataFrame,
    column: str,
    names: tuple[str, ...],
    bars_per_year: float,
    min_bars: int,
) -> pl.DataFrame:
    missing = {column, "bar_return"} - set(bars.columns)
    if missing:
        raise ValueError(f"per-bar frame lacks column(s) {sorted(missing)}")
    if bars_per_year <= 0:
        raise ValueError(f"bars_per_year must be positive, got {bars_per_year}")
    labels_series = _labels(bars[column], names, column)
    unknown = set(labels_series.unique().to_list()) - set(names)
    if unknown:
        raise ValueError(f"unknown {column} label(s) {sorted(unknown)}; expected {names}")
    returns = bars["bar_return"].to_numpy().astype(np.float64)
    if not np.isfinite(returns).all():
        raise ValueError("bar_return contains NaN or infinite values")
    pnl = bars["net_pnl"].to_numpy() if "net_pnl" in bars.columns else np.zeros(len(bars))
    position = bars["position"].to_numpy() if "position" in bars.columns else None
    labels = labels_series.to_numpy()
    rows = []
    for name in names:
        mask = labels == name
        selected = returns[mask]
        n = len(selected)
        rows.append(
            {
                column: name,
                "n_bars": n,
                "share_of_bars": n / len(returns) if len(returns) else math.nan,
                "sharpe": bar_sharpe(selected, bars_per_year),
                "annual_volatility": float(selected.std(ddof=1)) * math.sqrt(bars_per_year)
                if n >= 2
                else math.nan,
                "total_return": float(np.prod(1.0 + selected) - 1.0) if n else math.nan,
                "net_pnl": float(pnl[mask].sum()),
                # How the policy behaves in the group: share of bars holding a position, and
                # the share of those that are long (NaN without a position column or bars).
                "time_in_market": _share(position[mask] != 0.0)
                if position is not None
                else math.nan,
                "long_share": _share(position[mask][position[mask] != 0.0] > 0.0)
                if position is not None
                else math.nan,
                "eligible": n >= min_bars,
            }
        )
    return pl.DataFrame(rows)


def per_regime_metrics(
    bars: pl.DataFrame, bars_per_year: float, min_bars: int = DEFAULT_MIN_BARS
) -> pl.DataFrame:
    """One row per regime of :data:`REGIMES` (absent regimes included with ``n_bars`` 0).

    ``bars`` needs ``regime`` (name or code) and ``bar_return`` (simple return of the account
    over the bar); ``net_pnl`` (currency) is summed when present. Columns: ``regime``,
    ``n_bars``, ``share_of_bars``, ``sharpe`` (annualised per-bar), ``annual_volatility``,
    ``total_return`` (compounded over the regime's bars), ``net_pnl``, ``time_in_market`` and
    ``long_share`` (from ``position`` when present: how behaviour differs per regime),
    ``eligible`` (``n_bars >= min_bars``: counted by the degradation).
    """
    return _group_metrics(bars, "regime", REGIMES, bars_per_year, min_bars)


def per_vol_bucket_metrics(
    bars: pl.DataFrame, bars_per_year: float, min_bars: int = DEFAULT_MIN_BARS
) -> pl.DataFrame:
    """Like :func:`per_regime_metrics`, one row per volatility bucket of :data:`VOL_BUCKETS`
    (column ``vol_bucket``: name or code; null rows, bars without a bucket, are left out)."""
    if "vol_bucket" in bars.columns:
        bars = bars.filter(pl.col("vol_bucket").is_not_null())
    return _group_metrics(bars, "vol_bucket", VOL_BUCKETS, bars_per_year, min_bars)


def regime_degradation(overall_sharpe: float, regime_sharpes: Iterable[float]) -> float:
    """``(overall - worst regime) / |overall|``: how much worse the worst regime is (0.05 = 5 %).

    0 when the worst regime matches the whole, negative when every regime beats the pooled
    Sharpe. NaN when the overall Sharpe is not positive (a relative degradation of a losing
    or flat strategy has no meaning, and a gate on it must fail) or no regime Sharpe is finite.
    """
    finite = [value for value in regime_sharpes if math.isfinite(value)]
    if not math.isfinite(overall_sharpe) or overall_sharpe <= 0.0 or not finite:
        return math.nan
    return (overall_sharpe - min(finite)) / abs(overall_sharpe)


def regime_summary(
    bars: pl.DataFrame, bars_per_year: float, min_bars: int = DEFAULT_MIN_BARS
) -> tuple[pl.DataFrame, float, float]:
    """The per-regime table, the overall per-bar Sharpe and the regime degradation.

    Only eligible regimes (at least ``min_bars`` bars) enter the degradation.
    """
    table = per_regime_metrics(bars, bars_per_year, min_bars)
    overall = bar_sharpe(bars["bar_return"].to_numpy(), bars_per_year)
    eligible = table.filter(pl.col("eligible"))["sharpe"].to_list()
    return table, overall, regime_degradation(overall, eligible)
