"""A main command killed with SIGKILL leaves its run "started"; the next start marks it failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from trader_env.paths import PROJECT_ROOT


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TRADER_STORAGE_ROOT": str(tmp_path / "storage"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SB3_LOGDIR": str(tmp_path / "sb3"),
        "TRADER_PROFILE": "test",
    }


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


def test_killed_run_is_marked_failed_by_the_next_start(tmp_path: Path) -> None:
    env = _env(tmp_path)
    home = Path(env["DAGSTER_HOME"])
    command = [sys.executable, "-m", "pipelines"]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    # Killed mid-run, once training has begun.
    while not (tmp_path / "storage" / "models" / "phase0").exists():
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "phase 0 never started training"
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    (killed,) = _runs(home)
    assert killed.status == dg.DagsterRunStatus.STARTED, "nobody marked the dead run"
    assert killed.tags["trader/pid"] == str(process.pid)

    # The next start (here the quick market_data job) finds it and marks it failed.
    result = subprocess.run(
        [*command, "--job", "market_data"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"earlier run {killed.run_id} (full_pipeline) did not finish" in result.stdout
    assert f"process {process.pid} is gone" in result.stdout
    statuses = {run.run_id: run.status for run in _runs(home)}
    assert statuses[killed.run_id] == dg.DagsterRunStatus.FAILURE
    assert list(statuses.values()).count(dg.DagsterRunStatus.SUCCESS) == 1
    config = (home / "dagster.yaml").read_text()
    assert "run_monitoring" in config and "trader/exclusive" in config
