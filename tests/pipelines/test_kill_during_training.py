"""A run killed with SIGKILL while ``phase2_model`` trains leaves every stored asset readable,
every earlier model loadable and the previous champion serving."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from trader_env.evaluation import ChampionRegistry
from trader_env.evaluation.champion import SharpeEvidence
from trader_env.paths import PROJECT_ROOT
from trader_env.training import algorithm_class
from trader_env.workflow import candidate_record, load_policy

#: Prefix of the temporary file of a write in progress (trader_env.atomic): not a stored asset.
TEMPORARY_PREFIX = ".tmp-"


def _read_stored_assets(assets: Path) -> list[Path]:
    """Read every asset file ParquetIOManager stored under ``assets``: frames
    (``<key>.parquet``, and ``<key>/<symbol>.parquet`` for partitioned assets) and pickles
    (``<key>.pkl``, ``<key>/<symbol>.pkl``). Returns the files read, sorted.

    Raises AssertionError naming the file when one cannot be read or a frame is empty, and
    when there is no stored asset at all (a check that reads nothing proves nothing).
    """
    stored = sorted(
        path
        for path in assets.rglob("*")
        if path.suffix in (".parquet", ".pkl") and not path.name.startswith(TEMPORARY_PREFIX)
    )
    assert stored, f"no stored asset under {assets}"
    for path in stored:
        try:
            if path.suffix == ".parquet":
                assert pl.read_parquet(path).height > 0, "empty frame"
            else:
                pickle.loads(path.read_bytes())
        except Exception as exc:
            raise AssertionError(f"{path}: stored asset unreadable: {exc}") from exc
    return stored


def test_read_stored_assets_reads_partitions_and_pickles_and_fails_on_a_torn_frame(
    tmp_path: Path,
) -> None:
    assets = tmp_path / "assets"
    with pytest.raises(AssertionError, match="no stored asset"):
        _read_stored_assets(assets)
    frame = pl.DataFrame({"symbol": ["SYNA"] * 1000, "close": [float(i) for i in range(1000)]})
    partition = assets / "bars" / "SYNA.parquet"
    partition.parent.mkdir(parents=True)
    frame.write_parquet(partition)
    (assets / "splits.pkl").write_bytes(pickle.dumps({"train": [1, 2]}))
    (assets / "bars" / f"{TEMPORARY_PREFIX}SYNB.parquet-x1.parquet").write_bytes(b"torn")
    assert _read_stored_assets(assets) == [partition, assets / "splits.pkl"]

    partition.write_bytes(partition.read_bytes()[: partition.stat().st_size // 2])
    with pytest.raises(AssertionError, match=r"bars/SYNA\.parquet: stored asset unreadable"):
        _read_stored_assets(assets)


def _main_job(tmp_path: Path, config_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TRADER_PROFILE": "test",
        "TRADER_STORAGE_ROOT": str(tmp_path / "storage"),
        "TRADER_CONFIG_DIR": str(config_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "SB3_LOGDIR": str(tmp_path / "sb3"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: killed alone, with its children
    )


@pytest.mark.slow
def test_sigkill_during_phase2_training_keeps_champion_and_models(
    tmp_path: Path, config_dir_factory
) -> None:
    storage = tmp_path / "storage"
    first = _main_job(tmp_path, config_dir_factory(phase2_timesteps=512))
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output
    registry = ChampionRegistry(storage)
    if registry.current() is None:
        # A tiny budget rarely earns a deflated Sharpe >= 0.95; what this test needs is a
        # champion serving before the kill, so phase 2 (gated under production costs) is
        # promoted on made-up strong evidence.
        evaluation = pickle.loads((storage / "assets" / "phase2_evaluation.pkl").read_bytes())
        strong = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)
        assert registry.consider(candidate_record(evaluation), strong).promoted
    champion = registry.current()
    assert champion is not None, output
    models_before = sorted((storage / "models").rglob("*.zip"))

    second = _main_job(tmp_path, config_dir_factory(phase2_timesteps=50_000_000))
    marker = storage / "assets" / "phase1_evaluation.pkl"
    stamp = marker.stat().st_mtime_ns
    deadline = time.monotonic() + 600
    while marker.stat().st_mtime_ns == stamp:  # phase 1 re-evaluated: phase 2 trains next
        assert second.poll() is None and time.monotonic() < deadline, "run ended early"
        time.sleep(0.5)
    time.sleep(8)
    assert second.poll() is None, "phase 2 should still be training"
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(timeout=30)

    assert registry.current() == champion, "the previous champion still serves"
    algorithm_class(champion.lineage["algorithm"]).load(champion.model_path, device="cpu")
    for model_file in models_before:
        # Phase 6 stores its regime router (specialists in one file), the others PPO.
        load_policy("RegimeRouter" if "phase6" in model_file.parts else "PPO", model_file)
    new_phase2 = set((storage / "models" / "phase2").glob("*.zip")) - set(models_before)
    assert not new_phase2, "no half-trained phase 2 model was published"
    stored = _read_stored_assets(storage / "assets")
    names = {path.relative_to(storage / "assets").as_posix() for path in stored}
    expected = {"bars/SYNA.parquet", "features/SYNB.parquet", "splits.pkl", "phase1_model.pkl"}
    assert expected <= names, f"stored assets read: {sorted(names)}"
