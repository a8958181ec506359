"""Train one phase: environment, model (fresh or warm-started), callbacks, atomic save."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from trader_env.atomic import atomic_path
from trader_env.contracts import MarketArrays
from trader_env.phase_config import PhaseConfig
from trader_env.training.callbacks import (
    CurriculumCallback,
    DiagnosticsCallback,
    ProgressCallback,
    SupportsInfo,
)
from trader_env.training.factory import (
    build_model,
    configure_torch,
    load_warm_start,
    make_training_env,
)
from trader_env.training.selection import CheckpointSelectionCallback, SelectionSlice


@dataclass(frozen=True)
class TrainingResult:
    """What one training run produced and how (lineage for the model asset)."""

    model_path: Path  # the saved SB3 zip
    timesteps: int  # environment steps actually trained (a whole number of rollouts)
    wall_time_s: float  # seconds spent in learn()
    fps: float  # timesteps / wall_time_s
    device: str  # torch device used: cpu or cuda
    seed: int
    algorithm: str  # PPO, RecurrentPPO, or Abstain (selection found the model not significant)
    warm_start_note: str  # why training continued from the previous model or started fresh
    diagnostics: dict[str, Any]  # {"finals": {...}, "series": {...}}, see DiagnosticsCallback
    curriculum_history: list[dict[str, float]] = field(default_factory=list)
    checkpoint_paths: list[Path] = field(default_factory=list)
    # Which checkpoint was kept by the selection slice and why (None: no selection).
    selection: dict[str, Any] | None = None

    @property
    def warm_started(self) -> bool:
        """Whether training continued from the previous phase's weights."""
        return self.warm_start_note.startswith("warm-started")


def save_model_atomically(model: BaseAlgorithm, path: Path) -> Path:
    """Save ``model`` to ``path`` via a temporary file and ``os.replace``.

    A crash while saving leaves the previous file at ``path`` untouched.
    """
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def checkpoint_dir(output_path: Path) -> Path:
    """Folder of the intermediate checkpoints of the model saved at ``output_path``."""
    return output_path.parent / f"{output_path.stem}_checkpoints"


def train_phase(
    config: PhaseConfig,
    train_arrays: Sequence[MarketArrays],
    output_path: Path,
    warm_start_path: Path | None = None,
    logger: SupportsInfo | None = None,
    tensorboard_dir: Path | None = None,
    extra_callbacks: Sequence[BaseCallback] = (),
    progress_interval_s: float = 30.0,
    selection: SelectionSlice | None = None,
) -> TrainingResult:
    """Train ``config``'s model on ``train_arrays`` and save it atomically to ``output_path``.

    Warm-starts from ``warm_start_path`` when ``training.warm_start`` is on and the saved model
    fits (see :func:`~trader_env.training.factory.load_warm_start`). Sets torch's thread count
    for the whole process. If training fails (an exception anywhere, including in
    ``extra_callbacks``), nothing is written to ``output_path``: a previous model there stays
    byte-identical. Progress goes to ``logger`` (e.g. Dagster's ``context.log``) every
    ``progress_interval_s`` seconds. With ``selection`` (and ``training.selection`` enabled),
    the weights saved are those that scored best on the selection slice among the periodic
    checkpoints and the final model (:class:`~.selection.CheckpointSelectionCallback`).
    """
    output_path = Path(output_path)
    if config.regime_policy is not None:
        from trader_env.training.regime_policy import train_regime_policy

        return train_regime_policy(
            config, train_arrays, output_path, warm_start_path, logger, tensorboard_dir
        )
    device = configure_torch(config.training)
    vec_env = make_training_env(config, train_arrays)
    try:
        model, note = _initial_model(config, vec_env, warm_start_path, device, tensorboard_dir)
        run = _RunCallbacks.of(config, output_path, logger, progress_interval_s, selection)
        started_at = time.time()
        start = time.perf_counter()
        model.learn(
            config.training.total_timesteps,
            callback=CallbackList([*run.callbacks, *extra_callbacks]),
        )
        wall_time = time.perf_counter() - start
        selected = run.selector.restore_best() if run.selector is not None else None
        algorithm = _save(model, config, output_path, selected)
    finally:
        vec_env.close()

    result = run.diagnostics.diagnostics()
    if run.curriculum is not None:
        result["finals"].update(run.curriculum.finals())
    return TrainingResult(
        model_path=output_path,
        timesteps=int(model.num_timesteps),
        wall_time_s=wall_time,
        fps=model.num_timesteps / wall_time if wall_time > 0 else float("nan"),
        device=device,
        seed=config.training.seed,
        algorithm=algorithm,
        warm_start_note=note,
        diagnostics=result,
        curriculum_history=list(run.curriculum.history) if run.curriculum is not None else [],
        checkpoint_paths=_checkpoints_since(
            checkpoint_dir(output_path), output_path.stem, started_at
        ),
        selection=selected,
    )


def _save(
    model: OnPolicyAlgorithm, config: PhaseConfig, path: Path, selected: dict[str, Any] | None
) -> str:
    """Save the trained model atomically, or, when checkpoint selection found it not
    significant, the policy that abstains around it; the algorithm name of what was saved."""
    if selected is None or not selected["abstain"]:
        save_model_atomically(model, path)
        return config.algorithm.name
    from trader_env.training.abstain import ABSTAIN, AbstainingPolicy

    AbstainingPolicy(model, config.algorithm.name, selected["reason"]).save(path)
    return ABSTAIN


def _initial_model(
    config: PhaseConfig,
    vec_env: VecEnv,
    warm_start_path: Path | None,
    device: str,
    tensorboard_dir: Path | None,
) -> tuple[OnPolicyAlgorithm, str]:
    """The model to train, warm-started when allowed and compatible, else fresh, and the
    note saying which and why."""
    model = None
    if not config.training.warm_start:
        note = "started fresh: training.warm_start is false"
    elif warm_start_path is None:
        note = "started fresh: no previous model given"
    else:
        model, note = load_warm_start(
            warm_start_path, vec_env, config, device=device, tensorboard_dir=tensorboard_dir
        )
    if model is None:
        model = build_model(config, vec_env, device=device, tensorboard_dir=tensorboard_dir)
    return model, note


@dataclass(frozen=True)
class _RunCallbacks:
    """The callbacks of one training run, in order; the named ones are read afterwards."""

    callbacks: list[BaseCallback]
    diagnostics: DiagnosticsCallback
    curriculum: CurriculumCallback | None
    selector: CheckpointSelectionCallback | None

    @classmethod
    def of(
        cls,
        config: PhaseConfig,
        output_path: Path,
        logger: SupportsInfo | None,
        progress_interval_s: float,
        selection: SelectionSlice | None,
    ) -> _RunCallbacks:
        """Diagnostics and progress always; curriculum, periodic checkpoints and checkpoint
        selection when ``config`` (and ``selection``) ask for them."""
        diagnostics = DiagnosticsCallback(config.env.reward_scaling, config.env.initial_capital)
        callbacks: list[BaseCallback] = [
            diagnostics,
            ProgressCallback(progress_interval_s, logger, label=f"phase {config.phase}"),
        ]
        curriculum = None
        if config.env.curriculum.enabled:
            curriculum = CurriculumCallback(config.env.curriculum)
            callbacks.append(curriculum)
        if config.training.checkpoint_every > 0:
            callbacks.append(
                CheckpointCallback(
                    save_freq=max(config.training.checkpoint_every // config.training.n_envs, 1),
                    save_path=str(checkpoint_dir(output_path)),
                    name_prefix=output_path.stem,
                )
            )
        selector = None
        if selection is not None and config.training.selection.enabled:
            selector = CheckpointSelectionCallback(
                selection, config.env, config.training.selection, config.training.total_timesteps
            )
            callbacks.append(selector)
        return cls(callbacks, diagnostics, curriculum, selector)


def _checkpoints_since(folder: Path, prefix: str, started_at: float) -> list[Path]:
    """Checkpoints SB3 wrote into ``folder`` since ``started_at`` (epoch s), by timesteps."""
    written = [
        path for path in folder.glob(f"{prefix}_*_steps.zip") if path.stat().st_mtime >= started_at
    ]
    return sorted(written, key=lambda path: int(path.stem.rsplit("_", 2)[-2]))
