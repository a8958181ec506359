"""Causal market regimes: annualised realised volatility x trend strength (docs/architecture.md, 'Where each plan concept lives').

Returns ``r_t`` are one-bar log returns ln(c_t / c_{t-1}) inside a session; a session's first
bar uses its own ln(c_t / o_t), so the overnight gap never enters an intraday volatility even
when the windows span sessions (the default: regimes are slower than intraday features).

- ``realized_vol_ann`` = std(r over ``vol_window``) * sqrt(bars per year), bars per year =
  bars per session (derived from the data unless configured) * ``sessions_per_year`` (the
  market calendar's unless configured: 252 US equities, 365 crypto, 260 FX).
- ``trend_strength`` = |mean(r)| / std(r) * sqrt(h) over ``trend_window`` (n bars), with h =
  ``trend_horizon_bars``: the Sharpe ratio of the window's drift over h bars, i.e. the drift
  expected over h bars in units of the noise over h bars; equivalently the t-statistic of the
  window's mean scaled by sqrt(h / n) (windows and horizon in bars after resolving durations
  such as ``1d`` with the data's bar interval). The plain |mean| / std is this with h = 1, which is
  ~0 for minute bars; the plain t-statistic (h = n) of a driftless random walk is |N(0, 1)|
  (median 0.67), so thresholds 0.3 / 0.1 would call most noise trending. With the default
  n / h = 390 / 15 = 26 a driftless random walk reads about 0.8 / sqrt(26) = 0.16 on average:
  entering ``trending`` above 0.3 needs a window t-statistic above 1.5, falling back to
  ``ranging`` below 0.1 a t-statistic below 0.5. Values are capped at
  :data:`TREND_STRENGTH_CAP` so a noise-free drift (std 0) stays finite. On SPY 2017-2019
  minute bars the defaults give about 69 % low_vol_ranging, 26 % low_vol_trending, 3 %
  high_vol_ranging and 2 % high_vol_trending, with about one regime change per session.
- ``vol_bucket`` in 0..3 counts the ``vol_thresholds`` (0.10 / 0.20 / 0.40) reached; the
  middle threshold alone decides ``high_vol`` (bucket >= 2). Evaluation reports every metric
  per bucket too (``contracts.VOL_BUCKETS``: low / medium / high / extreme).
- trending / ranging uses hysteresis: trending when strength > ``trend_enter``, ranging when
  strength < ``trend_exit``, otherwise the previous state of the same window group (forward
  fill of the state changes); a group starts ranging until strength first exceeds
  ``trend_enter``.
"""

from __future__ import annotations

import math

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from trader_env.contracts import REGIMES
from trader_env.features.config import FeaturesConfig, resolved_config
from trader_env.features.frames import (
    WINDOW_ENGINE,
    WINDOW_GROUP,
    group_start_expr,
    require_bars,
    session_start_expr,
    window_group_expr,
)
from trader_env.features.regime_config import RegimeConfig
from trader_env.sessions import session_date_expr

#: Upper bound of ``trend_strength`` (dimensionless): far beyond any threshold, it only
#: keeps a noise-free drift finite.
TREND_STRENGTH_CAP = 10.0


class RegimeReport(BaseModel):
    """What :func:`compute_regimes_with_report` used, kept and dropped."""

    model_config = ConfigDict(extra="forbid")

    bars_per_session: float = Field(description="Bars per regular session used (bars).")
    market: str = Field(description="Market type (us_equity, crypto, fx).")
    sessions_per_year: float = Field(description="Sessions per year used (annualisation).")
    bars_per_year: float = Field(description="Annualisation base: bars per year.")
    warmup_bars: int = Field(description="Leading bars of every window group dropped.")
    rows_in: int = Field(description="Bars received.")
    rows_out: int = Field(description="Rows with a regime.")
    rows_dropped: int = Field(description="Warm-up rows dropped.")
    dropped_fraction: float = Field(description="rows_dropped / rows_in (0..1).")


def compute_regimes(bars: pl.DataFrame, config: FeaturesConfig | None = None) -> pl.DataFrame:
    """Regime of every bar past the warm-up.

    Returns ``symbol``, ``ts``, ``session``, ``realized_vol_ann`` (fraction per year),
    ``trend_strength`` (dimensionless), ``vol_bucket`` (Int8, 0..3), ``regime`` (String, one
    of :data:`~trader_env.contracts.REGIMES`) and ``regime_code`` (Int8 index into REGIMES),
    sorted by (symbol, ts). ``config`` None loads ``assets_config/features.yaml``.

    An unresolved ``config`` is resolved for ``bars`` (market detected, annualisation derived
    from all of ``bars``); pass a config resolved once on the full data before comparing runs
    on truncated data, e.g. in :func:`~trader_env.features.lookahead.check_no_lookahead`.
    """
    return compute_regimes_with_report(bars, config)[0]


def compute_regimes_with_report(
    bars: pl.DataFrame, config: FeaturesConfig | None = None
) -> tuple[pl.DataFrame, RegimeReport]:
    """Like :func:`compute_regimes`, also returning a :class:`RegimeReport`."""
    require_bars(bars)
    cfg = resolved_config(bars, config)
    regime = cfg.regime
    frame = bars.select("symbol", "ts", "open", "close").with_columns(
        session_date_expr(cfg.session_clock)
    )
    profile = cfg.market_profile
    assert profile is not None  # resolved
    # The measured session length, as before market calendars (391 on the SPY sample).
    bars_per_session = profile.bars_per_session
    bars_per_year = bars_per_session * profile.sessions_per_year
    computed = _regime_plan(frame.lazy(), regime, bars_per_year).collect(engine=WINDOW_ENGINE)
    report = RegimeReport(
        bars_per_session=bars_per_session,
        market=profile.market,
        sessions_per_year=profile.sessions_per_year,
        bars_per_year=bars_per_year,
        warmup_bars=regime.max_window_bars() - 1,
        rows_in=bars.height,
        rows_out=computed.height,
        rows_dropped=bars.height - computed.height,
        dropped_fraction=(bars.height - computed.height) / bars.height,
    )
    return computed, report


def _window_statistics(regime: RegimeConfig) -> tuple[list[pl.Expr], pl.Expr]:
    """The rolling statistics of the one-bar returns ``_r`` per window group (columns
    ``_vol_std``, ``_trend_mean`` and ``_trend_std`` unless it equals ``_vol_std``), and the
    trend strength computed from them (capped at :data:`TREND_STRENGTH_CAP`)."""
    returns = pl.col("_r")
    vol_window, trend_window = regime.windows_in_bars()
    windows = {"_vol_std": ("std", vol_window)}
    trend_std = "_vol_std" if trend_window == vol_window else "_trend_std"
    windows[trend_std] = ("std", trend_window)
    windows["_trend_mean"] = ("mean", trend_window)
    statistics = [
        (
            returns.rolling_std(n, min_samples=n)
            if kind == "std"
            else returns.rolling_mean(n, min_samples=n)
        )
        .over(WINDOW_GROUP)
        .alias(name)
        for name, (kind, n) in windows.items()
    ]
    mean, std = pl.col("_trend_mean"), pl.col(trend_std)
    ratio = mean.abs() * math.sqrt(float(regime.trend_horizon_bars)) / std
    strength = (
        pl.when(std > 0)
        .then(ratio.clip(upper_bound=TREND_STRENGTH_CAP))
        .when(std.is_not_null())
        .then(pl.when(mean.abs() > 0).then(TREND_STRENGTH_CAP).otherwise(0.0))
    )
    return statistics, strength


def _regime_plan(frame: pl.LazyFrame, regime: RegimeConfig, bars_per_year: float) -> pl.LazyFrame:
    """The regime columns (:data:`_OUTPUT_COLUMNS`) of ``frame`` (symbol, ts, open, close,
    session), bars without a full window dropped."""
    statistics, strength = _window_statistics(regime)
    state_change = (
        pl.when(pl.col("trend_strength") > regime.trend_enter)
        .then(True)
        .when(pl.col("trend_strength") < regime.trend_exit)
        .then(False)
    )
    return (
        frame.with_columns(_session_start=session_start_expr())
        .with_columns(
            # Inside a session the close-to-close return; a session's first bar its own
            # open-to-close return, so the overnight gap never enters the volatility.
            _r=pl.when(pl.col("_session_start"))
            .then((pl.col("close") / pl.col("open")).log())
            .otherwise(pl.col("close").log().diff()),
        )
        .with_columns(_start=group_start_expr(per_session=not regime.cross_session))
        .with_columns(window_group_expr("_start"))
        .with_columns(statistics)
        .with_columns(
            realized_vol_ann=pl.col("_vol_std") * math.sqrt(bars_per_year),
            trend_strength=strength,
        )
        # A group starts ranging, so a whole-column forward fill never carries a state across
        # groups and equals the per-group fill.
        .with_columns(
            _trending=pl.when(pl.col("_start"))
            .then(state_change.fill_null(False))
            .otherwise(state_change)
            .forward_fill()
        )
        .filter(pl.col("realized_vol_ann").is_not_null() & pl.col("trend_strength").is_not_null())
        .select(
            "symbol",
            "ts",
            "session",
            "realized_vol_ann",
            "trend_strength",
            vol_bucket=_vol_bucket(pl.col("realized_vol_ann"), regime.vol_thresholds),
            regime_code=_regime_code(
                pl.col("_trending"), pl.col("realized_vol_ann") >= regime.vol_thresholds[1]
            ),
        )
        .with_columns(
            regime=pl.col("regime_code").replace_strict(
                dict(enumerate(REGIMES)), return_dtype=pl.String
            )
        )
        .select(*_OUTPUT_COLUMNS)
    )


_OUTPUT_COLUMNS = (
    "symbol",
    "ts",
    "session",
    "realized_vol_ann",
    "trend_strength",
    "vol_bucket",
    "regime",
    "regime_code",
)


def _vol_bucket(vol: pl.Expr, thresholds: tuple[float, float, float]) -> pl.Expr:
    """Number of thresholds reached, 0..3 (Int8)."""
    return pl.sum_horizontal([(vol >= t).cast(pl.Int8) for t in thresholds]).cast(pl.Int8)


def _regime_code(trending: pl.Expr, high_vol: pl.Expr) -> pl.Expr:
    """Index into REGIMES (Int8) of the trend state and volatility level."""
    return (
        pl.when(trending & ~high_vol)
        .then(REGIMES.index("low_vol_trending"))
        .when(trending & high_vol)
        .then(REGIMES.index("high_vol_trending"))
        .when(~high_vol)
        .then(REGIMES.index("low_vol_ranging"))
        .otherwise(REGIMES.index("high_vol_ranging"))
        .cast(pl.Int8)
    )


def regime_distribution(regimes: pl.DataFrame) -> pl.DataFrame:
    """Share of each regime per symbol: ``symbol``, ``regime``, ``regime_code``, ``bars``,
    ``share`` (0..1, summing to 1 per symbol); every regime is listed, absent ones with 0."""
    missing = [c for c in ("symbol", "regime_code") if c not in regimes.columns]
    if missing:
        raise ValueError(f"regime_distribution: missing column(s) {missing}")
    all_regimes = pl.DataFrame(
        {"regime_code": list(range(len(REGIMES))), "regime": list(REGIMES)},
        schema={"regime_code": pl.Int8, "regime": pl.String},
    )
    counts = regimes.group_by("symbol", "regime_code").agg(bars=pl.len())
    return (
        regimes.select("symbol")
        .unique()
        .join(all_regimes, how="cross")
        .join(counts, on=["symbol", "regime_code"], how="left")
        .with_columns(pl.col("bars").fill_null(0).cast(pl.Int64))
        .with_columns(share=pl.col("bars") / pl.col("bars").sum().over("symbol"))
        .select("symbol", "regime", "regime_code", "bars", "share")
        .sort("symbol", "regime_code")
    )
