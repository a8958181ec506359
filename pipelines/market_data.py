"""Assets of the ``market_data`` group: raw bars as read from the source, and validated bars.

No ``from __future__ import annotations`` here: Dagster resolves config and context types from
real annotations at definition time.
"""

from enum import Enum
from typing import Any

import dagster as dg
import polars as pl

from pipelines.metadata import plain_metadata, table
from pipelines.partitions import BACKFILL_POLICY, environment_definitions, partitioned_output
from pipelines.settings import PipelineSettings
from trader_env.contracts import BARS_SCHEMA
from trader_env.data import (
    DataValidationError,
    RawBars,
    merge_raw,
    read_raw_bars,
    split_by_symbol,
    validate_bars,
)
from trader_env.yaml_config import ConfigError

GROUP = "market_data"


class Source(Enum):
    sample = "sample"
    files = "files"
    synthetic = "synthetic"


class RawBarsConfig(dg.Config):
    """Run-config overrides of ``assets_config/data.yaml`` for one run of ``raw_bars``."""

    source: Source | None = None
    path: str | None = None
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    timezone: str | None = None
    symbol: str | None = None

    def overrides(self) -> dict[str, Any]:
        files = {
            key: value
            for key, value in {
                "path": self.path,
                "timestamp_column": self.timestamp_column,
                "timestamp_format": self.timestamp_format,
                "timezone": self.timezone,
                "symbol": self.symbol,
            }.items()
            if value is not None
        }
        overrides: dict[str, Any] = {"files": files} if files else {}
        if self.source is not None:
            overrides["source"] = self.source.value
        return overrides


def _refuse(exc: Exception) -> dg.Failure:
    """A run failure that shows the validation message itself rather than a stack trace."""
    return dg.Failure(description=str(exc), metadata={"reason": str(exc)}, allow_retries=False)


def build_market_data(
    partitions: dg.PartitionsDefinition,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """``raw_bars`` and ``bars`` partitioned by ``partitions`` (the symbols), and the checks
    of ``bars``."""
    bars = _bars_asset(partitions)
    return [_raw_bars_asset(partitions), bars], _bars_checks(bars, partitions)


def _raw_bars_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name=GROUP,
        code_version="2",
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=1),
        description="Bars exactly as read from the configured source, with the file and line each "
        "row came from and the notes of the read (quirks handled), one partition per symbol. "
        "Nothing is repaired here.",
    )
    def raw_bars(
        context: dg.AssetExecutionContext, config: RawBarsConfig, settings: PipelineSettings
    ) -> dict[str, RawBars]:
        symbols = list(context.partition_keys)
        try:
            data_config = settings.configs.data_with({**config.overrides(), "symbols": symbols})
            raw = read_raw_bars(data_config)
        except (DataValidationError, ConfigError) as exc:
            raise _refuse(exc) from None
        frame = raw.frame
        context.add_output_metadata(
            {
                "source": data_config.source,
                "symbols": ", ".join(symbols),
                "rows": frame.height,
                "files": dg.MetadataValue.json(list(raw.files)),
                "rows_per_file": dg.MetadataValue.json(dict(raw.rows_per_file)),
                "notes": dg.MetadataValue.md(
                    "\n".join(f"- {note}" for note in raw.notes) or "none"
                ),
                "preview": table(frame),
            }
        )
        return split_by_symbol(raw, symbols)

    return raw_bars


def _bars_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name=GROUP,
        code_version="2",
        partitions_def=partitions,
        backfill_policy=BACKFILL_POLICY,
        description="Validated bars in the bars contract (trader_env/contracts.py): sorted, unique, sane prices; every "
        "repair counted in the metadata. One partition per symbol, data version = content hash.",
    )
    def bars(
        context: dg.AssetExecutionContext, raw_bars: dict[str, RawBars], settings: PipelineSettings
    ) -> dg.Output[pl.DataFrame]:
        raw = merge_raw([raw_bars[symbol] for symbol in context.partition_keys])
        try:
            data_config = settings.configs.data
            validated, report = validate_bars(raw, data_config.session_timezone, data_config.market)
        except DataValidationError as exc:
            raise _refuse(exc) from None
        if report.detected_market != report.market:
            context.log.warning(
                f"data.yaml sets market {report.market}, but {report.market_evidence}; set "
                "market: null to detect it"
            )
        metadata = plain_metadata(report.to_metadata())
        metadata.update({"dagster/row_count": validated.height, "preview": table(validated)})
        context.log.info(f"{validated.height} bars of {', '.join(context.partition_keys)}")
        return partitioned_output(context, validated, metadata)

    return bars


def _bars_checks(
    bars: dg.AssetsDefinition, partitions: dg.PartitionsDefinition
) -> list[dg.AssetChecksDefinition]:
    """Blocking checks of ``bars``: the contract's schema, ordering and price sanity."""

    @dg.asset_check(
        asset=bars,
        partitions_def=partitions,
        blocking=True,
        description="Columns and dtypes are exactly the contract's.",
    )
    def bars_schema(bars: pl.DataFrame) -> dg.AssetCheckResult:
        expected = {name: str(dtype) for name, dtype in BARS_SCHEMA.items()}
        actual = {name: str(dtype) for name, dtype in bars.schema.items()}
        return dg.AssetCheckResult(
            passed=actual == expected,
            metadata={
                "expected": dg.MetadataValue.json(expected),
                "actual": dg.MetadataValue.json(actual),
            },
        )

    @dg.asset_check(
        asset=bars,
        partitions_def=partitions,
        blocking=True,
        description="Sorted by (symbol, ts) with no duplicates.",
    )
    def bars_ordering(bars: pl.DataFrame) -> dg.AssetCheckResult:
        keys = bars.select("symbol", "ts")
        in_order = keys.equals(keys.sort("symbol", "ts"))
        duplicates = keys.height - keys.unique().height
        return dg.AssetCheckResult(
            passed=in_order and duplicates == 0,
            metadata={"sorted": in_order, "duplicate_keys": duplicates},
        )

    @dg.asset_check(
        asset=bars,
        partitions_def=partitions,
        blocking=True,
        description="Prices finite and > 0, low <= min(open, close) <= max(open, close) <= high, "
        "volume finite and >= 0.",
    )
    def bars_price_sanity(bars: pl.DataFrame) -> dg.AssetCheckResult:
        prices = ["open", "high", "low", "close"]
        counts = bars.select(
            non_positive_or_non_finite=pl.any_horizontal(
                [~pl.col(c).is_finite() | (pl.col(c) <= 0) for c in prices]
            ).sum(),
            inconsistent_ohlc=(
                (pl.col("low") > pl.min_horizontal("open", "close"))
                | (pl.max_horizontal("open", "close") > pl.col("high"))
            ).sum(),
            bad_volume=(~pl.col("volume").is_finite() | (pl.col("volume") < 0)).sum(),
        ).row(0, named=True)
        return dg.AssetCheckResult(passed=sum(counts.values()) == 0, metadata=counts)

    return [bars_schema, bars_ordering, bars_price_sanity]


#: Names of the definitions built for the environment's symbols on first use (tests, scripts).
ENVIRONMENT_DEFINITIONS = ("raw_bars", "bars", "bars_schema", "bars_ordering", "bars_price_sanity")


__getattr__ = environment_definitions(globals(), ENVIRONMENT_DEFINITIONS, build_market_data)
