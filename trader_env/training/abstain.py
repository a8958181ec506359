"""The policy of a phase that abstains: it never trades, and keeps the weights it declined.

Why. Checkpoint selection keeps the best of several candidates on a short held-out slice, and
the best of several is flattered by luck (benchmarks/results/learning.md: on SPY the kept
checkpoint's slice Sharpe said little about the next half-year, and policies without an edge
lost 1-7 % of capital a half-year to costs). With ``training.selection.significance`` the kept
checkpoint must also be significant: its deflated Sharpe ratio on the slice (the probability
that its true Sharpe beats what the best of the candidates scored would reach by luck) must
reach that level. When it does not, the phase's model is this policy: it holds no position,
so it costs nothing, and its evaluation says so (turnover 0: the gate fails, as it must for a
policy that does not trade).

The declined weights stay inside the file: the next phase can still warm-start from them
(:func:`~trader_env.training.factory.load_warm_start`), and a person can load them to see what
the phase would have traded (:meth:`AbstainingPolicy.load_declined`).

File format: a zip holding ``manifest.json`` (algorithm ``Abstain``, the declined model's
algorithm, the reason) and the declined SB3 model as ``declined.zip``; it loads like any model
(``algorithm_class("Abstain").load(path)``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trader_env.env.trading_env import FLAT
from trader_env.training.model_archive import (
    archive_algorithm,
    extract_model,
    read_manifest,
    write_model_archive,
)

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

#: The algorithm name phase models and champion records carry for this policy.
ABSTAIN = "Abstain"
FORMAT_VERSION = 1
_DECLINED = "declined.zip"


class AbstainingPolicy:
    """Holds no position on any bar; ``declined`` is the model selection did not trust.

    ``declined``: an SB3 model (PPO or RecurrentPPO); ``declined_algorithm``: its algorithm
    name; ``reason``: why the phase abstains (recorded in the file and the model's lineage).
    """

    def __init__(self, declined: BaseAlgorithm, declined_algorithm: str, reason: str) -> None:
        self.declined = declined
        self.declined_algorithm = declined_algorithm
        self.reason = reason
        self.observation_shape: tuple[int, ...] = tuple(declined.observation_space.shape or ())

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``predict``: the flat action for each observation, ``(n,)`` int64 (a single
        observation of ``observation_shape`` gives ``(1,)``), and ``state`` unchanged."""
        batch = np.asarray(observation)
        n = 1 if batch.shape == self.observation_shape else batch.shape[0]
        return np.full(n, FLAT, dtype=np.int64), state

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path | str) -> Path:
        """Write the policy to ``path`` atomically (one zip file)."""
        manifest = {
            "format": FORMAT_VERSION,
            "algorithm": ABSTAIN,
            "declined_algorithm": self.declined_algorithm,
            "declined": _DECLINED,
            "reason": self.reason,
        }
        return write_model_archive(path, manifest, {_DECLINED: self.declined})

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu", **_: Any) -> AbstainingPolicy:
        """Read a policy written by :meth:`save` (the declined model on ``device``)."""
        path = Path(path)
        with zipfile.ZipFile(path) as archive:
            manifest = read_manifest(archive, path, ABSTAIN, FORMAT_VERSION)
            declined = _load_sb3(
                manifest["declined_algorithm"], io.BytesIO(archive.read(_DECLINED)), device
            )
        return cls(declined, manifest["declined_algorithm"], manifest["reason"])

    @staticmethod
    def load_declined(path: Path | str, device: str = "cpu") -> BaseAlgorithm:
        """The declined model inside the file at ``path``: what the phase would have traded."""
        return AbstainingPolicy.load(path, device=device).declined


def _load_sb3(algorithm: str, source: io.BytesIO, device: str) -> BaseAlgorithm:
    from trader_env.training.factory import trainable_class

    return trainable_class(algorithm).load(source, device=device)


def is_abstain_file(path: Path | str) -> bool:
    """True when ``path`` is a zip written by :meth:`AbstainingPolicy.save`."""
    return archive_algorithm(path) == ABSTAIN


def extract_declined(path: Path, folder: Path) -> Path:
    """Write the declined SB3 model of the abstaining policy at ``path`` into ``folder``."""
    return extract_model(
        path, ABSTAIN, FORMAT_VERSION, lambda manifest: manifest["declined"], folder
    )
