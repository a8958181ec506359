"""train_phase: results, diagnostics, determinism, atomic saves and interruption."""

from __future__ import annotations

import math

import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from trader_env.phase_config import TRAINING_CHECK_METRICS
from trader_env.training import TrainingResult, train_phase


class Explode(BaseCallback):
    """Fails the run after ``after`` environment steps."""

    def __init__(self, after: int):
        super().__init__()
        self.after = after

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.after:
            raise RuntimeError("simulated crash during training")
        return True


def test_train_phase_result_and_diagnostics(phase_config, market, output_dir):
    config = phase_config(1)
    result = train_phase(config, [market], output_dir / "phase1.zip")
    assert isinstance(result, TrainingResult)
    assert result.model_path.is_file()
    assert result.timesteps >= config.training.total_timesteps
    assert result.fps > 0 and result.wall_time_s > 0
    assert (result.device, result.seed, result.algorithm) == ("cpu", 42, "PPO")
    assert result.warm_start_note == "started fresh: no previous model given"
    assert result.checkpoint_paths == [] and result.curriculum_history == []

    finals = result.diagnostics["finals"]
    expected = TRAINING_CHECK_METRICS - {"curriculum_final_stage", "curriculum_graduated"}
    assert expected <= finals.keys()
    for name, value in finals.items():
        assert math.isfinite(value), name
    assert finals["n_episodes"] >= 4  # 512 steps over 120-step episodes
    assert finals["completion_rate"] == 1.0 and finals["nonfinite_count"] == 0
    assert finals["reward_reconciliation_error"] < 1e-6
    assert 0.0 < finals["min_entropy_early"] <= math.log(3) + 1e-6

    series = result.diagnostics["series"]
    assert len(series["updates"]["entropy"]) == finals["n_updates"] == 4  # 512 / (64 x 2)
    assert len(series["episodes"]["net_pnl"]) == finals["n_episodes"]
    assert series["updates"]["timesteps"] == [128.0, 256.0, 384.0, 512.0]


def test_same_config_and_seed_give_identical_weights(
    phase_config, market, output_dir, weights_digest
):
    config = phase_config(2)
    first = train_phase(config, [market], output_dir / "a.zip")
    second = train_phase(config, [market], output_dir / "b.zip")
    other = train_phase(phase_config(2, {"training": {"seed": 7}}), [market], output_dir / "c.zip")
    assert weights_digest(first.model_path) == weights_digest(second.model_path)
    assert first.diagnostics["finals"] == second.diagnostics["finals"]
    assert weights_digest(first.model_path) != weights_digest(other.model_path)


def test_failed_run_leaves_the_previous_model_byte_identical(phase_config, market, output_dir):
    config = phase_config(1)
    path = output_dir / "phase1.zip"
    train_phase(config, [market], path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_phase(config, [market], path, extra_callbacks=[Explode(after=300)])
    assert path.read_bytes() == before
    assert sorted(p.name for p in output_dir.iterdir()) == ["phase1.zip"]  # no temp file left


def test_warm_start_and_its_note_reach_the_result(phase_config, market, output_dir):
    first = train_phase(phase_config(1), [market], output_dir / "phase1.zip")
    warm = train_phase(
        phase_config(2), [market], output_dir / "phase2.zip", warm_start_path=first.model_path
    )
    assert warm.warm_started and "phase1.zip" in warm.warm_start_note
    off = train_phase(
        phase_config(2, {"training": {"warm_start": False}}),
        [market],
        output_dir / "phase2b.zip",
        warm_start_path=first.model_path,
    )
    assert not off.warm_started and "warm_start is false" in off.warm_start_note


def test_warm_start_collects_rollouts_of_the_new_phases_shape(phase_config, market, output_dir):
    # Phase 2's dev profile fine-tunes with more env copies and longer rollouts than phase 1
    # trained with: the weights must carry over while the rollout shape follows the new config.
    first = train_phase(phase_config(1), [market], output_dir / "phase1.zip")
    config = phase_config(
        2,
        {
            "training": {"n_envs": 4},
            "algorithm": {"hyperparameters": {"n_steps": 128, "batch_size": 128}},
        },
    )
    warm = train_phase(
        config, [market], output_dir / "phase2.zip", warm_start_path=first.model_path
    )
    assert warm.warm_started
    assert warm.timesteps == 4 * 128
    model = PPO.load(warm.model_path, device="cpu")
    assert (model.n_envs, model.n_steps, model.batch_size) == (4, 128, 128)


def test_checkpoints_curriculum_and_tensorboard(phase_config, market, output_dir, tmp_path):
    config = phase_config(4, {"training": {"checkpoint_every": 256}})
    result = train_phase(
        config, [market], output_dir / "phase4.zip", tensorboard_dir=tmp_path / "tb"
    )
    assert [p.name for p in result.checkpoint_paths] == [
        "phase4_256_steps.zip",
        "phase4_512_steps.zip",
    ]
    assert result.diagnostics["finals"]["curriculum_final_stage"] == 0.0
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_progress_goes_to_the_given_logger(phase_config, market, output_dir):
    messages: list[str] = []

    class Collect:
        def info(self, msg: str) -> None:
            messages.append(msg)

    train_phase(phase_config(1), [market], output_dir / "m.zip", logger=Collect())
    assert messages and messages[-1].startswith("phase 1: 512/512 timesteps (100.0 %)")
    assert "fps" in messages[-1] and "ETA 0 s" in messages[-1]


def test_crash_while_saving_keeps_the_previous_file(phase_config, market, output_dir, monkeypatch):
    path = output_dir / "phase1.zip"
    train_phase(phase_config(1), [market], path)
    before = path.read_bytes()

    def torn_save(self, save_path, *args, **kwargs):
        with open(save_path, "wb") as handle:
            handle.write(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr("stable_baselines3.common.base_class.BaseAlgorithm.save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        train_phase(phase_config(1), [market], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in output_dir.iterdir()) == ["phase1.zip"]
