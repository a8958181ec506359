"""Entry points: read a configured source (stage 1), validate it (stage 2), or both at once."""

from __future__ import annotations

import polars as pl

from trader_env.data.config import DataConfig, load_data_config
from trader_env.data.errors import DataValidationError
from trader_env.data.files import read_files_source
from trader_env.data.raw import RawBars, frame_to_raw
from trader_env.data.report import ValidationReport
from trader_env.data.sample import read_sample_source
from trader_env.data.synthetic import generate_synthetic_market
from trader_env.data.validation import validate_bars


def _read_source(config: DataConfig) -> RawBars:
    if config.source == "sample":
        return read_sample_source(config)
    if config.source == "files":
        return read_files_source(config)
    market = generate_synthetic_market(config.synthetic)
    return frame_to_raw(
        market.bars, source="synthetic", label=f"<synthetic seed={config.synthetic.seed}>"
    )


def _keep_configured_symbols(raw: RawBars, symbols: list[str]) -> RawBars:
    """Keep rows of ``symbols`` (all when empty); refuse a listed symbol the data lacks."""
    if not symbols:
        return raw
    found = raw.frame["symbol"].unique().sort().to_list()
    absent = [symbol for symbol in symbols if symbol not in found]
    if absent:
        where = ", ".join(raw.files[:3]) + (" ..." if len(raw.files) > 3 else "")
        raise DataValidationError(
            f"no bars for symbol(s) {absent} requested (data.yaml 'symbols', the pipeline's "
            f"partitions); the data holds {found}: add bars for {absent} or list the data's "
            "symbols in data.yaml 'symbols'",
            where,
        )
    left_out = [symbol for symbol in found if symbol not in symbols]
    if not left_out:
        return raw
    frame = raw.frame.filter(pl.col("symbol").is_in(symbols))
    note = (
        f"{raw.frame.height - frame.height} rows of symbol(s) {left_out} not listed in "
        "data.symbols were left out"
    )
    return RawBars(
        source=raw.source,
        frame=frame,
        files=raw.files,
        rows_per_file=raw.rows_per_file,
        notes=(*raw.notes, note),
        columns=raw.columns,
    )


def read_raw_bars(config: DataConfig) -> RawBars:
    """Stage 1: the configured source's bars as read (typed, with file and line of each row).

    Only ``config.symbols`` are kept (all symbols when the list is empty). Raises
    :class:`DataValidationError` for anything that cannot be read or interpreted.
    """
    return _keep_configured_symbols(_read_source(config), config.symbols)


def load_bars_with_report(
    config: DataConfig | None = None,
) -> tuple[pl.DataFrame, ValidationReport]:
    """Read and validate: bars in ``BARS_SCHEMA`` and the validation report.

    ``config`` defaults to :func:`load_data_config` (``assets_config/data.yaml``).
    """
    config = config or load_data_config()
    return validate_bars(
        read_raw_bars(config), session_timezone=config.session_timezone, market=config.market
    )


def load_bars(config: DataConfig | None = None) -> pl.DataFrame:
    """Read and validate: bars in ``BARS_SCHEMA``, sorted by (symbol, ts), unique."""
    return load_bars_with_report(config)[0]
