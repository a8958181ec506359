"""Real in-process materializations of ``raw_bars`` and ``bars`` with their blocking checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.definitions import defs
from pipelines.market_data import bars, bars_ordering, bars_price_sanity, bars_schema, raw_bars

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


def test_materialize_synthetic_bars_with_checks(instance, resources) -> None:
    result = dg.materialize(DATA_ASSETS, instance=instance, resources=resources)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"bars_schema": True, "bars_ordering": True, "bars_price_sanity": True}
    stored = result.output_for_node("bars")
    assert stored.height == 2 * 60 * 60
    metadata = result.asset_materializations_for_node("bars")[0].metadata
    assert metadata["rows_out"].value == stored.height
    assert len(metadata["data_version"].value) == 16


def test_bad_folder_fails_the_run_and_keeps_previous_bars(instance, resources, tmp_path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    _write_csv(good / "ABC.csv", ["100.5", "100.6", "100.7"])
    first = dg.materialize(
        DATA_ASSETS, instance=instance, resources=resources, run_config=_files_run_config(good)
    )
    assert first.success
    stored_path = Path(resources["io_manager"].base_dir) / "bars.parquet"
    before = pl.read_parquet(stored_path)
    assert before["symbol"].unique().to_list() == ["ABC"]

    bad = tmp_path / "bad"
    bad.mkdir()
    _write_csv(bad / "ABC.csv", ["100.5", "-3", "100.7"])
    second = dg.materialize(
        DATA_ASSETS,
        instance=instance,
        resources=resources,
        run_config=_files_run_config(bad),
        raise_on_error=False,
    )
    assert not second.success
    failure = second.get_step_failure_events()[0]
    message = failure.step_failure_data.error.message
    assert "ABC.csv" in message and "line 3" in message and "'Close'" in message
    assert not second.is_node_success("bars")
    assert pl.read_parquet(stored_path).equals(before)
