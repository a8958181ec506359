"""A seed ensemble: the same phase trained with several seeds, acting on the members' mean
action probabilities.

Why. At the dev budget one phase-2 run's validation Sharpe on SPY depends more on its seed than
on any setting tried (benchmarks/results/learning.md: -1.6 to +3.6 across five seeds of one
configuration). Averaging the policies of independently seeded runs lowers that variance
without looking at validation or test data: every member is trained and (with checkpoint
selection) chosen exactly as a single run is, and the ensemble is one candidate, not a choice
among its members, so it adds no trial to the deflated Sharpe.

Members. Member ``i`` is the phase trained with ``training.seed + SEED_STRIDE * i`` (member 0
is the single run with the phase's own seed, bit for bit). Members must be PPO ``MlpPolicy``
models with a discrete action space: their probabilities are computed in numpy from their own
weights (:class:`~trader_env.evaluation.inference.FastMlpPolicy`), a few microseconds per
member and bar.

Action. Soft vote: ``argmax_a mean_i softmax(logits_i)[a]`` (ties: the lowest action index);
``deterministic=False`` samples from the mean distribution with the policy's own generator.

File format: a zip holding ``manifest.json`` (algorithm, member seeds) and one SB3 zip per
member, so the backtest, the champion registry and serving load it like any model
(``algorithm_class("SeedEnsemble").load(path)``).
"""

from __future__ import annotations

import io
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trader_env.training.model_archive import (
    archive_algorithm,
    extract_model,
    read_manifest,
    write_model_archive,
)

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

    from trader_env.evaluation.inference import FastMlpPolicy
    from trader_env.phase_config import PhaseConfig
    from trader_env.training.train import TrainingResult

#: The algorithm name phase models and champion records carry for this policy.
SEED_ENSEMBLE = "SeedEnsemble"
FORMAT_VERSION = 1
#: Seed offset between members: far above any ``n_envs``, so no two members' env copies
#: (seeded ``seed + copy``) share a seed.
SEED_STRIDE = 1000


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(n, n_actions)`` logits (shifted by each row's maximum)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities


def member_seeds(seed: int, members: int) -> list[int]:
    """The training seeds of an ensemble of ``members`` around the phase's ``seed``."""
    return [seed + SEED_STRIDE * i for i in range(members)]


class SeedEnsemblePolicy:
    """Independently seeded PPO ``MlpPolicy`` models voting with their action probabilities.

    ``models``: the members (SB3 PPO algorithms on the CPU); ``seeds``: the seed each was
    trained with (lineage only). ``sampling_seed`` seeds the generator used when
    ``predict(deterministic=False)``.
    """

    def __init__(
        self, models: Sequence[BaseAlgorithm], seeds: Sequence[int], sampling_seed: int = 0
    ) -> None:
        from trader_env.evaluation.inference import FastMlpPolicy, fast_policy

        if len(models) < 2:
            raise ValueError(f"a seed ensemble needs at least 2 members, got {len(models)}")
        if len(seeds) != len(models):
            raise ValueError(f"{len(models)} members but {len(seeds)} seeds")
        heads = [fast_policy(model) for model in models]
        unsupported = [
            f"member {i} ({type(model).__name__}, {type(getattr(model, 'policy', model)).__name__})"
            for i, (model, head) in enumerate(zip(models, heads, strict=True))
            if not isinstance(head, FastMlpPolicy)
        ]
        if unsupported:
            raise ValueError(
                "seed ensemble members must be PPO MlpPolicy models with a Box observation and "
                f"a Discrete action space: {', '.join(unsupported)}"
            )
        shapes = {head.observation_shape for head in heads if isinstance(head, FastMlpPolicy)}
        if len(shapes) != 1:
            raise ValueError(f"seed ensemble members see different observations: {shapes}")
        self.models = list(models)
        self.seeds = [int(s) for s in seeds]
        self.heads: list[FastMlpPolicy] = [h for h in heads if isinstance(h, FastMlpPolicy)]
        self.observation_shape: tuple[int, ...] = shapes.pop()
        self._rng = np.random.default_rng(sampling_seed)

    def probabilities(self, observation: np.ndarray) -> np.ndarray:
        """Mean action probabilities ``(n, n_actions)`` (float64) of observations
        ``(n, *observation_shape)``."""
        batch = np.asarray(observation, dtype=np.float32)
        if batch.shape == self.observation_shape:
            batch = batch[None]
        if batch.shape[1:] != self.observation_shape:
            raise ValueError(
                f"observation shape {batch.shape} does not match the ensemble's "
                f"(n, {', '.join(map(str, self.observation_shape))})"
            )
        x = batch.reshape(batch.shape[0], -1)
        mean: np.ndarray = np.mean([_softmax(head.logits(x)) for head in self.heads], axis=0)
        return mean

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``predict``: actions ``(n,)`` int64 (soft vote) and ``state`` unchanged."""
        probs = self.probabilities(observation)
        if deterministic:
            return probs.argmax(axis=1).astype(np.int64), state
        cumulative = probs.cumsum(axis=1)
        draws = self._rng.random((probs.shape[0], 1)) * cumulative[:, -1:]
        return (draws > cumulative).sum(axis=1).astype(np.int64), state

    # ------------------------------------------------------------------ persistence
    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "algorithm": SEED_ENSEMBLE,
            "seeds": self.seeds,
            "members": [f"member{i}.zip" for i in range(len(self.models))],
        }

    def save(self, path: Path | str) -> Path:
        """Write the ensemble to ``path`` atomically (one zip file)."""
        manifest = self.manifest()
        return write_model_archive(
            path, manifest, dict(zip(manifest["members"], self.models, strict=True))
        )

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu", **_: Any) -> SeedEnsemblePolicy:
        """Read an ensemble written by :meth:`save` (members on the CPU: the vote runs in
        numpy, ``device`` is accepted for the common ``load`` signature)."""
        from stable_baselines3 import PPO

        path = Path(path)
        with zipfile.ZipFile(path) as archive:
            manifest = read_manifest(archive, path, SEED_ENSEMBLE, FORMAT_VERSION)
            models = [
                PPO.load(io.BytesIO(archive.read(name)), device="cpu")
                for name in manifest["members"]
            ]
        return cls(models, manifest["seeds"])


def is_ensemble_file(path: Path | str) -> bool:
    """True when ``path`` is a zip written by :meth:`SeedEnsemblePolicy.save`."""
    return archive_algorithm(path) == SEED_ENSEMBLE


def extract_member(path: Path, index: int, folder: Path) -> Path:
    """Write member ``index`` of the ensemble at ``path`` into ``folder`` as an SB3 zip."""
    return extract_model(
        path, SEED_ENSEMBLE, FORMAT_VERSION, lambda manifest: manifest["members"][index], folder
    )


TrainOne = Callable[["PhaseConfig", Path], "TrainingResult"]
#: Scores of a policy on the selection slice (see ``selection.selection_scores``).
ScoreOnSlice = Callable[["SeedEnsemblePolicy"], dict[str, float]]


def train_seed_ensemble(
    config: PhaseConfig,
    output_path: Path,
    train_one: TrainOne,
    score_on_slice: ScoreOnSlice | None = None,
) -> TrainingResult:
    """Train ``training.ensemble`` members with :func:`member_seeds` and save the ensemble.

    ``train_one(member_config, path)`` trains one member as a single run of the phase (same
    data, warm start, selection slice and callbacks) and saves it at ``path``. The result's
    diagnostics are member 0's with every member's ``finals`` under ``members``. With
    checkpoint selection, ``selection`` lists each member's kept checkpoint and, from
    ``score_on_slice``, the ensemble's own scores on the selection slice: its ``kept_score``
    (what variants and tuning trials are compared by) is the ensemble's, not its members'.
    Nothing is written to ``output_path`` unless every member trained.
    """
    from trader_env.training.train import TrainingResult

    members = config.training.ensemble
    seeds = member_seeds(config.training.seed, members)
    results: list[TrainingResult] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seed-ensemble-") as scratch:
        for i, seed in enumerate(seeds):
            training = config.training.model_copy(update={"seed": seed, "ensemble": 1})
            member = config.model_copy(update={"training": training})
            results.append(train_one(member, Path(scratch) / f"member{i}.zip"))
        from stable_baselines3 import PPO

        models = [PPO.load(r.model_path, device="cpu") for r in results]
        policy = SeedEnsemblePolicy(models, seeds, sampling_seed=config.training.seed)
        own = score_on_slice(policy) if score_on_slice is not None else None
        policy.save(output_path)
    wall_time = time.perf_counter() - start
    first = results[0]
    diagnostics = dict(first.diagnostics)
    diagnostics["members"] = [
        {"seed": seed, "finals": r.diagnostics.get("finals", {})}
        for seed, r in zip(seeds, results, strict=True)
    ]
    timesteps = sum(r.timesteps for r in results)
    selection = None
    chosen = [r.selection for r in results]
    if own is not None and all(c is not None for c in chosen):
        kept = [c for c in chosen if c is not None]
        metric = kept[0]["metric"]
        members_reason = "; ".join(
            f"member seed {seed}: {c['reason']}" for seed, c in zip(seeds, kept, strict=True)
        )
        selection = {
            "metric": metric,
            "kept_score": own[metric],
            "ensemble_scores": own,
            "member_mean_score": float(np.mean([c["kept_score"] for c in kept])),
            "kept_timesteps": [c["kept_timesteps"] for c in kept],
            "reason": f"ensemble of the members' kept checkpoints scores {metric} "
            f"{own[metric]:.4g} on the selection slice; {members_reason}",
            "members": [{"seed": seed, **c} for seed, c in zip(seeds, kept, strict=True)],
        }
    return TrainingResult(
        model_path=Path(output_path),
        timesteps=timesteps,
        wall_time_s=wall_time,
        fps=timesteps / wall_time if wall_time > 0 else float("nan"),
        device=first.device,
        seed=config.training.seed,
        algorithm=SEED_ENSEMBLE,
        warm_start_note=f"{members} members (seeds {seeds}): {first.warm_start_note}",
        diagnostics=diagnostics,
        curriculum_history=first.curriculum_history,
        selection=selection,
    )
