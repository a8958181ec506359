"""Dagster glue for the RL intraday trading pipeline: assets, checks, jobs, schedules, sensors.

Domain logic lives in :mod:`trader_env`; modules here only wire it into Dagster.
"""
