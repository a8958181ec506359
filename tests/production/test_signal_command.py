"""``python -m pipelines signal``: the position and the model, or a plain "no champion"; a
champion whose model file was replaced after promotion is refused, never loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from pipelines.io_manager import ASSET_KINDS
from pipelines.production import EXIT_REFUSED
from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.paths import PROJECT_ROOT
from trader_env.storage import write_record
from trader_env.workflow import load_policy

from .tampering import replace_model

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
    write_record(assets / "splits.json", market.splits, ASSET_KINDS["splits"])


def _record(model: Path, env_config: EnvConfig) -> ChampionRecord:
    return ChampionRecord(
        phase="phase2",
        model_path=str(model),
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
    registry = ChampionRegistry(storage)
    assert registry.consider(_record(leaning_model(2), env_config), STRONG).promoted
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


def test_a_replaced_champion_is_refused_and_never_loaded(
    tmp_path: Path, leaning_model, market: Dataset, env_config: EnvConfig
) -> None:
    storage, marker = tmp_path / "storage", tmp_path / "code-ran"
    _store(market, storage / "assets")
    registry = ChampionRegistry(storage)
    for lean in (1, 2):  # v1 always flat, v2 (serving) always long
        record = _record(leaning_model(lean), env_config)
        assert registry.consider(record, STRONG, champion_sharpe=-1e9).promoted
    flat, long = registry.champions()

    # The registry's copy of v2 is replaced by a file whose loading runs code.
    found = replace_model(Path(long.model_path), marker)
    served = _signal(storage, "--symbol", "SYNB")
    assert served.returncode == 0, served.stderr
    assert "Traceback" not in served.stderr
    refusal = next(line for line in served.stderr.splitlines() if line.startswith("Refused:"))
    assert refusal.startswith("Refused: champion v2 (phase2) refused: ")
    assert long.model_path in refusal and long.model_sha256 in refusal and found in refusal
    assert f"Notice: champion v1 (phase2) serves instead: its model file {flat.model_path}" in (
        served.stderr
    )
    lines = served.stdout.splitlines()
    assert lines[0].startswith("Champion v1 (phase2, PPO) ") and "v0001-phase2-" in lines[0]
    assert lines[2].startswith("SYNB: FLAT for the bar after "), "v1's own policy serves"
    assert not marker.exists(), "the replaced file was never loaded"
    event = registry.history()[-1]
    assert (event.action, event.replaced_version, event.version) == ("demoted", 2, 1)

    # Then v1's file is replaced too: nothing verifies, nothing serves, and the command says so.
    found = replace_model(Path(flat.model_path), marker)
    for attempt in range(2):  # the refusal, then the state it left, until a new promotion
        refused = _signal(storage)
        assert refused.returncode == EXIT_REFUSED, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr and refused.stdout == ""
        assert "Error: no champion serves: the last champion left to serve was refused" in (
            refused.stderr
        )
        assert flat.model_path in refused.stderr and found in refused.stderr
        assert flat.model_sha256 in refused.stderr
        assert ("Refused: champion v1" in refused.stderr) == (attempt == 0)
    assert registry.current() is None and not marker.exists()

    # The trap was real: loading the replaced file runs its code.
    load_policy("PPO", flat.model_path)
    assert marker.exists()
