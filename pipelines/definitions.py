"""The one ``Definitions`` object ``dagster dev -w workspace.yaml`` loads: built from the
``TRADER_*`` environment, whose values are the defaults of the ``settings`` resource that every
job shows in the Launchpad (:mod:`pipelines.settings`)."""

from pipelines.build import MAX_CONCURRENT_STEPS, build_definitions
from pipelines.settings import PipelineSettings

__all__ = ["MAX_CONCURRENT_STEPS", "build_definitions", "defs"]

defs = build_definitions(PipelineSettings.from_env())
