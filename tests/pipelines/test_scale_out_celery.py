"""The scale-out path for real: a Redis broker and a dagster-celery worker on 127.0.0.1, and the
test-profile ``full_pipeline`` launched through ``celery_executor`` with the run config of
``deploy/celery_run_config.yaml`` (broker and backend pointed at the local Redis). Every step
runs in the worker's processes, not in the test's, and a gate that fails in the worker still
blocks the later phases.

Phases 0-2 run and phase 2's gate fails (as in test_end_to_end), which keeps the test near a
minute: Celery adds about a second per step (the executor polls its tasks once a second) and
the whole graph (36 steps) took 137 s on 2 busy cores, phases 0-2 (24 steps) about 85 s.

Needs Debian's ``redis-server`` (``scripts/install_redis.sh``). Skipped without it on a
workstation; in CI (``CI=true``) a missing broker fails the test instead. The broker and the
worker run in their own process groups, ended (SIGTERM, then SIGKILL) at the end, and the test
checks that none of their processes survive.

The run cannot be ``execute_in_process``: that always runs in process. ``dg.execute_job`` runs
a reconstructable job (``tests.pipelines.celery_job``), which the worker rebuilds from its code
pointer, on a persistent instance that the worker shares: a temporary ``DAGSTER_HOME`` with
Dagster's default SQLite storage, and the same ``TRADER_*`` settings in both processes.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import psutil
import pytest
import yaml

from pipelines.instance import ensure_dagster_home
from pipelines.partitions import all_symbols_tags
from trader_env.paths import PROJECT_ROOT
from trader_env.phase_config import PHASES

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
IN_CI = os.environ.get("CI") == "true"
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 240
KINDS = ("model", "evaluation")
#: The worker's name; Celery appends ``@<hostname>``.
WORKER_NAME = "trader-test-worker"
#: The phase whose gate cannot pass: phases after it are skipped.
FAILING_PHASE = 2

pytestmark = [
    pytest.mark.slow,
    pytest.mark.scale_out,
    pytest.mark.timeout(2 * START_TIMEOUT_S + RUN_TIMEOUT_S + 60),
    # dagster-celery registers its task again for every step it submits (Celery warns).
    pytest.mark.filterwarnings("ignore::celery.exceptions.DuplicateTaskNameWarning"),
    pytest.mark.skipif(
        not Path(REDIS_SERVER).exists() and not IN_CI,
        reason="redis-server is missing: run scripts/install_redis.sh (CI=true fails instead)",
    ),
]


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready within {START_TIMEOUT_S} s")
        time.sleep(0.2)


def _redis_answers(port: int) -> bool:
    """True when a Redis server on 127.0.0.1:``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _celery_run_config(broker: str) -> dict:
    """deploy/celery_run_config.yaml with the broker and result backend on the local Redis."""
    run_config = yaml.safe_load((PROJECT_ROOT / "deploy" / "celery_run_config.yaml").read_text())
    config = run_config["execution"]["config"]
    config["broker"] = f"{broker}/0"
    config["backend"] = f"{broker}/1"
    return run_config


@dataclass(frozen=True)
class Cluster:
    """A broker and a worker on loopback, and the run config that targets them."""

    run_config: dict
    storage: Path
    #: The worker's living processes (its main process and pool) and the end of its log.
    worker_processes: Callable[[], list[psutil.Process]]
    worker_log_tail: Callable[[], str]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir_factory) -> dict[str, str]:
    """The project settings of the test and of the worker: the same storage root, configs and
    Dagster home (SQLite storage under it, which the worker writes step events to)."""
    values = {
        "TRADER_PROFILE": "test",
        "TRADER_STORAGE_ROOT": str(tmp_path / "storage"),
        "TRADER_CONFIG_DIR": str(config_dir_factory(failing_phase=FAILING_PHASE)),
        "SB3_LOGDIR": str(tmp_path / "sb3"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    ensure_dagster_home()
    return values


@pytest.fixture
def cluster(tmp_path: Path, settings: dict[str, str], process_groups) -> Iterator[Cluster]:
    """redis-server and ``dagster-celery worker start`` in their own process groups, ready."""
    if not Path(REDIS_SERVER).exists():
        pytest.fail(f"{REDIS_SERVER} is missing: run scripts/install_redis.sh")
    port = process_groups.free_port()
    redis = process_groups.start(
        [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port)]
        + ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        log=tmp_path / "redis.log",
        cwd=tmp_path,
        env=dict(os.environ),
    )
    _wait_until(lambda: _redis_answers(port) or redis.process.poll() is not None, "redis")
    assert redis.process.poll() is None, f"redis-server exited:\n{redis.log_tail()}"

    run_config = _celery_run_config(f"redis://127.0.0.1:{port}")
    worker_config = tmp_path / "celery_worker.yaml"
    worker_config.write_text(yaml.safe_dump(run_config), encoding="utf-8")
    venv_bin = Path(sys.executable).parent
    worker = process_groups.start(
        [str(venv_bin / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        + ["-y", str(worker_config), "-n", WORKER_NAME, "--", "--concurrency=2"],
        log=tmp_path / "celery_worker.log",
        cwd=PROJECT_ROOT,
        # dagster-celery starts `celery` from PATH; the worker imports this checkout's code.
        env={
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(PROJECT_ROOT),
        },
    )

    def worker_ready() -> bool:
        return (
            " ready." in worker.log.read_text(errors="replace") or worker.process.poll() is not None
        )

    _wait_until(worker_ready, "the Celery worker")
    assert worker.process.poll() is None, f"worker exited:\n{worker.log_tail()}"
    yield Cluster(
        run_config=run_config,
        storage=Path(settings["TRADER_STORAGE_ROOT"]),
        worker_processes=worker.living_members,
        worker_log_tail=worker.log_tail,
    )


def _step_events(events: list, event_type: str) -> dict[str, dg.DagsterEvent]:
    return {
        entry.dagster_event.step_key: entry.dagster_event
        for entry in events
        if entry.dagster_event is not None and entry.dagster_event.event_type_value == event_type
    }


def test_full_pipeline_runs_its_steps_in_a_celery_worker(cluster: Cluster) -> None:
    job = dg.build_reconstructable_job(
        "tests.pipelines.celery_job",
        "full_pipeline_on_celery",
        reconstructor_working_directory=str(PROJECT_ROOT),
    )
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            job,
            instance=instance,
            run_config=cluster.run_config,
            tags=all_symbols_tags(),
            raise_on_error=False,
        )
        events = instance.all_logs(result.run_id)
    log = cluster.worker_log_tail()

    # Every step ran in one of the worker's processes (its pool), none in the test's.
    started = {step: event.pid for step, event in _step_events(events, "STEP_START").items()}
    ran = {f"phase{phase}_{kind}" for phase in range(FAILING_PHASE + 1) for kind in KINDS}
    assert ran <= set(started), f"steps started: {sorted(started)}\n{log}"
    worker_pids = {member.pid for member in cluster.worker_processes()}
    outside = {step: pid for step, pid in started.items() if pid not in worker_pids}
    assert not outside, f"steps not run by the worker's processes {sorted(worker_pids)}: {outside}"
    assert os.getpid() not in worker_pids
    delegated = [
        entry.dagster_event
        for entry in events
        if entry.dagster_event is not None
        and "in celery worker" in (entry.dagster_event.message or "")
    ]
    assert {event.step_key for event in delegated} == set(started), "one Celery task per step"
    for event in delegated:
        assert event.event_specific_data.metadata["Celery worker"].value.startswith(
            f"{WORKER_NAME}@"
        )

    # The gate that failed in the worker blocked the later phases; nothing else failed.
    failures = _step_events(events, "STEP_FAILURE")
    assert set(failures) == {f"phase{FAILING_PHASE}_evaluation_phase{FAILING_PHASE}_gate"}, log
    assert not result.success
    materialized = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert {"bars", "features", "regimes", "splits"} | ran <= materialized
    blocked = {f"phase{phase}_{kind}" for phase in PHASES[FAILING_PHASE + 1 :] for kind in KINDS}
    assert not blocked & (materialized | set(started))
    # The worker wrote the assets where the shared storage root says.
    assert pl.read_parquet(cluster.storage / "assets" / "bars" / "SYNA.parquet").height > 0
    assert (cluster.storage / "assets" / f"phase{FAILING_PHASE}_evaluation.json").is_file()
