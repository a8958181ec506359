"""The main command killed with SIGKILL at each kind of step, one kill after the other on the
same storage root and Dagster home: during ingestion, training, evaluation, promotion and the
forward ledger's write. After each kill the champion, its model file, the registry, the ledger
and every stored asset are intact and verify; the next start marks the killed run failed and
gets past the step that was killed; a last rerun completes, leaving no run unfinished.

Faults at the moment of a single write in a worker process (kill -9 inside a promotion's copy,
a full disk while a model is saved, copied or the ledger appended): tests/production.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from stable_baselines3 import PPO

from pipelines.io_manager import read_stored
from pipelines.production import load_stored_market
from tests.production.workers import lock_held
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.evaluation.model_integrity import file_sha256
from trader_env.production import ForwardLedger, play_forward_days
from trader_env.production.loop import champion_env, selection_end
from trader_env.storage import KINDS, write_record
from trader_env.workflow import candidate_record, load_policy, verified_champion

from .main_command import (
    TEMPORARY_PREFIX,
    finish,
    kill_group,
    main_command_env,
    read_stored_assets,
    start_main_command,
    step_succeeded,
    unfinished_runs,
    wait_for_step,
    wait_until,
)

#: Significant whatever the trial count: what is tested is what a kill leaves behind.
STRONG = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)
#: Forward days the champion's ledger holds before the kills (the rest are appended later).
FIRST_DAYS = 3


def test_read_stored_assets_reads_partitions_and_records_and_fails_on_a_torn_frame(
    tmp_path: Path,
) -> None:
    assets = tmp_path / "assets"
    with pytest.raises(AssertionError, match="no stored asset"):
        read_stored_assets(assets)
    frame = pl.DataFrame({"symbol": ["SYNA"] * 1000, "close": [float(i) for i in range(1000)]})
    partition = assets / "bars" / "SYNA.parquet"
    partition.parent.mkdir(parents=True)
    frame.write_parquet(partition)
    signal = assets / "champion_signal.json"
    write_record(signal, [{"symbol": "SYNA", "position": "flat"}], KINDS["SignalRows"])
    (assets / "bars" / f"{TEMPORARY_PREFIX}SYNB.parquet-x1.parquet").write_bytes(b"torn")
    assert read_stored_assets(assets) == [partition, signal]

    partition.write_bytes(partition.read_bytes()[: partition.stat().st_size // 2])
    with pytest.raises(AssertionError, match=r"bars/SYNA\.parquet: stored asset unreadable"):
        read_stored_assets(assets)
    partition.unlink()
    (assets / "splits.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(AssertionError, match=r"splits\.pkl: stored asset unreadable: a pickle"):
        read_stored_assets(assets)


@dataclass(frozen=True)
class Good:
    """The last good state: who serves, the history, the ledger's bytes, every model's hash."""

    champion: ChampionRecord
    history: list
    ledger: bytes
    models: dict[Path, str]

    @classmethod
    def of(cls, storage: Path) -> Good:
        registry = ChampionRegistry(storage)
        champion = registry.current()
        assert champion is not None
        models = {path: file_sha256(path) for path in sorted(storage.rglob("*.zip"))}
        return cls(champion, registry.history(), ForwardLedger(storage).path.read_bytes(), models)

    def assert_intact(self, storage: Path) -> None:
        """The champion still serves and verifies, nothing in its history changed, the ledger
        only grew by whole rows, every model is byte for byte as it was, and every stored
        asset reads as its kind."""
        registry = ChampionRegistry(storage)
        assert registry.current() == self.champion
        assert verified_champion(storage) == (self.champion, ()), "the champion verifies"
        assert registry.history() == self.history
        ledger = ForwardLedger(storage)
        assert ledger.path.read_bytes().startswith(self.ledger)
        assert {row.champion_version for row in ledger.rows()} == {self.champion.version}
        assert {path: file_sha256(path) for path in self.models} == self.models
        read_stored_assets(storage / "assets")


def _flat_champion(storage: Path, folder: Path) -> ChampionRecord:
    """Promote phase 2's evaluated model (trained and evaluated under production costs), its
    policy made to stay flat (action 1), as v1.

    A test budget does not pass phase 2's gate or earn a deflated Sharpe >= 0.95, and a policy
    that trades at random would soon break a forward-risk limit and be demoted: a flat one
    (validation Sharpe 0) keeps serving through every run of the test, whatever the kills.
    """
    evaluation = read_stored(storage / "assets", dg.AssetKey("phase2_evaluation"))
    record = candidate_record(evaluation)
    model = PPO.load(record.model_path, device="cpu")
    model.policy.action_net.bias.data.zero_()
    model.policy.action_net.bias.data[1] = 20.0
    flat = folder / "phase2-flat.zip"
    model.save(flat)
    record = record.model_copy(update={"model_path": str(flat), "validation_sharpe": 0.0})
    decision = ChampionRegistry(storage).consider(record, STRONG, champion_sharpe=-1e9)
    assert decision.promoted and decision.current is not None
    return decision.current


def _first_forward_days(storage: Path, champion: ChampionRecord) -> None:
    """The champion's first FIRST_DAYS forward days in its ledger, as a turn would add them."""
    market = load_stored_market(storage / "assets")
    policy = load_policy("PPO", champion.model_path)
    end, version = selection_end(champion, market), champion.version
    assert version is not None
    env = champion_env(champion)
    rows = ForwardLedger(storage).append(
        lambda existing: play_forward_days(
            policy, market, env, existing, end, version, champion.phase
        )[:FIRST_DAYS]
    )
    assert len(rows) == FIRST_DAYS


def _kill(home: Path, process: subprocess.Popen) -> tuple[str, tuple[str, str]]:
    """SIGKILL main command ``process``: its output, and its run's (id, job), which is the one
    run left unfinished (the run killed before it was marked failed when this one started)."""
    kill_group(process)
    output = process.stdout.read() if process.stdout else ""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(filters=dg.RunsFilter(tags={"trader/pid": str(process.pid)}))
    assert run.status == dg.DagsterRunStatus.STARTED, "nobody marked the killed run"
    assert unfinished_runs(home) == [f"{run.job_name} (STARTED)"]
    return output, (run.run_id, run.job_name)


def _marked_failed(output: str, killed: tuple[str, str]) -> bool:
    """Whether the main command's ``output`` says it marked the ``killed`` run failed."""
    run_id, job = killed
    return f"Note: earlier run {run_id} ({job}) did not finish" in output


@pytest.mark.slow
def test_kill_9_at_each_step_then_a_rerun_completes_and_the_champion_serves(
    tmp_path: Path, config_dir_factory
) -> None:
    storage, home = tmp_path / "storage", tmp_path / "dagster_home"
    # Phase 2 trains under production costs, its gate cannot pass: phases 3-6 do not run, to
    # keep each run short (the champion is promoted by hand below).
    env = main_command_env(storage, config_dir_factory(failing_phase=2), home)
    training = main_command_env(
        storage, config_dir_factory(failing_phase=2, phase2_timesteps=50_000_000), home
    )
    finish(start_main_command(env))
    champion = _flat_champion(storage, tmp_path)
    _first_forward_days(storage, champion)
    good = Good.of(storage)

    # 1. Ingestion.
    run = start_main_command(env)
    wait_for_step(run, home, "raw_bars")
    _, killed = _kill(home, run)
    good.assert_intact(storage)

    # 2. Training: phase 2 with a budget it cannot finish, killed once it is learning. The
    # rerun got past ingestion first.
    phase2_models = set((storage / "models" / "phase2").glob("*.zip"))
    run = start_main_command(training)
    wait_for_step(run, home, "phase2_model")
    events = storage / "tensorboard" / "phase2"
    before = set(events.rglob("events.out.tfevents.*"))
    wait_until(run, lambda: bool(set(events.rglob("events.out.tfevents.*")) - before), "learning")
    time.sleep(1.0)
    assert all(step_succeeded(home, run.pid, step) for step in ("raw_bars", "bars", "splits"))
    output, now = _kill(home, run)
    assert _marked_failed(output, killed)
    killed = now
    good.assert_intact(storage)
    assert set((storage / "models" / "phase2").glob("*.zip")) == phase2_models, (
        "no half-trained phase 2 model was published"
    )

    # 3. Evaluation; the rerun trained phase 2 to the end first.
    run = start_main_command(env)
    wait_for_step(run, home, "phase2_evaluation")
    time.sleep(0.5)
    assert step_succeeded(home, run.pid, "phase2_model")
    output, now = _kill(home, run)
    assert _marked_failed(output, killed)
    killed = now
    good.assert_intact(storage)

    # 4. Promotion: the champion's decision in the promote_champion job.
    run = start_main_command(env, "--job", "promote_champion")
    wait_for_step(run, home, "champion_decision")
    time.sleep(0.3)
    output, now = _kill(home, run)
    assert _marked_failed(output, killed)
    killed = now
    good.assert_intact(storage)

    # 5. The forward ledger's write: killed while it appends, under the ledger's lock.
    run = start_main_command(env, "--job", "promote_champion")
    wait_for_step(run, home, "forward_ledger")
    ledger = ForwardLedger(storage)
    wait_until(run, lambda: lock_held(ledger.folder), "the ledger's lock taken")
    output, now = _kill(home, run)
    assert _marked_failed(output, killed)
    killed = now
    good.assert_intact(storage)
    assert len(ledger.rows()) == FIRST_DAYS, "the killed append added nothing"

    # The rerun completes: the ledger gains the remaining forward days, nothing is unfinished.
    output = finish(start_main_command(env))
    assert _marked_failed(output, killed)
    assert unfinished_runs(home) == []
    good.assert_intact(storage)
    sessions = [row.session for row in ledger.rows()]
    assert len(sessions) > FIRST_DAYS and sessions == sorted(set(sessions))
    signal = finish(start_main_command(env, "signal"))
    assert f"Champion v{champion.version} (phase2, PPO) {champion.model_path}\n" in signal
