"""The market as the environment sees it: bars -> features, regimes -> splits -> arrays.

One function chains the data and feature layers for code that runs outside the Dagster graph
(``make_env()`` with no arguments, benchmarks, notebooks-free experiments). The Dagster assets
run the same steps one asset at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from trader_env.contracts import MarketArrays
from trader_env.data import load_bars, load_data_config
from trader_env.features import (
    Splits,
    compute_features,
    compute_regimes,
    load_features_config,
    make_splits,
    market_profile,
    to_market_arrays,
)
from trader_env.features.splits import PartName


@dataclass(frozen=True)
class Dataset:
    """Validated bars with their features, regimes and splits."""

    bars: pl.DataFrame
    features: pl.DataFrame
    regimes: pl.DataFrame
    splits: Splits

    def arrays(self, part: PartName) -> list[MarketArrays]:
        """One :class:`MarketArrays` per symbol of ``part``, normalised with the train stats."""
        return to_market_arrays(self.bars, self.features, self.regimes, self.splits, part)


def build_market_data(
    bars: pl.DataFrame, profile: str | None = None, overrides: dict[str, Any] | None = None
) -> Dataset:
    """Features, regimes and splits of ``bars`` with ``assets_config/features.yaml`` (its
    ``profile`` section and ``overrides`` applied)."""
    data = load_data_config(profile=profile)
    config = load_features_config(profile=profile, overrides=overrides).resolve(
        market_profile(bars, data.market, data.session_timezone)
    )
    features = compute_features(bars, config)
    regimes = compute_regimes(bars, config)
    splits = make_splits(features, config, regimes=regimes)
    return Dataset(bars, features, regimes, splits)


def default_market_data(profile: str | None = None) -> Dataset:
    """The default data source of ``assets_config/data.yaml``, ready for the environment."""
    return build_market_data(load_bars(load_data_config(profile=profile)), profile)


def default_market_arrays(split: PartName = "train") -> list[MarketArrays]:
    """Arrays of one split of the default data (what ``make_env()`` trains on)."""
    return default_market_data().arrays(split)
