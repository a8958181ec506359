"""Jobs, the nightly schedule and the sensors of the pipeline."""

import os
from collections.abc import Mapping

import dagster as dg

from pipelines.partitions import all_symbols_tags
from pipelines.settings import SETTINGS_KEY

#: Assets of the promote_champion job: promotion, then the forward ledger (which may demote),
#: then the signal of whoever serves afterwards.
SERVING_ASSETS = ("champion_decision", "forward_ledger", "champion_signal")
# Tuning runs as its own job (tune_phase: pipelines/tuning.py).
TRAINING_SELECTION = dg.AssetSelection.all() - dg.AssetSelection.assets(
    *SERVING_ASSETS, "tuning_proposal"
)

#: Run tag shared by every job that writes the data, models or registry. The instance's run
#: queue (``pipelines/instance.py``) lets one such run go at a time: two trainings on two cores
#: would slow each other down and write the same asset files, and a promotion must not judge
#: a champion that another run is replacing.
EXCLUSIVE_TAG = {"trader/exclusive": "train_or_promote"}

full_pipeline = dg.define_asset_job(
    "full_pipeline",
    selection=TRAINING_SELECTION,
    description="Everything: market data -> features -> six phases with their gates. Data "
    "assets are partitioned by symbol: launch it over all symbols (a partition range) or over one "
    "symbol, whose refreshed data joins the stored data of the others for training. The "
    "champion is promoted right after by promote_champion (launched by the sensor below and by "
    "`python -m pipelines`), so that phases that passed are promoted even when a later gate "
    "fails and skips the rest of this run.",
    tags=EXCLUSIVE_TAG,
)

nightly_retrain = dg.define_asset_job(
    "nightly_retrain",
    selection=TRAINING_SELECTION,
    description="Nightly: ingest new data, recompute features, retrain and re-evaluate every "
    "phase; promote_champion follows.",
    tags={"trigger": "nightly", **EXCLUSIVE_TAG},
)

market_data_job = dg.define_asset_job(
    "market_data",
    selection=dg.AssetSelection.groups("market_data"),
    description="Ingest and validate bars only.",
    tags=EXCLUSIVE_TAG,
)

promote_champion = dg.define_asset_job(
    "promote_champion",
    selection=dg.AssetSelection.assets(*SERVING_ASSETS),
    description="Promote the latest phase whose gate passed, if it beats the serving champion; "
    "then extend the forward ledger (demoting the champion if it broke a forward-risk limit) "
    "and compute the serving champion's next-bar signal.",
    tags=EXCLUSIVE_TAG,
)

#: Timezone of the nightly schedule, e.g. "Europe/London"; the exchange's by default.
SCHEDULE_TIMEZONE = os.environ.get("TRADER_SCHEDULE_TIMEZONE", "America/New_York")


@dg.schedule(
    name="nightly_retrain_schedule",
    job=nightly_retrain,
    cron_schedule="0 2 * * *",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain every night at 02:00 (TRADER_SCHEDULE_TIMEZONE, default New York), "
    "every symbol in one run.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # Range tags carry Dagster's reserved prefix, so they go on the request, not the schedule.
    return dg.RunRequest(tags=all_symbols_tags())


def _promote_after(status: dg.DagsterRunStatus) -> dg.RunStatusSensorDefinition:
    @dg.run_status_sensor(
        name=f"promote_after_{status.value.lower()}",
        run_status=status,
        monitored_jobs=[full_pipeline, nightly_retrain],
        request_job=promote_champion,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launch promote_champion after a training run ends "
        f"({status.value.lower()}), with that run's settings: a failed gate ends the run as "
        "failed, and the phases before it may still deserve promotion.",
    )
    def _sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest:
        # Promotion judges the models this run stored: same storage root, configs and profile.
        resources = context.dagster_run.run_config.get("resources")
        settings = resources.get(SETTINGS_KEY) if isinstance(resources, Mapping) else None
        return dg.RunRequest(
            run_key=f"promote-after-{context.dagster_run.run_id}",
            run_config={"resources": {SETTINGS_KEY: settings}} if settings else {},
        )

    return _sensor


promote_after_success = _promote_after(dg.DagsterRunStatus.SUCCESS)
promote_after_failure = _promote_after(dg.DagsterRunStatus.FAILURE)
