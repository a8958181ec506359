"""Running ``python -m pipelines`` as a user does, on a private copy of the configs; starting it
in the background to kill it; reading what it left behind (stored assets, Dagster runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.io_manager import ASSET_KINDS, LEGACY_SUFFIX
from trader_env.paths import PROJECT_ROOT
from trader_env.storage import SUFFIX, read_record

#: Prefix of the temporary file of a write in progress (trader_env.atomic): not a stored asset.
TEMPORARY_PREFIX = ".tmp-"
#: Run statuses of a run that has not finished.
UNFINISHED = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def copy_configs(folder: Path) -> Path:
    """A copy of ``assets_config/*.yaml`` in ``folder`` (created), to edit for one test."""
    folder.mkdir()
    for source in (PROJECT_ROOT / "assets_config").glob("*.yaml"):
        (folder / source.name).write_text(source.read_text())
    return folder


def run_main_command(tmp_path: Path, config_dir: Path) -> subprocess.CompletedProcess:
    """The main command with the ``test`` profile, ``config_dir`` and storage in ``tmp_path``."""
    env = {
        **os.environ,
        "TRADER_STORAGE_ROOT": str(tmp_path / "storage"),
        "TRADER_CONFIG_DIR": str(config_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SB3_LOGDIR": str(tmp_path / "sb3"),
    }
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "--profile", "test"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def main_command_env(storage: Path, config_dir: Path, home: Path) -> dict[str, str]:
    """The environment of a main command with the ``test`` profile, storage root ``storage``,
    configs in ``config_dir`` and Dagster home ``home``."""
    return {
        **os.environ,
        "TRADER_PROFILE": "test",
        "TRADER_STORAGE_ROOT": str(storage),
        "TRADER_CONFIG_DIR": str(config_dir),
        "DAGSTER_HOME": str(home),
        "SB3_LOGDIR": str(storage.parent / "sb3"),
    }


def start_main_command(env: dict[str, str], *args: str) -> subprocess.Popen:
    """``python -m pipelines ARGS`` in the background, in its own process group (killed alone,
    with its children), stdout and stderr merged."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for ``process`` and return its output; fails with the output on a non-zero exit."""
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL ``process``'s group (the main command and any child) and reap it."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def wait_until(
    process: subprocess.Popen, condition: Callable[[], bool], what: str, timeout: float = 600
) -> None:
    """Poll ``condition`` every 5 ms until it holds; fails if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the process ended before {what}:\n{output}")
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.005)


def _step_events(
    instance: dg.DagsterInstance, pid: int, kind: dg.DagsterEventType
) -> list[dg.EventLogEntry]:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"trader/pid": str(pid)}), limit=1)
    return list(instance.all_logs(runs[0].run_id, of_type=kind)) if runs else []


def wait_for_step(process: subprocess.Popen, home: Path, step: str, timeout: float = 600) -> None:
    """Wait until the newest run of main command ``process`` (its ``trader/pid`` tag) under
    Dagster home ``home`` has started step ``step``."""
    with dg.DagsterInstance.from_config(str(home)) as instance:

        def started() -> bool:
            events = _step_events(instance, process.pid, dg.DagsterEventType.STEP_START)
            return any(event.step_key == step for event in events)

        wait_until(process, started, f"step {step} started", timeout)


def step_succeeded(home: Path, pid: int, step: str) -> bool:
    """Whether the newest run of the main command with process id ``pid`` finished ``step``."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        events = _step_events(instance, pid, dg.DagsterEventType.STEP_SUCCESS)
    return any(event.step_key == step for event in events)


def unfinished_runs(home: Path) -> list[str]:
    """The runs under Dagster home ``home`` that have not finished, as 'job (status)'."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [
            f"{run.job_name} ({run.status.value})"
            for run in instance.get_runs()
            if run.status in UNFINISHED
        ]


def read_stored_assets(assets: Path) -> list[Path]:
    """Read every asset file ParquetIOManager stored under ``assets``: frames
    (``<key>.parquet``, and ``<key>/<symbol>.parquet`` for partitioned assets) and records
    (``<key>.json``, ``<key>/<symbol>.json``, read as their asset's kind). Returns the files
    read, sorted.

    Raises AssertionError naming the file when one cannot be read, a frame is empty or a pickle
    is stored, and when there is no stored asset at all (a check that reads nothing proves
    nothing).
    """
    stored = sorted(
        path
        for path in assets.rglob("*")
        if path.suffix in (".parquet", SUFFIX, LEGACY_SUFFIX)
        and not path.name.startswith(TEMPORARY_PREFIX)
    )
    assert stored, f"no stored asset under {assets}"
    for path in stored:
        try:
            if path.suffix == ".parquet":
                assert pl.read_parquet(path).height > 0, "empty frame"
            elif path.suffix == SUFFIX:
                name = path.relative_to(assets).parts[0].removesuffix(SUFFIX)
                read_record(path, ASSET_KINDS[name])
            else:
                raise AssertionError("a pickle is stored")
        except Exception as exc:
            raise AssertionError(f"{path}: stored asset unreadable: {exc}") from exc
    return stored
