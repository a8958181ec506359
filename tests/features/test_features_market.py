"""Market features against values computed by hand (or with plain numpy) on tiny series."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from trader_env.features import (
    FeaturesConfig,
    MarketFeaturesConfig,
    compute_features,
    compute_features_with_report,
)
from trader_env.sessions import with_sessions

CLOSES = [100.0, 101.0, 99.0, 102.0, 103.0, 101.0, 104.0, 104.0]

SMALL = FeaturesConfig(
    market=MarketFeaturesConfig(
        return_horizons=[1, 2],
        realized_vol_windows=[3],
        rsi_window=3,
        atr_window=2,
        close_zscore_window=3,
        volume_zscore_window=3,
        cross_session=False,
    )
)


def test_default_feature_names_and_warmup() -> None:
    market = FeaturesConfig().market
    assert market.feature_names() == (
        "log_return_1",
        "log_return_5",
        "log_return_15",
        "log_return_30",
        "realized_vol_30",
        "rsi_14",
        "atr_pct_14",
        "close_zscore_120",
        "volume_zscore_30",
        "tod_sin",
        "tod_cos",
    )
    assert max(market.warmup_bars().values()) == 119


def test_each_feature_matches_hand_computed_values(make_bars) -> None:
    features = compute_features(make_bars([CLOSES]), SMALL)
    c = np.array(CLOSES)
    # Longest warm-up is 3 bars (log_return_2 needs 2, realized_vol_3 and rsi_3 need 3).
    assert features.height == len(CLOSES) - 3
    first = features.row(0, named=True)  # bar 3 of the session, 09:33 New York
    assert first["log_return_1"] == pytest.approx(math.log(102 / 99), rel=1e-12)
    assert first["log_return_2"] == pytest.approx(math.log(102 / 101), rel=1e-12)
    returns = np.diff(np.log(c))[:3]
    assert first["realized_vol_3"] == pytest.approx(np.std(returns, ddof=1), rel=1e-9)
    # Price changes +1, -2, +3: mean gain 4/3, mean loss 2/3.
    assert first["rsi_3"] == pytest.approx(100 * 4 / 6, rel=1e-12)
    # True ranges of bars 2 and 3: 101.5 - 98.5 = 3 and 102.5 - 98.5 = 4.
    assert first["atr_pct_2"] == pytest.approx(100 * 3.5 / 102, rel=1e-12)
    window = c[1:4]
    expected_z = (102 - window.mean()) / np.std(window, ddof=1)
    assert first["close_zscore_3"] == pytest.approx(expected_z, rel=1e-9)
    # Volumes 20, 30, 40: (40 - 30) / 10.
    assert first["volume_zscore_3"] == pytest.approx(1.0, rel=1e-12)
    assert first["tod_sin"] == pytest.approx(math.sin(2 * math.pi * 3 / 390), rel=1e-12)
    assert first["tod_cos"] == pytest.approx(math.cos(2 * math.pi * 3 / 390), rel=1e-12)

    last = features.row(-1, named=True)  # bar 7: changes -2, +3, 0
    assert last["rsi_3"] == pytest.approx(60.0, rel=1e-12)
    assert last["log_return_1"] == 0.0
    # True ranges of bars 6 and 7: 104.5 - 100.5 = 4 and 104.5 - 103.5 = 1.
    assert last["atr_pct_2"] == pytest.approx(100 * 2.5 / 104, rel=1e-12)


def test_session_column_is_the_shared_session_definition(make_market) -> None:
    bars = make_market(seed=4, sessions=3, bars=40)
    features = compute_features(bars, SMALL)
    expected = with_sessions(bars).join(features.select("symbol", "ts"), on=["symbol", "ts"])
    assert features["session"].equals(expected["session"])
    assert features["session"].n_unique() == 3


def test_flat_windows_give_neutral_rsi_and_zero_zscores(make_bars) -> None:
    flat = make_bars([[50.0] * 8], volumes=[0.0] * 8)
    features = compute_features(flat, SMALL)
    assert features.height == 5
    assert features["rsi_3"].to_list() == [50.0] * 5
    assert features["close_zscore_3"].to_list() == [0.0] * 5
    assert features["volume_zscore_3"].to_list() == [0.0] * 5
    assert features["realized_vol_3"].to_list() == [0.0] * 5


def test_every_session_restarts_its_windows(make_bars) -> None:
    second = [200.0, 190.0, 205.0, 201.0, 199.0, 210.0, 208.0, 207.0]
    bars = make_bars([CLOSES, second])
    features, report = compute_features_with_report(bars, SMALL)
    sessions = features.partition_by("session", maintain_order=True)
    assert [s.height for s in sessions] == [5, 5]
    # The first three bars of each session are warm-up, whatever the previous session did.
    second_bars = bars.filter(pl.col("ts").dt.date() == bars["ts"].dt.date().max())
    assert sessions[1]["ts"][0] == second_bars["ts"][3]
    alone = compute_features(second_bars, SMALL)
    assert sessions[1].equals(alone)
    assert report.rows_dropped == 6
    assert report.dropped_fraction == pytest.approx(6 / 16)
    assert report.window_groups == 2 and report.window_groups_fully_dropped == 0


def test_cross_session_windows_span_the_overnight_gap(make_bars) -> None:
    second = [200.0, 190.0, 205.0, 201.0, 199.0, 210.0, 208.0, 207.0]
    config = SMALL.model_copy(
        update={"market": SMALL.market.model_copy(update={"cross_session": True})}
    )
    features, report = compute_features_with_report(make_bars([CLOSES, second]), config)
    assert report.rows_dropped == 3 and report.window_groups == 1
    first_of_second = features.filter(pl.col("session") == features["session"].max()).row(
        0, named=True
    )
    assert first_of_second["log_return_1"] == pytest.approx(math.log(200 / 104), rel=1e-12)


def test_default_windows_run_across_sessions_and_lose_their_warmup_once(make_bars) -> None:
    closes = (100 + np.cumsum(np.sin(np.arange(390)))).tolist()
    # The two-hour close z-score's warm-up (119 bars) is more than 10 % of a 390-bar session,
    # so windows span sessions and only the first session loses it.
    features, report = compute_features_with_report(make_bars([closes, closes]), FeaturesConfig())
    assert report.cross_session is True
    assert report.warmup_bars == 119
    assert features.height == 2 * 390 - 119
    # With windows of at most 30 bars they restart every session: 30 bars lost each.
    short = FeaturesConfig().model_copy(
        update={"market": FeaturesConfig().market.model_copy(update={"close_zscore_window": 30})}
    )
    features, report = compute_features_with_report(make_bars([closes, closes]), short)
    assert report.cross_session is False
    assert features.height == 2 * 360
    assert report.dropped_fraction == pytest.approx(30 / 390)


def test_session_shorter_than_the_warmup_is_dropped_and_counted(make_bars) -> None:
    features, report = compute_features_with_report(make_bars([CLOSES, CLOSES[:3]]), SMALL)
    assert features["session"].n_unique() == 1
    assert report.window_groups_fully_dropped == 1


def test_unsorted_bars_are_refused_with_the_row(make_bars) -> None:
    bars = make_bars([CLOSES])
    swapped = pl.concat([bars[1:2], bars[0:1], bars[2:]])
    with pytest.raises(ValueError, match=r"row 1 .*not sorted"):
        compute_features(swapped, SMALL)


def test_bad_prices_and_schema_are_refused(make_bars) -> None:
    bars = make_bars([CLOSES])
    negative = bars.with_columns(
        close=pl.when(pl.int_range(pl.len()) == 4).then(-1.0).otherwise(pl.col("close"))
    )
    with pytest.raises(ValueError, match=r"row 4 .*price not finite or <= 0"):
        compute_features(negative, SMALL)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['volume'\]"):
        compute_features(bars.drop("volume"), SMALL)
    with pytest.raises(ValueError, match=r"wrong dtypes \{'volume'"):
        compute_features(bars.with_columns(pl.col("volume").cast(pl.Int64)), SMALL)
