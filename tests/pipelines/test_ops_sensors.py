"""Automation of the pipeline: the drop-folder sensor, the nightly schedule and the sensors that
promote the champion after a training run."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml

from pipelines import jobs
from pipelines.definitions import defs
from pipelines.market_data import bars, bars_ordering, bars_price_sanity, bars_schema, raw_bars
from pipelines.sensors import new_market_files
from pipelines.settings import SETTINGS_KEY, PipelineSettings
from trader_env.paths import config_dir

DATA_ASSETS = [raw_bars, bars, bars_schema, bars_ordering, bars_price_sanity]
GOOD_CSV = (
    "Date,Open,High,Low,Close,Volume\n"
    "2024-03-04 14:30:00,100,101,99,100.5,1000\n"
    "2024-03-04 14:31:00,100,101,99,100.6,1000\n"
)


@pytest.fixture
def drop_folder(tmp_path: Path, storage: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config dir whose data.yaml points ``files.path`` at an (empty) folder in tmp_path."""
    folder = tmp_path / "raw"
    folder.mkdir()
    configs = tmp_path / "assets_config"
    shutil.copytree(config_dir(), configs)
    data_yaml = configs / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    data["files"]["path"] = str(folder)
    data_yaml.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("TRADER_CONFIG_DIR", str(configs))
    return folder


def _tick(instance: dg.DagsterInstance, cursor: str | None = None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return new_market_files.evaluate_tick(context)


def _touch_later(path: Path, seconds: int = 5) -> None:
    """Move the modification time forward: coarse file-system clocks can't hide a rewrite."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def test_sensor_targets_full_pipeline_and_runs_by_default() -> None:
    assert new_market_files.job_name == "full_pipeline"
    assert new_market_files.default_status == dg.DefaultSensorStatus.RUNNING
    assert 30 <= new_market_files.minimum_interval_seconds <= 120
    assert defs.resolve_sensor_def("new_market_files").job_name == "full_pipeline"


def test_new_file_requests_one_run_then_the_cursor_skips_it(instance, drop_folder) -> None:
    (drop_folder / "ABC.csv").write_text(GOOD_CSV)
    first = _tick(instance)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.run_config == {
        "ops": {"raw_bars": {"config": {"source": "files", "path": str(drop_folder)}}}
    }
    assert request.tags["market_files/changed"] == "ABC.csv"
    assert request.run_key.startswith("new-market-files-")

    again = _tick(instance, first.cursor)
    assert again.run_requests == []
    assert "no new or changed files" in again.skip_message
    assert again.cursor == first.cursor


def test_modified_and_added_files_trigger_again_with_a_new_run_key(instance, drop_folder) -> None:
    first_file = drop_folder / "ABC.csv"
    first_file.write_text(GOOD_CSV)
    first = _tick(instance)

    first_file.write_text(GOOD_CSV + "2024-03-04 14:32:00,100,101,99,100.7,1000\n")
    _touch_later(first_file)
    (drop_folder / "XYZ.parquet").write_bytes(b"not parquet yet: the run, not the sensor, says so")
    second = _tick(instance, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].tags["market_files/changed"] == "ABC.csv, XYZ.parquet"
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert _tick(instance, second.cursor).run_requests == []


def test_only_data_files_count_and_deletions_do_not_trigger(instance, drop_folder) -> None:
    (drop_folder / "README.md").write_text("drop CSV files here")
    (drop_folder / ".ABC.csv.partial").write_text(GOOD_CSV)
    (drop_folder / "notes.txt").write_text("not data")
    (drop_folder / "sub").mkdir()
    (drop_folder / "sub" / "DEF.csv").write_text(GOOD_CSV)
    empty = _tick(instance)
    assert empty.run_requests == []
    assert "no .csv / .parquet / .pq files" in empty.skip_message

    kept, dropped = drop_folder / "ABC.csv", drop_folder / "old.PQ"
    kept.write_text(GOOD_CSV)
    dropped.write_bytes(b"x")
    both = _tick(instance, empty.cursor)
    assert both.run_requests[0].tags["market_files/changed"] == "ABC.csv, old.PQ"
    dropped.unlink()
    after_delete = _tick(instance, both.cursor)
    assert after_delete.run_requests == []
    assert str(dropped) not in after_delete.cursor and str(kept) in after_delete.cursor


def test_missing_folder_skips_with_the_folder_named(instance, drop_folder) -> None:
    drop_folder.rmdir()
    result = _tick(instance)
    assert result.run_requests == []
    assert str(drop_folder) in result.skip_message and "does not exist" in result.skip_message


def test_unreadable_cursor_starts_over_instead_of_crashing(instance, drop_folder) -> None:
    (drop_folder / "ABC.csv").write_text(GOOD_CSV)
    result = _tick(instance, cursor="{not json")
    assert len(result.run_requests) == 1


def _run_request(instance, resources, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        DATA_ASSETS,
        instance=instance,
        resources=resources,
        run_config=request.run_config,
        tags=request.tags,
        raise_on_error=False,
    )


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.error.message


def test_requested_run_covers_every_symbol_partition(instance, drop_folder, resources) -> None:
    for symbol in ("SYNA", "SYNB"):
        (drop_folder / f"{symbol}.csv").write_text(GOOD_CSV)
    request = _tick(instance).run_requests[0]
    assert request.tags["dagster/asset_partition_range_start"] == "SYNA"
    assert request.tags["dagster/asset_partition_range_end"] == "SYNB"
    result = _run_request(instance, resources, request)
    assert result.success
    materialized = {e.partition for e in result.asset_materializations_for_node("bars")}
    assert materialized == {"SYNA", "SYNB"}


def test_requested_run_fails_on_a_malformed_file_with_file_and_line(
    instance, drop_folder, resources
) -> None:
    (drop_folder / "SYNA.csv").write_text(GOOD_CSV)
    (drop_folder / "SYNB.csv").write_text(GOOD_CSV.replace("100.6", "-3"))
    message = _failure_message(_run_request(instance, resources, _tick(instance).run_requests[0]))
    assert "SYNB.csv" in message and "line 3" in message and "'Close'" in message


def test_a_file_of_an_unknown_symbol_fails_naming_symbols_and_fix(
    instance, drop_folder, resources
) -> None:
    (drop_folder / "ABC.csv").write_text(GOOD_CSV)
    message = _failure_message(_run_request(instance, resources, _tick(instance).run_requests[0]))
    assert "ABC.csv" in message and "['SYNA', 'SYNB']" in message and "['ABC']" in message
    assert "data.yaml 'symbols'" in message


def test_nightly_schedule_requests_nightly_retrain_at_two() -> None:
    schedule = defs.resolve_schedule_def(jobs.nightly_schedule.name)
    assert schedule.job_name == "nightly_retrain"
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == jobs.SCHEDULE_TIMEZONE
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick_time = dt.datetime(2026, 11, 24, 2, 0, tzinfo=ZoneInfo(jobs.SCHEDULE_TIMEZONE))
    # The context enters its own instance (from the ref of this one) and leaves it, and the
    # definitions state storage it sets for the thread, only when the context is exited.
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick_time) as context,
    ):
        data = schedule.evaluate_tick(context)
    assert data.skip_message is None
    assert len(data.run_requests) == 1
    tags = data.run_requests[0].tags
    assert tags["dagster/asset_partition_range_start"] == "SYNA", "one run over every symbol"
    assert tags["dagster/asset_partition_range_end"] == "SYNB"


def _tiny_job(name: str, fail: bool = False) -> dg.JobDefinition:
    """A one-op job standing in for a real run of the job ``name``, with the settings resource."""

    @dg.op(name="step")
    def step(settings: PipelineSettings) -> None:
        if fail:
            raise RuntimeError("gate failed")

    @dg.job(name=name, resource_defs={SETTINGS_KEY: PipelineSettings.configure_at_launch()})
    def tiny() -> None:
        step()

    return tiny


def test_promotion_sensors_follow_training_runs_only(instance) -> None:
    sensors = [
        defs.resolve_sensor_def(sensor.name)
        for sensor in (jobs.promote_after_success, jobs.promote_after_failure)
    ]
    for definition in sensors:
        assert isinstance(definition, dg.RunStatusSensorDefinition)
        assert definition.job_name == "promote_champion"
        assert definition.default_status == dg.DefaultSensorStatus.RUNNING

    def tick(sensor, cursor=None):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        return sensor.evaluate_tick(context)

    # The first tick only records where the event log stands.
    starts = {sensor.name: tick(sensor).cursor for sensor in sensors}
    succeeded = _tiny_job("full_pipeline").execute_in_process(instance=instance)
    failed = _tiny_job("nightly_retrain", fail=True).execute_in_process(
        instance=instance, raise_on_error=False
    )
    _tiny_job("unrelated_job").execute_in_process(instance=instance)

    keys = {
        sensor.name: [r.run_key for r in tick(sensor, starts[sensor.name]).run_requests]
        for sensor in sensors
    }
    assert keys == {
        "promote_after_success": [f"promote-after-{succeeded.run_id}"],
        "promote_after_failure": [f"promote-after-{failed.run_id}"],
    }


def test_promotion_runs_with_the_settings_of_the_training_run(instance, tmp_path: Path) -> None:
    sensor = defs.resolve_sensor_def(jobs.promote_after_success.name)

    def tick(cursor=None):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        return sensor.evaluate_tick(context)

    start = tick().cursor
    settings = {"profile": "test", "storage_root": str(tmp_path / "elsewhere"), "gates": "advisory"}
    run_config = {"resources": {SETTINGS_KEY: {"config": settings}}}
    _tiny_job("full_pipeline").execute_in_process(instance=instance, run_config=run_config)
    (request,) = tick(start).run_requests
    assert request.run_config == run_config
