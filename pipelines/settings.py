"""The pipeline's settings as a Dagster resource: profile, config folder, storage root and gate
mode, visible and editable in the UI's Launchpad of every job (``resources.settings.config``).

Two kinds of settings:

- **per run** (this resource): every asset, check and IO manager reads them from the run's
  resource config, so one run can use another profile, config folder, storage root or gate
  mode than the next. Their defaults are the ``TRADER_*`` environment variables as they were
  when the definitions loaded (:meth:`PipelineSettings.from_env`).
- **load time**: what Dagster needs before any run exists, the symbol partitions (``data.yaml``
  ``symbols``) and whether checks block, is fixed when the definitions are built
  (:func:`pipelines.definitions.build_definitions`, from the same settings object).

No ``from __future__ import annotations``: Dagster reads the field annotations.
"""

import os
from collections.abc import Mapping, Sequence
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from trader_env.costs import production_costs
from trader_env.data import DataConfig, load_data_config
from trader_env.env.config import CostConfig
from trader_env.features import FeaturesConfig, load_features_config
from trader_env.paths import PROJECT_ROOT
from trader_env.phase_config import PhaseConfig, load_phase_config

#: Resource key of the settings in every job.
SETTINGS_KEY = "settings"
#: Environment variables read as defaults when the definitions are built.
PROFILE_ENV, CONFIG_DIR_ENV, STORAGE_ROOT_ENV, GATES_ENV = (
    "TRADER_PROFILE",
    "TRADER_CONFIG_DIR",
    "TRADER_STORAGE_ROOT",
    "TRADER_GATES",
)


class GateMode(Enum):
    """What a failed gate or training check does to the later phases of a run.

    An Enum rather than a ``Literal``: Dagster 1.13.27 drops the value given to a partial
    resource (``configure_at_launch``) for a ``Literal`` field and shows the class default,
    while an Enum field keeps it (checked while building this)."""

    enforced = "enforced"
    advisory = "advisory"


GATE_MODES: tuple[str, ...] = tuple(mode.value for mode in GateMode)


class RunConfigs:
    """The YAML configs of one run, each read and validated once, on first use.

    A resource is initialised once per run in one process (the main command's in-process
    runs) and once per step process under the multiprocess executor, so asset bodies share
    these loads instead of re-reading the YAML files. A load that fails raises its
    :class:`~trader_env.yaml_config.ConfigError` each time it is asked for (nothing cached).
    """

    def __init__(self, profile: str, config_dir: Path, storage: Path) -> None:
        self.profile, self.config_dir, self.storage = profile, config_dir, storage
        self._phases: dict[int, PhaseConfig] = {}
        self._costs: dict[tuple[tuple[str, ...], str | None], dict[str, CostConfig]] = {}

    @cached_property
    def data(self) -> DataConfig:
        """``data.yaml`` with the run's profile; relative paths under the run's storage root."""
        return self.data_with({})

    def data_with(self, overrides: Mapping[str, Any]) -> DataConfig:
        """``data.yaml`` with ``overrides`` (e.g. ``raw_bars``'s run config) on top; not cached."""
        return load_data_config(
            self.config_dir / "data.yaml", self.profile, dict(overrides), storage=self.storage
        )

    @cached_property
    def features(self) -> FeaturesConfig:
        """``features.yaml`` with the run's profile (windows not yet resolved for a market)."""
        return load_features_config(self.config_dir / "features.yaml", self.profile)

    def phase(self, phase: int) -> PhaseConfig:
        """``phase{phase}.yaml`` resolved through its ancestors with the run's profile."""
        if phase not in self._phases:
            self._phases[phase] = load_phase_config(phase, self.profile, config_dir=self.config_dir)
        return self._phases[phase]

    def production_costs(self, symbols: Sequence[str], market: str | None) -> dict[str, CostConfig]:
        """The production cost model of each symbol (``costs.yaml``), as
        :func:`trader_env.costs.production_costs`."""
        key = (tuple(symbols), market)
        if key not in self._costs:
            self._costs[key] = production_costs(
                symbols, market, self.config_dir / "costs.yaml", self.profile
            )
        return dict(self._costs[key])


class PipelineSettings(dg.ConfigurableResource):
    """Where the pipeline reads its configs and writes its artifacts, under which profile, and
    whether a failed gate stops later phases. Set per run in the Launchpad
    (``resources: settings: config: {profile: test, ...}``); the defaults shown there are the
    ``TRADER_*`` environment variables of the process that loaded the definitions."""

    profile: str = Field(
        default="dev",
        description="Profile section applied to every YAML config: dev (default), full "
        "(RecurrentPPO, plan budgets, for a GPU) or test (seconds, tiny synthetic market). "
        "Default: $TRADER_PROFILE.",
    )
    config_dir: str = Field(
        default=str(PROJECT_ROOT / "assets_config"),
        description="Folder holding data.yaml, features.yaml, costs.yaml and phaseN.yaml. "
        "Default: $TRADER_CONFIG_DIR, else <project>/assets_config. The symbols of data.yaml "
        "are partitions, fixed when the definitions load: a folder listing other symbols must "
        "be set there (env), not per run.",
    )
    storage_root: str = Field(
        default=str(PROJECT_ROOT / "data"),
        description="Root folder of data and artifacts (assets/, models/, champion/, "
        "reports/, raw/). Default: $TRADER_STORAGE_ROOT, else <project>/data.",
    )
    gates: GateMode = Field(
        default=GateMode.enforced,
        description="enforced: a failed gate or training check stops every later phase of the "
        "run. advisory: every verdict is recorded (as a warning) and later phases run anyway, "
        "for research; promotion still requires a passed gate. Default: $TRADER_GATES.",
    )

    _configs: RunConfigs | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "PipelineSettings":
        """Settings from the ``TRADER_*`` variables of ``environ`` (default ``os.environ``),
        the project defaults for those unset. Raises ValueError for an unknown gate mode."""
        env = os.environ if environ is None else environ
        gates = env.get(GATES_ENV) or "enforced"
        if gates not in GATE_MODES:
            raise ValueError(f"{GATES_ENV} must be one of {list(GATE_MODES)}, got {gates!r}")
        return cls(
            profile=env.get(PROFILE_ENV) or "dev",
            config_dir=str(Path(env.get(CONFIG_DIR_ENV) or PROJECT_ROOT / "assets_config")),
            storage_root=str(Path(env.get(STORAGE_ROOT_ENV) or PROJECT_ROOT / "data")),
            gates=GateMode(gates),
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # One set of loaded configs per initialisation (per run, or per step process).
        self._configs = RunConfigs(self.profile, self.config_path, self.storage)

    @property
    def storage(self) -> Path:
        """The storage root as an absolute path."""
        return Path(self.storage_root).resolve()

    @property
    def config_path(self) -> Path:
        """The config folder as an absolute path."""
        return Path(self.config_dir).resolve()

    @property
    def assets_dir(self) -> Path:
        """Where the IO managers keep asset values: ``<storage root>/assets``."""
        return self.storage / "assets"

    @property
    def gates_enforced(self) -> bool:
        """Whether a failed phase check stops the later phases of the run."""
        return self.gates == GateMode.enforced

    @property
    def configs(self) -> RunConfigs:
        """The run's configs, loaded once (outside a run: once per settings object)."""
        if self._configs is None:
            self._configs = RunConfigs(self.profile, self.config_path, self.storage)
        return self._configs

    def run_config(self) -> dict[str, Any]:
        """These settings as the ``resources`` section of a run config."""
        return {
            SETTINGS_KEY: {
                "config": {
                    "profile": self.profile,
                    "config_dir": self.config_dir,
                    "storage_root": self.storage_root,
                    "gates": self.gates.value,
                }
            }
        }


#: The settings' fields, in the order the Launchpad shows them.
SETTINGS_FIELDS: tuple[str, ...] = ("profile", "config_dir", "storage_root", "gates")
