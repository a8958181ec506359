"""The tiny synthetic market of the ``test`` profile and real SB3 policies with known leanings."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch
from stable_baselines3 import PPO

from trader_env.config import load_phase_config
from trader_env.data import load_bars, load_data_config
from trader_env.dataset import MarketData, build_market_data
from trader_env.env import EnvConfig, make_env


@pytest.fixture(scope="session")
def test_bars() -> pl.DataFrame:
    """2 symbols x 60 sessions x 60 one-minute bars (``data.yaml`` profile ``test``)."""
    return load_bars(load_data_config(profile="test"))


@pytest.fixture(scope="session")
def market(test_bars: pl.DataFrame) -> MarketData:
    return build_market_data(test_bars, profile="test")


@pytest.fixture(scope="session")
def env_config() -> EnvConfig:
    """Phase 2's environment: production costs, flat at every session end."""
    return load_phase_config(2, profile="test").env


def save_leaning_model(
    path: Path, market: MarketData, env_config: EnvConfig, lean: int | None, seed: int = 0
) -> Path:
    """A real (untrained) PPO model saved at ``path``; with ``lean`` (0 short, 1 flat, 2 long)
    its action logits get a bias of +20 on that action, so it always chooses it."""
    env = make_env(env_config, arrays=market.arrays("train"), mode="eval")
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", n_steps=64, batch_size=64)
    if lean is not None:
        with torch.no_grad():
            model.policy.action_net.bias.zero_()
            model.policy.action_net.bias[lean] = 20.0
    model.save(path)
    return path
