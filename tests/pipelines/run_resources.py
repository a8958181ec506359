"""The resources a test run needs, from the ``TRADER_*`` environment the test has set."""

from __future__ import annotations

from pipelines.champion import OptionalInputManager
from pipelines.io_manager import ParquetIOManager
from pipelines.settings import SETTINGS_KEY, PipelineSettings


def run_resources() -> dict[str, object]:
    """Settings read from the environment now (storage root, profile, config folder, gates) and
    the IO managers under that storage root."""
    settings = PipelineSettings.from_env()
    base_dir = str(settings.assets_dir)
    return {
        SETTINGS_KEY: settings,
        "io_manager": ParquetIOManager(base_dir=base_dir),
        "optional_input": OptionalInputManager(base_dir=base_dir),
    }
