"""Domain library of the RL intraday trading pipeline: data, features, environment, training
and evaluation. Nothing here imports Dagster."""

__version__ = "0.1.0"
