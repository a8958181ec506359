"""Faults at the moment a file is written, in real processes: kill -9 while a promotion copies
its model into the registry, and a full disk (every write beyond a file-size limit fails with
EFBIG, ``worker.py``) while training saves a model, while a promotion copies one and while the
forward ledger appends. After each, the file that was there is intact (the champion's model
still verifies), no temporary file is left, and the same operation run again completes.

A kill -9 during a ledger append and two ledger writers at once: ``test_ledger.py``; kill -9
during ingestion, training, evaluation, promotion and the ledger's step of a Dagster run:
``tests/pipelines/test_faults.py``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.evaluation.model_integrity import file_sha256
from trader_env.production import ForwardLedger, forward_sessions, play_forward_days
from trader_env.workflow import load_policy, serving_champion, verified_champion

from .workers import lock_held, start_worker, worker_result

#: Significant whatever the trial count: these tests are about the files.
STRONG = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)
#: Exit code of worker.py when a write failed (EFBIG).
WRITE_FAILED = 3


def _champion(storage: Path, model: Path, env: EnvConfig) -> ChampionRecord:
    """``model`` promoted as the serving champion v1 (phase 2) under ``storage``."""
    record = ChampionRecord(
        phase="phase2",
        model_path=str(model),
        validation_sharpe=0.0,
        gate_costs="production",
        lineage={"algorithm": "PPO", "env_config": env.model_dump(mode="json")},
    )
    decision = ChampionRegistry(storage).consider(record, STRONG, champion_sharpe=-1e9)
    assert decision.promoted and decision.current is not None
    return decision.current


def _assert_serves(storage: Path, champion: ChampionRecord) -> None:
    """``champion`` still serves under ``storage`` and its model file verifies and loads."""
    assert verified_champion(storage) == (champion, ()), "the champion verifies, none refused"
    serving = serving_champion(storage)
    assert serving.champion == champion and serving.policy is not None


def _state(registry: ChampionRegistry) -> tuple:
    """What the registry says serves and served: its champions and its events."""
    return registry.current(), registry.champions(), registry.history()


def _assert_only_counted(registry: ChampionRegistry, before: tuple, trials: list, model: Path):
    """The registry changed only by counting ``model`` as a trial (recorded before the copy:
    a judged candidate counts whatever happens to its promotion)."""
    assert _state(registry) == before, "who serves and the history are as they were"
    assert registry.trials()[:-1] == trials
    assert registry.trials()[-1].model_sha256 == file_sha256(model)


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".tmp-*"))


def test_kill_9_while_a_promotion_copies_its_model_keeps_the_champion(
    tmp_path: Path, leaning_model, env_config: EnvConfig
) -> None:
    storage = tmp_path / "storage"
    champion = _champion(storage, leaning_model(2), env_config)
    registry = ChampionRegistry(storage)
    before, trials = _state(registry), registry.trials()
    # A large candidate keeps the copy (and the hash of the copy) busy for a while.
    candidate = tmp_path / "candidate.zip"
    candidate.write_bytes(os.urandom(64 << 20))
    go = tmp_path / "go"
    go.touch()
    models = registry.folder / "models"
    worker = start_worker("promote", str(storage), str(candidate), "1.0", str(go))
    deadline = time.monotonic() + 120
    while not _temporaries(models):
        assert worker.poll() is None, "the promotion ended before its copy was seen"
        assert time.monotonic() < deadline, "no copy into the registry began"
        time.sleep(0.002)
    assert lock_held(registry.folder), "killed inside the registry's lock"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=60)

    _assert_only_counted(registry, before, trials, candidate)
    _assert_serves(storage, champion)
    assert not lock_held(registry.folder), "the kernel released the dead process's lock"
    assert [p.name for p in models.iterdir() if not p.name.startswith(".tmp-")] == [
        Path(champion.model_path).name
    ], "no half-copied model under a registry name"

    again = start_worker("promote", str(storage), str(candidate), "1.0", str(go))
    assert worker_result(again) == {"promoted": True, "version": 2}
    current = registry.current()
    assert current is not None and current.version == 2 and current.previous_version == 1
    assert current.model_sha256 == file_sha256(candidate)
    assert verified_champion(storage) == (current, ())


def test_a_full_disk_while_training_saves_a_model_keeps_the_previous_file(
    tmp_path: Path, leaning_model
) -> None:
    source = leaning_model(2)
    destination = tmp_path / "models" / "phase2.zip"
    destination.parent.mkdir()
    destination.write_bytes(leaning_model(1).read_bytes())
    before = destination.read_bytes()
    size = len(source.read_bytes())

    full = start_worker("save-model", str(source), str(destination), str(size // 4))
    result = worker_result(full)
    assert full.returncode == WRITE_FAILED and result["error"] == "EFBIG", result
    assert destination.read_bytes() == before, "the previous model is untouched"
    assert not _temporaries(destination.parent), "the torn temporary file was removed"

    again = start_worker("save-model", str(source), str(destination))
    assert worker_result(again) == {"saved": str(destination)}
    assert file_sha256(destination) != file_sha256(tmp_path / "model-1.zip")
    load_policy("PPO", destination)


def test_a_full_disk_while_a_promotion_copies_its_model_keeps_the_registry(
    tmp_path: Path, leaning_model, env_config: EnvConfig
) -> None:
    storage = tmp_path / "storage"
    champion = _champion(storage, leaning_model(2), env_config)
    registry = ChampionRegistry(storage)
    before, trials = _state(registry), registry.trials()
    candidate = tmp_path / "candidate.zip"
    candidate.write_bytes(os.urandom(4 << 20))
    go = tmp_path / "go"
    go.touch()

    # 1 MiB: the registry file fits, the 4 MiB copy of the candidate does not.
    full = start_worker("promote", str(storage), str(candidate), "1.0", str(go), str(1 << 20))
    result = worker_result(full)
    assert full.returncode == WRITE_FAILED and result["error"] == "EFBIG", result
    _assert_only_counted(registry, before, trials, candidate)
    assert not _temporaries(registry.folder)
    _assert_serves(storage, champion)

    again = start_worker("promote", str(storage), str(candidate), "1.0", str(go))
    assert worker_result(again) == {"promoted": True, "version": 2}
    assert verified_champion(storage)[0] == registry.current()


def test_a_full_disk_while_the_ledger_appends_keeps_its_rows(
    tmp_path: Path, leaning_model, market: Dataset, env_config: EnvConfig, market_through
) -> None:
    model = leaning_model(2)
    end = market.splits.parts["validation"].last_session
    forward = forward_sessions(market, end)
    ledger = ForwardLedger(tmp_path)
    policy = load_policy("PPO", model)
    ledger.append(
        lambda rows: play_forward_days(
            policy, market_through(forward[1]), env_config, rows, end, 1, "phase2"
        )
    )
    before = ledger.path.read_bytes()
    go = tmp_path / "go"
    go.touch()
    n_sessions = str(market.features["session"].n_unique())

    # Room for the rows there are and a few bytes more: not for the next day's row.
    limit = str(len(before) + 16)
    full = start_worker("ledger", str(tmp_path), str(model), n_sessions, "0", str(go), limit)
    result = worker_result(full)
    assert full.returncode == WRITE_FAILED and result["error"] == "EFBIG", result
    assert ledger.path.read_bytes() == before, "the ledger is as it was"
    assert not _temporaries(ledger.folder) and not lock_held(ledger.folder)
    assert [row.session for row in ledger.rows()] == forward[:2]

    again = start_worker("ledger", str(tmp_path), str(model), n_sessions, "0", str(go))
    assert worker_result(again)["appended"] == [str(day) for day in forward[2:]]
    assert ledger.path.read_bytes().startswith(before)
    assert [row.session for row in ledger.rows()] == forward
