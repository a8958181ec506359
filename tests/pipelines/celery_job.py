"""The ``full_pipeline`` job on ``dagster_celery.celery_executor``, importable by module name.

Celery workers rebuild the job from a code pointer (module + function), not from the test's
objects, so the job is made by a module-level function the workers can import
(``tests.pipelines.celery_job`` with the project root on ``sys.path``).
"""

from __future__ import annotations

import dagster as dg
from dagster_celery import celery_executor


def full_pipeline_on_celery() -> dg.JobDefinition:
    """``full_pipeline`` as the project defines it, every step submitted to Celery."""
    from pipelines.definitions import defs

    return defs.resolve_job_def("full_pipeline").with_executor_def(celery_executor)
