"""The synthetic market: determinism, contract, calendar, regimes, and a learnable signal."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from trader_env.contracts import BARS_SCHEMA, REGIMES
from trader_env.data import (
    DataConfig,
    SyntheticMarket,
    generate_synthetic_market,
    load_bars_with_report,
    validate_bars,
)
from trader_env.data.config import SyntheticSourceConfig
from trader_env.data.synthetic import BARS_PER_YEAR

COST_BPS = 1.0


def small(**overrides: object) -> SyntheticSourceConfig:
    return SyntheticSourceConfig(**{"n_sessions": 20, "bars_per_session": 60, **overrides})


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    # Two symbols x 120 sessions x 390 bars: enough bars to measure Sharpe ratios reliably.
    return generate_synthetic_market(SyntheticSourceConfig(seed=3))


def daily_sharpe(frame: pl.DataFrame, column: str) -> float:
    """Annualised Sharpe of daily P&L averaged over symbols."""
    daily = (
        frame.group_by(pl.col("ts").dt.date().alias("day"))
        .agg(pl.col(column).sum() / frame["symbol"].n_unique())
        .sort("day")[column]
        .to_numpy()
    )
    return float(daily.mean() / daily.std(ddof=1) * np.sqrt(252))


def momentum_pnl(market: SyntheticMarket, lookback: int) -> pl.DataFrame:
    """Net P&L of ``sign(close_t / close_{t-lookback} - 1)``, flat on each session's last bar."""
    per_session = market.config.bars_per_session
    frames = []
    for _, bars in market.bars.group_by("symbol", maintain_order=True):
        close = bars["close"].to_numpy()
        signal = np.zeros(len(close))
        signal[lookback:] = np.sign(close[lookback:] / close[:-lookback] - 1.0)
        signal[per_session - 1 :: per_session] = 0.0
        next_return = np.append(close[1:] / close[:-1] - 1.0, 0.0)
        net = signal * next_return - COST_BPS * 1e-4 * np.abs(np.diff(signal, prepend=0.0))
        frames.append(bars.select("symbol", "ts").with_columns(net_pnl=net))
    return pl.concat(frames)


def test_same_seed_same_market_and_other_seed_differs() -> None:
    first, second = generate_synthetic_market(small()), generate_synthetic_market(small())
    assert first.bars.equals(second.bars) and first.oracle.equals(second.oracle)
    other = generate_synthetic_market(small(seed=1))
    assert not np.allclose(first.bars["close"].to_numpy(), other.bars["close"].to_numpy())


def test_adding_a_symbol_leaves_the_others_unchanged() -> None:
    two = generate_synthetic_market(small(symbols=["A", "B"]))
    three = generate_synthetic_market(small(symbols=["A", "B", "C"]))
    assert three.bars.filter(pl.col("symbol") != "C").equals(two.bars)
    a, b = (two.bars.filter(pl.col("symbol") == s)["close"].to_numpy() for s in "AB")
    assert not np.allclose(a, b)


def test_bars_satisfy_the_contract_without_repairs(market: SyntheticMarket) -> None:
    bars, report = validate_bars(market.bars)
    assert bars.equals(market.bars) and bars.schema == pl.Schema(BARS_SCHEMA)
    assert report.repaired_rows == 0 and report.rows_reordered == 0
    assert (market.bars["volume"] > 0).all()
    assert market.oracle.select("symbol", "ts").equals(market.bars.select("symbol", "ts"))


def test_calendar_weekdays_from_0930_new_york_across_dst() -> None:
    config = small(start=dt.date(2024, 3, 8), n_sessions=4, bars_per_session=30)
    bars = generate_synthetic_market(config).bars.filter(pl.col("symbol") == "SYNA")
    local = bars["ts"].dt.convert_time_zone("America/New_York")
    days = local.dt.date().unique().sort().to_list()
    # Friday, then Monday to Wednesday (the weekend is skipped; DST starts on Sunday 10 March).
    assert days == [dt.date(2024, 3, d) for d in (8, 11, 12, 13)]
    assert set(local.dt.strftime("%H:%M").gather_every(30).to_list()) == {"09:30"}
    assert local.dt.strftime("%H:%M").max() == "09:59"
    _, report = validate_bars(bars)
    assert report.stats.sessions == 4 and report.stats.intra_session_gaps == 0


def test_oracle_pnl_is_position_times_next_return(market: SyntheticMarket) -> None:
    per_session = market.config.bars_per_session
    for (symbol,), oracle in market.oracle.group_by("symbol"):
        close = market.bars.filter(pl.col("symbol") == symbol)["close"].to_numpy()
        position = oracle["position"].to_numpy().astype(float)
        assert set(np.unique(position)) <= {-1.0, 0.0, 1.0}
        assert np.all(position[per_session - 1 :: per_session] == 0.0)
        pnl = position * np.append(close[1:] / close[:-1] - 1.0, 0.0)
        np.testing.assert_allclose(oracle["pnl"].to_numpy(), pnl, rtol=1e-12, atol=1e-15)
        costs = market.config.cost_bps * 1e-4 * np.abs(np.diff(position, prepend=0.0))
        np.testing.assert_allclose(oracle["net_pnl"].to_numpy(), pnl - costs, atol=1e-15)


def test_regimes_persist_and_have_their_volatility(market: SyntheticMarket) -> None:
    frame = market.oracle.join(market.bars, on=["symbol", "ts"]).with_columns(
        pl.col("close").log().diff().over("symbol").alias("r")
    )
    assert set(frame["regime"].unique()) == set(REGIMES)
    runs = frame.select((pl.col("regime") != pl.col("regime").shift()).sum()).item()
    assert frame.height / runs > 60  # mean regime spell of 120 bars
    vol = frame.group_by("regime").agg((pl.col("r").std() * np.sqrt(BARS_PER_YEAR)).alias("vol"))
    annual = dict(vol.iter_rows())
    for regime in ("low_vol_trending", "low_vol_ranging"):
        assert 0.10 < annual[regime] < 0.20, annual
    for regime in ("high_vol_trending", "high_vol_ranging"):
        assert 0.25 < annual[regime] < 0.45, annual


def test_trending_returns_continue_and_ranging_returns_revert(market: SyntheticMarket) -> None:
    frame = (
        market.oracle.join(market.bars, on=["symbol", "ts"])
        .with_columns(pl.col("close").log().diff().over("symbol").alias("r"))
        .with_columns(
            pl.col("r").rolling_sum(10).over("symbol").alias("past"),
            pl.col("r").shift(-1).over("symbol").alias("next"),
            (pl.col("regime") == pl.col("regime").shift(-1).over("symbol")).alias("same"),
        )
        .drop_nulls()
        .filter("same")
    )
    corr = dict(
        frame.with_columns(pl.col("regime").str.contains("trending").alias("trending"))
        .group_by("trending")
        .agg(pl.corr("past", "next"))
        .iter_rows()
    )
    assert corr[True] > 0.1
    assert corr[False] < -0.02


def test_momentum_rule_earns_net_of_costs_and_the_oracle_earns_more(
    market: SyntheticMarket,
) -> None:
    oracle = daily_sharpe(market.oracle, "net_pnl")
    for lookback in (5, 10):
        momentum = daily_sharpe(momentum_pnl(market, lookback), "net_pnl")
        assert momentum > 3.0, (lookback, momentum)
        assert oracle > momentum + 5.0, (oracle, momentum)
    assert market.oracle["net_pnl"].sum() > momentum_pnl(market, 10)["net_pnl"].sum()


def test_without_planted_drift_momentum_loses() -> None:
    # The control: the rule's profit above comes from the planted trend, not from the rule.
    flat = generate_synthetic_market(SyntheticSourceConfig(seed=3, trend_drift=0.0))
    assert daily_sharpe(momentum_pnl(flat, 10), "net_pnl") < 0.0


def test_synthetic_source_through_the_loader() -> None:
    config = DataConfig(source="synthetic", synthetic=small(symbols=["X", "Y"]))
    bars, report = load_bars_with_report(config)
    assert bars.equals(generate_synthetic_market(config).bars)
    assert report.source == "synthetic" and report.symbols == ("X", "Y")
    only_y = DataConfig(source="synthetic", symbols=["Y"], synthetic=small(symbols=["X", "Y"]))
    assert load_bars_with_report(only_y)[0]["symbol"].unique().to_list() == ["Y"]
