"""The one ``Definitions`` object of the project: ``dagster dev -w workspace.yaml`` loads it."""

import os

import dagster as dg

from pipelines import champion, features, jobs, market_data, production, sensors, tuning
from pipelines.io_manager import ParquetIOManager
from pipelines.phases import build_phase_definitions
from trader_env.paths import storage_root

#: Steps running at once under the multiprocess executor: training runs torch with one thread
#: per process (training.torch_threads), so one step per core keeps threads x processes <= cores.
MAX_CONCURRENT_STEPS = max(1, os.cpu_count() or 1)

phase_assets, phase_checks = build_phase_definitions()
ASSETS_DIR = storage_root() / "assets"

defs = dg.Definitions(
    assets=[
        *dg.load_assets_from_modules([market_data, features]),
        *phase_assets,
        champion.champion_model,
        production.forward_ledger,
        production.champion_signal,
        tuning.tuning_proposal,
    ],
    asset_checks=[*dg.load_asset_checks_from_modules([market_data, features]), *phase_checks],
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
        "io_manager": ParquetIOManager(base_dir=str(ASSETS_DIR)),
        "optional_input": champion.OptionalInputManager(base_dir=str(ASSETS_DIR)),
    },
    executor=dg.multiprocess_executor.configured({"max_concurrent": MAX_CONCURRENT_STEPS}),
)
