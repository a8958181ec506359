"""The Parquet IO manager with symbol partitions: one file per partition, written atomically,
split from and merged back into the value of a run over several partitions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.io_manager import ParquetIOManager

KEY = dg.AssetKey("bars")
FRAME = pl.DataFrame({"symbol": ["A", "A", "B"], "close": [1.0, 2.0, 3.0]})


PARTS = dg.StaticPartitionsDefinition(["A", "B"])


def _store(base: Path, obj, partitions: list[str]) -> ParquetIOManager:
    manager = ParquetIOManager(base_dir=str(base))
    context = dg.build_output_context(
        asset_key=KEY,
        asset_partitions_def=PARTS,
        asset_partition_key_range=dg.PartitionKeyRange(partitions[0], partitions[-1]),
    )
    manager.handle_output(context, obj)
    return manager


def _load(manager: ParquetIOManager, partitions: list[str]):
    context = dg.build_input_context(
        asset_key=KEY,
        asset_partitions_def=PARTS,
        asset_partition_key_range=dg.PartitionKeyRange(partitions[0], partitions[-1]),
    )
    return manager.load_input(context)


def test_a_frame_over_two_partitions_is_stored_per_symbol_and_reloaded(tmp_path: Path) -> None:
    manager = _store(tmp_path, FRAME, ["A", "B"])
    assert pl.read_parquet(tmp_path / "bars" / "A.parquet")["close"].to_list() == [1.0, 2.0]
    assert pl.read_parquet(tmp_path / "bars" / "B.parquet")["close"].to_list() == [3.0]
    assert _load(manager, ["A", "B"]).equals(FRAME)
    assert _load(manager, ["B"])["symbol"].to_list() == ["B"]


def test_a_mapping_is_stored_per_key_and_reloaded_as_a_mapping(tmp_path: Path) -> None:
    manager = _store(tmp_path, {"A": [1], "B": [2]}, ["A", "B"])
    assert (tmp_path / "bars" / "A.pkl").exists()
    assert _load(manager, ["A", "B"]) == {"A": [1], "B": [2]}


def test_rows_outside_the_runs_partitions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not all belong to the run's partitions"):
        _store(tmp_path, FRAME, ["A"])
    assert not (tmp_path / "bars").exists(), "nothing half-written"


def test_a_missing_partition_names_asset_and_partition(tmp_path: Path) -> None:
    manager = _store(tmp_path, FRAME.filter(pl.col("symbol") == "A"), ["A"])
    with pytest.raises(FileNotFoundError, match="asset bars partition 'B'"):
        _load(manager, ["A", "B"])
