"""Chronological splits, embargo, walk-forward folds and train-only normalisation."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pytest

from trader_env.features import (
    PARTS,
    FeaturesConfig,
    NormalizationStats,
    Splits,
    apply_normalization,
    compute_features,
    compute_regimes,
    fit_normalization,
    load_features_config,
    make_splits,
    resolved_config,
    select_split,
)
from trader_env.yaml_config import ConfigError


def _with(config: FeaturesConfig, **splits) -> FeaturesConfig:
    return config.model_copy(
        update={"splits": config.splits.model_validate({**config.splits.model_dump(), **splits})}
    )


@pytest.fixture(scope="module")
def frames(market):
    config = resolved_config(market, load_features_config(profile="test"))
    return config, compute_features(market, config), compute_regimes(market, config)


def _sessions(frame: pl.DataFrame) -> list[date]:
    return frame["session"].unique().sort().to_list()


def test_parts_are_chronological_disjoint_and_embargoed(frames) -> None:
    config, features, regimes = frames
    splits = make_splits(features, config, regimes=regimes)
    joined = features.join(regimes, on=["symbol", "ts", "session"])
    parts = {name: select_split(joined, splits, name) for name in PARTS}
    sessions = {name: _sessions(frame) for name, frame in parts.items()}
    all_sessions = _sessions(joined)
    for earlier, later in zip(PARTS, PARTS[1:], strict=False):
        assert max(sessions[earlier]) < min(sessions[later])
        between = [s for s in all_sessions if max(sessions[earlier]) < s < min(sessions[later])]
        assert len(between) == config.splits.embargo_sessions == 1
        assert set(between) <= set(splits.embargoed_sessions)
    # 60 sessions at 0.6 / 0.2 / 0.2, one embargo session taken from the end of each earlier part.
    assert [splits.parts[name].sessions for name in PARTS] == [35, 11, 12]
    for name in PARTS:
        assert splits.parts[name].rows == parts[name].height
        assert sum(splits.parts[name].rows_per_symbol.values()) == parts[name].height
        assert splits.parts[name].start_ts == parts[name]["ts"].min()
    assert splits.required_embargo_sessions == 1


def test_date_split_outside_the_data_names_key_range_and_fix(frames) -> None:
    config, features, _ = frames
    dated = _with(config, method="dates")  # SPY defaults: 2017..2019, the market is 2024
    with pytest.raises(ConfigError) as info:
        make_splits(features, dated)
    message = str(info.value)
    assert "splits.dates.train" in message
    assert "2024-01-02" in message  # the data's first session
    assert "method: fractions" in message


def test_date_split_keeps_configured_starts(frames) -> None:
    config, features, _ = frames
    sessions = _sessions(features)
    dated = _with(
        config,
        method="dates",
        dates={
            "train": {"start": sessions[0], "end": sessions[29]},
            "validation": {"start": sessions[30], "end": sessions[44]},
            "test": {"start": sessions[45], "end": sessions[-1]},
        },
        embargo_sessions=2,
    )
    splits = make_splits(features, dated)
    assert splits.parts["train"].last_session == sessions[27]
    assert splits.parts["validation"].first_session == sessions[30]
    assert splits.parts["validation"].last_session == sessions[42]
    assert splits.parts["test"].first_session == sessions[45]
    assert splits.embargoed_sessions == [sessions[28], sessions[29], sessions[43], sessions[44]]


def test_embargo_shorter_than_a_cross_session_window_is_refused(frames) -> None:
    config, features, _ = frames
    long_regime = config.regime.model_copy(update={"vol_window": 130})  # > 2 sessions of 60
    with pytest.raises(ConfigError, match=r"splits\.embargo_sessions: 1 .* >= 3"):
        make_splits(features, config.model_copy(update={"regime": long_regime}))


def test_embargo_that_empties_a_part_is_refused(frames) -> None:
    config, features, _ = frames
    with pytest.raises(ConfigError, match=r"splits\.embargo_sessions: .*no session in validation"):
        make_splits(features, _with(config, embargo_sessions=12))


def test_walk_forward_folds_roll_and_stay_before_test(frames) -> None:
    config, features, _ = frames
    splits = make_splits(features, _with(config, walk_forward={"n_folds": 3, "train_blocks": 2}))
    assert [fold.index for fold in splits.folds] == [0, 1, 2]
    previous_validation_end = None
    for k, fold in enumerate(splits.folds):
        train = _sessions(select_split(features, splits, "train", fold=k))
        validation = _sessions(select_split(features, splits, "validation", fold=k))
        assert (train[0], validation[-1]) == (
            fold.train.first_session,
            fold.validation.last_session,
        )
        fold_train = select_split(features, splits, "train", fold=k)
        assert fold.normalization == fit_normalization(fold_train, splits.feature_names)
        assert splits.normalization_for(k) == fold.normalization != splits.normalization
        gap = [s for s in _sessions(features) if train[-1] < s < validation[0]]
        assert len(gap) == splits.embargo_sessions
        assert validation[-1] < splits.parts["test"].first_session
        if previous_validation_end is not None:
            assert validation[0] > previous_validation_end
            assert train[0] > splits.folds[k - 1].train.first_session  # rolling, not expanding
        previous_validation_end = validation[-1]
    assert splits.folds[0].train.first_session == splits.parts["train"].first_session
    assert splits.folds[-1].validation.last_session == splits.parts["validation"].last_session
    with pytest.raises(ConfigError, match=r"splits\.walk_forward\.n_folds"):
        make_splits(features, _with(config, walk_forward={"n_folds": 60, "train_blocks": 2}))


def test_normalisation_is_fitted_on_train_only(frames) -> None:
    config, features, regimes = frames
    splits = make_splits(features, config, regimes=regimes)
    test_first = splits.parts["test"].first_session
    changed = features.with_columns(
        pl.when(pl.col("session") >= test_first)
        .then(pl.col(name) * 1000 + 7)
        .otherwise(pl.col(name))
        for name in config.market.feature_names()
    )
    assert make_splits(changed, config, regimes=regimes).normalization == splits.normalization
    train_changed = features.with_columns(pl.col("rsi_5") * 2)
    other = make_splits(train_changed, config, regimes=regimes).normalization
    assert other.center != splits.normalization.center
    train = select_split(features.join(regimes, on=["symbol", "ts", "session"]), splits, "train")
    assert splits.normalization.rows == train.height
    index = splits.feature_names.index("trend_strength")
    assert splits.normalization.center[index] == pytest.approx(train["trend_strength"].mean())


def test_standard_and_robust_statistics_by_hand() -> None:
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0], "k": [5.0] * 5})
    standard = fit_normalization(frame, ["x", "k"], "standard")
    assert standard.center == pytest.approx((22.0, 5.0))
    assert standard.scale[0] == pytest.approx(
        np.sqrt(np.mean((np.array([1, 2, 3, 4, 100]) - 22.0) ** 2))
    )
    assert standard.scale[1] == 1.0  # constant feature: no blow-up
    robust = fit_normalization(frame, ["x", "k"], "robust")
    assert robust.center == (3.0, 5.0)
    assert robust.scale == (2.0, 1.0)  # q75 = 4, q25 = 2
    scaled = apply_normalization(frame, robust)
    assert scaled["x"].to_list() == [-1.0, -0.5, 0.0, 0.5, 48.5]
    assert scaled["k"].to_list() == [0.0] * 5
    assert frame["x"].to_list() == [1.0, 2.0, 3.0, 4.0, 100.0]  # input untouched
    assert NormalizationStats.from_dict(json.loads(json.dumps(robust.to_dict()))) == robust


def test_splits_round_trip_through_json_and_select_bars(frames, market) -> None:
    config, features, regimes = frames
    splits = make_splits(features, _with(config, walk_forward={"n_folds": 2}), regimes=regimes)
    restored = Splits.from_dict(json.loads(json.dumps(splits.to_dict())))
    assert restored == splits
    test_bars = select_split(market, restored, "test")
    assert "session" not in test_bars.columns
    assert test_bars["ts"].min() <= restored.parts["test"].start_ts
    assert test_bars.height == 2 * 60 * restored.parts["test"].sessions
    with pytest.raises(ValueError, match="folds have train and validation parts only"):
        select_split(market, restored, "test", fold=0)
