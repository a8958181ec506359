"""Errors by their cause: the underlying ConfigError / DataValidationError / Failure text of a
failed step, once, and the steps it kept from running as "not run: <step> failed"."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from pipelines.failures import blocked_by_input, not_run, step_failures
from trader_env.data.errors import DataValidationError
from trader_env.yaml_config import ConfigError

from .main_command import copy_configs, run_main_command


@dg.op
def reads_config() -> int:
    raise ConfigError("features.yaml: splits.embargo_sessions: set it >= 3")


@dg.op
def reads_data() -> int:
    try:
        raise DataValidationError("price must be > 0 (got -3.0)", "raw/ABC.csv", 3, "Close")
    except DataValidationError as exc:
        raise RuntimeError("could not load") from exc


@dg.op
def refuses() -> int:
    raise dg.Failure(description="data.yaml: key 'symbols' must list the symbols")


@dg.op
def downstream(value: int) -> int:
    return value


@dg.op
def further(value: int) -> int:
    return value


@dg.job
def broken():
    further(downstream(reads_config()))
    downstream.alias("after_data")(reads_data())
    downstream.alias("after_refusal")(refuses())


def test_the_cause_is_found_in_the_error_chain_and_downstream_steps_are_not_run() -> None:
    with dg.instance_for_test() as instance:
        result = broken.execute_in_process(instance=instance, raise_on_error=False)
    failures = step_failures(result)
    assert failures == {
        "reads_config": "ConfigError: features.yaml: splits.embargo_sessions: set it >= 3",
        "reads_data": "DataValidationError: raw/ABC.csv, line 3, column 'Close': price must be "
        "> 0 (got -3.0)",
        "refuses": "data.yaml: key 'symbols' must list the symbols",
    }
    assert not_run(result, failures) == {
        "downstream": "reads_config",
        "further": "reads_config",
        "after_data": "reads_data",
        "after_refusal": "refuses",
    }


@dg.asset
def made() -> int:
    raise ConfigError("made: broken")


@dg.asset
def needs_made(made: int) -> int:
    return made


def test_a_later_run_missing_the_failed_output_is_not_run(tmp_path: Path) -> None:
    io = dg.FilesystemIOManager(base_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        failed = dg.materialize(
            [made], instance=instance, raise_on_error=False, resources={"io_manager": io}
        )
        later = dg.materialize(
            [needs_made, made.to_source_asset()],
            instance=instance,
            raise_on_error=False,
            resources={"io_manager": io},
        )
    failures = step_failures(failed)
    assert failures == {"made": "ConfigError: made: broken"}
    assert blocked_by_input(later, failed.job_def, failures) == {"needs_made": "made"}


def test_main_command_shows_the_config_error_once_and_what_it_kept_from_running(
    tmp_path: Path,
) -> None:
    config_dir = copy_configs(tmp_path / "config")
    features_yaml = config_dir / "features.yaml"
    features = yaml.safe_load(features_yaml.read_text())
    features["profiles"]["test"]["splits"]["embargo_sessions"] = 0  # < the regimes' 1 session
    features_yaml.write_text(yaml.safe_dump(features, sort_keys=False))
    result = run_main_command(tmp_path, config_dir)
    assert result.returncode == 1
    cause = f"splits: {features_yaml}: splits.embargo_sessions: 0 is shorter than the 1 session"
    assert result.stderr.count(cause) == 1, result.stderr
    assert "set splits.embargo_sessions >= 1" in result.stderr
    assert "champion_decision: not run: splits failed" in result.stderr
    for wrapper in ("DagsterExecutionStepExecutionError", "Error occurred", "Traceback"):
        assert wrapper not in result.stderr, result.stderr
    assert "phase 0: NOT RUN: splits failed" in result.stdout
    assert "phase 5: NOT RUN: splits failed" in result.stdout
