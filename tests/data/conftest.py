"""Helpers for the market-data tests: write small input files and load them as the files source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from trader_env.data import DataConfig, ValidationReport, load_bars_with_report

LoadFiles = Callable[..., tuple[pl.DataFrame, ValidationReport]]


def files_config(path: Path, **files: Any) -> DataConfig:
    """A DataConfig reading ``path`` with the files source and ``files`` settings."""
    return DataConfig(source="files", files={"path": path, **files})


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """An empty drop folder."""
    folder = tmp_path / "raw"
    folder.mkdir()
    return folder


@pytest.fixture
def load_files() -> LoadFiles:
    """``load_files(path, **files_settings)`` -> (bars, report) through the public loader."""

    def load(path: Path, **files: Any) -> tuple[pl.DataFrame, ValidationReport]:
        return load_bars_with_report(files_config(path, **files))

    return load
