"""Causal market features, regimes, chronological splits and the arrays the environment reads.

Pure polars / numpy; no Dagster import. Pipeline: ``compute_features`` and ``compute_regimes``
on bars -> ``make_splits`` (fits normalisation on the training part) -> ``to_market_arrays``.
``check_no_lookahead`` verifies empirically that any of these computations is causal.
"""

from trader_env.features.arrays import to_market_arrays
from trader_env.features.config import (
    REGIME_INPUTS,
    FeaturesConfig,
    load_features_config,
    resolved_config,
)
from trader_env.features.frequency import BarFrequency, infer_bar_frequency
from trader_env.features.lookahead import (
    LookaheadCut,
    LookaheadMismatch,
    LookaheadResult,
    check_no_lookahead,
)
from trader_env.features.market import FeatureReport, compute_features, compute_features_with_report
from trader_env.features.market_config import MarketFeaturesConfig
from trader_env.features.market_profile import MarketProfile, market_profile
from trader_env.features.normalization import (
    NormalizationStats,
    apply_normalization,
    fit_normalization,
)
from trader_env.features.regime import (
    TREND_STRENGTH_CAP,
    RegimeReport,
    compute_regimes,
    compute_regimes_with_report,
    regime_distribution,
)
from trader_env.features.regime_config import RegimeConfig
from trader_env.features.splits import (
    PARTS,
    Fold,
    PartBounds,
    Splits,
    make_splits,
    required_embargo_sessions,
    select_split,
)
from trader_env.features.splits_config import (
    DateRange,
    DateSplitsConfig,
    FractionSplitsConfig,
    SplitsConfig,
    WalkForwardConfig,
)

__all__ = [
    "PARTS",
    "REGIME_INPUTS",
    "TREND_STRENGTH_CAP",
    "BarFrequency",
    "DateRange",
    "DateSplitsConfig",
    "FeatureReport",
    "FeaturesConfig",
    "Fold",
    "FractionSplitsConfig",
    "LookaheadCut",
    "LookaheadMismatch",
    "LookaheadResult",
    "MarketFeaturesConfig",
    "MarketProfile",
    "NormalizationStats",
    "PartBounds",
    "RegimeConfig",
    "RegimeReport",
    "Splits",
    "SplitsConfig",
    "WalkForwardConfig",
    "apply_normalization",
    "check_no_lookahead",
    "compute_features",
    "compute_features_with_report",
    "compute_regimes",
    "compute_regimes_with_report",
    "fit_normalization",
    "infer_bar_frequency",
    "load_features_config",
    "make_splits",
    "market_profile",
    "regime_distribution",
    "required_embargo_sessions",
    "resolved_config",
    "select_split",
    "to_market_arrays",
]
