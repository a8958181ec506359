"""Fixtures for pipeline tests: a real Dagster instance and a private storage root per test,
copies of the configs whose gates pass, and servers (Dagster, Redis, Celery) in their own
process groups."""

from __future__ import annotations

import importlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest
import yaml

from trader_env.paths import PROJECT_ROOT
from trader_env.phase_config import PHASES

from .run_resources import run_resources

#: Seconds a stopped server's process group gets between SIGTERM and SIGKILL.
STOP_GRACE_S = 10


def _load_definitions_with_test_profile() -> None:
    """Import the definitions once under the ``test`` profile: the symbol partitions are read
    from data.yaml when the definitions load (SYNA and SYNB in that profile), and the tests
    materialize that small market. The modules build their definitions for the environment's
    symbols on first use: here too. The process environment is left as it was."""
    previous = os.environ.get("TRADER_PROFILE")
    os.environ["TRADER_PROFILE"] = "test"
    try:
        importlib.import_module("pipelines.definitions")
        for module, name in (
            ("pipelines.partitions", "SYMBOL_PARTITIONS"),
            ("pipelines.market_data", "raw_bars"),
            ("pipelines.features", "features"),
        ):
            getattr(importlib.import_module(module), name)
    finally:
        if previous is None:
            del os.environ["TRADER_PROFILE"]
        else:
            os.environ["TRADER_PROFILE"] = previous


_load_definitions_with_test_profile()


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Storage root in the test's tmp dir, with the ``test`` profile (small synthetic market)."""
    root = tmp_path / "storage"
    monkeypatch.setenv("TRADER_STORAGE_ROOT", str(root))
    monkeypatch.setenv("TRADER_PROFILE", "test")
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path / "sb3"))
    return root


@pytest.fixture
def resources(storage: Path) -> dict[str, object]:
    """The run's settings (from the environment as the fixtures before this one set it: the
    test's storage root, the ``test`` profile, a config folder) and IO managers under it."""
    return run_resources()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as dagster_instance:
        yield dagster_instance


#: Gates every phase passes on the tiny synthetic market, and the training check it always meets.
PASSING = [{"metric": "n_days", "op": ">=", "threshold": 1}]
HEALTHY = [{"metric": "completion_rate", "op": ">=", "threshold": 1}]
#: A gate no phase can pass.
UNREACHABLE = [{"metric": "sharpe", "op": ">", "threshold": 1.0e9}]


def write_config_dir(
    folder: Path,
    failing_phase: int | None = None,
    algorithm: dict[str, Any] | None = None,
    phase2_timesteps: int | None = None,
) -> Path:
    """A copy of assets_config in ``folder`` whose gates and training checks pass, except the
    gate of ``failing_phase``, which cannot pass. ``algorithm`` updates phase 0's algorithm
    section (inherited by every later phase); ``phase2_timesteps`` sets phase 2's training
    budget in the ``test`` profile."""
    shutil.copytree(PROJECT_ROOT / "assets_config", folder)
    for phase in PHASES:
        path = folder / f"phase{phase}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["training_checks"] = HEALTHY
        data["gate"] = UNREACHABLE if phase == failing_phase else PASSING
        # The plan's information-ratio target adds a criterion to the gate (phase 5): dropped.
        data.get("plan", {}).pop("target_information_ratio", None)
        if phase == 0 and algorithm is not None:
            data["algorithm"] = {**data["algorithm"], **algorithm}
        if phase == 2 and phase2_timesteps is not None:
            test = data.setdefault("profiles", {}).setdefault("test", {})
            test.setdefault("training", {})["total_timesteps"] = phase2_timesteps
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


@pytest.fixture
def config_dir_factory(tmp_path: Path) -> Callable[..., Path]:
    """``write_config_dir`` into a new folder of the test's tmp dir on each call; same keywords."""
    made = itertools.count()

    def make(**options: Any) -> Path:
        return write_config_dir(tmp_path / f"assets_config_{next(made)}", **options)

    return make


@dataclass
class ProcessGroup:
    """A server started in its own session: its process leads a process group (pgid = pid)
    holding every child it starts, so the group is ended as one."""

    process: subprocess.Popen
    log: Path

    @property
    def pgid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def living_members(self) -> list[psutil.Process]:
        members = []
        for process in psutil.process_iter(["status"]):
            try:
                if os.getpgid(process.pid) == self.pgid and process.info["status"] != "zombie":
                    members.append(process)
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return members

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the group, SIGKILL whatever is left after ``grace_s`` seconds."""
        try:
            os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.living_members():
            time.sleep(0.2)
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=grace_s)
        # SIGKILL is delivered asynchronously: a member can still be exiting right after it
        # (seen under load as a "survivor" whose command line was already gone).
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.living_members():
            time.sleep(0.1)


class ProcessGroups:
    """Starts servers in their own process groups; :meth:`stop_all` ends them all."""

    def __init__(self) -> None:
        self.started: list[ProcessGroup] = []

    @staticmethod
    def free_port() -> int:
        """A TCP port on 127.0.0.1 that nothing listens on right now."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def start(self, args: list[str], *, log: Path, cwd: Path, env: dict[str, str]) -> ProcessGroup:
        """Start ``args`` with stdout and stderr to ``log``, in a new session."""
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        group = ProcessGroup(process=process, log=log)
        self.started.append(group)
        return group

    def stop_all(self) -> list[str]:
        """End every group, last started first; the command lines of processes that survived."""
        for group in reversed(self.started):
            group.stop()
        survivors = []
        for group in self.started:
            for member in group.living_members():
                try:
                    survivors.append(f"pid {member.pid}: {' '.join(member.cmdline())}")
                except psutil.NoSuchProcess:  # it ended between the listing and now
                    continue
        return survivors


@pytest.fixture(scope="module")
def process_groups() -> Iterator[ProcessGroups]:
    """Servers of one test module, ended (SIGTERM, then SIGKILL) when the module is done; fails
    if any of their processes survives."""
    groups = ProcessGroups()
    try:
        yield groups
    finally:
        survivors = groups.stop_all()
    assert not survivors, f"processes left behind: {survivors}"
