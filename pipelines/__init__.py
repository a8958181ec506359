"""Dagster glue for the RL intraday trading pipeline: assets, checks, jobs, schedules, sensors.

Domain logic lives in :mod:`trader_env`; modules here only wire it into Dagster.
"""

import warnings

import dagster as dg

# Set before any asset is defined: the warnings fire at definition time, in every process that
# loads the definitions (each step of the multiprocess executor), and would open the main
# command's output. Data versions on outputs and backfill policies are beta APIs; partitioned
# asset checks are a preview, used so that a check on a one-symbol run reads that symbol only
# (tests cover one-symbol and all-symbol runs).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)
