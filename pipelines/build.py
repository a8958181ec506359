"""Building the project's ``Definitions`` from one :class:`PipelineSettings`.

Importing this module reads no config: ``pipelines.definitions`` builds ``defs`` from the
``TRADER_*`` environment (what ``dagster dev`` loads); the main command builds its own from its
flags, whatever the environment's configs say."""

import os

import dagster as dg

from pipelines import champion, features, jobs, market_data, production, sensors, tuning
from pipelines.io_manager import StorageIOManager
from pipelines.partitions import symbol_partitions
from pipelines.phases import build_phase_definitions
from pipelines.settings import SETTINGS_FIELDS, SETTINGS_KEY, PipelineSettings

#: Steps running at once under the multiprocess executor: training runs torch with one thread
#: per process (training.torch_threads), so one step per core keeps threads x processes <= cores.
MAX_CONCURRENT_STEPS = max(1, os.cpu_count() or 1)


def build_definitions(settings: PipelineSettings) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor, with ``settings`` as the defaults of the
    ``settings`` resource that every job shows in the Launchpad.

    Load-time, from ``settings`` only: the symbol partitions (``data.yaml`` of its config folder
    and profile). Per run, from the run's resource config (defaults: ``settings``): profile,
    config folder, storage root and gate mode of every asset, check and IO manager.
    """
    symbols = symbol_partitions(settings)
    data_assets, data_checks = market_data.build_market_data(symbols)
    feature_assets, feature_checks = features.build_features(symbols)
    phase_assets, phase_checks = build_phase_definitions()
    # A partial resource: its values are the Launchpad's defaults, and the IO managers nested
    # below resolve it by key, so run config overriding it reaches them too (a fully
    # configured nested resource would keep the load-time values).
    launch_settings = PipelineSettings.configure_at_launch(
        **{name: getattr(settings, name) for name in SETTINGS_FIELDS}
    )
    return dg.Definitions(
        assets=[
            *data_assets,
            *feature_assets,
            features.splits,
            *phase_assets,
            champion.champion_decision,
            production.forward_ledger,
            production.champion_signal,
            tuning.tuning_proposal,
        ],
        asset_checks=[
            *data_checks,
            *feature_checks,
            features.splits_disjoint_with_embargo,
            *phase_checks,
        ],
        jobs=[
            jobs.full_pipeline,
            jobs.nightly_retrain,
            jobs.promote_champion,
            jobs.market_data_job,
            tuning.tune_phase_job,
        ],
        schedules=[jobs.nightly_schedule],
        sensors=[jobs.promote_after_success, jobs.promote_after_failure, sensors.new_market_files],
        resources={
            SETTINGS_KEY: launch_settings,
            "io_manager": StorageIOManager(settings=launch_settings),
            "optional_input": champion.StorageOptionalInputManager(settings=launch_settings),
        },
        executor=dg.multiprocess_executor.configured({"max_concurrent": MAX_CONCURRENT_STEPS}),
    )
