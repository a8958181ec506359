"""The project's own Dagster home, so runs, schedules and lineage survive restarts."""

from __future__ import annotations

import os
from pathlib import Path

from trader_env.paths import PROJECT_ROOT

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"

_DAGSTER_YAML = """\
# Written by pipelines.instance; edit freely, it is not overwritten once present.
telemetry:
  enabled: false
"""


def ensure_dagster_home() -> Path:
    """Point ``DAGSTER_HOME`` at ``<project>/.dagster_home`` unless the user set it; create it.

    Writes a ``dagster.yaml`` with telemetry disabled when the folder has none.
    """
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(_DAGSTER_YAML, encoding="utf-8")
    return home


if __name__ == "__main__":
    print(ensure_dagster_home())
