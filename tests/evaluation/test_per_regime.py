"""Per-regime metrics and regime degradation."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from trader_env.contracts import REGIMES, VOL_BUCKETS
from trader_env.evaluation.per_regime import (
    bar_sharpe,
    estimate_bars_per_year,
    per_regime_metrics,
    per_vol_bucket_metrics,
    regime_degradation,
    regime_summary,
)

BARS_PER_YEAR = 252 * 10


def _frame(seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    good = rng.normal(0.002, 0.01, 200)  # low_vol_trending: strong
    bad = rng.normal(-0.001, 0.01, 100)  # high_vol_ranging: losing
    few = rng.normal(0.0, 0.01, 5)  # low_vol_ranging: too few bars to judge
    return pl.DataFrame(
        {
            "regime": ["low_vol_trending"] * 200
            + ["high_vol_ranging"] * 100
            + ["low_vol_ranging"] * 5,
            "bar_return": np.concatenate([good, bad, few]),
            "net_pnl": np.concatenate([good, bad, few]) * 1_000.0,
        }
    )


def test_per_regime_table_matches_direct_computation() -> None:
    frame = _frame()
    table = per_regime_metrics(frame, BARS_PER_YEAR, min_bars=30)
    assert table["regime"].to_list() == list(REGIMES)
    row = table.filter(pl.col("regime") == "low_vol_trending").row(0, named=True)
    values = frame.filter(pl.col("regime") == "low_vol_trending")["bar_return"].to_numpy()
    expected_sharpe = values.mean() / values.std(ddof=1) * math.sqrt(BARS_PER_YEAR)
    assert row["n_bars"] == 200
    assert row["share_of_bars"] == pytest.approx(200 / 305)
    assert row["sharpe"] == pytest.approx(expected_sharpe, rel=1e-12)
    assert row["total_return"] == pytest.approx(np.prod(1 + values) - 1, rel=1e-12)
    assert row["net_pnl"] == pytest.approx(values.sum() * 1_000.0, rel=1e-12)
    absent = table.filter(pl.col("regime") == "high_vol_trending").row(0, named=True)
    assert absent["n_bars"] == 0 and math.isnan(absent["sharpe"]) and not absent["eligible"]
    assert table.filter(pl.col("regime") == "low_vol_ranging")["eligible"].to_list() == [False]


def test_regime_codes_are_accepted() -> None:
    frame = _frame().with_columns(
        pl.col("regime").replace_strict(
            {name: i for i, name in enumerate(REGIMES)}, return_dtype=pl.Int8
        )
    )
    by_code = per_regime_metrics(frame, BARS_PER_YEAR)
    by_name = per_regime_metrics(_frame(), BARS_PER_YEAR)
    assert by_code.equals(by_name)


def test_degradation_uses_worst_eligible_regime() -> None:
    frame = _frame()
    table, overall, degradation = regime_summary(frame, BARS_PER_YEAR, min_bars=30)
    assert overall == pytest.approx(bar_sharpe(frame["bar_return"].to_numpy(), BARS_PER_YEAR))
    worst = table.filter(pl.col("regime") == "high_vol_ranging")["sharpe"][0]
    assert degradation == pytest.approx((overall - worst) / abs(overall))
    assert degradation > 1.0  # the losing regime is far below the whole


def test_degradation_formula_and_undefined_cases() -> None:
    assert regime_degradation(2.0, [2.5, 1.9, float("nan")]) == pytest.approx(0.05)
    assert regime_degradation(2.0, [2.5, 2.2]) == pytest.approx(-0.1)
    assert math.isnan(regime_degradation(0.0, [1.0]))
    assert math.isnan(regime_degradation(-1.0, [1.0]))
    assert math.isnan(regime_degradation(1.0, [float("nan")]))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="bar_return"):
        per_regime_metrics(pl.DataFrame({"regime": ["low_vol_trending"]}), BARS_PER_YEAR)
    with pytest.raises(ValueError, match="unknown regime"):
        per_regime_metrics(pl.DataFrame({"regime": ["sideways"], "bar_return": [0.0]}), 1.0)
    with pytest.raises(ValueError, match="codes"):
        per_regime_metrics(pl.DataFrame({"regime": [7], "bar_return": [0.0]}), 1.0)


def test_bars_per_year_estimate() -> None:
    sessions = pl.Series([1, 1, 1, 2, 2, 2])
    assert estimate_bars_per_year(sessions, 252) == pytest.approx(3 * 252)


def test_every_volatility_bucket_has_a_row_and_null_buckets_are_left_out() -> None:
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0005, 0.01, 120)
    codes = [0] * 40 + [1] * 30 + [3] * 35 + [None] * 15  # no 'high' bar; 15 without a bucket
    frame = pl.DataFrame({"vol_bucket": pl.Series(codes, dtype=pl.Int8), "bar_return": returns})
    table = per_vol_bucket_metrics(frame, BARS_PER_YEAR, min_bars=30)
    assert (
        table["vol_bucket"].to_list() == list(VOL_BUCKETS) == ["low", "medium", "high", "extreme"]
    )
    assert table["n_bars"].to_list() == [40, 30, 0, 35]
    extreme = returns[70:105]
    expected = extreme.mean() / extreme.std(ddof=1) * math.sqrt(BARS_PER_YEAR)
    assert table["sharpe"].to_list()[3] == pytest.approx(expected, rel=1e-12)
    assert table["share_of_bars"].to_list()[0] == pytest.approx(40 / 105)
    assert table["eligible"].to_list() == [True, True, False, True]


def test_the_table_shows_how_the_policy_behaves_in_each_regime() -> None:
    frame = pl.DataFrame(
        {
            "regime": ["low_vol_trending"] * 4 + ["high_vol_ranging"] * 4,
            "bar_return": [0.001, -0.001, 0.002, 0.0] * 2,
            "position": [10.0, 10.0, -5.0, 0.0, 0.0, 0.0, 0.0, -3.0],
        }
    )
    table = per_regime_metrics(frame, BARS_PER_YEAR, min_bars=1)
    rows = {row["regime"]: row for row in table.iter_rows(named=True)}
    assert rows["low_vol_trending"]["time_in_market"] == 0.75
    assert rows["low_vol_trending"]["long_share"] == pytest.approx(2 / 3)
    assert rows["high_vol_ranging"]["time_in_market"] == 0.25
    assert rows["high_vol_ranging"]["long_share"] == 0.0
    assert math.isnan(rows["low_vol_ranging"]["time_in_market"]), "no bars"
