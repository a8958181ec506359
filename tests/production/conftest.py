"""The tiny synthetic market of the ``test`` profile and real SB3 policies with known leanings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import torch
from stable_baselines3 import PPO

from trader_env.costs import production_costs, with_production_costs
from trader_env.data import load_bars, load_data_config
from trader_env.dataset import Dataset, build_market_data
from trader_env.env import EnvConfig, make_env
from trader_env.phase_config import load_phase_config
from trader_env.sessions import DEFAULT_SESSION_TIMEZONE, session_date_expr


@pytest.fixture(scope="session")
def test_bars() -> pl.DataFrame:
    """2 symbols x 60 sessions x 60 one-minute bars (``data.yaml`` profile ``test``)."""
    return load_bars(load_data_config(profile="test"))


@pytest.fixture(scope="session")
def market(test_bars: pl.DataFrame) -> Dataset:
    return build_market_data(test_bars, profile="test")


@pytest.fixture(scope="session")
def env_config() -> EnvConfig:
    """Phase 2's environment: production costs, flat at every session end."""
    # Phase 2 as it trains: with the synthetic symbols' production costs (costs.yaml).
    costs = production_costs(["SYNA", "SYNB"], "us_equity", profile="test")
    return with_production_costs(load_phase_config(2, profile="test"), costs).env


def save_leaning_model(
    path: Path, market: Dataset, env_config: EnvConfig, lean: int | None, seed: int = 0
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


def bars_through(bars: pl.DataFrame, last: date) -> pl.DataFrame:
    """The bars of the sessions up to ``last`` (inclusive): the market as it stood that day."""
    return (
        bars.with_columns(session_date_expr(DEFAULT_SESSION_TIMEZONE))
        .filter(pl.col("session") <= last)
        .drop("session")
    )


def through(market: Dataset, day: date) -> Dataset:
    """``market`` cut after session ``day`` (same splits)."""
    return Dataset(
        bars_through(market.bars, day),
        market.features.filter(pl.col("session") <= day),
        bars_through(market.regimes, day),
        market.splits,
    )


def crash_after(bars: pl.DataFrame, first: date, per_bar: float = 0.003) -> pl.DataFrame:
    """``bars`` with every session from ``first`` on falling ``per_bar`` a bar from its open
    (about -16 % over a 60-bar session): the market turns against a long champion."""
    session = session_date_expr(DEFAULT_SESSION_TIMEZONE)
    index = pl.int_range(pl.len()).over("symbol", "session")
    factor = pl.when(pl.col("session") >= first).then((1.0 - per_bar) ** index).otherwise(1.0)
    return (
        bars.with_columns(session)
        .with_columns(factor.alias("factor"))
        .with_columns(pl.col(c) * pl.col("factor") for c in ("open", "high", "low", "close"))
        .drop("session", "factor")
    )


@pytest.fixture
def leaning_model(tmp_path: Path, market: Dataset, env_config: EnvConfig):
    """``leaning_model(lean)``: path of a real PPO model that always takes action ``lean``
    (None: untrained, no lean)."""
    counter = iter(range(1_000))

    def make(lean: int | None, seed: int = 0) -> Path:
        return save_leaning_model(
            tmp_path / f"model-{next(counter)}.zip", market, env_config, lean, seed
        )

    return make


@pytest.fixture(scope="session")
def market_through(market: Dataset):
    """``market_through(day)``: the stored market as it stood at the close of session ``day``.

    Features and regimes are causal, so cutting them equals recomputing them on the shorter
    bars; the splits stay those of the whole market, as date-based splits (SPY's) would.
    """

    def make(day: date) -> Dataset:
        return through(market, day)

    return make


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    # Replays predict one observation at a time; more threads only contend for 2 cores.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def crashed_market(test_bars: pl.DataFrame, market: Dataset) -> Dataset:
    """The test market whose forward sessions (after validation) fall ~16 % each."""
    first = market.features.filter(
        pl.col("session") > market.splits.parts["validation"].last_session
    )["session"].min()
    return build_market_data(crash_after(test_bars, first), profile="test")
