"""``python -m pipelines signal``: the position and the model, or a plain "no champion"."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import polars as pl

from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.paths import PROJECT_ROOT

#: Significant whatever the trial count: these tests are about the production loop.
STRONG = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)


def _signal(storage: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRADER_STORAGE_ROOT": str(storage), "TRADER_PROFILE": "test"}
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "signal", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _store(market: Dataset, assets: Path) -> None:
    """The stored assets as the pipeline's IO manager leaves them (one file per symbol)."""
    for name in ("bars", "features", "regimes"):
        frame: pl.DataFrame = getattr(market, name)
        (assets / name).mkdir(parents=True)
        for (symbol,), part in frame.partition_by("symbol", as_dict=True).items():
            part.write_parquet(assets / name / f"{symbol}.parquet")
    (assets / "splits.pkl").write_bytes(pickle.dumps(market.splits))


def test_signal_command_names_the_position_and_the_model(
    tmp_path: Path, leaning_model, market: Dataset, env_config: EnvConfig
) -> None:
    storage = tmp_path / "storage"
    empty = _signal(storage)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip() == (
        "No champion serves: no model has been promoted yet (run `python -m pipelines`)."
    )

    _store(market, storage / "assets")
    record = ChampionRecord(
        phase="phase2",
        model_path=str(leaning_model(2)),
        test_sharpe=1.0,
        validation_sharpe=1.2,
        gate_costs="production",
        lineage={
            "algorithm": "PPO",
            "env_config": env_config.model_dump(mode="json"),
            "data_version": "d" * 16,
            "config_hash": "c" * 16,
            "code_version": "0.1.0+test",
            "selection_end": "2024-03-06",
        },
    )
    registry = ChampionRegistry(storage)
    assert registry.consider(record, STRONG).promoted
    result = _signal(storage, "--symbol", "SYNB")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Champion v1 (phase2, PPO) ") and "v0001-phase2-" in lines[0]
    assert "selected on sessions up to 2024-03-06; data dddddddddddd" in lines[1]
    last = market.bars.filter(pl.col("symbol") == "SYNB")["ts"].max()
    assert lines[2] == f"SYNB: LONG for the bar after {last:%Y-%m-%d %H:%M} UTC (action 2)"
    assert not any(line.startswith("SYNA") for line in lines)

    registry.demote("forward day 2024-03-07: intraday drawdown 6.00% reached the limit")
    demoted = _signal(storage)
    assert demoted.returncode == 0
    assert "No champion serves: the last change was 'demoted'" in demoted.stdout
    assert "intraday drawdown 6.00%" in demoted.stdout
