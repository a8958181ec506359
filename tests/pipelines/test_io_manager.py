"""The Parquet IO manager with symbol partitions: one file per partition, written atomically,
split from and merged back into the value of a run over several partitions; values that are
not frames stored as typed JSON records, and an earlier version's pickles refused unread."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.io_manager import LegacyPickleError, ParquetIOManager, read_stored
from trader_env.data.raw import RawBars
from trader_env.storage import StoredValueError

KEY = dg.AssetKey("bars")
RAW = dg.AssetKey("raw_bars")
FRAME = pl.DataFrame({"symbol": ["A", "A", "B"], "close": [1.0, 2.0, 3.0]})


PARTS = dg.StaticPartitionsDefinition(["A", "B"])


def _store(base: Path, obj, partitions: list[str], key: dg.AssetKey = KEY) -> ParquetIOManager:
    manager = ParquetIOManager(base_dir=str(base))
    context = dg.build_output_context(
        asset_key=key,
        asset_partitions_def=PARTS,
        asset_partition_key_range=dg.PartitionKeyRange(partitions[0], partitions[-1]),
    )
    manager.handle_output(context, obj)
    return manager


def _load(manager: ParquetIOManager, partitions: list[str], key: dg.AssetKey = KEY):
    context = dg.build_input_context(
        asset_key=key,
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


def _raw(symbol: str) -> RawBars:
    frame = FRAME.filter(pl.col("symbol") == symbol)
    return RawBars("files", frame, (f"{symbol}.csv",), {f"{symbol}.csv": frame.height}, ("n",))


def test_a_mapping_is_stored_per_key_as_records_and_reloaded_as_a_mapping(
    tmp_path: Path,
) -> None:
    manager = _store(tmp_path, {"A": _raw("A"), "B": _raw("B")}, ["A", "B"], RAW)
    assert sorted(p.name for p in (tmp_path / "raw_bars").iterdir()) == ["A.json", "B.json"]
    loaded = _load(manager, ["A", "B"], RAW)
    assert sorted(loaded) == ["A", "B"]
    for symbol, raw in loaded.items():
        assert isinstance(raw, RawBars) and raw.frame.equals(_raw(symbol).frame)
        assert (raw.files, raw.rows_per_file, raw.notes) == (
            (f"{symbol}.csv",),
            {f"{symbol}.csv": raw.frame.height},
            ("n",),
        )


def test_a_value_of_the_wrong_kind_is_refused_naming_the_asset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="asset bars stores a value that is not a polars frame"):
        _store(tmp_path, {"A": [1], "B": [2]}, ["A", "B"])
    with pytest.raises(
        StoredValueError, match=r"raw_bars/[AB]\.json: a RawBars must be a RawBars, got list"
    ):
        _store(tmp_path, {"A": [1], "B": [2]}, ["A", "B"], RAW)
    assert not list(tmp_path.rglob("*.json")), "nothing written"


class _RunsOnLoad:
    """Unpickles as ``Path(marker).touch()``: what a pickle in a shared storage root can do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_an_earlier_versions_pickle_is_refused_unread_then_replaced(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    legacy = tmp_path / "raw_bars" / "A.pkl"
    legacy.parent.mkdir()
    legacy.write_bytes(pickle.dumps(_RunsOnLoad(marker)))
    manager = ParquetIOManager(base_dir=str(tmp_path))
    expected = re.escape(f"{legacy}: asset raw_bars is stored as a pickle by an earlier version")
    with pytest.raises(LegacyPickleError, match=f"^{expected}.*Re-materialize raw_bars"):
        _load(manager, ["A"], RAW)
    assert not marker.exists(), "the pickle was never loaded"

    # Materializing the asset again stores it as a record and removes the pickle.
    _store(tmp_path, {"A": _raw("A")}, ["A"], RAW)
    assert not legacy.exists() and (tmp_path / "raw_bars" / "A.json").is_file()
    assert _load(manager, ["A"], RAW)["A"].frame.equals(_raw("A").frame)


def test_a_damaged_record_is_refused_naming_the_file(tmp_path: Path) -> None:
    _store(tmp_path, {"A": _raw("A")}, ["A"], RAW)
    stored = tmp_path / "raw_bars" / "A.json"
    text = stored.read_text()
    stored.write_text(text[: len(text) // 2])
    with pytest.raises(StoredValueError, match=rf"{stored}: not a stored value: not UTF-8 JSON"):
        read_stored(tmp_path, RAW, "A")
    stored.write_text(text.replace('"$record": "RawBars"', '"$record": "Popen"'))
    with pytest.raises(StoredValueError, match="unknown record type 'Popen'"):
        read_stored(tmp_path, RAW, "A")


def test_rows_outside_the_runs_partitions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not all belong to the run's partitions"):
        _store(tmp_path, FRAME, ["A"])
    assert not (tmp_path / "bars").exists(), "nothing half-written"


def test_a_missing_partition_names_asset_and_partition(tmp_path: Path) -> None:
    manager = _store(tmp_path, FRAME.filter(pl.col("symbol") == "A"), ["A"])
    with pytest.raises(FileNotFoundError, match="asset bars partition 'B'"):
        _load(manager, ["A", "B"])
