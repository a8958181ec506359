"""The mirror image of a market (trader_env.features.mirror, Dataset.mirrored): returns
negated, everything else about the bars kept, features computed as for the real market."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tests.features.conftest import random_market
from trader_env.contracts import BARS_SCHEMA, REGIMES
from trader_env.dataset import Dataset, build_market_data
from trader_env.features import mirror_bars


def _log_returns(frame: pl.DataFrame, symbol: str) -> np.ndarray:
    close = frame.filter(pl.col("symbol") == symbol)["close"].to_numpy()
    return np.diff(np.log(close))


def test_mirror_negates_every_log_return_and_keeps_the_rest() -> None:
    bars = random_market(seed=3, symbols=2, sessions=5, bars=30, sigma=2e-3)
    mirrored = mirror_bars(bars)
    assert mirrored.schema == BARS_SCHEMA
    assert mirrored.select("symbol", "ts").equals(bars.select("symbol", "ts"))
    assert mirrored["volume"].equals(bars["volume"])
    for symbol in ("S0", "S1"):
        np.testing.assert_allclose(
            _log_returns(mirrored, symbol), -_log_returns(bars, symbol), atol=1e-12
        )
        first = bars.filter(pl.col("symbol") == symbol)["close"][0]
        assert mirrored.filter(pl.col("symbol") == symbol)["close"][0] == pytest.approx(first)
    # A bar's range keeps its size in log terms and every bar stays a valid bar.
    np.testing.assert_allclose(
        np.log(mirrored["high"] / mirrored["low"]), np.log(bars["high"] / bars["low"]), atol=1e-12
    )
    o, c = mirrored["open"].to_numpy(), mirrored["close"].to_numpy()
    assert (mirrored["high"].to_numpy() >= np.maximum(o, c)).all()
    assert (mirrored["low"].to_numpy() <= np.minimum(o, c)).all()


def test_mirroring_twice_gives_the_bars_back() -> None:
    bars = random_market(seed=4, symbols=1, sessions=3, bars=20)
    twice = mirror_bars(mirror_bars(bars))
    for column in ("open", "high", "low", "close"):
        np.testing.assert_allclose(twice[column], bars[column], rtol=1e-12)


def test_a_mirrored_dataset_reverses_direction_features_and_keeps_the_others(
    market: pl.DataFrame,
) -> None:
    dataset = build_market_data(market, profile="test")
    real, mirror = dataset.arrays("train"), dataset.mirrored().arrays("train")
    assert [a.symbol for a in mirror] == [a.symbol for a in real]
    for a, b in zip(real, mirror, strict=True):
        assert np.array_equal(a.ts, b.ts) and a.feature_names == b.feature_names
        # Reflected about one constant per symbol (the square of its first close).
        np.testing.assert_allclose(a.close * b.close, a.close[0] * b.close[0], rtol=1e-12)
        column = {name: i for i, name in enumerate(a.feature_names)}
        # Normalised with the real training statistics: a return feature is reflected about
        # the normalised zero return, -mean / std.
        stats = dataset.splits.normalization
        for name in ("log_return_1", "log_return_5"):
            i = column[name]
            zero = -stats.center[i] / stats.scale[i]
            np.testing.assert_allclose(
                b.features[:, i] - zero, -(a.features[:, i] - zero), atol=1e-4
            )
        for name in ("realized_vol_ann", "trend_strength", "tod_sin", "volume_zscore_10"):
            np.testing.assert_allclose(
                b.features[:, column[name]], a.features[:, column[name]], atol=1e-4
            )
        # Regimes are direction-free (volatility x |trend|): the same on both.
        assert np.array_equal(a.regime, b.regime)
        assert set(np.unique(a.regime)) <= set(range(len(REGIMES)))


def test_a_dataset_without_its_features_config_cannot_be_mirrored(market: pl.DataFrame) -> None:
    built = build_market_data(market, profile="test")
    bare = Dataset(built.bars, built.features, built.regimes, built.splits)
    with pytest.raises(ValueError, match="features_config"):
        bare.mirrored()
