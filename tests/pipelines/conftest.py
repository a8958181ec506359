"""Fixtures for pipeline tests: a real Dagster instance and a private storage root per test."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pipelines.champion import OptionalInputManager
from pipelines.io_manager import ParquetIOManager


def _load_definitions_with_test_profile() -> None:
    """Import the definitions once under the ``test`` profile: the symbol partitions are read
    from data.yaml when the definitions load (SYNA and SYNB in that profile), and the tests
    materialize that small market. The process environment is left as it was."""
    previous = os.environ.get("TRADER_PROFILE")
    os.environ["TRADER_PROFILE"] = "test"
    try:
        importlib.import_module("pipelines.definitions")
    finally:
        if previous is None:
            del os.environ["TRADER_PROFILE"]
        else:
            os.environ["TRADER_PROFILE"] = previous


_load_definitions_with_test_profile()


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Storage root in the test's tmp dir, with the ``test`` profile (small synthetic market)."""
    root = tmp_path / "storage"
    monkeypatch.setenv("TRADER_STORAGE_ROOT", str(root))
    monkeypatch.setenv("TRADER_PROFILE", "test")
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path / "sb3"))
    return root


@pytest.fixture
def resources(storage: Path) -> dict[str, object]:
    base_dir = str(storage / "assets")
    return {
        "io_manager": ParquetIOManager(base_dir=base_dir),
        "optional_input": OptionalInputManager(base_dir=base_dir),
    }


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as dagster_instance:
        yield dagster_instance
