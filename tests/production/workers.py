"""Starting the worker processes of ``worker.py`` and watching them: shared by the kill -9,
concurrency and full-disk tests."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trader_env.paths import PROJECT_ROOT

WORKER = Path(__file__).with_name("worker.py")


def start_worker(*args: str) -> subprocess.Popen:
    """``worker.py ARGS`` in a new process (``test`` profile), stdout piped."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TRADER_PROFILE": "test"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], env=env, stdout=subprocess.PIPE, text=True
    )


def worker_result(worker: subprocess.Popen, timeout: float = 300) -> dict[str, Any]:
    """The JSON line a worker printed last, once it has ended."""
    output = worker.communicate(timeout=timeout)[0]
    return json.loads(output.strip().splitlines()[-1])


def start_together(go: Path, workers: list[subprocess.Popen]) -> None:
    """Wait until every worker is ready (imports done, inputs built), then release them all."""
    deadline = time.monotonic() + 180
    while len(list(go.parent.glob(f"{go.name}.ready-*"))) < len(workers):
        assert all(worker.poll() is None for worker in workers), "a worker ended early"
        assert time.monotonic() < deadline, "workers did not get ready"
        time.sleep(0.05)
    go.touch()


def lock_held(folder: Path) -> bool:
    """Whether another process holds ``<folder>/.lock`` (trader_env.atomic.locked) now."""
    path = folder / ".lock"
    if not path.exists():
        return False
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False
