"""Real in-process materializations of ``raw_bars`` and ``bars`` with their blocking checks,
per symbol partition and over all of them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.definitions import defs
from pipelines.market_data import bars, bars_ordering, bars_price_sanity, bars_schema, raw_bars
from pipelines.partitions import SYMBOL_PARTITIONS, all_symbols_tags
from trader_env.lineage import frame_fingerprint, versions_by_symbol

DATA_ASSETS = [raw_bars, bars, bars_schema, bars_ordering, bars_price_sanity]


def _files_run_config(folder: Path) -> dict:
    return {"ops": {"raw_bars": {"config": {"source": "files", "path": str(folder)}}}}


def _write_csv(path: Path, closes: list[str]) -> None:
    rows = ["Date,Open,High,Low,Close,Volume"]
    for minute, close in enumerate(closes):
        rows.append(f"2024-03-04 14:{30 + minute:02d}:00,100,101,99,{close},1000")
    path.write_text("\n".join(rows) + "\n")


def test_definitions_load_and_name_the_data_assets() -> None:
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert {"raw_bars", "bars"} <= keys


def _data_versions(result: dg.ExecuteInProcessResult, node: str) -> dict[str, str]:
    return {
        event.partition: event.tags["dagster/data_version"]
        for event in result.asset_materializations_for_node(node)
    }


def test_partitions_are_the_profiles_symbols() -> None:
    assert SYMBOL_PARTITIONS.get_partition_keys() == ["SYNA", "SYNB"]
    assert all_symbols_tags() == {
        "dagster/asset_partition_range_start": "SYNA",
        "dagster/asset_partition_range_end": "SYNB",
    }


def test_materialize_synthetic_bars_over_all_symbols_with_checks(instance, resources) -> None:
    result = dg.materialize(
        DATA_ASSETS, instance=instance, resources=resources, tags=all_symbols_tags()
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"bars_schema": True, "bars_ordering": True, "bars_price_sanity": True}
    stored = result.output_for_node("bars")
    assert stored.height == 2 * 60 * 60
    metadata = result.asset_materializations_for_node("bars")[0].metadata
    assert metadata["rows_out"].value == stored.height
    assert set(_data_versions(result, "bars").values()) == {frame_fingerprint(stored)}
    hashes = {
        event.partition: event.metadata["content_hash"].value
        for event in result.asset_materializations_for_node("bars")
    }
    assert hashes == versions_by_symbol(stored, ["SYNA", "SYNB"])
    base = Path(resources["io_manager"].base_dir)
    for symbol in ("SYNA", "SYNB"):
        on_disk = pl.read_parquet(base / "bars" / f"{symbol}.parquet")
        assert on_disk["symbol"].unique().to_list() == [symbol]
        assert on_disk.equals(stored.filter(pl.col("symbol") == symbol))


def test_one_symbol_materializes_alone_with_the_same_data_version(instance, resources) -> None:
    base = Path(resources["io_manager"].base_dir)
    first = dg.materialize(
        DATA_ASSETS, instance=instance, resources=resources, partition_key="SYNB"
    )
    assert first.success
    assert first.output_for_node("bars")["symbol"].unique().to_list() == ["SYNB"]
    assert (base / "bars" / "SYNB.parquet").exists()
    assert not (base / "bars" / "SYNA.parquet").exists(), "only the requested symbol ran"
    assert set(_data_versions(first, "bars")) == {"SYNB"}

    both = dg.materialize(
        DATA_ASSETS, instance=instance, resources=resources, tags=all_symbols_tags()
    )
    alone = _data_versions(first, "bars")["SYNB"]
    assert alone == versions_by_symbol(both.output_for_node("bars"), ["SYNB"])["SYNB"], (
        "a one-symbol run's data version is the hash of that symbol's bars"
    )


def test_bad_folder_fails_the_run_and_keeps_previous_bars(instance, resources, tmp_path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    _write_csv(good / "SYNA.csv", ["100.5", "100.6", "100.7"])
    first = dg.materialize(
        DATA_ASSETS,
        instance=instance,
        resources=resources,
        run_config=_files_run_config(good),
        partition_key="SYNA",
    )
    assert first.success
    stored_path = Path(resources["io_manager"].base_dir) / "bars" / "SYNA.parquet"
    before = pl.read_parquet(stored_path)
    assert before["symbol"].unique().to_list() == ["SYNA"]

    bad = tmp_path / "bad"
    bad.mkdir()
    _write_csv(bad / "SYNA.csv", ["100.5", "-3", "100.7"])
    second = dg.materialize(
        DATA_ASSETS,
        instance=instance,
        resources=resources,
        run_config=_files_run_config(bad),
        partition_key="SYNA",
        raise_on_error=False,
    )
    assert not second.success
    failure = second.get_step_failure_events()[0]
    message = failure.step_failure_data.error.message
    assert "SYNA.csv" in message and "line 3" in message and "'Close'" in message
    assert not second.is_node_success("bars")
    assert pl.read_parquet(stored_path).equals(before)
