"""Regime classification on constructed calm / volatile / trending / ranging series."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from trader_env.contracts import REGIMES
from trader_env.features import (
    TREND_STRENGTH_CAP,
    FeaturesConfig,
    RegimeConfig,
    compute_regimes,
    compute_regimes_with_report,
    infer_bar_frequency,
    regime_distribution,
)
from trader_env.sessions import with_sessions

N = 20  # trend and vol window (bars)
H = 2.0  # trend horizon (bars)
BARS_PER_YEAR = 60 * 252
CONFIG = FeaturesConfig(
    regime=RegimeConfig(vol_window=N, trend_window=N, trend_horizon_bars=H, bars_per_session=60)
)


def _closes(returns: np.ndarray) -> list[list[float]]:
    """Closes of 60-bar sessions whose one-bar log returns are ``returns``."""
    closes = 100.0 * np.exp(np.cumsum(returns))
    return closes.reshape(-1, 60).tolist()


def _segment(bars: int, drift: float, noise: float) -> np.ndarray:
    """Returns ``drift +/- noise`` alternating: window mean = drift exactly for even windows."""
    return drift + noise * np.where(np.arange(bars) % 2 == 0, 1.0, -1.0)


def _noise_for(vol_ann: float) -> float:
    """Alternating amplitude whose windowed sample std annualises to ``vol_ann``."""
    return vol_ann / math.sqrt(BARS_PER_YEAR) / math.sqrt(N / (N - 1))


def _drift_for(strength: float, noise: float) -> float:
    """Drift giving ``trend_strength`` = drift / std * sqrt(H) on an alternating segment."""
    return strength * noise * math.sqrt(N / (N - 1)) / math.sqrt(H)


@pytest.mark.parametrize(
    ("vol_ann", "strength", "expected"),
    [
        (0.05, 0.0, "low_vol_ranging"),
        (0.05, 1.0, "low_vol_trending"),
        (0.30, 0.0, "high_vol_ranging"),
        (0.30, 1.0, "high_vol_trending"),
    ],
)
def test_constructed_series_get_their_regime(make_bars, vol_ann, strength, expected) -> None:
    noise = _noise_for(vol_ann)
    returns = _segment(120, _drift_for(strength, noise), noise)
    regimes = compute_regimes(make_bars(_closes(returns)), CONFIG)
    assert regimes.height == 120 - (N - 1)
    assert set(regimes["regime"]) == {expected}
    assert set(regimes["regime_code"]) == {REGIMES.index(expected)}
    # The first window also holds the first bar's own return ln(c / o) = 0; later ones are exact.
    assert regimes["realized_vol_ann"][1:].to_numpy() == pytest.approx(vol_ann, rel=1e-6)
    assert regimes["trend_strength"][1:].to_numpy() == pytest.approx(strength, abs=1e-6)


def test_realized_vol_and_trend_strength_match_numpy(make_bars) -> None:
    returns = np.random.default_rng(3).normal(2e-4, 1e-3, 120)
    bars = make_bars(_closes(returns))
    regimes = compute_regimes(bars, CONFIG)
    # open = previous close, so every one-bar return (also a session's first) is c_t / c_{t-1};
    # the very first bar's own return is ln(c / o) = 0.
    r = np.concatenate([[0.0], np.diff(np.log(bars["close"].to_numpy()))])
    windows = np.lib.stride_tricks.sliding_window_view(r, N)
    vol = windows.std(axis=1, ddof=1) * math.sqrt(BARS_PER_YEAR)
    strength = np.abs(windows.mean(axis=1)) / windows.std(axis=1, ddof=1) * math.sqrt(H)
    np.testing.assert_allclose(regimes["realized_vol_ann"].to_numpy(), vol, rtol=1e-9)
    np.testing.assert_allclose(regimes["trend_strength"].to_numpy(), strength, rtol=1e-7)


def test_vol_bucket_counts_thresholds_reached(make_bars) -> None:
    buckets = []
    for vol_ann in (0.05, 0.15, 0.30, 0.50):
        noise = _noise_for(vol_ann)
        regimes = compute_regimes(make_bars(_closes(_segment(60, 0.0, noise))), CONFIG)
        buckets.append(set(regimes["vol_bucket"]))
    assert buckets == [{0}, {1}, {2}, {3}]


def test_trend_state_has_hysteresis(make_bars) -> None:
    noise = _noise_for(0.05)
    segments = [
        _segment(60, _drift_for(1.0, noise), noise),  # strong: enters trending
        _segment(60, _drift_for(0.2, noise), noise),  # between thresholds: stays trending
        _segment(60, 0.0, noise),  # below 0.1: back to ranging
        _segment(60, _drift_for(0.2, noise), noise),  # between thresholds: stays ranging
    ]
    regimes = compute_regimes(make_bars(_closes(np.concatenate(segments))), CONFIG)
    # Label of each segment once its whole window lies inside it (its last 40 bars).
    by_session = regimes.group_by("session", maintain_order=True).agg(
        pl.col("regime").tail(40).unique()
    )
    assert by_session["regime"].to_list() == [
        ["low_vol_trending"],
        ["low_vol_trending"],
        ["low_vol_ranging"],
        ["low_vol_ranging"],
    ]
    strengths = regimes.group_by("session", maintain_order=True).agg(
        pl.col("trend_strength").last()
    )
    assert strengths["trend_strength"].to_numpy() == pytest.approx([1.0, 0.2, 0.0, 0.2], abs=1e-6)


def test_noise_free_drift_is_capped_and_trending(make_bars) -> None:
    regimes = compute_regimes(make_bars(_closes(np.full(60, 1e-4))), CONFIG)
    assert regimes["trend_strength"].max() <= TREND_STRENGTH_CAP
    assert set(regimes["regime"]) == {"low_vol_trending"}


def test_regime_windows_may_restart_every_session(make_bars) -> None:
    returns = np.random.default_rng(5).normal(0, 1e-3, 180)
    per_session = CONFIG.model_copy(
        update={"regime": CONFIG.regime.model_copy(update={"cross_session": False})}
    )
    spanning = compute_regimes(make_bars(_closes(returns)), CONFIG)
    restarting = compute_regimes(make_bars(_closes(returns)), per_session)
    assert spanning.height == 180 - (N - 1)
    assert restarting.height == 3 * (60 - (N - 1))


def test_bars_per_year_is_derived_from_spacing_and_session_length(make_bars) -> None:
    # Three full 60-bar sessions, a half session and a session with a 10-minute hole.
    closes = [[100.0 + i * 0.01 for i in range(60)]] * 3 + [[100.0] * 30]
    bars = make_bars(closes + [[100.0] * 60])
    holed = bars.filter(~pl.col("ts").is_in(bars["ts"].tail(60)[20:30].implode()))
    frequency = infer_bar_frequency(with_sessions(holed))
    assert frequency.bar_seconds == 60.0
    assert frequency.bars_per_session == 60.0
    free = CONFIG.model_copy(
        update={"regime": CONFIG.regime.model_copy(update={"bars_per_session": None})}
    )
    _, report = compute_regimes_with_report(holed, free)
    assert report.market == "us_equity" and report.sessions_per_year == 252
    assert report.bars_per_year == 60 * 252


def test_distribution_lists_every_regime_per_symbol(make_bars) -> None:
    noise = _noise_for(0.05)
    calm = make_bars(_closes(_segment(60, 0.0, noise)), symbol="A")
    trend = make_bars(_closes(_segment(60, _drift_for(1.0, noise), noise)), symbol="B")
    distribution = regime_distribution(compute_regimes(pl.concat([calm, trend]), CONFIG))
    assert distribution.height == 2 * len(REGIMES)
    share = {(s, r): v for s, r, v in distribution.select("symbol", "regime", "share").rows()}
    assert share[("A", "low_vol_ranging")] == 1.0
    assert share[("B", "low_vol_trending")] == 1.0
    assert share[("A", "high_vol_trending")] == 0.0
    sums = distribution.group_by("symbol").agg(pl.col("share").sum())["share"]
    assert sums.to_list() == pytest.approx([1.0, 1.0])
