#!/usr/bin/env bash
# Serve the Dagster UI (and the schedule/sensor daemon) on 127.0.0.1 with the project's
# DAGSTER_HOME. Extra arguments go to `dagster dev`, e.g. `-p 3001`.
set -euo pipefail
cd "$(dirname "$0")/.."
DAGSTER_HOME="$(.venv/bin/python -m pipelines.instance)"
export DAGSTER_HOME
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 "$@"
