"""Training a phase's model, its seed spread, and loading a saved policy.

torch and stable-baselines3 take ~3 s to import, so :mod:`trader_env.training` is imported by
the functions that train or load, not with this module: the Dagster definitions (and every
process of the multiprocess executor) import this package without paying for them.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trader_env.contracts import MarketArrays
from trader_env.dataset import Dataset
from trader_env.evaluation.backtest import run_backtest
from trader_env.evaluation.backtest_result import Policy
from trader_env.evaluation.gates import evaluate_gate
from trader_env.lineage import code_version
from trader_env.phase_config import PhaseConfig, config_hash
from trader_env.workflow.records import GATE_PART, PhaseModel

if TYPE_CHECKING:  # trader_env.training imports torch and SB3; load_policy imports it lazily
    from trader_env.training import SelectionSlice
    from trader_env.training.callbacks import SupportsWarning


def stamp() -> str:
    """UTC time to the microsecond: makes file and folder names unique and sortable."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def train_phase_model(
    config: PhaseConfig,
    market: Dataset,
    storage: Path,
    data_version: str,
    previous: PhaseModel | None = None,
    logger: SupportsWarning | None = None,
    warm_start_path: Path | None = None,
) -> PhaseModel:
    """Train phase ``config.phase`` on the training split and judge its training health.

    The model is saved under ``<storage>/models/phase<N>/`` with a new versioned name (never
    overwriting an earlier model) and warm-starts from ``previous`` when its spaces match, or
    from ``warm_start_path`` when given (the serving champion, for phase 6's retraining). With
    ``training.selection`` enabled, the end of the training split is held out (after the
    splits' embargo) and the checkpoint that scores best there is the one saved
    (``PhaseModel.selection`` says which and why).
    """
    warm_start = previous.model_path if previous is not None else None
    return _train(config, market, storage, data_version, warm_start_path or warm_start, logger)


def _train(
    config: PhaseConfig,
    market: Dataset,
    storage: Path,
    data_version: str,
    warm_start: Path | None,
    logger: SupportsWarning | None,
) -> PhaseModel:
    from trader_env.training import train_phase

    train_arrays, selection = training_arrays(config, market)
    digest = config_hash(config)
    name = f"{stamp()}-{digest[:8]}"
    folder = storage / "models" / f"phase{config.phase}"
    tensorboard_dir = storage / "tensorboard" / f"phase{config.phase}" / name
    result = train_phase(
        config,
        train_arrays,
        folder / f"{name}.zip",
        warm_start_path=warm_start,
        logger=logger,
        tensorboard_dir=tensorboard_dir,
        selection=selection,
    )
    finals = result.diagnostics.get("finals", {})
    lineage = {
        "data_version": data_version,
        "config_hash": digest,
        "code_version": code_version(),
        "seed": result.seed,
        "device": result.device,
        "profile": config.profile,
        "warm_start_source": str(warm_start) if warm_start is not None else None,
    }
    return PhaseModel(
        phase=config.phase,
        model_path=result.model_path,
        config=config,
        algorithm=result.algorithm,
        timesteps=result.timesteps,
        wall_time_s=result.wall_time_s,
        fps=result.fps,
        device=result.device,
        warm_start_note=result.warm_start_note,
        diagnostics=result.diagnostics,
        curriculum_history=result.curriculum_history,
        training_checks=evaluate_gate(finals, config.training_checks),
        lineage=lineage,
        tensorboard_dir=tensorboard_dir,
        selection=result.selection,
    )


def training_arrays(
    config: PhaseConfig, market: Dataset
) -> tuple[list[MarketArrays], SelectionSlice | None]:
    """What phase ``config`` trains on: the training arrays and the selection slice held out
    of them (None unless ``training.selection`` is enabled).

    The slice is the end of the training split, carved off after the splits' embargo.
    """
    from trader_env.training import SelectionSlice, carve_selection_slice

    arrays = market.arrays("train")
    if not config.training.selection.enabled:
        return arrays, None
    fraction, embargo = config.training.selection.fraction, market.splits.embargo_sessions
    fit, held, info = carve_selection_slice(arrays, fraction, embargo)
    return fit, SelectionSlice(held, info, market.splits.session_timezone)


def load_policy(algorithm: str, model_path: Path | str) -> Policy:
    """The SB3 model saved at ``model_path``, on the CPU (evaluation is sequential, batch 1)."""
    from trader_env.training import algorithm_class

    return algorithm_class(algorithm).load(model_path, device="cpu")


#: Share of training episodes free of crashes and non-finite values (see
#: :func:`training_stability`); a risk halt is a completed episode here.
TRAINING_STABILITY = "training_stability"
#: Keys :func:`seed_spread` adds to the validation metrics (its ``training_stability`` replaces
#: the phase model's own, as it covers every run).
SEED_SPREAD_KEYS: tuple[str, ...] = (
    "seed_sharpe_mean",
    "seed_sharpe_std",
    "seed_sharpe_variation",
    "n_seeds",
    "n_crashed_runs",
)


def training_stability(model: PhaseModel) -> float:
    """The share of ``model``'s training episodes that ended without non-finite values
    (``stable_episode_rate`` of the training diagnostics; NaN without episodes)."""
    return float(model.training_metrics.get("stable_episode_rate", math.nan))


def seed_spread(
    model: PhaseModel,
    market: Dataset,
    storage: Path,
    seeds: list[int],
    own_sharpe: float,
    logger: SupportsWarning | None = None,
) -> dict[str, float]:
    """Train the phase again with each of ``seeds`` and measure the Sharpe spread on validation.

    ``own_sharpe`` is the validation Sharpe already measured for ``model``. Returns the mean and
    standard deviation of the validation Sharpe over the phase's own seed and ``seeds``, and
    their ratio ``seed_sharpe_variation`` (std / |mean|), so that a result that only one lucky
    seed produces is visible; and ``training_stability`` over every run: the mean of each run's
    stable-episode rate, a run that crashed (raised) counting 0 (``n_crashed_runs``).
    """
    arrays = market.arrays(GATE_PART)
    sharpes = [own_sharpe]
    stabilities = [training_stability(model)]
    crashed = 0
    for seed in seeds:
        if seed == model.config.training.seed:
            continue
        training = model.config.training.model_copy(update={"seed": seed})
        config = model.config.model_copy(update={"training": training})
        try:
            # Trained as the phase trains: from the same warm start, with the same config.
            candidate = _train(
                config,
                market,
                storage / "seed_runs",
                model.lineage["data_version"],
                Path(source) if (source := model.lineage.get("warm_start_source")) else None,
                logger,
            )
        except Exception as exc:  # noqa: BLE001 - a crashed run is a measurement here
            crashed += 1
            stabilities.append(0.0)
            if logger is not None:
                logger.warning(f"seed {seed}: training crashed ({exc!r}); counted as unstable")
            continue
        stabilities.append(training_stability(candidate))
        result = run_backtest(
            load_policy(candidate.algorithm, candidate.model_path),
            arrays,
            model.config.env,
            session_timezone=market.splits.session_timezone,
        )
        sharpes.append(result.metrics()["sharpe"])
    mean = float(np.mean(sharpes))
    std = float(np.std(sharpes, ddof=1)) if len(sharpes) > 1 else math.nan
    return {
        "seed_sharpe_mean": mean,
        "seed_sharpe_std": std,
        "seed_sharpe_variation": std / abs(mean) if mean != 0 else math.nan,
        "n_seeds": float(len(sharpes)),
        "n_crashed_runs": float(crashed),
        TRAINING_STABILITY: float(np.mean(stabilities)),
    }
