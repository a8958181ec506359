"""The scale-out run configs in deploy/ are valid for the executors they name.

Each YAML file names its executor (``# executor: module.name``); that executor is imported from
dagster-k8s / dagster-celery (dev extra, versions matching Dagster's) and swapped into the real
``full_pipeline`` job, and Dagster validates the file against it (``dg.validate_run_config``):
a misspelt key, a wrong type or a step name that is not an op of the job fails here, and so
does a config that an upgrade of those packages no longer accepts.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import dagster as dg
import pytest
import yaml

from pipelines.definitions import defs
from trader_env.paths import PROJECT_ROOT
from trader_env.phase_config import PHASES

DEPLOY = PROJECT_ROOT / "deploy"
HEADER = re.compile(r"^# executor: (\S+)$", re.MULTILINE)

TRAINING_STEPS = {f"phase{phase}_model" for phase in PHASES}


def _load(name: str) -> tuple[str, dict[str, Any]]:
    path = DEPLOY / name
    text = path.read_text(encoding="utf-8")
    header = HEADER.search(text)
    assert header is not None, f"{path} must name its executor in a '# executor: ...' line"
    return header.group(1), yaml.safe_load(text)


def _executor(path: str) -> dg.ExecutorDefinition:
    """The executor at import path ``module.name``, e.g. ``dagster_celery.celery_executor``."""
    module, name = path.rsplit(".", 1)
    executor = getattr(importlib.import_module(module), name)
    assert isinstance(executor, dg.ExecutorDefinition), f"{path} is not a Dagster executor"
    return executor


def _validate_against(executor_path: str, run_config: dict[str, Any]) -> dict[str, Any]:
    """Dagster's own validation of ``run_config`` for full_pipeline on the real executor."""
    job = defs.resolve_job_def("full_pipeline").with_executor_def(_executor(executor_path))
    return dg.validate_run_config(job, run_config)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("k8s_run_config.yaml", "dagster_k8s.k8s_job_executor"),
        ("celery_run_config.yaml", "dagster_celery.celery_executor"),
    ],
)
def test_run_config_is_valid_for_the_executor_it_names(name: str, expected: str) -> None:
    executor_path, run_config = _load(name)
    assert executor_path == expected
    assert set(run_config) == {"execution"}
    resolved = _validate_against(executor_path, run_config)
    executor_name = _executor(executor_path).name
    assert set(run_config["execution"]["config"]) <= set(resolved["execution"][executor_name])


def test_executor_schema_rejects_a_misspelt_key() -> None:
    _, run_config = _load("k8s_run_config.yaml")
    run_config["execution"]["config"]["max_concurrency"] = 2
    with pytest.raises(dg.DagsterInvalidConfigError, match="max_concurrency"):
        _validate_against("dagster_k8s.k8s_job_executor", run_config)


def test_k8s_run_config_runs_the_full_profile_and_gives_training_a_gpu() -> None:
    _, run_config = _load("k8s_run_config.yaml")
    config = run_config["execution"]["config"]
    assert "TRADER_PROFILE=full" in config["env_vars"]
    assert isinstance(config["max_concurrent"], int) and config["max_concurrent"] >= 1
    mounted = {mount["mount_path"] for mount in config["volume_mounts"]}
    storage = next(v.split("=", 1)[1] for v in config["env_vars"] if v.startswith("TRADER_STO"))
    assert storage in mounted, "the storage root must be the shared volume every pod mounts"

    per_step = config["per_step_k8s_config"]
    assert set(per_step) == TRAINING_STEPS
    job = defs.resolve_job_def("full_pipeline")
    assert TRAINING_STEPS <= set(job.graph.node_names())
    for step, step_config in per_step.items():
        limits = step_config["container_config"]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 1, step
        assert step_config["pod_spec_config"]["node_selector"], step
    assert "nvidia.com/gpu" not in config["resources"]["limits"]


def test_celery_run_config_names_a_broker_and_one_task_per_worker_slot() -> None:
    _, run_config = _load("celery_run_config.yaml")
    config = run_config["execution"]["config"]
    assert config["broker"].startswith(("pyamqp://", "amqp://", "redis://"))
    assert config["config_source"]["worker_prefetch_multiplier"] == 1


def test_every_deploy_file_is_checked() -> None:
    assert {path.name for path in DEPLOY.glob("*.yaml")} == {
        "k8s_run_config.yaml",
        "celery_run_config.yaml",
    }
