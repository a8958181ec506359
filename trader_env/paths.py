"""Where the project keeps its configuration and its artifacts."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def storage_root() -> Path:
    """Root folder for data and artifacts: ``$TRADER_STORAGE_ROOT`` or ``<project>/data``."""
    return Path(os.environ.get("TRADER_STORAGE_ROOT", PROJECT_ROOT / "data")).resolve()


def config_dir() -> Path:
    """Folder holding the YAML configs: ``$TRADER_CONFIG_DIR`` or ``<project>/assets_config``."""
    return Path(os.environ.get("TRADER_CONFIG_DIR", PROJECT_ROOT / "assets_config")).resolve()
