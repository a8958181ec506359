"""The project's own Dagster home, so runs, schedules and lineage survive restarts.

Its ``dagster.yaml`` configures:

- the run queue: runs tagged ``trader/exclusive: train_or_promote`` (every job that trains,
  ingests or promotes, see :data:`pipelines.jobs.EXCLUSIVE_TAG`) run one at a time, so a
  new-files run, the nightly run and a click in the UI queue up instead of training on the same
  cores and writing the same files at once;
- run monitoring: the daemon (``dagster dev`` runs it) marks runs that never started, or
  whose worker process died, as failed instead of leaving them "started" in the UI. Runs of
  the main command execute in its own process, outside the daemon's launcher: the main command
  itself marks its earlier runs whose process is gone as failed (``pipelines/__main__.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from trader_env.paths import PROJECT_ROOT

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"

_HEADER = "# Written by pipelines.instance; edit freely. Missing sections are added back.\n"

#: Top-level sections of dagster.yaml that the project needs; added when absent, never changed.
SECTIONS: dict[str, dict] = {
    "telemetry": {"enabled": False},
    "run_monitoring": {
        "enabled": True,
        "start_timeout_seconds": 180,
        "cancel_timeout_seconds": 180,
        "poll_interval_seconds": 60,
    },
    "concurrency": {
        "runs": {
            "tag_concurrency_limits": [
                {"key": "trader/exclusive", "value": "train_or_promote", "limit": 1}
            ]
        }
    },
}


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, or ``<project>/.dagster_home`` when unset; the environment is not
    changed."""
    return Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()


def prepare_dagster_home(home: Path) -> Path:
    """Create ``home`` and its ``dagster.yaml`` with the sections of :data:`SECTIONS`; an
    existing file keeps every section it has and gets the missing ones appended."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    text = config.read_text(encoding="utf-8") if config.exists() else _HEADER
    present = yaml.safe_load(text) or {}
    missing = {key: value for key, value in SECTIONS.items() if key not in present}
    if missing:
        addition = yaml.safe_dump(missing, sort_keys=False)
        config.write_text(text.rstrip("\n") + "\n" + addition, encoding="utf-8")
    return home


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at ``<project>/.dagster_home`` unless the user set it, and prepare
    it (:func:`prepare_dagster_home`): for scripts that start Dagster processes inheriting the
    variable. The main command uses :func:`dagster_home` and leaves the environment alone."""
    home = dagster_home()
    os.environ.setdefault("DAGSTER_HOME", str(home))
    return prepare_dagster_home(home)


if __name__ == "__main__":
    print(ensure_dagster_home())
