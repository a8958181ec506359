"""MarketArrays built from bars, features, regimes and splits."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from trader_env.features import (
    compute_features,
    compute_regimes,
    load_features_config,
    make_splits,
    resolved_config,
    to_market_arrays,
)


@pytest.fixture(scope="module")
def pipeline(market):
    config = resolved_config(market, load_features_config(profile="test"))
    features = compute_features(market, config)
    regimes = compute_regimes(market, config)
    splits = make_splits(features, config, regimes=regimes)
    return market, features, regimes, splits


def test_arrays_have_contract_dtypes_shapes_and_layout(pipeline) -> None:
    bars, features, regimes, splits = pipeline
    arrays = to_market_arrays(bars, features, regimes, splits, "train")
    assert [a.symbol for a in arrays] == ["S0", "S1"]
    for a in arrays:
        n = len(a)
        assert n == splits.parts["train"].rows_per_symbol[a.symbol]
        assert a.features.dtype == np.float32 and a.features.shape == (n, len(a.feature_names))
        assert a.features.flags["C_CONTIGUOUS"] and not a.features.flags["WRITEABLE"]
        assert a.feature_names == (*splits.feature_names[:-2], "realized_vol_ann", "trend_strength")
        assert a.ts.dtype == np.int64 and a.session_id.dtype == np.int64
        assert a.regime.dtype == np.int8 and a.close.dtype == np.float64
        assert all(arr.flags["C_CONTIGUOUS"] for arr in (a.ts, a.open, a.close, a.regime))
        assert np.all(np.diff(a.ts) > 0) and np.all(np.diff(a.session_id) >= 0)
        assert np.isfinite(a.features).all()


def test_arrays_carry_the_joined_values(pipeline) -> None:
    bars, features, regimes, splits = pipeline
    raw = to_market_arrays(bars, features, regimes, splits, "test", normalize=False)[1]
    row = 17
    ts = pl.Series([raw.ts[row]]).cast(pl.Datetime("us", "UTC"))[0]
    bar = bars.filter(pl.col("symbol") == "S1", pl.col("ts") == ts).row(0, named=True)
    feature = features.filter(pl.col("symbol") == "S1", pl.col("ts") == ts).row(0, named=True)
    regime = regimes.filter(pl.col("symbol") == "S1", pl.col("ts") == ts).row(0, named=True)
    assert (raw.open[row], raw.high[row], raw.low[row], raw.close[row]) == (
        bar["open"],
        bar["high"],
        bar["low"],
        bar["close"],
    )
    assert raw.regime[row] == regime["regime_code"]
    assert raw.extras["vol_bucket"][row] == regime["vol_bucket"], "the volatility bucket too"
    assert raw.extras["vol_bucket"].dtype == np.int8
    assert raw.session_id[row] == (feature["session"] - date(1970, 1, 1)).days
    expected = [feature[n] for n in raw.feature_names[:-2]]
    expected += [regime["realized_vol_ann"], regime["trend_strength"]]
    np.testing.assert_array_equal(raw.features[row], np.asarray(expected, dtype=np.float32))


def test_training_features_are_standardised_with_train_statistics(pipeline) -> None:
    bars, features, regimes, splits = pipeline
    train = np.concatenate(
        [a.features for a in to_market_arrays(bars, features, regimes, splits, "train")]
    )
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-3)
    raw = to_market_arrays(bars, features, regimes, splits, "test", normalize=False)[0]
    scaled = to_market_arrays(bars, features, regimes, splits, "test")[0]
    stats = splits.normalization
    expected = (raw.features.astype(np.float64) - np.array(stats.center)) / np.array(stats.scale)
    np.testing.assert_allclose(scaled.features, expected, rtol=1e-5, atol=1e-5)


def test_splits_without_regimes_cannot_normalise_regime_inputs(pipeline) -> None:
    bars, features, regimes, _ = pipeline
    config = resolved_config(bars, load_features_config(profile="test"))
    market_only = make_splits(features, config)
    with pytest.raises(ValueError, match=r"make_splits\(\.\.\., regimes=\.\.\.\)"):
        to_market_arrays(bars, features, regimes, market_only, "train")
    raw = to_market_arrays(bars, features, regimes, market_only, "train", normalize=False)
    assert raw[0].feature_names[-2:] == ("realized_vol_ann", "trend_strength")


def test_fold_arrays_use_the_fold_statistics(pipeline) -> None:
    bars, features, regimes, _ = pipeline
    overrides = {"splits": {"walk_forward": {"n_folds": 2}}}
    config = resolved_config(bars, load_features_config(profile="test", overrides=overrides))
    splits = make_splits(features, config, regimes=regimes)
    arrays = to_market_arrays(bars, features, regimes, splits, "train", fold=1)
    train = np.concatenate([a.features for a in arrays])
    assert len(train) == splits.folds[1].train.rows
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-4)
