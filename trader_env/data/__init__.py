"""Market data: read a source (bundled sample, files, synthetic market), validate, report.

Two stages, stored as separate Dagster assets: :func:`read_raw_bars` returns bars as read with
their provenance; :func:`validate_bars` turns them into the data contract
(:data:`trader_env.contracts.BARS_SCHEMA`) and a :class:`ValidationReport`.
"""

from trader_env.data.config import DataConfig, load_data_config
from trader_env.data.errors import DataValidationError
from trader_env.data.loader import load_bars, load_bars_with_report, read_raw_bars
from trader_env.data.raw import RawBars, merge_raw, split_by_symbol
from trader_env.data.report import ValidationReport
from trader_env.data.synthetic import SyntheticMarket, generate_synthetic_market
from trader_env.data.validation import validate_bars

__all__ = [
    "DataConfig",
    "DataValidationError",
    "RawBars",
    "SyntheticMarket",
    "ValidationReport",
    "generate_synthetic_market",
    "load_bars",
    "load_bars_with_report",
    "load_data_config",
    "merge_raw",
    "read_raw_bars",
    "split_by_symbol",
    "validate_bars",
]
