"""The scale-out run configs in deploy/ are valid for the executors they name.

dagster-k8s and dagster-celery are not project dependencies, so their executors' config schemas
are written down here from their documentation and source (URLs below), as Dagster config
types. Each YAML file is then validated by Dagster itself against the real ``full_pipeline``
job with that executor swapped in (``dg.validate_run_config``), so a misspelt key, a wrong type
or a step name that is not an op of the job fails here.
"""

from __future__ import annotations

import re
from typing import Any

import dagster as dg
import pytest
import yaml

from pipelines.definitions import defs
from trader_env.config import PHASES
from trader_env.paths import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
HEADER = re.compile(r"^# executor: (\S+)$", re.MULTILINE)

_RETRIES = dg.Field(
    dg.Selector({"enabled": {}, "disabled": {}}), is_required=False, default_value={"enabled": {}}
)

# dagster_k8s.job.USER_DEFINED_K8S_JOB_CONFIG_SCHEMA: raw Kubernetes config for a step (also the
# value of the `dagster-k8s/config` op tag).
# https://docs.dagster.io/deployment/guides/kubernetes/customizing-your-deployment
_K8S_USER_CONFIG = dg.Shape(
    {
        "container_config": dg.Field(dg.Permissive(), is_required=False),
        "pod_template_spec_metadata": dg.Field(dg.Permissive(), is_required=False),
        "pod_spec_config": dg.Field(dg.Permissive(), is_required=False),
        "job_config": dg.Field(dg.Permissive(), is_required=False),
        "job_metadata": dg.Field(dg.Permissive(), is_required=False),
        "job_spec_config": dg.Field(dg.Permissive(), is_required=False),
        "merge_behavior": dg.Field(
            dg.Enum("K8sConfigMergeBehavior", [dg.EnumValue("SHALLOW"), dg.EnumValue("DEEP")]),
            is_required=False,
        ),
    }
)

# dagster_k8s.k8s_job_executor: DagsterK8sJobConfig.config_type_job() plus the executor's keys.
# https://docs.dagster.io/api/libraries/dagster-k8s#dagster_k8s.k8s_job_executor
# (source: python_modules/libraries/dagster-k8s/dagster_k8s/executor.py and job.py)
K8S_JOB_EXECUTOR_SCHEMA: dict[str, dg.Field] = {
    "job_image": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "image_pull_policy": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "image_pull_secrets": dg.Field(
        dg.Noneable(dg.Array(dg.Shape({"name": dg.StringSource}))), is_required=False
    ),
    "service_account_name": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "env_config_maps": dg.Field(dg.Noneable(dg.Array(dg.StringSource)), is_required=False),
    "env_secrets": dg.Field(dg.Noneable(dg.Array(dg.StringSource)), is_required=False),
    "env_vars": dg.Field(dg.Noneable(dg.Array(str)), is_required=False),
    "volume_mounts": dg.Field(
        dg.Array(
            dg.Permissive(
                {
                    "name": dg.StringSource,
                    "mount_path": dg.Field(dg.StringSource, is_required=False),
                    "mount_propagation": dg.Field(dg.StringSource, is_required=False),
                    "read_only": dg.Field(dg.BoolSource, is_required=False),
                    "sub_path": dg.Field(dg.StringSource, is_required=False),
                    "sub_path_expr": dg.Field(dg.StringSource, is_required=False),
                }
            )
        ),
        is_required=False,
    ),
    "volumes": dg.Field(dg.Array(dg.Permissive({"name": str})), is_required=False),
    "labels": dg.Field(dict, is_required=False),
    "resources": dg.Field(
        dg.Noneable(
            {
                "limits": dg.Field(dict, is_required=False),
                "requests": dg.Field(dict, is_required=False),
            }
        ),
        is_required=False,
    ),
    "scheduler_name": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "security_context": dg.Field(dict, is_required=False),
    "load_incluster_config": dg.Field(bool, is_required=False),
    "kubeconfig_file": dg.Field(dg.Noneable(str), is_required=False),
    "job_namespace": dg.Field(dg.StringSource, is_required=False),
    "retries": _RETRIES,
    "max_concurrent": dg.Field(dg.IntSource, is_required=False),
    "tag_concurrency_limits": dg.Field(dg.Noneable(dg.Array(dg.Permissive())), is_required=False),
    "step_k8s_config": dg.Field(_K8S_USER_CONFIG, is_required=False),
    "per_step_k8s_config": dg.Field(
        dg.Map(str, _K8S_USER_CONFIG, key_label_name="step_name"), is_required=False
    ),
}

# dagster_celery.celery_executor (CELERY_CONFIG).
# https://docs.dagster.io/api/libraries/dagster-celery#dagster_celery.celery_executor
# (source: python_modules/libraries/dagster-celery/dagster_celery/executor.py)
CELERY_EXECUTOR_SCHEMA: dict[str, dg.Field] = {
    "broker": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "backend": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "include": dg.Field([str], is_required=False),
    "config_source": dg.Field(dg.Noneable(dg.Permissive()), is_required=False),
    "retries": _RETRIES,
}

#: Real executors by import path: (executor name in Dagster, documented config schema).
DOCUMENTED_EXECUTORS: dict[str, tuple[str, dict[str, dg.Field]]] = {
    "dagster_k8s.k8s_job_executor": ("k8s", K8S_JOB_EXECUTOR_SCHEMA),
    "dagster_celery.celery_executor": ("celery", CELERY_EXECUTOR_SCHEMA),
}

TRAINING_STEPS = {f"phase{phase}_model" for phase in PHASES}


def _load(name: str) -> tuple[str, dict[str, Any]]:
    path = DEPLOY / name
    text = path.read_text(encoding="utf-8")
    header = HEADER.search(text)
    assert header is not None, f"{path} must name its executor in a '# executor: ...' line"
    return header.group(1), yaml.safe_load(text)


def _validate_against(executor_path: str, run_config: dict[str, Any]) -> dict[str, Any]:
    """Dagster's own validation of ``run_config`` for full_pipeline on the documented executor."""
    executor_name, schema = DOCUMENTED_EXECUTORS[executor_path]

    @dg.executor(name=executor_name, config_schema=schema)
    def documented_schema_only(_init_context):
        raise AssertionError("only the config schema is used here")

    job = defs.resolve_job_def("full_pipeline").with_executor_def(documented_schema_only)
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
    executor_name = DOCUMENTED_EXECUTORS[executor_path][0]
    assert set(resolved["execution"][executor_name]) <= set(DOCUMENTED_EXECUTORS[executor_path][1])


def test_documented_schema_rejects_a_misspelt_key() -> None:
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
