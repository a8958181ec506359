"""The one ``Definitions`` object of the project: ``dagster dev -w workspace.yaml`` loads it."""

from __future__ import annotations

import dagster as dg

from pipelines import market_data
from pipelines.io_manager import ParquetIOManager
from trader_env.paths import storage_root

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([market_data]),
    asset_checks=dg.load_asset_checks_from_modules([market_data]),
    resources={"io_manager": ParquetIOManager(base_dir=str(storage_root() / "assets"))},
)
