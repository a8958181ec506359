#!/usr/bin/env bash
# Set up the environment and run the main job (the full pipeline on the default data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pipelines "$@"
