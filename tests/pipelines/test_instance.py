"""The project's dagster.yaml: run queue limit and run monitoring, added to an existing file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.instance import ensure_dagster_home
from pipelines.jobs import EXCLUSIVE_TAG


def test_existing_dagster_yaml_keeps_its_sections_and_gets_the_missing_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("# mine\ntelemetry:\n  enabled: true\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert ensure_dagster_home() == home
    text = (home / "dagster.yaml").read_text()
    assert text.startswith("# mine\n")
    config = yaml.safe_load(text)
    assert config["telemetry"] == {"enabled": True}, "the user's choice is kept"
    assert config["run_monitoring"]["enabled"] is True
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == text, "nothing added twice"

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    ((key, value),) = EXCLUSIVE_TAG.items()
    assert limits == [{"key": key, "value": value, "limit": 1}]


def test_jobs_that_write_data_models_or_the_registry_share_the_exclusive_tag() -> None:
    from pipelines.definitions import defs

    for name in ("full_pipeline", "nightly_retrain", "promote_champion", "market_data"):
        assert defs.resolve_job_def(name).tags.items() >= EXCLUSIVE_TAG.items(), name
