"""Suite-wide pytest settings.

The suite runs on pytest-xdist (``-n auto --dist loadfile`` in ``pyproject.toml``): most of its
wall time is spent waiting on subprocesses (``dagster dev``, a Celery worker, the main job), so
two workers on two cores halve it. ``loadfile`` keeps a file's tests in one worker, so a
module-scoped server (the UI tests' ``dagster dev``) starts once.
"""

from __future__ import annotations

import os

import pytest

#: Past four workers the suite is bound by its longest file (the UI browser tests, ~3 minutes),
#: and each worker holds its own torch, Dagster and session fixtures (~1 GB).
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto``: the CPUs this process may run on (its affinity, which respects a
    container's CPU set, unlike xdist's count of the host's cores), at most ``MAX_WORKERS``."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))
