"""Causal market features computed with polars window expressions.

Every value at bar ``t`` uses bars ``<= t`` of the same window group only: the symbol's
session (default) or the symbol's whole history (``market.cross_session: true``). Rows
whose longest window is not full yet (the warm-up) are dropped and counted.

Definitions (``c`` close, ``h`` high, ``l`` low, ``v`` volume, windows in bars):

- ``log_return_{k}`` = ln(c_t / c_{t-k}).
- ``realized_vol_{n}`` = sample std (ddof=1) of the last n one-bar log returns (per bar,
  not annualised).
- ``rsi_{n}``: simple (Cutler) RSI = 100 * G / (G + L), G and L the means of the positive
  and negative parts of the last n price changes c_t - c_{t-1}; 50 when the window is flat.
  A simple mean, not Wilder's recursive smoothing, so the look-back is exactly n + 1 bars
  and an embargo of whole sessions can cover it.
- ``atr_pct_{n}`` = 100 * mean of the last n true ranges / c_t, true range =
  max(h_t, c_{t-1}) - min(l_t, c_{t-1}) (h_t - l_t on a group's first bar).
- ``close_zscore_{n}``, ``volume_zscore_{n}`` = (x_t - mean) / std over the last n bars
  (ddof=1); 0 when the window is constant.
- ``tod_sin``, ``tod_cos`` = sin / cos of 2 pi * (local minutes since ``session_open``) /
  ``session_minutes``, from the bar's start time; needs no warm-up.

Rolling statistics are ``.over(<window group>)`` window expressions, so each session's sums
start fresh (a session's values are bit-identical to computing that session alone). Shifts
and differences are exact, so they run on the whole column masked by the bar's position in
its group, which is cheaper and gives the same values.
"""

from __future__ import annotations

import math

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from trader_env.features.config import FeaturesConfig, resolved_config
from trader_env.features.frames import (
    WINDOW_ENGINE,
    WINDOW_GROUP,
    group_start_expr,
    position_in_group_expr,
    require_bars,
    window_group_expr,
)
from trader_env.features.market_config import MarketFeaturesConfig
from trader_env.sessions import clock_timezone, session_of_local_time

# A rolling std (or RSI gain + loss) below this fraction of the window's level is rounding noise
# of a constant window; dividing by it would turn that noise into huge values.
_RELATIVE_FLOOR = 1e-9
_DAY_US = 86_400_000_000


class FeatureReport(BaseModel):
    """What :func:`compute_features_with_report` kept and dropped."""

    model_config = ConfigDict(extra="forbid")

    feature_names: list[str] = Field(description="Feature columns, in output order.")
    cross_session: bool = Field(description="Whether windows spanned sessions.")
    warmup_bars: int = Field(
        description="Leading bars of every window group (session, or symbol history) dropped."
    )
    warmup_bars_by_feature: dict[str, int] = Field(description="Warm-up of each feature (bars).")
    rows_in: int = Field(description="Bars received.")
    rows_out: int = Field(description="Rows with every feature defined.")
    rows_dropped: int = Field(description="Warm-up rows dropped (rows_in - rows_out).")
    dropped_fraction: float = Field(description="rows_dropped / rows_in (0..1).")
    window_groups: int = Field(description="Window groups (symbol sessions, or symbols).")
    window_groups_fully_dropped: int = Field(
        description="Window groups with no bar past the warm-up (e.g. very short sessions)."
    )


def compute_features(bars: pl.DataFrame, config: FeaturesConfig | None = None) -> pl.DataFrame:
    """Market features of ``bars`` (contract :data:`~trader_env.contracts.BARS_SCHEMA`).

    Returns ``symbol``, ``ts``, ``session`` (pl.Date) and one Float64 column per name of
    ``config.market.feature_names()``, sorted by (symbol, ts), warm-up rows dropped.
    ``config`` None loads ``assets_config/features.yaml`` (active profile); an unresolved
    config is resolved for the market detected from ``bars``
    (:meth:`~trader_env.features.config.FeaturesConfig.resolve`).
    """
    return compute_features_with_report(bars, config)[0]


def compute_features_with_report(
    bars: pl.DataFrame, config: FeaturesConfig | None = None
) -> tuple[pl.DataFrame, FeatureReport]:
    """Like :func:`compute_features`, also returning a :class:`FeatureReport` of the drops."""
    require_bars(bars)
    cfg = resolved_config(bars, config)
    market = cfg.market
    names = list(market.feature_names())
    # Stages: helper columns, then every windowed statistic once (intermediate columns, so no
    # window is evaluated twice), then cheap element-wise arithmetic.
    plan = (
        bars.lazy()
        .select("symbol", "ts", "high", "low", "close", "volume")
        .with_columns(_local=local_wall_time(cfg.session_clock))
        .with_columns(
            session_of_local_time(pl.col("_local"), cfg.session_clock), *_time_of_day(market)
        )
        .drop("_local")
        .with_columns(_start=group_start_expr(per_session=not market.cross_session))
        .with_columns(window_group_expr("_start"), _pos=position_in_group_expr("_start"))
        .with_columns(
            _log_close=pl.col("close").log(),
            _prev_close=pl.when(pl.col("_pos") >= 1).then(pl.col("close").shift()),
        )
        .with_columns(
            _log_return=pl.col("_log_close") - pl.col("_prev_close").log(),
            _close_change=pl.col("close") - pl.col("_prev_close"),
        )
        .with_columns(_window_statistics(market))
        # Dropping consumed helpers between stages lowers the peak memory (~30 MB per column
        # per 4M bars).
        .drop("_start", "_pos", "_log_close", "_prev_close", "_log_return", "_close_change")
        .with_columns(_feature_expressions(market))
        .select("symbol", "ts", "session", WINDOW_GROUP, *names)
    )
    # One pass for both results; filtering inside the plan avoids holding the unfiltered frame.
    kept, totals = pl.collect_all(
        [
            plan.filter(pl.all_horizontal(pl.col(names).is_not_null())),
            plan.select(groups=pl.col(WINDOW_GROUP).max()),
        ],
        engine=WINDOW_ENGINE,
    )
    _require_finite(kept, names)
    groups = int(totals.item())
    warmup = market.warmup_bars()
    report = FeatureReport(
        feature_names=names,
        cross_session=bool(market.cross_session),
        warmup_bars=max(warmup.values()),
        warmup_bars_by_feature=warmup,
        rows_in=bars.height,
        rows_out=kept.height,
        rows_dropped=bars.height - kept.height,
        dropped_fraction=(bars.height - kept.height) / bars.height,
        window_groups=groups,
        window_groups_fully_dropped=groups - kept[WINDOW_GROUP].n_unique(),
    )
    return kept.drop(WINDOW_GROUP), report


def local_wall_time(clock: str) -> pl.Expr:
    """Naive local wall-clock time of the UTC ``ts`` column in the session clock's timezone."""
    return pl.col("ts").dt.convert_time_zone(clock_timezone(clock)).dt.replace_time_zone(None)


def _rolling_mean(column: str | pl.Expr, n: int) -> pl.Expr:
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.rolling_mean(n, min_samples=n).over(WINDOW_GROUP)


def _rolling_std(column: str, n: int) -> pl.Expr:
    return pl.col(column).rolling_std(n, min_samples=n, ddof=1).over(WINDOW_GROUP)


def _window_statistics(market: MarketFeaturesConfig) -> list[pl.Expr]:
    """Every windowed statistic the features need, as intermediate (or final) columns."""
    exprs: list[pl.Expr] = []
    windows = market.windows_in_bars()
    for kind in market.features:
        if kind == "log_return":
            exprs += [
                pl.when(pl.col("_pos") >= h)
                .then(pl.col("_log_close") - pl.col("_log_close").shift(h))
                .alias(f"log_return_{h}")
                for h in windows.return_horizons
            ]
        elif kind == "realized_vol":
            exprs += [
                _rolling_std("_log_return", n).alias(f"realized_vol_{n}")
                for n in windows.realized_vol_windows
            ]
        elif kind == "rsi":
            change = pl.col("_close_change")
            exprs += [
                _rolling_mean(change.clip(lower_bound=0.0), windows.rsi).alias("_gain"),
                _rolling_mean((-change).clip(lower_bound=0.0), windows.rsi).alias("_loss"),
            ]
        elif kind == "atr_pct":
            # On a group's first bar the previous close is null and the range is high - low.
            true_range = pl.max_horizontal("high", "_prev_close") - pl.min_horizontal(
                "low", "_prev_close"
            )
            exprs.append(_rolling_mean(true_range, windows.atr).alias("_atr"))
        elif kind in ("close_zscore", "volume_zscore"):
            column = kind.removesuffix("_zscore")
            n = windows.close_zscore if kind == "close_zscore" else windows.volume_zscore
            exprs += [
                _rolling_mean(column, n).alias(f"_{column}_mean"),
                _rolling_std(column, n).alias(f"_{column}_std"),
            ]
    return exprs


def _feature_expressions(market: MarketFeaturesConfig) -> list[pl.Expr]:
    """Final feature columns from the window statistics (element-wise only)."""
    exprs: list[pl.Expr] = []
    for kind in market.features:
        if kind == "rsi":
            gain, loss = pl.col("_gain"), pl.col("_loss")
            total = gain + loss
            # Rolling sums of a flat window can leave rounding residue instead of exact zeros.
            rsi = (
                pl.when(total > _RELATIVE_FLOOR * pl.col("close"))
                .then(100.0 * gain / total)
                .when(total.is_not_null())
                .then(50.0)
            )
            exprs.append(rsi.alias(f"rsi_{market.rsi_window}"))
        elif kind == "atr_pct":
            atr_pct = 100.0 * pl.col("_atr") / pl.col("close")
            exprs.append(atr_pct.alias(f"atr_pct_{market.atr_window}"))
        elif kind in ("close_zscore", "volume_zscore"):
            column = kind.removesuffix("_zscore")
            mean, std = pl.col(f"_{column}_mean"), pl.col(f"_{column}_std")
            zscore = (
                pl.when(std > _RELATIVE_FLOOR * mean.abs())
                .then((pl.col(column) - mean) / std)
                .when(std.is_not_null())
                .then(0.0)
            )
            exprs.append(zscore.alias(f"{kind}_{getattr(market, f'{kind}_window')}"))
    return exprs


def _time_of_day(market: MarketFeaturesConfig) -> list[pl.Expr]:
    """``tod_sin`` and ``tod_cos`` from the naive local time ``_local`` (none if disabled)."""
    if "time_of_day" not in market.features:
        return []
    minute_of_day = (pl.col("_local").dt.epoch("us") % _DAY_US).cast(pl.Float64) / 60e6
    start = market.session_open
    assert start is not None and market.session_minutes is not None  # resolved
    open_minute = start.hour * 60 + start.minute + start.second / 60
    phase = (minute_of_day - open_minute) * (2.0 * math.pi / market.session_minutes)
    return [phase.sin().alias("tod_sin"), phase.cos().alias("tod_cos")]


def _require_finite(frame: pl.DataFrame, names: list[str]) -> None:
    """Raise naming the first non-finite feature value (a bug or an input the checks missed)."""
    bad = frame.select(pl.any_horizontal([~pl.col(c).is_finite() for c in names]).arg_true())
    if bad.height:
        row = frame.row(int(bad.item(0, 0)), named=True)
        column = next(c for c in names if not math.isfinite(row[c]))
        raise ValueError(
            f"features: non-finite {column}={row[column]} at symbol={row['symbol']!r}, "
            f"ts={row['ts']}"
        )
