"""Running ``python -m pipelines`` as a user does, on a private copy of the configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trader_env.paths import PROJECT_ROOT


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
