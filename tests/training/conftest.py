"""Fixtures for the training tests: a small market with a learnable momentum signal.

The market is built directly as :class:`MarketArrays` with numpy so that the training tests do
not depend on the data or feature layers. Returns follow an AR(1) process with a positive
coefficient: the last return (the first feature) predicts the sign of the next one, so a
policy can learn to follow it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.save_util import load_from_zip_file

from trader_env.contracts import REGIMES, MarketArrays
from trader_env.paths import PROJECT_ROOT
from trader_env.phase_config import PhaseConfig, load_phase_config

CONFIG_DIR = PROJECT_ROOT / "assets_config"

BARS_PER_SESSION = 390
N_SESSIONS = 8
MOMENTUM = 0.3  # AR(1) coefficient of one-bar log returns
BAR_VOLATILITY = 0.0008  # std of one-bar log returns
SESSION_OPEN_US = (14 * 60 + 30) * 60 * 1_000_000  # 14:30 UTC = 09:30 New York (winter)
DAY_US = 86_400 * 1_000_000
MINUTE_US = 60 * 1_000_000


def momentum_market(seed: int = 7, n_sessions: int = N_SESSIONS) -> MarketArrays:
    """One symbol, ``n_sessions`` sessions of 390 one-minute bars with AR(1) returns.

    Features (float32, roughly unit scale): last log return, 5-bar log return, and a 20-bar
    realised volatility, all divided by ``BAR_VOLATILITY``; each uses bars ``<= t`` only.
    """
    rng = np.random.default_rng(seed)
    n = n_sessions * BARS_PER_SESSION
    noise = rng.normal(0.0, BAR_VOLATILITY * np.sqrt(1 - MOMENTUM**2), n)
    log_ret = np.empty(n)
    log_ret[0] = noise[0]
    for t in range(1, n):
        log_ret[t] = MOMENTUM * log_ret[t - 1] + noise[t]
    close = 100.0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, BAR_VOLATILITY / 2, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread

    session = np.repeat(np.arange(n_sessions, dtype=np.int64), BARS_PER_SESSION)
    minute = np.tile(np.arange(BARS_PER_SESSION, dtype=np.int64), n_sessions)
    ts = 20_000 * DAY_US + session * DAY_US + SESSION_OPEN_US + minute * MINUTE_US

    cumulative = np.concatenate(([0.0], np.cumsum(log_ret)))
    ret_5 = cumulative[1:] - cumulative[np.maximum(np.arange(1, n + 1) - 5, 0)]
    squared = np.concatenate(([0.0], np.cumsum(log_ret**2)))
    window = np.minimum(np.arange(1, n + 1), 20)
    vol_20 = np.sqrt((squared[1:] - squared[np.arange(1, n + 1) - window]) / window)
    features = np.column_stack([log_ret, ret_5 / np.sqrt(5), vol_20]) / BAR_VOLATILITY

    regime = (np.arange(n) // 500 % len(REGIMES)).astype(np.int8)
    return MarketArrays(
        symbol="TEST",
        ts=ts,
        open=open_,
        high=high,
        low=low,
        close=close,
        features=features.astype(np.float32),
        feature_names=("ret_1", "ret_5", "vol_20"),
        regime=regime,
        session_id=session,
    )


@pytest.fixture(scope="session")
def market() -> MarketArrays:
    """The default test market (3,120 bars)."""
    return momentum_market()


@pytest.fixture()
def output_dir(tmp_path: Path) -> Path:
    """A fresh folder for model files."""
    return tmp_path / "models"


def _weights_digest(model_path: Path) -> str:
    """SHA-256 of a saved model's policy weights (the zip itself embeds timestamps)."""
    _, params, _ = load_from_zip_file(model_path, device="cpu", load_data=False)
    digest = hashlib.sha256()
    for name, tensor in sorted(params["policy"].items()):
        digest.update(name.encode())
        digest.update(tensor.to(torch.float64).numpy().tobytes())
    return digest.hexdigest()


def _phase_config(phase: int, overrides: dict | None = None) -> PhaseConfig:
    """The project's phase config with the ``test`` profile (budgets of seconds)."""
    return load_phase_config(phase, "test", overrides=overrides, config_dir=CONFIG_DIR)


@pytest.fixture()
def phase_config() -> Callable[..., PhaseConfig]:
    """``phase_config(phase, overrides=None)``: a phase's config with the ``test`` profile."""
    return _phase_config


@pytest.fixture()
def weights_digest() -> Callable[[Path], str]:
    """``weights_digest(path)``: SHA-256 of a saved model's policy weights."""
    return _weights_digest
