"""Assets of the ``features`` group: causal market features, regimes and walk-forward splits.

No ``from __future__ import annotations``: Dagster reads the real annotations.
"""

import dagster as dg
import polars as pl

from pipelines.metadata import plain_metadata, table
from pipelines.partitions import BACKFILL_POLICY, environment_definitions, partitioned_output
from pipelines.settings import PipelineSettings
from trader_env.features import (
    PARTS,
    FeaturesConfig,
    Splits,
    check_no_lookahead,
    compute_features,
    compute_features_with_report,
    compute_regimes,
    compute_regimes_with_report,
    make_splits,
    market_profile,
    regime_distribution,
)
from trader_env.yaml_config import ConfigError

GROUP = "features"
#: Truncation trials of the no-look-ahead checks; each recomputes the asset on shortened bars.
LOOKAHEAD_CUTS = 3


def features_config_for(bars: pl.DataFrame, settings: PipelineSettings) -> FeaturesConfig:
    """``features.yaml`` resolved for the market of ``bars``: ``data.yaml``'s ``market`` and
    ``session_timezone``, or detected from the bars when null (both from the run's settings). A
    window too short for the bar size is a ConfigError, raised as a Failure so the summary
    shows it."""
    configs = settings.configs
    try:
        data = configs.data
        return configs.features.resolve(market_profile(bars, data.market, data.session_timezone))
    except ConfigError as exc:
        raise _config_failure(exc, settings) from None


def _config_failure(exc: ConfigError, settings: PipelineSettings) -> dg.Failure:
    """A Failure whose description is the error, prefixed with features.yaml's path when the
    message names only the key."""
    message = str(exc)
    if ".yaml" not in message:
        message = f"{settings.config_path / 'features.yaml'}: {message}"
    return dg.Failure(description=message, allow_retries=False)


def _market_metadata(config: FeaturesConfig) -> dict:
    profile = config.market_profile
    assert profile is not None  # resolved
    return {
        "market": profile.market,
        "market_detected": profile.detected,
        "market_evidence": profile.evidence,
        "session_clock": profile.session_clock,
        "bar_seconds": profile.bar_seconds,
        "bars_per_session": profile.bars_per_session,
        "bars_per_year": profile.bars_per_year,
    }


def build_features(
    partitions: dg.PartitionsDefinition,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """``features`` and ``regimes`` partitioned by ``partitions`` (the symbols), and their
    checks."""
    features = _features_asset(partitions)
    regimes = _regimes_asset(partitions)
    return [features, regimes], _checks(features, regimes, partitions)


def _features_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name=GROUP,
        code_version="3",
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        description="Causal market features per bar (polars, per symbol and session); warm-up rows "
        "without full windows dropped and counted. One partition per symbol.",
    )
    def features(
        context: dg.AssetExecutionContext, bars: pl.DataFrame, settings: PipelineSettings
    ) -> dg.Output[pl.DataFrame]:
        config = features_config_for(bars, settings)
        frame, report = compute_features_with_report(bars, config)
        names = report.feature_names
        metadata = plain_metadata({**_market_metadata(config), **report.model_dump()})
        metadata.update(
            {
                "dagster/row_count": frame.height,
                "nan_counts": dg.MetadataValue.json(
                    frame.select(pl.col(names).is_nan().sum()).row(0, named=True)
                ),
                "preview": table(frame),
            }
        )
        profile = config.market_profile
        assert profile is not None  # resolved
        context.log.info(
            f"{len(names)} features, {frame.height} rows, {report.rows_dropped} warm-up rows dropped "
            f"({report.dropped_fraction:.1%}); market {profile.market} ({profile.evidence}), "
            f"windows {'across' if report.cross_session else 'within'} sessions"
        )
        return partitioned_output(context, frame, metadata)

    return features


def _regimes_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name=GROUP,
        code_version="3",
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        description="Market regime of every bar (volatility x trend, causal), with its numeric inputs. "
        "One partition per symbol.",
    )
    def regimes(
        context: dg.AssetExecutionContext, bars: pl.DataFrame, settings: PipelineSettings
    ) -> dg.Output[pl.DataFrame]:
        config = features_config_for(bars, settings)
        frame, report = compute_regimes_with_report(bars, config)
        distribution = regime_distribution(frame)
        metadata = plain_metadata({**_market_metadata(config), **report.model_dump()})
        metadata.update(
            {
                "dagster/row_count": frame.height,
                "regime_distribution": table(distribution, limit=100),
            }
        )
        context.log.info(
            f"regimes for {frame.height} bars, {report.rows_dropped} warm-up rows dropped "
            f"({report.dropped_fraction:.1%}), volatility annualised with "
            f"{report.bars_per_year:,.0f} bars a year"
        )
        return partitioned_output(context, frame, metadata)

    return regimes


def _checks(
    features: dg.AssetsDefinition,
    regimes: dg.AssetsDefinition,
    partitions: dg.PartitionsDefinition,
) -> list[dg.AssetChecksDefinition]:
    """Blocking checks of both assets: no look-ahead (recomputed on truncated bars) and finite
    features."""

    @dg.asset_check(
        asset=features,
        partitions_def=partitions,
        blocking=True,
        additional_ins={"bars": dg.AssetIn()},
        description="Recompute on bars truncated at random cut points: every value at or before a "
        "cut must be identical.",
    )
    def features_no_lookahead(
        bars: pl.DataFrame, settings: PipelineSettings
    ) -> dg.AssetCheckResult:
        # Resolved once on the full bars, so truncated bars use the same market and windows.
        config = features_config_for(bars, settings)
        return _lookahead_check(bars, lambda b: compute_features(b, config))

    @dg.asset_check(
        asset=regimes,
        partitions_def=partitions,
        blocking=True,
        additional_ins={"bars": dg.AssetIn()},
        description="Recompute regimes on truncated bars (annualisation pinned): values at or before "
        "each cut must be identical.",
    )
    def regimes_no_lookahead(bars: pl.DataFrame, settings: PipelineSettings) -> dg.AssetCheckResult:
        # Resolved once on the full bars: annualisation derives bars per session from the data,
        # which truncation would change.
        config = features_config_for(bars, settings)
        return _lookahead_check(bars, lambda b: compute_regimes(b, config))

    @dg.asset_check(
        asset=features,
        partitions_def=partitions,
        blocking=True,
        description="Every feature finite after warm-up.",
    )
    def features_finite(features: pl.DataFrame) -> dg.AssetCheckResult:
        numeric = [name for name, dtype in features.schema.items() if dtype.is_float()]
        bad = features.select((~pl.col(numeric).is_finite()).sum()).row(0, named=True)
        return dg.AssetCheckResult(
            passed=sum(bad.values()) == 0,
            metadata={"non_finite_per_feature": dg.MetadataValue.json(bad)},
        )

    return [features_no_lookahead, regimes_no_lookahead, features_finite]


#: Names of the definitions built for the environment's symbols on first use (tests, scripts).
ENVIRONMENT_DEFINITIONS = (
    "features",
    "regimes",
    "features_no_lookahead",
    "regimes_no_lookahead",
    "features_finite",
)


__getattr__ = environment_definitions(globals(), ENVIRONMENT_DEFINITIONS, build_features)


@dg.asset(
    group_name=GROUP,
    code_version="2",
    description="Chronological train / validation / test parts with embargo gaps, optional "
    "walk-forward folds, and normalisation statistics fitted on the training part only; "
    "carries the market (type, session clock, bars per year) the data came from.",
)
def splits(
    context: dg.AssetExecutionContext,
    bars: pl.DataFrame,
    features: pl.DataFrame,
    regimes: pl.DataFrame,
    settings: PipelineSettings,
) -> dg.Output[Splits]:
    try:
        result = make_splits(features, features_config_for(bars, settings), regimes=regimes)
    except ConfigError as exc:
        raise _config_failure(exc, settings) from None
    sizes = pl.DataFrame(
        [
            {
                "part": name,
                "first_session": str(part.first_session),
                "last_session": str(part.last_session),
                "sessions": part.sessions,
                "rows": part.rows,
            }
            for name, part in result.parts.items()
        ]
    )
    assert result.market is not None  # made from a resolved config
    metadata = {
        **plain_metadata(result.market.model_dump(mode="json")),
        "method": result.method,
        "parts": table(sizes),
        "embargo_sessions": result.embargo_sessions,
        "required_embargo_sessions": result.required_embargo_sessions,
        "folds": len(result.folds),
        "feature_names": dg.MetadataValue.json(list(result.feature_names)),
        "normalization": dg.MetadataValue.json(result.normalization.to_dict()),
    }
    market = result.market
    context.log.info(
        "splits: "
        + ", ".join(f"{name} {part.rows} rows" for name, part in result.parts.items())
        + f"; embargo {result.embargo_sessions} session(s); market {market.market}, session "
        f"clock {market.session_clock}, {market.bar_seconds / 60:g}-minute bars, "
        f"{market.bars_per_year:,.0f} bars a year"
    )
    return dg.Output(result, metadata=metadata)


def _lookahead_check(bars: pl.DataFrame, compute) -> dg.AssetCheckResult:
    result = check_no_lookahead(bars, compute, n_cuts=LOOKAHEAD_CUTS, seed=0)
    first = result.first_mismatch
    return dg.AssetCheckResult(
        passed=result.passed,
        description=result.summary(),
        metadata={
            "cuts": result.n_cuts,
            "rows_compared": result.rows_compared,
            "mismatched_rows": result.mismatched_rows,
            "first_mismatch": dg.MetadataValue.json(first.model_dump(mode="json") if first else {}),
        },
    )


@dg.asset_check(
    asset=splits,
    blocking=True,
    description="Parts are chronological and disjoint, separated by at least the embargo the "
    "longest feature window needs.",
)
def splits_disjoint_with_embargo(splits: Splits) -> dg.AssetCheckResult:
    parts = [splits.parts[name] for name in PARTS]
    gaps = {
        f"{earlier}->{later}": sum(
            before.last_session < session < after.first_session
            for session in splits.embargoed_sessions
        )
        for (earlier, before), (later, after) in zip(
            zip(PARTS, parts, strict=True), zip(PARTS[1:], parts[1:], strict=True), strict=False
        )
    }
    ordered = all(b.last_session < a.first_session for b, a in zip(parts, parts[1:], strict=False))
    enough = all(gap >= splits.required_embargo_sessions for gap in gaps.values())
    non_empty = all(part.rows > 0 for part in parts)
    return dg.AssetCheckResult(
        passed=ordered and enough and non_empty,
        metadata={
            "chronological_and_disjoint": ordered,
            "non_empty": non_empty,
            "embargo_sessions_between_parts": dg.MetadataValue.json(gaps),
            "required_embargo_sessions": splits.required_embargo_sessions,
        },
    )
