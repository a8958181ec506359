"""Foreign markets through the data and features layers with the shipped features.yaml:
30-minute crypto (24/7), hourly FX (24/5 with weekend gaps), hourly crypto stored newest-first
with 12-hour timestamps. Market type detected, sessions, bars per year, warm-up < 10 %."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from trader_env.data import DataConfig, load_bars_with_report
from trader_env.features import (
    PARTS,
    compute_features_with_report,
    compute_regimes_with_report,
    load_features_config,
    make_splits,
    market_profile,
)
from trader_env.sessions import session_date_expr
from trader_env.yaml_config import ConfigError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "markets"

#: name -> (data.yaml `files` settings, market, session clock, bar minutes, bars per year)
CASES: dict[str, tuple[dict[str, Any], str, str, float, float]] = {
    "crypto_30m": ({"path": FIXTURES / "crypto_30m"}, "crypto", "UTC", 30, 365 * 48),
    "fx_1h": (
        {"path": FIXTURES / "fx_1h" / "fx_hourly.csv", "timestamp_format": "%Y.%m.%d %H:%M"},
        "fx",
        "America/New_York@17:00",
        60,
        260 * 24,
    ),
    "crypto_1h_newest_first": (
        {
            "path": FIXTURES / "crypto_1h_newest_first",
            "symbol": "ETHUSDT",
            "timestamp_format": "%Y-%m-%d %I-%p",
            "column_map": {"volume": "Volume USDT"},
        },
        "crypto",
        "UTC",
        60,
        365 * 24,
    ),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request) -> tuple[str, pl.DataFrame, Any]:
    files = CASES[request.param][0]
    bars, report = load_bars_with_report(DataConfig(source="files", files=files))
    return request.param, bars, report


def test_market_type_is_detected_and_reported(case) -> None:
    name, bars, report = case
    _, market, clock, bar_minutes, bars_per_year = CASES[name]
    assert report.market == market and report.market_evidence.startswith("detected")
    assert report.to_metadata()["market"] == market
    profile = market_profile(bars)
    assert (profile.market, profile.detected, profile.session_clock) == (market, True, clock)
    assert profile.bar_seconds == bar_minutes * 60
    assert profile.bars_per_year == bars_per_year
    assert profile.session_bars == profile.bars_per_session == 1440 / bar_minutes


def test_sessions_follow_the_market_calendar(case) -> None:
    name, bars, _ = case
    clock = CASES[name][2]
    per_session = (
        bars.with_columns(session_date_expr(clock))
        .group_by("symbol", "session")
        .agg(n=pl.len(), first=pl.col("ts").min())
    )
    bar_minutes = CASES[name][3]
    # Every session is a whole 24-hour trading day, weekends included for crypto only.
    assert per_session["n"].unique().to_list() == [1440 // bar_minutes]
    weekdays = set(per_session["session"].dt.weekday().unique().to_list())
    if name.startswith("crypto"):
        assert weekdays == set(range(1, 8))
        assert per_session["first"].dt.time().unique().to_list() == [dt.time(0, 0)]
    else:
        # FX days run 17:00 to 17:00 New York, dated by their end: Monday .. Friday only.
        assert weekdays == {1, 2, 3, 4, 5}
        opens = per_session["first"].dt.convert_time_zone("America/New_York").dt.time()
        assert opens.unique().to_list() == [dt.time(17, 0)]


def test_shipped_features_yaml_loses_under_ten_percent_to_warm_up(case) -> None:
    name, bars, _ = case
    config = load_features_config(profile="dev").resolve(market_profile(bars))
    # No daily close: windows span sessions; regime windows of one day ('1d').
    assert config.market.cross_session is True
    assert config.regime.vol_window == 1440 // CASES[name][3]
    features, feature_report = compute_features_with_report(bars, config)
    regimes, regime_report = compute_regimes_with_report(bars, config)
    kept = features.join(regimes, on=["symbol", "ts"]).height
    assert feature_report.dropped_fraction < 0.10
    assert regime_report.dropped_fraction < 0.10
    assert 1 - kept / bars.height < 0.10
    assert regime_report.bars_per_year == CASES[name][4]
    splits = make_splits(features, config, regimes=regimes)
    assert splits.method == "auto" and splits.market == config.market_profile
    assert splits.embargo_sessions == max(1, config.required_embargo_sessions())
    assert all(splits.parts[part].rows > 0 for part in PARTS)


def test_time_of_day_starts_at_the_session_open(case) -> None:
    name, bars, _ = case
    config = load_features_config(profile="dev").resolve(market_profile(bars))
    features, _ = compute_features_with_report(bars, config)
    local = features.with_columns(
        local=pl.col("ts").dt.convert_time_zone("America/New_York" if name == "fx_1h" else "UTC")
    )
    at_open = local.filter(pl.col("local").dt.time() == config.market.session_open)
    assert at_open.height > 0
    assert at_open["tod_sin"].abs().max() < 1e-12
    assert at_open["tod_cos"].min() == pytest.approx(1.0)
    # Half a day later the phase is pi.
    half = local.filter(
        pl.col("local").dt.hour() == (config.market.session_open.hour + 12) % 24,
        pl.col("local").dt.minute() == 0,
    )
    assert half["tod_cos"].max() == pytest.approx(-1.0)


def test_windows_in_trading_time_follow_the_bar_size(case) -> None:
    name, bars, _ = case
    bar_minutes = CASES[name][3]
    overrides = {
        "market": {
            "realized_vol_windows": ["6h"],
            "return_horizons": [1, "2h"],
            "close_zscore_window": "1d",
        },
        "regime": {"vol_window": "2d", "trend_window": "1d", "trend_horizon_bars": "90min"},
    }
    config = load_features_config(profile="dev", overrides=overrides).resolve(market_profile(bars))
    assert config.market.realized_vol_windows == [360 // bar_minutes]
    assert config.market.return_horizons == [1, 120 // bar_minutes]
    assert config.market.close_zscore_window == 1440 // bar_minutes
    assert config.regime.vol_window == 2 * 1440 // bar_minutes
    assert config.regime.trend_horizon_bars == pytest.approx(90 / bar_minutes)
    # The embargo covers the longest window (2 days) without anyone computing it.
    assert config.splits.embargo_sessions == math.ceil(
        (2 * 1440 / bar_minutes - 1) / (1440 / bar_minutes)
    )


def test_a_window_shorter_than_two_bars_names_the_key() -> None:
    bars, _ = load_bars_with_report(DataConfig(source="files", files=CASES["crypto_30m"][0]))
    profile = market_profile(bars)
    short = load_features_config(
        profile="dev", overrides={"market": {"close_zscore_window": "30min"}}
    )
    with pytest.raises(
        ConfigError,
        match=r"market\.close_zscore_window: '30min' is 1 bar\(s\) of 30-minute bars; it needs "
        r">= 2 bars",
    ):
        short.resolve(profile)
    # 45 minutes of 30-minute bars round to 2 bars.
    rounded = load_features_config(profile="dev", overrides={"market": {"rsi_window": "45min"}})
    assert rounded.resolve(profile).market.rsi_window == 2


def test_a_market_in_data_yaml_that_the_bars_contradict_is_reported() -> None:
    files = CASES["crypto_30m"][0]
    _, report = load_bars_with_report(DataConfig(source="files", market="us_equity", files=files))
    assert (report.market, report.detected_market) == ("us_equity", "crypto")
    assert report.market_evidence.startswith("data.yaml (the bars look like crypto: ")
    _, agreeing = load_bars_with_report(DataConfig(source="files", market="crypto", files=files))
    assert agreeing.market_evidence == "data.yaml (agrees with the bars)"
